//! Conversions between the wire records (`proto`) and the engine's types.

use zk_engine::tree::Stat as TreeStat;
use zk_engine::txn::Acl as TreeAcl;

use crate::proto::{Acl, Id, Stat};

/// The wire form of a node's stat.
pub fn stat(stat: &TreeStat) -> Stat {
    Stat {
        created_zxid: stat.czxid,
        modified_zxid: stat.mzxid,
        created_time_ms: stat.ctime,
        modified_time_ms: stat.mtime,
        version: stat.version,
        child_version: stat.cversion,
        acl_version: stat.aversion,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        child_count: stat.num_children,
        child_list_zxid: stat.pzxid,
    }
}

/// The wire form of an ACL list.
pub fn acl_to_wire(acl: &[TreeAcl]) -> Vec<Acl> {
    acl.iter()
        .map(|entry| Acl {
            perms: entry.perms,
            id: Id {
                scheme: entry.scheme.clone(),
                id: entry.id.clone(),
            },
        })
        .collect()
}
