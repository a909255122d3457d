//! The tree digest: an order-independent hash of every node, kept up to date on each change so
//! that replicas (and a restored snapshot) can be compared in O(1).
//!
//! The function is ZooKeeper's (`DigestCalculator`, digest version 2), so that our digests can be
//! compared with an Apache ZooKeeper server's (`hash` command, snapshot `ZxidDigest`) over the
//! same history: a node's digest is the CRC-32 (IEEE, as `crc32fast` computes it) of its path
//! bytes (the root as the empty string), its data, then 60 bytes of its persisted stat written
//! **big-endian** in this order: czxid, mzxid, pzxid, ctime, mtime (8 bytes each), version,
//! cversion, aversion (4 bytes each), ephemeralOwner (8 bytes). The tree digest is the wrapping
//! 64-bit sum of the node digests. Nodes under `/zookeeper/` are left out, as in ZooKeeper (they
//! are maintained locally there). ACLs are not covered (ZooKeeper does not cover them either;
//! `aversion` is). The big-endian order is part of the hash's definition, not a storage format.

use super::node::StatPersisted;

/// ZooKeeper's digest version for this function.
pub const DIGEST_VERSION: i32 = 2;

/// Paths under this prefix do not contribute to the digest.
pub const EXCLUDED_SUBTREE: &str = "/zookeeper/";

/// The digest of one node (0 for a node under [`EXCLUDED_SUBTREE`]).
pub fn node_digest(path: &str, data: &[u8], stat: &StatPersisted) -> u64 {
    if path.starts_with(EXCLUDED_SUBTREE) {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut fields = [0u8; 60];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(slot) = fields.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    put(&stat.czxid.to_be_bytes());
    put(&stat.mzxid.to_be_bytes());
    put(&stat.pzxid.to_be_bytes());
    put(&stat.ctime.to_be_bytes());
    put(&stat.mtime.to_be_bytes());
    put(&stat.version.to_be_bytes());
    put(&stat.cversion.to_be_bytes());
    put(&stat.aversion.to_be_bytes());
    put(&stat.ephemeral_owner.to_be_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(path.as_bytes());
    hasher.update(data);
    hasher.update(&fields);
    u64::from(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_alias_and_excluded_subtree() {
        let stat = StatPersisted::default();
        assert_eq!(node_digest("/", b"", &stat), node_digest("", b"", &stat));
        assert_eq!(node_digest("/zookeeper/quota", b"", &stat), 0);
        assert_ne!(node_digest("/zookeeper", b"", &stat), 0);
    }

    #[test]
    fn matches_a_hand_built_input() {
        let stat = StatPersisted {
            czxid: 0x0102_0304_0506_0708,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: -1,
            pzxid: 9,
        };
        let mut input = Vec::new();
        input.extend_from_slice(b"/a");
        input.extend_from_slice(b"hello");
        input.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        input.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
        input.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
        input.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        input.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 4]);
        input.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7]);
        input.extend_from_slice(&[0xFF; 8]);
        assert_eq!(
            node_digest("/a", b"hello", &stat),
            u64::from(crc32fast::hash(&input))
        );
    }
}
