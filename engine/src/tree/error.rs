//! Why an operation on the tree is refused: the ZooKeeper error codes that the prepare step and
//! `apply` can produce (`KeeperException.Code`), as a typed error.

/// ZooKeeper error codes used by the tree, as the integers clients receive.
pub mod code {
    /// Success.
    pub const OK: i32 = 0;
    /// The state machine disagrees with itself (ZooKeeper's `RUNTIMEINCONSISTENCY`); also the
    /// code of the operations after the failing one in a failed multi.
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    /// Operation not implemented (e.g. TTL nodes while they are disabled).
    pub const UNIMPLEMENTED: i32 = -6;
    /// Invalid arguments (a bad path, a bad TTL).
    pub const BAD_ARGUMENTS: i32 = -8;
    /// The node does not exist.
    pub const NO_NODE: i32 = -101;
    /// Not authorized.
    pub const NO_AUTH: i32 = -102;
    /// The expected version does not match.
    pub const BAD_VERSION: i32 = -103;
    /// Ephemeral nodes may not have children.
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    /// The node already exists.
    pub const NODE_EXISTS: i32 = -110;
    /// The node has children.
    pub const NOT_EMPTY: i32 = -111;
    /// Invalid ACL.
    pub const INVALID_ACL: i32 = -114;
}

/// A refused operation; [`TreeError::code`] gives the ZooKeeper error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The node (or, for a create, its parent) does not exist.
    #[error("no node")]
    NoNode,
    /// The node already exists.
    #[error("node exists")]
    NodeExists,
    /// The node has children.
    #[error("node not empty")]
    NotEmpty,
    /// The expected version does not match.
    #[error("bad version")]
    BadVersion,
    /// The parent is ephemeral.
    #[error("ephemeral nodes may not have children")]
    NoChildrenForEphemerals,
    /// The path (or TTL, or mode) is invalid.
    #[error("bad arguments")]
    BadArguments,
    /// The ACL list is empty or invalid.
    #[error("invalid ACL")]
    InvalidAcl,
    /// The caller lacks a permission.
    #[error("not authorized")]
    NoAuth,
    /// The operation is not enabled.
    #[error("unimplemented")]
    Unimplemented,
}

impl TreeError {
    /// The ZooKeeper error code clients receive.
    pub fn code(self) -> i32 {
        match self {
            TreeError::NoNode => code::NO_NODE,
            TreeError::NodeExists => code::NODE_EXISTS,
            TreeError::NotEmpty => code::NOT_EMPTY,
            TreeError::BadVersion => code::BAD_VERSION,
            TreeError::NoChildrenForEphemerals => code::NO_CHILDREN_FOR_EPHEMERALS,
            TreeError::BadArguments => code::BAD_ARGUMENTS,
            TreeError::InvalidAcl => code::INVALID_ACL,
            TreeError::NoAuth => code::NO_AUTH,
            TreeError::Unimplemented => code::UNIMPLEMENTED,
        }
    }
}
