//! Real clients against a running server: each Python script in `tests/blackbox/` (kazoo from
//! Debian's `python3-kazoo`, plus the raw-protocol client `zkwire.py` for what kazoo 2.8 lacks)
//! runs against zk-server and, in `apache_reference`, against Apache ZooKeeper 3.8 to show that
//! the scripts themselves are right.
//!
//! Each test starts its own server on a free loopback port with a fresh data directory, so the
//! tests run in parallel. The scripts print `FAIL [<step>]: ...` and the test shows their output
//! and the server's log. Run one by hand with
//! `/usr/bin/python3 server/tests/blackbox/<script> --hosts 127.0.0.1:<port> --verbose`.

mod common;

use common::{run_script, Config, Kind, Server};

/// CRUD, stats, versions, errors, sequential/ephemeral/container/TTL nodes, multi, sync.
fn basic(kind: Kind) {
    let server = Server::start(kind, &Config::for_scripts());
    run_script(&server, "kazoo_basic.py", &[]);
}

/// Without `extendedTypesEnabled`, TTL nodes are refused with Unimplemented.
fn ttl_refused_without_extended_types(kind: Kind) {
    let config = Config {
        extended_types_enabled: false,
        ..Config::for_scripts()
    };
    let server = Server::start(kind, &config);
    run_script(&server, "kazoo_basic.py", &["--no-extended-types"]);
}

/// One-shot, persistent and persistent-recursive watches; checkWatches/removeWatches.
fn watches(kind: Kind) {
    let server = Server::start(kind, &Config::for_scripts());
    run_script(&server, "kazoo_watches.py", &[]);
}

/// Digest, world, ip and auth schemes, permissions per operation, error order, super digest.
fn acl(kind: Kind) {
    let server = Server::start(kind, &Config::for_scripts());
    run_script(&server, "kazoo_acl.py", &[]);
}

/// Lock, ReadLock/WriteLock, Semaphore, Election, Queue, LockingQueue, Barrier,
/// DoubleBarrier, Counter, Party with several clients and threads.
fn recipes(kind: Kind) {
    let server = Server::start(kind, &Config::for_scripts());
    run_script(&server, "kazoo_recipes.py", &[]);
}

/// Expiry of silent and vanished clients, reconnects that keep session, ephemerals and watches.
fn sessions(kind: Kind) {
    let config = Config::for_scripts();
    let server = Server::start(kind, &config);
    let min = config.min_session_timeout_ms.expect("set").to_string();
    let max = config.max_session_timeout_ms.expect("set").to_string();
    run_script(
        &server,
        "sessions.py",
        &["--min-session-timeout", &min, "--max-session-timeout", &max],
    );
}

#[test]
fn kazoo_basic() {
    basic(Kind::Ours);
}

#[test]
fn kazoo_ttl_refused_without_extended_types() {
    ttl_refused_without_extended_types(Kind::Ours);
}

#[test]
fn kazoo_watches() {
    watches(Kind::Ours);
}

#[test]
fn kazoo_acl() {
    acl(Kind::Ours);
}

#[test]
fn kazoo_recipes() {
    recipes(Kind::Ours);
}

#[test]
fn kazoo_sessions() {
    sessions(Kind::Ours);
}

/// The same scripts against Apache ZooKeeper 3.8 (Debian): they must pass there, or the script
/// is wrong.
mod apache_reference {
    use super::*;

    #[test]
    fn kazoo_basic() {
        basic(Kind::Apache);
    }

    #[test]
    fn kazoo_ttl_refused_without_extended_types() {
        ttl_refused_without_extended_types(Kind::Apache);
    }

    #[test]
    fn kazoo_watches() {
        watches(Kind::Apache);
    }

    #[test]
    fn kazoo_acl() {
        acl(Kind::Apache);
    }

    #[test]
    fn kazoo_recipes() {
        recipes(Kind::Apache);
    }

    #[test]
    fn kazoo_sessions() {
        sessions(Kind::Apache);
    }
}
