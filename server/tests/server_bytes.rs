//! The server on a loopback port, driven with raw bytes: exact bytes in, exact bytes out
//! (PROTOCOL.md). Fields that cannot be known in advance (session id, password, times) are
//! checked for shape and masked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use zk_server::config::ServerConfig;

struct TestServer {
    address: SocketAddr,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _data: tempfile::TempDir,
}

impl TestServer {
    fn start() -> TestServer {
        let data = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\n4lw.commands.whitelist=ruok,srvr\n\
             jute.maxbuffer=4096\n",
            data.path().display()
        );
        let config = ServerConfig::from_text(&text, "test").expect("config");
        let store = zk_server::store::open(&config).expect("store");
        let (server, _apply) =
            zk_server::server::Server::start(config, store.database, store.session_secret)
                .expect("start");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let thread = std::thread::spawn(move || {
            let outcome = runtime.block_on(zk_server::run(Arc::clone(&server), listener, stopped));
            assert!(outcome.is_ok(), "{outcome:?}");
        });
        TestServer {
            address,
            stop: Some(stop),
            thread: Some(thread),
            _data: data,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).expect("frame length");
    let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
    stream.read_exact(&mut body).expect("frame body");
    body
}

fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

#[rustfmt::skip]
const CONNECT: [u8; 49] = [
    0x00, 0x00, 0x00, 0x2d,                         // frame length 45
    0x00, 0x00, 0x00, 0x00,                         // protocolVersion 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lastZxidSeen 0
    0x00, 0x00, 0x75, 0x30,                         // timeOut 30000
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sessionId 0: a new session
    0x00, 0x00, 0x00, 0x10,                         // passwd: 16 bytes
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x00,                                           // readOnly false
];

/// Connects a new session; returns its id.
fn handshake(stream: &mut TcpStream) -> [u8; 8] {
    stream.write_all(&CONNECT).expect("send connect");
    let reply = read_frame(stream);
    assert_eq!(reply.len(), 37, "{reply:02x?}");
    assert_eq!(reply[0..4], [0, 0, 0, 0], "protocolVersion");
    assert_eq!(
        reply[4..8],
        [0x00, 0x00, 0x75, 0x30],
        "negotiated timeout 30000"
    );
    assert_ne!(reply[8..16], [0; 8], "a session id");
    assert_eq!(reply[16..20], [0, 0, 0, 0x10], "a 16-byte password");
    assert_eq!(
        reply[36], 0,
        "readOnly false, mirrored because the client sent it"
    );
    reply[8..16].try_into().expect("8 bytes")
}

#[test]
fn a_session_reads_the_root_and_creates_a_node() {
    let server = TestServer::start();
    let mut client = server.connect();
    handshake(&mut client);

    #[rustfmt::skip]
    let get_root = [
        0x00, 0x00, 0x00, 0x0e,  // length 14
        0x00, 0x00, 0x00, 0x01,  // xid 1
        0x00, 0x00, 0x00, 0x04,  // getData
        0x00, 0x00, 0x00, 0x01, b'/',
        0x00,                    // no watch
    ];
    client.write_all(&get_root).expect("send");
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0x00, 0x00, 0x00, 0x01][..],                  // xid 1
        &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01], // zxid 1: the createSession
        &[0x00, 0x00, 0x00, 0x00],                      // err 0
        &[0x00, 0x00, 0x00, 0x00],                      // data: empty
        &[0; 8], &[0; 8], &[0; 8], &[0; 8],             // czxid mzxid ctime mtime
        &[0x00, 0x00, 0x00, 0x00],                      // version 0
        &[0xff, 0xff, 0xff, 0xff],                      // cversion -1 (ZooKeeper's root)
        &[0x00, 0x00, 0x00, 0x00],                      // aversion 0
        &[0; 8],                                        // ephemeralOwner 0
        &[0x00, 0x00, 0x00, 0x00],                      // dataLength 0
        &[0x00, 0x00, 0x00, 0x01],                      // numChildren 1 (/zookeeper)
        &[0; 8],                                        // pzxid 0
    ]
    .concat();
    assert_eq!(read_frame(&mut client), expected);

    #[rustfmt::skip]
    let create = [
        0x00, 0x00, 0x00, 0x32,                         // length 50
        0x00, 0x00, 0x00, 0x02,                         // xid 2
        0x00, 0x00, 0x00, 0x01,                         // create
        0x00, 0x00, 0x00, 0x02, b'/', b'a',             // path
        0x00, 0x00, 0x00, 0x01, b'x',                   // data
        0x00, 0x00, 0x00, 0x01,                         // one ACL
        0x00, 0x00, 0x00, 0x1f,                         //   perms ALL
        0x00, 0x00, 0x00, 0x05, b'w', b'o', b'r', b'l', b'd',
        0x00, 0x00, 0x00, 0x06, b'a', b'n', b'y', b'o', b'n', b'e',
        0x00, 0x00, 0x00, 0x00,                         // flags: persistent
    ];
    assert_eq!(create.len(), 4 + 0x32);
    client.write_all(&create).expect("send");
    #[rustfmt::skip]
    let created = [
        0x00, 0x00, 0x00, 0x02,                         // xid 2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, // zxid 2
        0x00, 0x00, 0x00, 0x00,                         // err 0
        0x00, 0x00, 0x00, 0x02, b'/', b'a',             // path
    ];
    assert_eq!(read_frame(&mut client), created);

    #[rustfmt::skip]
    let missing = [
        0x00, 0x00, 0x00, 0x10,                         // length 16
        0x00, 0x00, 0x00, 0x03,                         // xid 3
        0x00, 0x00, 0x00, 0x03,                         // exists
        0x00, 0x00, 0x00, 0x03, b'/', b'n', b'o',
        0x00,
    ];
    client.write_all(&missing).expect("send");
    #[rustfmt::skip]
    let no_node = [
        0x00, 0x00, 0x00, 0x03,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0xff, 0xff, 0xff, 0x9b,                         // NoNode -101
    ];
    assert_eq!(read_frame(&mut client), no_node);

    #[rustfmt::skip]
    let ping = [0x00, 0x00, 0x00, 0x08, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x0b];
    client.write_all(&ping).expect("send");
    #[rustfmt::skip]
    let pong = [
        0xff, 0xff, 0xff, 0xfe,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(read_frame(&mut client), pong);

    #[rustfmt::skip]
    let close = [0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04, 0xff, 0xff, 0xff, 0xf5];
    client.write_all(&close).expect("send");
    #[rustfmt::skip]
    let closed_reply = [
        0x00, 0x00, 0x00, 0x04,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, // zxid 3: the closeSession
        0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(read_frame(&mut client), closed_reply);
    assert!(
        closed(&mut client),
        "the server closes the connection after closeSession"
    );
}

#[test]
fn a_watch_notification_precedes_the_reply_that_shows_the_change() {
    let server = TestServer::start();
    let mut watcher = server.connect();
    handshake(&mut watcher);
    #[rustfmt::skip]
    let watch_root = [
        0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08,
        0x00, 0x00, 0x00, 0x01, b'/', 0x01,               // getChildren "/" with a watch
    ];
    watcher.write_all(&watch_root).expect("send");
    let _ = read_frame(&mut watcher);

    let mut writer = server.connect();
    handshake(&mut writer);
    #[rustfmt::skip]
    let create = [
        0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x02, b'/', b'b', 0x00, 0x00, 0x00, 0x01, b'y',
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1f,
        0x00, 0x00, 0x00, 0x05, b'w', b'o', b'r', b'l', b'd',
        0x00, 0x00, 0x00, 0x06, b'a', b'n', b'y', b'o', b'n', b'e',
        0x00, 0x00, 0x00, 0x00,
    ];
    writer.write_all(&create).expect("send");
    let _ = read_frame(&mut writer);

    // The watcher reads "/" again: the notification must come first.
    #[rustfmt::skip]
    let read_again = [
        0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08,
        0x00, 0x00, 0x00, 0x01, b'/', 0x00,
    ];
    watcher.write_all(&read_again).expect("send");
    #[rustfmt::skip]
    let notification = [
        0xff, 0xff, 0xff, 0xff,                         // xid -1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, // zxid 3: the create
        0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x04,                         // NodeChildrenChanged
        0x00, 0x00, 0x00, 0x03,                         // SyncConnected
        0x00, 0x00, 0x00, 0x01, b'/',
    ];
    assert_eq!(read_frame(&mut watcher), notification);
    let reply = read_frame(&mut watcher);
    assert_eq!(reply[0..4], [0, 0, 0, 2], "then the reply to the read");
}

#[test]
fn an_oversize_frame_closes_that_connection_only() {
    let server = TestServer::start();
    let mut healthy = server.connect();
    handshake(&mut healthy);
    let mut rogue = server.connect();
    handshake(&mut rogue);
    // jute.maxbuffer is 4096 in this test's configuration.
    rogue
        .write_all(&[0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1])
        .expect("send");
    assert!(
        closed(&mut rogue),
        "the oversize frame closes its connection"
    );
    #[rustfmt::skip]
    let ping = [0x00, 0x00, 0x00, 0x08, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x0b];
    healthy.write_all(&ping).expect("send");
    assert_eq!(read_frame(&mut healthy)[0..4], [0xff, 0xff, 0xff, 0xfe]);
}

#[test]
fn an_unknown_op_code_is_unimplemented_and_closes() {
    let server = TestServer::start();
    let mut client = server.connect();
    handshake(&mut client);
    client
        .write_all(&[
            0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x03, 0xe7,
        ])
        .expect("send");
    let reply = read_frame(&mut client);
    assert_eq!(reply[0..4], [0, 0, 0, 7]);
    assert_eq!(reply[12..16], [0xff, 0xff, 0xff, 0xfa], "Unimplemented -6");
    assert!(closed(&mut client));
}

#[test]
fn a_reconnect_with_a_wrong_password_is_refused() {
    let server = TestServer::start();
    let mut client = server.connect();
    let session = handshake(&mut client);
    let mut other = server.connect();
    let mut reconnect = CONNECT;
    reconnect[20..28].copy_from_slice(&session);
    reconnect[32] = 0x01; // not the password the server gave
    other.write_all(&reconnect).expect("send");
    #[rustfmt::skip]
    let refused = [
        0x00, 0x00, 0x00, 0x00,                         // protocolVersion
        0x00, 0x00, 0x00, 0x00,                         // timeOut 0
        0, 0, 0, 0, 0, 0, 0, 0,                         // sessionId 0
        0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x00,
    ];
    assert_eq!(read_frame(&mut other), refused);
    assert!(closed(&mut other));
}

#[test]
fn four_letter_words_answer_behind_the_whitelist() {
    let server = TestServer::start();
    let ask = |word: &[u8]| {
        let mut stream = server.connect();
        stream.write_all(word).expect("send");
        let mut out = String::new();
        stream.read_to_string(&mut out).expect("read");
        out
    };
    assert_eq!(ask(b"ruok"), "imok");
    assert!(ask(b"srvr").contains("Mode: standalone\n"));
    assert_eq!(
        ask(b"dump"),
        "dump is not executed because it is not in the whitelist.\n"
    );
}
