//! `create` (op 1), `create2` (15), `createContainer` (19) and `createTTL` (21), and the create
//! modes carried in their `flags`.
//!
//! `create`, `create2` and `createContainer` share one request record; only the reply differs
//! (`create` returns the path, the others the path and the stat). `createTTL` adds a time to live.

use super::acl::Acl;
use super::stat::Stat;

wire_enum! {
    /// The `flags` of a create request (ZooKeeper's `CreateMode`).
    pub enum CreateMode {
        /// A plain znode.
        Persistent = 0,
        /// Deleted when the creating session ends.
        Ephemeral = 1,
        /// A plain znode whose name gets a 10-digit sequence suffix.
        PersistentSequential = 2,
        /// Ephemeral, with a sequence suffix.
        EphemeralSequential = 3,
        /// Deleted by the server once it has had children and has none left.
        Container = 4,
        /// Deleted by the server when unmodified and childless for its TTL.
        PersistentWithTtl = 5,
        /// TTL, with a sequence suffix.
        PersistentSequentialWithTtl = 6,
    }
}

impl CreateMode {
    /// The mode named by create `flags`, or `None` (ZooKeeper answers `BadArguments`, or fails a
    /// multi request as malformed).
    pub fn from_flags(flags: i32) -> Option<Self> {
        Self::try_from(flags).ok()
    }

    /// True for modes tied to the creating session.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::Ephemeral | Self::EphemeralSequential)
    }

    /// True for modes that append a sequence number to the name.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential
                | Self::EphemeralSequential
                | Self::PersistentSequentialWithTtl
        )
    }

    /// True for the container mode.
    pub fn is_container(self) -> bool {
        self == Self::Container
    }

    /// True for modes that need a TTL (and so `createTTL`).
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl
        )
    }
}

jute_record! {
    /// Request of `create`, `create2` and `createContainer`.
    pub struct CreateRequest {
        /// Path of the new znode (for sequential modes, the prefix of its name).
        pub path: String as string,
        /// Initial data; `None` is a null buffer, which ZooKeeper stores and returns as null.
        pub data: Option<Vec<u8>> as buffer,
        /// ACL of the new znode.
        pub acl: Vec<Acl> as records,
        /// A [`CreateMode`] value; not checked when decoding a lone create.
        pub flags: i32 as int,
    }
}

jute_record! {
    /// Request of `createTTL`.
    pub struct CreateTtlRequest {
        /// Path of the new znode.
        pub path: String as string,
        /// Initial data; `None` is a null buffer.
        pub data: Option<Vec<u8>> as buffer,
        /// ACL of the new znode.
        pub acl: Vec<Acl> as records,
        /// A [`CreateMode`] value (one of the TTL modes).
        pub flags: i32 as int,
        /// Time to live in milliseconds (jute `ttl`).
        pub ttl_ms: i64 as long,
    }
}

jute_record! {
    /// Reply to `create`.
    pub struct CreateResponse {
        /// Path of the created znode (with its sequence suffix, if any).
        pub path: String as string,
    }
}

jute_record! {
    /// Reply to `create2`, `createContainer` and `createTTL`.
    pub struct Create2Response {
        /// Path of the created znode.
        pub path: String as string,
        /// Its stat.
        pub stat: Stat as record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_properties() {
        assert_eq!(CreateMode::from_flags(4), Some(CreateMode::Container));
        assert_eq!(CreateMode::from_flags(7), None);
        assert_eq!(CreateMode::from_flags(-1), None);
        let sequential: Vec<_> = CreateMode::ALL
            .iter()
            .filter(|mode| mode.is_sequential())
            .collect();
        assert_eq!(sequential.len(), 3);
        assert!(CreateMode::EphemeralSequential.is_ephemeral());
        assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
        assert!(!CreateMode::Container.is_ttl());
        assert!(CreateMode::Container.is_container());
    }
}
