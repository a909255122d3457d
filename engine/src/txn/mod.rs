//! Transactions as the log persists them: a header (who, when, which zxid) and a body (what
//! changes), and their byte encoding (`engine/FORMAT-TXN.md`, implemented in [`codec`]).
//!
//! A transaction is *self-sufficient*: applying it to a data tree needs nothing but the
//! transaction and the tree. Everything that depends on the moment it was prepared is computed
//! by the prepare step and written into it: the sequential suffix is already part of a create's
//! path, the parent's child-creation counter after a create is carried in the create, the new
//! version of a set-data is absolute, and a session close lists the ephemeral nodes it removes.
//! This module must never read the clock, a random source, or the tree.

pub mod codec;

pub use codec::{decode, encode, TxnDecodeError, TXN_FORMAT_VERSION};

use crate::zxid::Zxid;

/// ZooKeeper permission bits of an [`Acl`] (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 1 << 1;
    /// Create children.
    pub const CREATE: i32 = 1 << 2;
    /// Delete children.
    pub const DELETE: i32 = 1 << 3;
    /// Set the ACL.
    pub const ADMIN: i32 = 1 << 4;
    /// All of the above.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// One access-control entry: who (`scheme:id`) may do what (`perms`, see [`perms`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    /// Permission bits ([`perms`]).
    pub perms: i32,
    /// Authentication scheme, e.g. `world`, `digest`, `ip`, `sasl`.
    pub scheme: String,
    /// Identity within the scheme, e.g. `anyone`.
    pub id: String,
}

impl Acl {
    /// Builds an ACL entry.
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            scheme: scheme.to_owned(),
            id: id.to_owned(),
        }
    }

    /// `world:anyone` with every permission (`ZooDefs.Ids.OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "world", "anyone")]
    }

    /// `world:anyone` with read permission only (`ZooDefs.Ids.READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::READ, "world", "anyone")]
    }
}

/// Who, when and at which zxid: the part of a transaction shared by all its operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session that issued the request (ZooKeeper's `clientId`).
    pub session_id: i64,
    /// The client's request counter (`cxid`), echoed in the reply.
    pub cxid: i32,
    /// The transaction's id.
    pub zxid: Zxid,
    /// Wall-clock time chosen by the leader, milliseconds since the Unix epoch. Becomes the
    /// `ctime`/`mtime` of the nodes it creates or changes.
    pub time_ms: i64,
}

/// How a node is created (ZooKeeper's `CreateMode`; the numbers are its flag values).
///
/// The sequential variants are recorded for the record only: the prepare step has already
/// appended the suffix to the path, so applying a sequential create is applying a plain one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    /// Flag 0.
    Persistent,
    /// Flag 1: removed when the creating session ends.
    Ephemeral,
    /// Flag 2.
    PersistentSequential,
    /// Flag 3.
    EphemeralSequential,
    /// Flag 4: removed by the reaper once it had children and has none left.
    Container,
    /// Flag 5: removed by the reaper when it has no children and was not modified for `ttl_ms`.
    PersistentWithTtl {
        /// Time to live, milliseconds, in `1..=`[`TTL_MAX_MS`].
        ttl_ms: i64,
    },
    /// Flag 6: as `PersistentWithTtl`, with a sequential suffix.
    PersistentSequentialWithTtl {
        /// Time to live, milliseconds, in `1..=`[`TTL_MAX_MS`].
        ttl_ms: i64,
    },
}

/// The largest TTL ZooKeeper accepts: 40 bits of milliseconds (about 34 years), the bits of
/// `ephemeralOwner` that `EphemeralType.TTL` leaves for the value.
pub const TTL_MAX_MS: i64 = 0x0000_00FF_FFFF_FFFF;

impl CreateMode {
    /// ZooKeeper's flag value for this mode (`CreateMode.toFlag`).
    pub fn flag(self) -> u8 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl { .. } => 5,
            CreateMode::PersistentSequentialWithTtl { .. } => 6,
        }
    }

    /// Builds a mode from ZooKeeper's flag and, for the TTL modes, the TTL. `None` when the flag
    /// is unknown, or the TTL is out of range for a TTL mode.
    pub fn from_flag(flag: i32, ttl_ms: i64) -> Option<CreateMode> {
        let ttl_ok = (1..=TTL_MAX_MS).contains(&ttl_ms);
        match flag {
            0 => Some(CreateMode::Persistent),
            1 => Some(CreateMode::Ephemeral),
            2 => Some(CreateMode::PersistentSequential),
            3 => Some(CreateMode::EphemeralSequential),
            4 => Some(CreateMode::Container),
            5 if ttl_ok => Some(CreateMode::PersistentWithTtl { ttl_ms }),
            6 if ttl_ok => Some(CreateMode::PersistentSequentialWithTtl { ttl_ms }),
            _ => None,
        }
    }

    /// Whether the prepare step appends a 10-digit suffix to the path.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl { .. }
        )
    }

    /// Whether the node belongs to its creating session.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// The TTL of a TTL mode.
    pub fn ttl_ms(self) -> Option<i64> {
        match self {
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => Some(ttl_ms),
            _ => None,
        }
    }
}

/// A node creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTxn {
    /// Full path of the new node, sequential suffix included.
    pub path: String,
    /// Its data.
    pub data: Option<Vec<u8>>,
    /// Its ACL (already expanded by the server: no `auth` scheme left).
    pub acl: Vec<Acl>,
    /// How it was created.
    pub mode: CreateMode,
    /// The parent's child-creation counter (persisted `cversion`) after this create: the value
    /// before, plus one. `-1` means "the current value plus one" (old ZooKeeper logs).
    pub parent_cversion: i32,
}

/// What a transaction changes. [`TxnBody::Multi`] holds only `Create`, `Delete`, `SetData`,
/// `Check` and `Error` operations (the operations ZooKeeper allows in a multi).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnBody {
    /// Create a node (every create flavour, container and TTL included).
    Create(CreateTxn),
    /// Delete a node (also what the container/TTL reaper logs).
    Delete {
        /// Full path.
        path: String,
    },
    /// Replace a node's data.
    SetData {
        /// Full path.
        path: String,
        /// The new data.
        data: Option<Vec<u8>>,
        /// The node's data version after this change (absolute, not an increment).
        version: i32,
    },
    /// Replace a node's ACL.
    SetAcl {
        /// Full path.
        path: String,
        /// The new ACL.
        acl: Vec<Acl>,
        /// The node's ACL version (`aversion`) after this change.
        version: i32,
    },
    /// A version check inside a multi; changes nothing when applied.
    Check {
        /// Full path.
        path: String,
        /// The version that was checked.
        version: i32,
    },
    /// Several operations applied all together or not at all. A multi that failed at prepare
    /// time is logged as a multi of `Error` operations and changes nothing.
    Multi(Vec<TxnBody>),
    /// A session was opened by the header's session id.
    CreateSession {
        /// Negotiated session timeout, milliseconds.
        timeout_ms: i32,
    },
    /// The header's session ended (closed or expired). `paths` lists, in ascending byte order,
    /// the ephemeral nodes it owned when the close was prepared; applying the close removes them
    /// and any other node the session still owns.
    CloseSession {
        /// Ephemeral nodes to remove.
        paths: Vec<String>,
    },
    /// A request that failed at prepare time (a ZooKeeper error code, e.g. `-101` no node). It
    /// still takes a zxid, as in ZooKeeper, and changes nothing.
    Error {
        /// ZooKeeper error code; `0` for the operations before the failing one in a failed multi.
        code: i32,
    },
}

impl TxnBody {
    /// Whether this body may appear inside a [`TxnBody::Multi`].
    pub fn allowed_in_multi(&self) -> bool {
        matches!(
            self,
            TxnBody::Create(_)
                | TxnBody::Delete { .. }
                | TxnBody::SetData { .. }
                | TxnBody::Check { .. }
                | TxnBody::Error { .. }
        )
    }
}

/// A transaction: header plus body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Who, when, which zxid.
    pub header: TxnHeader,
    /// What changes.
    pub body: TxnBody,
}
