//! Replays the fuzz corpus of the protocol targets on stable Rust: every file in
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the target body, as
//! `cargo +nightly fuzz run <target>` would feed it. The bodies are
//! `zk_server::proto::fuzzing::{decode_request_target, connection_stream_target}` and, for
//! `four_letter`, `fuzz/src/four_letter.rs` (compiled in here by path); for `zab_message`,
//! `zk_server::zab::codec::fuzzing::zab_message_target`.
//!
//! The seed corpus is written by `write_seed_corpus` (ignored) with the protocol's own encoders.
//! Regenerate it with `cargo test -p zk-server --test fuzz_corpus -- --ignored write_seed_corpus`;
//! it replaces only the `seed-*` files. A crash found by the fuzzer goes to
//! `fuzz/regressions/<target>/` with a named test below.

#[path = "../../fuzz/src/four_letter.rs"]
mod four_letter;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use four_letter::four_letter;
use zk_server::proto::fuzzing::{connection_stream_target, decode_request_target};
use zk_server::proto::*;
use zk_server::zab::codec::fuzzing::zab_message_target;
use zk_server::zab::codec::{encode as encode_zab, encode_hello, Hello};
use zk_server::zab::message::{LinkId, Message, PeerState, Vote};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("read a corpus directory").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `body` on every corpus and regression input of `target`; the seed corpus must be there.
fn replay(target: &str, body: fn(&[u8])) {
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "no corpus in fuzz/corpus/{target}/: run write_seed_corpus"
    );
    for path in corpus.iter().chain(&inputs("regressions", target)) {
        let data = fs::read(path).expect("read a corpus file");
        println!("{target}: {} ({} bytes)", path.display(), data.len());
        body(&data);
    }
}

#[test]
fn request_decode_corpus() {
    replay("request_decode", decode_request_target);
}

#[test]
fn connection_stream_corpus() {
    replay("connection_stream", connection_stream_target);
}

#[test]
fn four_letter_corpus() {
    replay("four_letter", four_letter);
}

#[test]
fn zab_message_corpus() {
    replay("zab_message", zab_message_target);
}

// ---- Seed corpus ----

fn create(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.to_owned(),
        data: Some(b"hello".to_vec()),
        acl: Acl::open_unsafe(),
        flags,
    }
}

fn create_ttl(path: &str) -> CreateTtlRequest {
    CreateTtlRequest {
        path: path.to_owned(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl_ms: 60_000,
    }
}

fn watches(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

/// One request of every op code a client may send.
fn sample_requests() -> Vec<(&'static str, Request)> {
    vec![
        ("create", Request::Create(create("/a", 0))),
        ("create2", Request::Create2(create("/a/b", 3))),
        (
            "create-container",
            Request::CreateContainer(create("/c", 4)),
        ),
        ("create-ttl", Request::CreateTtl(create_ttl("/t"))),
        (
            "delete",
            Request::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            }),
        ),
        (
            "delete-container",
            Request::DeleteContainer(DeleteContainerRequest {
                path: b"/c".to_vec(),
            }),
        ),
        (
            "exists",
            Request::Exists(ExistsRequest {
                path: "/a".into(),
                watch: true,
            }),
        ),
        (
            "get-data",
            Request::GetData(GetDataRequest {
                path: "/a".into(),
                watch: false,
            }),
        ),
        (
            "set-data",
            Request::SetData(SetDataRequest {
                path: "/a".into(),
                data: Some(vec![1, 2, 3]),
                version: 0,
            }),
        ),
        (
            "get-acl",
            Request::GetAcl(GetAclRequest { path: "/a".into() }),
        ),
        (
            "set-acl",
            Request::SetAcl(SetAclRequest {
                path: "/a".into(),
                acl: vec![Acl {
                    perms: 31,
                    id: Id {
                        scheme: "digest".into(),
                        id: "user:hash".into(),
                    },
                }],
                version: 0,
            }),
        ),
        (
            "get-children",
            Request::GetChildren(GetChildrenRequest {
                path: "/".into(),
                watch: true,
            }),
        ),
        (
            "get-children2",
            Request::GetChildren2(GetChildrenRequest {
                path: "/".into(),
                watch: false,
            }),
        ),
        (
            "get-all-children-number",
            Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/".into() }),
        ),
        (
            "get-ephemerals",
            Request::GetEphemerals(GetEphemeralsRequest {
                prefix_path: "/e".into(),
            }),
        ),
        ("sync", Request::Sync(SyncRequest { path: "/".into() })),
        (
            "check",
            Request::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 1,
            }),
        ),
        (
            "multi",
            Request::Multi(MultiRequest {
                operations: vec![
                    MultiOperation::Create(create("/m", 0)),
                    MultiOperation::Create2(create("/m/a", 1)),
                    MultiOperation::CreateContainer(create("/m/c", 4)),
                    MultiOperation::CreateTtl(create_ttl("/m/t")),
                    MultiOperation::SetData(SetDataRequest {
                        path: "/m".into(),
                        data: None,
                        version: -1,
                    }),
                    MultiOperation::Check(CheckVersionRequest {
                        path: "/m".into(),
                        version: 1,
                    }),
                    MultiOperation::Delete(DeleteRequest {
                        path: "/m/a".into(),
                        version: -1,
                    }),
                ],
            }),
        ),
        (
            "multi-read",
            Request::MultiRead(MultiRequest {
                operations: vec![
                    MultiOperation::GetChildren(GetChildrenRequest {
                        path: "/".into(),
                        watch: false,
                    }),
                    MultiOperation::GetData(GetDataRequest {
                        path: "/a".into(),
                        watch: false,
                    }),
                ],
            }),
        ),
        (
            "auth",
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: b"user:password".to_vec(),
            }),
        ),
        (
            "sasl",
            Request::Sasl(SaslRequest {
                token: vec![0x60, 0x82, 0x01],
            }),
        ),
        (
            "set-watches",
            Request::SetWatches(SetWatches {
                relative_zxid: 0x1_0000_0005,
                data_watches: watches(&["/a"]),
                exist_watches: watches(&["/x"]),
                child_watches: watches(&["/", "/a"]),
            }),
        ),
        (
            "set-watches2",
            Request::SetWatches2(SetWatches2 {
                relative_zxid: 7,
                data_watches: watches(&["/a"]),
                exist_watches: Vec::new(),
                child_watches: watches(&["/"]),
                persistent_watches: watches(&["/p"]),
                persistent_recursive_watches: watches(&["/r"]),
            }),
        ),
        (
            "add-watch",
            Request::AddWatch(AddWatchRequest {
                path: "/p".into(),
                mode: 1,
            }),
        ),
        (
            "remove-watches",
            Request::RemoveWatches(RemoveWatchesRequest {
                path: "/a".into(),
                watcher_type: 3,
            }),
        ),
        (
            "check-watches",
            Request::CheckWatches(CheckWatchesRequest {
                path: "/a".into(),
                watcher_type: 1,
            }),
        ),
        ("who-am-i", Request::WhoAmI),
        (
            "reconfig",
            Request::Reconfig(ReconfigRequest {
                joining_servers: Some("server.4=10.0.0.4:2888:3888;2181".into()),
                leaving_servers: None,
                new_members: None,
                current_config_id: -1,
            }),
        ),
        ("close-session", Request::CloseSession),
        ("ping", Request::Ping),
    ]
}

fn connect_frame(session_id: i64, read_only: Option<bool>) -> Vec<u8> {
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 30_000,
        session_id,
        password: vec![0; 16],
        read_only,
    };
    let mut frame = Vec::new();
    encode_frame(&mut frame, &connect.to_bytes());
    frame
}

/// A connect frame, then `requests` as frames with xids 1, 2, ... (or their special xid).
fn session(connect: Vec<u8>, requests: &[Request]) -> Vec<u8> {
    let mut stream = connect;
    for (xid, request) in (1..).zip(requests) {
        encode_request(&mut stream, request.special_xid().unwrap_or(xid), request);
    }
    stream
}

/// Replaces the `seed-*` files of `fuzz/corpus/<target>/` with `seeds`, after checking that the
/// target accepts each of them.
fn write_seeds(target: &str, body: fn(&[u8]), seeds: &[(String, Vec<u8>)]) {
    let dir = fuzz_dir().join("corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    for old in inputs("corpus", target) {
        let name = old.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("seed-") {
            fs::remove_file(&old).expect("remove an old seed");
        }
    }
    for (name, data) in seeds {
        body(data);
        fs::write(dir.join(format!("seed-{name}")), data).expect("write a seed");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/; run by hand to regenerate the seeds"]
fn write_seed_corpus() {
    let requests = sample_requests();

    // request_decode: the op code (big-endian), then the request record.
    let decode: Vec<(String, Vec<u8>)> = requests
        .iter()
        .map(|(name, request)| {
            let mut input = request.op_code().value().to_be_bytes().to_vec();
            input.extend_from_slice(&request.body_bytes());
            assert_eq!(
                decode_request(request.op_code().value(), &input[4..]).as_ref(),
                Ok(request),
                "{name}"
            );
            ((*name).to_owned(), input)
        })
        .collect();
    write_seeds("request_decode", decode_request_target, &decode);

    // connection_stream: what a client sends on a new connection.
    let all: Vec<Request> = requests.iter().map(|(_, r)| r.clone()).collect();
    let pick = |names: &[&str]| -> Vec<Request> {
        names
            .iter()
            .map(|name| {
                requests
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, r)| r.clone())
                    .expect("a sample request")
            })
            .collect()
    };
    let mut stmk = b"stmk".to_vec();
    stmk.extend_from_slice(&0x0000_0000_0000_0130u64.to_be_bytes());
    let stream = vec![
        ("connect-only".into(), connect_frame(0, Some(false))),
        (
            "connect-3.3-client".into(),
            connect_frame(0x0100_0000_0000_0001, None),
        ),
        (
            "session".into(),
            session(
                connect_frame(0, Some(false)),
                &pick(&["create", "get-data", "set-data", "exists", "delete", "ping"]),
            ),
        ),
        (
            "reconnect".into(),
            session(
                connect_frame(0x0100_0000_0000_0001, Some(true)),
                &pick(&["auth", "set-watches2", "get-children2", "close-session"]),
            ),
        ),
        (
            "multi".into(),
            session(
                connect_frame(0, Some(false)),
                &pick(&["multi", "multi-read"]),
            ),
        ),
        (
            "every-request".into(),
            session(connect_frame(0, Some(false)), &all),
        ),
        ("four-letter-word".into(), b"ruok".to_vec()),
        ("set-trace-mask".into(), stmk.clone()),
    ];
    write_seeds("connection_stream", connection_stream_target, &stream);

    // four_letter: first bytes of a connection, and whitelist values.
    let mut words: Vec<(String, Vec<u8>)> = FourLetterWord::ALL
        .iter()
        .map(|word| (word.name().replace(' ', "-"), word.bytes().to_vec()))
        .collect();
    words.extend([
        ("ruok-newline".into(), b"ruok\n".to_vec()),
        ("stmk-with-mask".into(), stmk),
        ("upper-case".into(), b"RUOK".to_vec()),
        ("frame-length".into(), connect_frame(0, Some(false))),
        ("whitelist".into(), b"srvr, ruok ,mntr,,conf".to_vec()),
        ("whitelist-star".into(), b"stat,*".to_vec()),
        ("whitelist-escapes".into(), b"\\u0063ons,is\\\nro".to_vec()),
    ]);
    write_seeds("four_letter", four_letter, &words);

    write_seeds("zab_message", zab_message_target, &zab_message_seeds());
}

/// One quorum message of every kind, named.
fn sample_zab_messages() -> Vec<(&'static str, Message)> {
    let zxid = |epoch, counter| zk_engine::Zxid::new(epoch, counter);
    let bytes = |text: &[u8]| -> Arc<[u8]> { Arc::from(text) };
    vec![
        (
            "notification",
            Message::Notification {
                vote: Vote {
                    leader: 3,
                    zxid: zxid(2, 7),
                    epoch: 2,
                },
                round: 4,
                state: PeerState::Looking,
            },
        ),
        (
            "follower-info",
            Message::FollowerInfo {
                accepted_epoch: 2,
                last_zxid: zxid(2, 7),
            },
        ),
        ("leader-info", Message::LeaderInfo { epoch: 3 }),
        (
            "ack-epoch",
            Message::AckEpoch {
                current_epoch: 2,
                last_zxid: zxid(2, 7),
                snapshot_zxid: zxid(2, 1),
            },
        ),
        ("diff", Message::Diff),
        ("trunc", Message::Trunc { to: zxid(2, 5) }),
        (
            "snap",
            Message::Snap {
                base: zxid(2, 5),
                state: bytes(b"a small snapshot"),
            },
        ),
        (
            "proposal",
            Message::Proposal {
                zxid: zxid(3, 1),
                data: bytes(b"txn"),
            },
        ),
        ("commit", Message::Commit { zxid: zxid(3, 1) }),
        (
            "new-leader",
            Message::NewLeader {
                epoch: 3,
                last_zxid: zxid(2, 7),
            },
        ),
        ("ack-new-leader", Message::AckNewLeader { zxid: zxid(2, 7) }),
        ("up-to-date", Message::UpToDate),
        ("ack", Message::Ack { zxid: zxid(3, 1) }),
        ("ping", Message::Ping),
        ("pong", Message::Pong),
        (
            "forward",
            Message::Forward {
                payload: bytes(b"request"),
            },
        ),
        (
            "reply",
            Message::Reply {
                payload: bytes(b"response"),
            },
        ),
    ]
}

/// zab_message: a control byte (bit 0 skips checksums), an optional hello, frames.
fn zab_message_seeds() -> Vec<(String, Vec<u8>)> {
    let messages = sample_zab_messages();
    let stream = |control: u8, hello: Option<Hello>, names: &[&str]| {
        let mut input = vec![control];
        if let Some(hello) = hello {
            encode_hello(&hello, &mut input);
        }
        for name in names {
            let (_, message) = messages
                .iter()
                .find(|(n, _)| n == name)
                .expect("a sample message");
            encode_zab(message, &mut input);
        }
        input
    };
    let link = Hello::Link {
        link: LinkId {
            follower: 2,
            leader: 1,
            nonce: 0x5eed,
        },
    };
    let mut seeds: Vec<(String, Vec<u8>)> = messages
        .iter()
        .map(|(name, _)| ((*name).to_owned(), stream(1, None, &[name])))
        .collect();
    seeds.extend([
        (
            "election".into(),
            stream(0, Some(Hello::Election { from: 3 }), &["notification"; 3]),
        ),
        (
            "link-diff".into(),
            stream(
                0,
                Some(link),
                &[
                    "follower-info",
                    "leader-info",
                    "ack-epoch",
                    "diff",
                    "proposal",
                    "new-leader",
                    "ack-new-leader",
                    "up-to-date",
                    "commit",
                    "ack",
                    "ping",
                    "pong",
                    "forward",
                    "reply",
                ],
            ),
        ),
        (
            "link-trunc".into(),
            stream(0, Some(link), &["trunc", "proposal", "new-leader"]),
        ),
        (
            "link-snap".into(),
            stream(0, Some(link), &["snap", "proposal", "new-leader"]),
        ),
        (
            "every-kind-unchecked".into(),
            stream(
                1,
                None,
                &messages.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ),
        ),
    ]);
    seeds
}
