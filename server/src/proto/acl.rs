//! Access control: `Id`, `ACL`, the permission bits, the well-known identities, and the
//! `getACL`/`setACL` records.

use super::stat::Stat;

jute_record! {
    /// An identity: an authentication scheme and an id within it, e.g. `world`/`anyone`.
    pub struct Id {
        /// The scheme (`world`, `auth`, `digest`, `ip`, `sasl`, `x509`, ...).
        pub scheme: String as string,
        /// The id; its syntax depends on the scheme.
        pub id: String as string,
    }
}

jute_record! {
    /// One access control entry: the permissions granted to an identity.
    pub struct Acl {
        /// Bitwise or of [`perms`] values.
        pub perms: i32 as int,
        /// Who gets them.
        pub id: Id as record,
    }
}

/// Permission bits of an [`Acl`] (ZooKeeper's `ZooDefs.Perms`).
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
    /// All of the above (31).
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// The `world` scheme, whose only id is `anyone`.
pub const SCHEME_WORLD: &str = "world";
/// The id `anyone` of the `world` scheme.
pub const ID_ANYONE: &str = "anyone";
/// The `auth` scheme: in a create or setACL, stands for every identity the session holds.
pub const SCHEME_AUTH: &str = "auth";

impl Id {
    /// An identity from borrowed parts.
    pub fn new(scheme: &str, id: &str) -> Self {
        Self {
            scheme: scheme.to_owned(),
            id: id.to_owned(),
        }
    }

    /// `world:anyone`, which matches every client.
    pub fn anyone() -> Self {
        Self::new(SCHEME_WORLD, ID_ANYONE)
    }

    /// `auth:` (empty id), which stands for the session's own authenticated identities.
    pub fn authenticated() -> Self {
        Self::new(SCHEME_AUTH, "")
    }
}

impl Acl {
    /// `[ALL for world:anyone]`, ZooKeeper's `OPEN_ACL_UNSAFE`.
    pub fn open_unsafe() -> Vec<Self> {
        vec![Self {
            perms: perms::ALL,
            id: Id::anyone(),
        }]
    }

    /// `[ALL for auth:]`, ZooKeeper's `CREATOR_ALL_ACL`.
    pub fn creator_all() -> Vec<Self> {
        vec![Self {
            perms: perms::ALL,
            id: Id::authenticated(),
        }]
    }

    /// `[READ for world:anyone]`, ZooKeeper's `READ_ACL_UNSAFE`.
    pub fn read_unsafe() -> Vec<Self> {
        vec![Self {
            perms: perms::READ,
            id: Id::anyone(),
        }]
    }
}

jute_record! {
    /// `getACL` (op 6) request.
    pub struct GetAclRequest {
        /// The znode.
        pub path: String as string,
    }
}

jute_record! {
    /// `getACL` reply.
    pub struct GetAclResponse {
        /// The znode's ACL.
        pub acl: Vec<Acl> as records,
        /// The znode's stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// `setACL` (op 7) request.
    pub struct SetAclRequest {
        /// The znode.
        pub path: String as string,
        /// The new ACL.
        pub acl: Vec<Acl> as records,
        /// Expected ACL version (`aversion`), or -1 for any.
        pub version: i32 as int,
    }
}

jute_record! {
    /// `setACL` reply.
    pub struct SetAclResponse {
        /// The znode's stat after the change.
        pub stat: Stat as record,
    }
}
