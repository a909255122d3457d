//! Authentication and ACLs as ZooKeeper does them: the `world`, `auth`, `digest` and `ip`
//! schemes, the super user, and the ACL expansion of a create or setACL (`fixupACL`).

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use zk_engine::tree::code;
#[cfg(test)]
use zk_engine::txn::perms;
use zk_engine::txn::Acl;

use crate::proto;

/// An identity a connection has proven (ZooKeeper's `authInfo` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthId {
    /// `digest`, `ip`, `super`.
    pub scheme: String,
    /// For digest: `user:base64(sha1(user:password))`; for ip: the address.
    pub id: String,
}

/// `user:password` to the id a digest ACL names: `user:base64(sha1("user:password"))`. A
/// credential without `:` is taken whole as the user, as ZooKeeper does.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The identities of a connection: its address, what it proved with `addAuth`, and whether it
/// is the super user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// What the connection proved (`ip` first, as ZooKeeper adds it at connect time).
    pub ids: Vec<AuthId>,
    /// Whether one of them is the configured super digest.
    pub is_super: bool,
}

impl Identity {
    /// A connection from `address`.
    pub fn new(address: IpAddr) -> Identity {
        Identity {
            ids: vec![AuthId {
                scheme: "ip".to_owned(),
                id: address.to_string(),
            }],
            is_super: false,
        }
    }

    /// Handles an `addAuth`: `digest` with `user:password`. Returns false when the scheme is
    /// unknown or the credential malformed (ZooKeeper then answers AuthFailed and closes).
    pub fn add(&mut self, scheme: &str, credential: &[u8], super_digest: Option<&str>) -> bool {
        match scheme {
            "digest" => {
                let text = String::from_utf8_lossy(credential);
                let id = digest_id(&text);
                if super_digest == Some(id.as_str()) {
                    self.is_super = true;
                    self.ids.push(AuthId {
                        scheme: "super".to_owned(),
                        id: String::new(),
                    });
                }
                let entry = AuthId {
                    scheme: "digest".to_owned(),
                    id,
                };
                if !self.ids.contains(&entry) {
                    self.ids.push(entry);
                }
                true
            }
            // ZooKeeper's ip provider accepts and records the connection's own address, which
            // every connection already has.
            "ip" => true,
            _ => false,
        }
    }

    /// Whether the ACL grants any of the bits in `perm` to this identity.
    pub fn allows(&self, acl: &[Acl], perm: i32) -> bool {
        if self.is_super {
            return true;
        }
        acl.iter().any(|entry| {
            entry.perms & perm != 0
                && match entry.scheme.as_str() {
                    "world" => entry.id == "anyone",
                    "digest" => self
                        .ids
                        .iter()
                        .any(|id| id.scheme == "digest" && id.id == entry.id),
                    "ip" => self
                        .ids
                        .iter()
                        .any(|id| id.scheme == "ip" && ip_matches(&entry.id, &id.id)),
                    _ => false,
                }
        })
    }

    /// Expands and checks an ACL from a create or setACL (ZooKeeper's `fixupACL`): an `auth`
    /// entry becomes one entry per authenticated (digest) identity; every entry must be valid.
    pub fn fixup(&self, acl: &[proto::Acl]) -> Result<Vec<Acl>, i32> {
        if acl.is_empty() {
            return Err(code::INVALID_ACL);
        }
        let mut out = Vec::with_capacity(acl.len());
        for entry in acl {
            let (scheme, id) = (entry.id.scheme.as_str(), entry.id.id.as_str());
            match scheme {
                "auth" => {
                    let mut any = false;
                    for auth in self.ids.iter().filter(|a| a.scheme == "digest") {
                        any = true;
                        push_unique(&mut out, Acl::new(entry.perms, "digest", &auth.id));
                    }
                    if !any {
                        return Err(code::INVALID_ACL);
                    }
                }
                "world" if id == "anyone" => {
                    push_unique(&mut out, Acl::new(entry.perms, scheme, id))
                }
                "digest" if valid_digest_id(id) => {
                    push_unique(&mut out, Acl::new(entry.perms, scheme, id));
                }
                "ip" if valid_ip_acl(id) => {
                    push_unique(&mut out, Acl::new(entry.perms, scheme, id))
                }
                _ => return Err(code::INVALID_ACL),
            }
        }
        Ok(out)
    }
}

fn push_unique(list: &mut Vec<Acl>, acl: Acl) {
    if !list.contains(&acl) {
        list.push(acl);
    }
}

fn valid_digest_id(id: &str) -> bool {
    id.split(':').count() == 2
}

fn valid_ip_acl(id: &str) -> bool {
    let (address, bits) = match id.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (id, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= max))
}

/// Whether the client address `client` falls in the ACL's `address[/bits]`.
fn ip_matches(acl_id: &str, client: &str) -> bool {
    let (address, bits) = match acl_id.split_once('/') {
        Some((address, bits)) => (address, bits.parse::<u32>().ok()),
        None => (acl_id, None),
    };
    let (Ok(network), Ok(client)) = (address.parse::<IpAddr>(), client.parse::<IpAddr>()) else {
        return false;
    };
    match (network, client) {
        (IpAddr::V4(network), IpAddr::V4(client)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(network) & mask == u32::from(client) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(client)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(network) & mask == u128::from(client) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper() {
        // `DigestAuthenticationProvider.generateDigest("super:test")` in ZooKeeper's docs.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert!(digest_id("nocolon").starts_with("nocolon:"));
    }

    #[test]
    fn acl_checks_follow_the_schemes() {
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let mut identity = Identity::new(local);
        let open = vec![Acl::new(perms::ALL, "world", "anyone")];
        assert!(identity.allows(&open, perms::READ));
        let digest = vec![Acl::new(
            perms::READ,
            "digest",
            "user:2dt7fe8UNf0/FRYeHa/1xzWdOTk=",
        )];
        assert!(!identity.allows(&digest, perms::READ));
        assert!(identity.add("digest", b"user:pw", None));
        let id = digest_id("user:pw");
        let digest = vec![Acl::new(perms::READ, "digest", &id)];
        assert!(identity.allows(&digest, perms::READ));
        assert!(!identity.allows(&digest, perms::WRITE));
        let ip = vec![Acl::new(perms::ALL, "ip", "127.0.0.0/8")];
        assert!(identity.allows(&ip, perms::WRITE));
        let other = vec![Acl::new(perms::ALL, "ip", "10.0.0.1")];
        assert!(!identity.allows(&other, perms::WRITE));
        assert!(!identity.add("nosuchscheme", b"x", None));
    }

    #[test]
    fn super_digest_grants_everything() {
        let mut identity = Identity::new("127.0.0.1".parse().expect("ip"));
        let super_digest = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
        assert!(identity.add("digest", b"super:test", Some(super_digest)));
        assert!(identity.is_super);
        assert!(identity.allows(&[], perms::ADMIN));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_entries() {
        let mut identity = Identity::new("127.0.0.1".parse().expect("ip"));
        let auth = vec![proto::Acl {
            perms: perms::ALL,
            id: proto::Id::new("auth", ""),
        }];
        assert_eq!(identity.fixup(&auth), Err(code::INVALID_ACL));
        identity.add("digest", b"user:pw", None);
        let fixed = identity.fixup(&auth).expect("expands");
        assert_eq!(
            fixed,
            vec![Acl::new(perms::ALL, "digest", &digest_id("user:pw"))]
        );
        assert_eq!(identity.fixup(&[]), Err(code::INVALID_ACL));
        let bad_world = vec![proto::Acl {
            perms: perms::ALL,
            id: proto::Id::new("world", "someone"),
        }];
        assert_eq!(identity.fixup(&bad_world), Err(code::INVALID_ACL));
        let bad_ip = vec![proto::Acl {
            perms: perms::ALL,
            id: proto::Id::new("ip", "300.1.1.1"),
        }];
        assert_eq!(identity.fixup(&bad_ip), Err(code::INVALID_ACL));
    }
}
