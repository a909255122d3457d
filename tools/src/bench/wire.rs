//! The client side of the wire: request encoders that write straight into a reused buffer, and
//! [`Connection`], one TCP connection with its ZooKeeper session.
//!
//! The encoders write the same bytes as `zk_server::proto::encode_request` (the tests compare
//! them) but take borrowed paths and data, so that the hot path builds no `Request` value and
//! allocates nothing. Replies are not decoded beyond their header, except a `multi` result,
//! whose inner error codes matter.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_server::proto::{
    decode_frame, perms, ConnectRequest, ConnectResponse, FrameDecode, MultiHeader, OpCode, Reader,
    Record, ReplyHeader, Writer,
};

use super::BenchError;

/// Parent of everything the benchmark creates.
pub const ROOT_PATH: &str = "/zk-bench";
/// Parent of the znodes that `create` makes (and `delete` removes), kept apart from the keys so
/// that nothing lists a large child list by accident.
pub const NEW_PATH: &str = "/zk-bench/new";
/// Keys are `/zk-bench/k` followed by 7 decimal digits.
pub const KEY_PREFIX: &[u8] = b"/zk-bench/k";
/// Number of decimal digits in a key name, so the key space holds at most 10^7 keys.
pub const KEY_DIGITS: usize = 7;
/// Largest key count.
pub const MAX_KEYS: u32 = 10_000_000;
/// Length of a key path.
pub const KEY_PATH_LEN: usize = KEY_PREFIX.len() + KEY_DIGITS;

/// The largest reply frame accepted. ZooKeeper's own limit is `jute.maxbuffer` (1 MiB by
/// default) but a server may be configured higher; this only bounds memory.
const MAX_REPLY_FRAME_LEN: usize = 64 << 20;
/// Initial size of a connection's receive buffer; it grows only for larger frames.
const READ_BUFFER_LEN: usize = 64 << 10;

/// The path of key `index` (`/zk-bench/k0000042`), on the stack.
pub fn key_path(index: u32) -> [u8; KEY_PATH_LEN] {
    let mut path = [b'0'; KEY_PATH_LEN];
    path[..KEY_PREFIX.len()].copy_from_slice(KEY_PREFIX);
    let mut rest = index;
    for digit in path[KEY_PREFIX.len()..].iter_mut().rev() {
        // `rest % 10` is below 10, so the narrowing cannot lose anything.
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    path
}

/// Sets `path` to the name of the `sequence`-th znode created by session `session_id`:
/// `/zk-bench/new/<session id, 16 hex digits>-<sequence, 10 digits>`. Session ids are unique
/// per server, so runs never collide. Reuses the string's capacity.
pub fn created_path(path: &mut String, session_id: i64, sequence: u64) {
    path.clear();
    let _ = write!(path, "{NEW_PATH}/{session_id:016x}-{sequence:010}");
}

/// Appends a frame `RequestHeader{xid, op}` + `body`, where `body` writes the request record.
fn frame(out: &mut Vec<u8>, xid: i32, op: OpCode, body: impl FnOnce(&mut Writer<'_>)) {
    let mut writer = Writer::new(out);
    let start = writer.start_frame();
    writer.write_int(xid);
    writer.write_int(op.value());
    body(&mut writer);
    writer.finish_frame(start);
}

/// The ACL every benchmark znode gets: `world:anyone` with every permission (ZooKeeper's
/// `OPEN_ACL_UNSAFE`).
fn write_open_acl(writer: &mut Writer<'_>) {
    writer.write_int(1);
    writer.write_int(perms::ALL);
    writer.write_string("world");
    writer.write_string("anyone");
}

/// `create` (op 1) of a persistent znode with `data` and the open ACL.
pub fn encode_create(out: &mut Vec<u8>, xid: i32, path: &[u8], data: &[u8]) {
    frame(out, xid, OpCode::Create, |writer| {
        writer.write_buffer(Some(path));
        writer.write_buffer(Some(data));
        write_open_acl(writer);
        writer.write_int(0);
    });
}

/// `setData` (op 5) of `path` to `data`, any version.
pub fn encode_set_data(out: &mut Vec<u8>, xid: i32, path: &[u8], data: &[u8]) {
    frame(out, xid, OpCode::SetData, |writer| {
        writer.write_buffer(Some(path));
        writer.write_buffer(Some(data));
        writer.write_int(-1);
    });
}

/// A request whose record is `path, watch = false`: `getData`, `exists`, `getChildren`.
pub fn encode_read(out: &mut Vec<u8>, xid: i32, op: OpCode, path: &[u8]) {
    frame(out, xid, op, |writer| {
        writer.write_buffer(Some(path));
        writer.write_bool(false);
    });
}

/// `delete` (op 2) of `path`, any version.
pub fn encode_delete(out: &mut Vec<u8>, xid: i32, path: &[u8]) {
    frame(out, xid, OpCode::Delete, |writer| {
        writer.write_buffer(Some(path));
        writer.write_int(-1);
    });
}

/// `multi` (op 14) of one `setData` to `data` (any version) per key in `keys`.
pub fn encode_multi_set_data(
    out: &mut Vec<u8>,
    xid: i32,
    keys: impl IntoIterator<Item = u32>,
    data: &[u8],
) {
    frame(out, xid, OpCode::Multi, |writer| {
        for key in keys {
            MultiHeader::operation(OpCode::SetData).encode(writer);
            writer.write_buffer(Some(&key_path(key)));
            writer.write_buffer(Some(data));
            writer.write_int(-1);
        }
        MultiHeader::END.encode(writer);
    });
}

/// `ping` (op 11, xid -2), no body.
pub fn encode_ping(out: &mut Vec<u8>) {
    frame(out, zk_server::proto::xid::PING, OpCode::Ping, |_| {});
}

/// `closeSession` (op -11), no body.
pub fn encode_close_session(out: &mut Vec<u8>, xid: i32) {
    frame(out, xid, OpCode::CloseSession, |_| {});
}

/// The first non-zero error code inside a `multi` result body, ignoring the
/// `RuntimeInconsistency` (-2) of operations rolled back because another one failed; 0 when
/// every operation succeeded.
///
/// # Errors
///
/// A body that is not a multi result sequence.
pub fn multi_error_code(body: &[u8]) -> Result<i32, String> {
    let response = zk_server::proto::decode_response(OpCode::Multi, body)
        .map_err(|error| format!("undecodable multi reply: {error:?}"))?;
    let zk_server::proto::Response::Multi(response) = response else {
        return Err("a multi reply decoded as something else".to_owned());
    };
    let mut rolled_back = false;
    for result in &response.results {
        let code = result.header().error_code;
        if code == -2 {
            rolled_back = true;
        } else if code != 0 {
            return Ok(code);
        }
    }
    Ok(if rolled_back { -2 } else { 0 })
}

/// A reply taken off a connection: the header fields that matter and where its body lies in
/// the receive buffer (valid until the next [`Connection::receive`]).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request's xid.
    pub xid: i32,
    /// The reply's error code (0 = success).
    pub error_code: i32,
    /// The body, for [`Connection::body`].
    pub body: Range<usize>,
}

/// One TCP connection with an established ZooKeeper session.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    address: SocketAddr,
    read_buffer: Vec<u8>,
    /// Unconsumed bytes are `read_buffer[read_start..read_end]`.
    read_start: usize,
    read_end: usize,
    /// Requests are appended here and sent by [`Connection::flush`].
    pub write_buffer: Vec<u8>,
    next_xid: i32,
    session_id: i64,
    timeout: Duration,
    last_send: Instant,
    last_receive: Instant,
}

impl Connection {
    /// Connects to `address` and opens a new session asking for `timeout_ms`; bounded by
    /// `connect_timeout` in total.
    ///
    /// # Errors
    ///
    /// `Connect` when the TCP connection fails or the handshake does not finish in time;
    /// `Refused` when the server answers with timeout 0; `Protocol` for a malformed answer.
    pub async fn open(
        address: SocketAddr,
        timeout_ms: i32,
        connect_timeout: Duration,
    ) -> Result<Connection, BenchError> {
        match tokio::time::timeout(connect_timeout, Self::handshake(address, timeout_ms)).await {
            Ok(result) => result,
            Err(_) => Err(BenchError::Connect {
                address,
                source: io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no session within {} ms", connect_timeout.as_millis()),
                ),
            }),
        }
    }

    async fn handshake(address: SocketAddr, timeout_ms: i32) -> Result<Connection, BenchError> {
        let connect_error = |source| BenchError::Connect { address, source };
        let stream = TcpStream::connect(address).await.map_err(connect_error)?;
        // Requests are written in batches; Nagle's algorithm would only add delay.
        stream.set_nodelay(true).map_err(connect_error)?;
        let now = Instant::now();
        let mut connection = Connection {
            stream,
            address,
            read_buffer: vec![0; READ_BUFFER_LEN],
            read_start: 0,
            read_end: 0,
            write_buffer: Vec::with_capacity(READ_BUFFER_LEN),
            next_xid: 1,
            session_id: 0,
            timeout: Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0)),
            last_send: now,
            last_receive: now,
        };
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: 0,
            password: vec![0; zk_server::proto::connect::PASSWORD_LEN],
            read_only: Some(false),
        };
        {
            let mut writer = Writer::new(&mut connection.write_buffer);
            let start = writer.start_frame();
            request.encode(&mut writer);
            writer.finish_frame(start);
        }
        connection.flush().await.map_err(connect_error)?;
        let body = loop {
            match connection.take_frame()? {
                Some(body) => break body,
                None => connection.read_more().await.map_err(connect_error)?,
            }
        };
        let response =
            ConnectResponse::decode(&mut Reader::new(connection.body(&body))).map_err(|error| {
                connection.protocol_error(format!("bad ConnectResponse: {error:?}"))
            })?;
        if response.timeout_ms <= 0 || response.session_id == 0 {
            return Err(BenchError::Refused { address });
        }
        connection.session_id = response.session_id;
        connection.timeout = Duration::from_millis(u64::try_from(response.timeout_ms).unwrap_or(1));
        Ok(connection)
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The session id the server gave.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The negotiated session timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// When the last bytes arrived: the completion time of every reply in them.
    pub fn last_receive(&self) -> Instant {
        self.last_receive
    }

    /// The xid for the next ordinary request: increasing, positive, wrapping back to 1.
    pub fn next_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    /// Sends everything in the write buffer and empties it.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buffer.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.write_buffer).await?;
        self.write_buffer.clear();
        self.last_send = Instant::now();
        Ok(())
    }

    /// The next ordinary reply already received, or `None` if more bytes are needed. Ping
    /// replies (xid -2) and watch notifications (xid -1) are skipped.
    ///
    /// # Errors
    ///
    /// `Protocol` for a frame that is too large, negative or shorter than a reply header.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, BenchError> {
        while let Some(body) = self.take_frame()? {
            let header = {
                let mut reader = Reader::new(self.body(&body));
                ReplyHeader::decode(&mut reader)
                    .map_err(|error| self.protocol_error(format!("bad reply header: {error:?}")))?
            };
            if header.xid < 0 {
                continue;
            }
            let body_start = body.start + ReplyHeader::ENCODED_LEN;
            return Ok(Some(Reply {
                xid: header.xid,
                error_code: header.error_code,
                body: body_start..body.end,
            }));
        }
        Ok(None)
    }

    /// The bytes of a range returned by [`Connection::next_reply`].
    pub fn body(&self, range: &Range<usize>) -> &[u8] {
        self.read_buffer.get(range.clone()).unwrap_or_default()
    }

    /// Waits for more bytes from the server. While waiting, sends a ping whenever nothing was
    /// sent for a third of the session timeout (as ZooKeeper clients do), and gives up when
    /// nothing at all arrived for a whole session timeout.
    ///
    /// # Errors
    ///
    /// The socket's error; `UnexpectedEof` when the server closed the connection; `TimedOut`
    /// after a silent session timeout.
    pub async fn receive(&mut self) -> io::Result<()> {
        let ping_interval = self.timeout / 3;
        loop {
            self.make_room();
            let give_up_at = self.last_receive + self.timeout;
            let ping_at = self.last_send + ping_interval;
            tokio::select! {
                biased;
                read = Self::read_into(&mut self.stream, &mut self.read_buffer, self.read_end) => {
                    let count = read?;
                    self.read_end += count;
                    self.last_receive = Instant::now();
                    return Ok(());
                }
                () = tokio::time::sleep_until(give_up_at.min(ping_at).into()) => {
                    if Instant::now() >= give_up_at {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no reply for {} ms", self.timeout.as_millis()),
                        ));
                    }
                    encode_ping(&mut self.write_buffer);
                    self.flush().await?;
                }
            }
        }
    }

    /// Closes the session (`closeSession`) and waits, at most `wait`, for the server's answer.
    /// Errors are ignored: the run is over.
    pub async fn close(mut self, wait: Duration) {
        let xid = self.next_xid();
        encode_close_session(&mut self.write_buffer, xid);
        let closing = async {
            self.flush().await?;
            loop {
                match self.next_reply() {
                    Ok(Some(reply)) if reply.xid == xid => return Ok(()),
                    Ok(Some(_)) => {}
                    Ok(None) => self.read_more().await?,
                    Err(_) => return Ok(()),
                }
            }
        };
        let _: Result<io::Result<()>, _> = tokio::time::timeout(wait, closing).await;
    }

    /// A `Protocol` error about this connection.
    pub fn protocol_error(&self, detail: String) -> BenchError {
        BenchError::Protocol {
            address: self.address,
            detail,
        }
    }

    /// Removes the next whole frame from the receive buffer and returns where its body lies.
    fn take_frame(&mut self) -> Result<Option<Range<usize>>, BenchError> {
        let pending = self
            .read_buffer
            .get(self.read_start..self.read_end)
            .unwrap_or_default();
        match decode_frame(pending, MAX_REPLY_FRAME_LEN) {
            FrameDecode::Incomplete => Ok(None),
            FrameDecode::Frame { body, consumed } => {
                let start = self.read_start + (consumed - body.len());
                let end = self.read_start + consumed;
                self.read_start = end;
                Ok(Some(start..end))
            }
            FrameDecode::TooLarge(length) | FrameDecode::Negative(length) => {
                Err(self.protocol_error(format!("reply frame of length {length}")))
            }
        }
    }

    /// Makes room at the end of the receive buffer: drops consumed bytes and, if a frame larger
    /// than the buffer is arriving, grows it to fit.
    fn make_room(&mut self) {
        if self.read_start == self.read_end {
            self.read_start = 0;
            self.read_end = 0;
            return;
        }
        if self.read_end < self.read_buffer.len() {
            return;
        }
        self.read_buffer
            .copy_within(self.read_start..self.read_end, 0);
        self.read_end -= self.read_start;
        self.read_start = 0;
        let announced = self
            .read_buffer
            .first_chunk::<4>()
            .map(|word| i32::from_be_bytes(*word))
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(0);
        let needed = (announced + 4).min(MAX_REPLY_FRAME_LEN + 4);
        if needed > self.read_buffer.len() {
            self.read_buffer.resize(needed, 0);
        } else if self.read_end == self.read_buffer.len() {
            // Defensive: a full buffer whose first frame fits cannot happen (it would have been
            // taken), but never hand `read` an empty slice.
            self.read_buffer.resize(self.read_buffer.len() * 2, 0);
        }
    }

    /// Reads once, with no timers: for the handshake and the close, which have their own bound.
    async fn read_more(&mut self) -> io::Result<()> {
        self.make_room();
        let count = Self::read_into(&mut self.stream, &mut self.read_buffer, self.read_end).await?;
        self.read_end += count;
        self.last_receive = Instant::now();
        Ok(())
    }

    async fn read_into(
        stream: &mut TcpStream,
        buffer: &mut [u8],
        from: usize,
    ) -> io::Result<usize> {
        let free = buffer.get_mut(from..).unwrap_or_default();
        let count = stream.read(free).await?;
        if count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_server::proto::{
        encode_request, Acl, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest,
        GetDataRequest, Id, MultiOperation, MultiRequest, Request, SetDataRequest,
    };

    fn key(index: u32) -> String {
        String::from_utf8(key_path(index).to_vec()).expect("ASCII")
    }

    fn reference(xid: i32, request: &Request) -> Vec<u8> {
        let mut out = Vec::new();
        encode_request(&mut out, xid, request);
        out
    }

    #[test]
    fn key_paths_have_seven_digits() {
        assert_eq!(key(0), "/zk-bench/k0000000");
        assert_eq!(key(42), "/zk-bench/k0000042");
        assert_eq!(key(MAX_KEYS - 1), "/zk-bench/k9999999");
        let mut path = String::new();
        created_path(&mut path, 0x1234, 7);
        assert_eq!(path, "/zk-bench/new/0000000000001234-0000000007");
    }

    #[test]
    fn encoders_match_the_server_codecs() {
        let data = b"payload".to_vec();
        let open_acl = vec![Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }];
        let mut out = Vec::new();
        encode_create(&mut out, 7, key(3).as_bytes(), &data);
        let create = CreateRequest {
            path: key(3),
            data: Some(data.clone()),
            acl: open_acl,
            flags: 0,
        };
        assert_eq!(out, reference(7, &Request::Create(create)));

        out.clear();
        encode_set_data(&mut out, 8, key(4).as_bytes(), &data);
        let set = SetDataRequest {
            path: key(4),
            data: Some(data.clone()),
            version: -1,
        };
        assert_eq!(out, reference(8, &Request::SetData(set.clone())));

        out.clear();
        encode_read(&mut out, 9, OpCode::GetData, key(5).as_bytes());
        let get = GetDataRequest {
            path: key(5),
            watch: false,
        };
        assert_eq!(out, reference(9, &Request::GetData(get)));

        out.clear();
        encode_read(&mut out, 10, OpCode::Exists, key(5).as_bytes());
        let exists = ExistsRequest {
            path: key(5),
            watch: false,
        };
        assert_eq!(out, reference(10, &Request::Exists(exists)));

        out.clear();
        encode_read(&mut out, 11, OpCode::GetChildren, key(5).as_bytes());
        let children = GetChildrenRequest {
            path: key(5),
            watch: false,
        };
        assert_eq!(out, reference(11, &Request::GetChildren(children)));

        out.clear();
        encode_delete(&mut out, 12, key(6).as_bytes());
        let delete = DeleteRequest {
            path: key(6),
            version: -1,
        };
        assert_eq!(out, reference(12, &Request::Delete(delete)));

        out.clear();
        encode_multi_set_data(&mut out, 13, [4, 9], &data);
        let multi = MultiRequest {
            operations: vec![
                MultiOperation::SetData(set),
                MultiOperation::SetData(SetDataRequest {
                    path: key(9),
                    data: Some(data),
                    version: -1,
                }),
            ],
        };
        assert_eq!(out, reference(13, &Request::Multi(multi)));

        out.clear();
        encode_ping(&mut out);
        assert_eq!(out, reference(-2, &Request::Ping));

        out.clear();
        encode_close_session(&mut out, 14);
        assert_eq!(out, reference(14, &Request::CloseSession));
    }

    #[test]
    fn multi_errors_skip_rolled_back_operations() {
        use zk_server::proto::{ErrorResponse, MultiResponse, MultiResult, SetDataResponse};
        let body = |results: Vec<MultiResult>| MultiResponse { results }.to_bytes();
        let ok = MultiResult::SetData(SetDataResponse::default());
        let error = |code| MultiResult::Error(ErrorResponse { error_code: code });
        assert_eq!(multi_error_code(&body(vec![ok.clone(), ok])), Ok(0));
        assert_eq!(
            multi_error_code(&body(vec![error(0), error(-101), error(-2)])),
            Ok(-101)
        );
        assert_eq!(multi_error_code(&body(vec![error(-2)])), Ok(-2));
        assert!(multi_error_code(&[1, 2]).is_err());
    }

    /// A fake server on 127.0.0.1:0 that grants a session with `timeout_ms` and then runs
    /// `script` on the accepted stream.
    async fn fake_server<F, Fut>(timeout_ms: i32, script: F) -> SocketAddr
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let request = read_frame(&mut stream).await;
            let request = ConnectRequest::decode_from(&request).expect("a ConnectRequest");
            let response = ConnectResponse::accepted(&request, timeout_ms, 0x77, [7; 16], false);
            let mut out = Vec::new();
            zk_server::proto::encode_connect_response(&mut out, &response);
            stream.write_all(&out).await.expect("send ConnectResponse");
            script(stream).await;
        });
        address
    }

    async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
        let mut length = [0; 4];
        stream.read_exact(&mut length).await.expect("frame length");
        let mut body = vec![0; i32::from_be_bytes(length) as usize];
        stream.read_exact(&mut body).await.expect("frame body");
        body
    }

    fn reply(xid: i32) -> Vec<u8> {
        let mut out = Vec::new();
        let header = ReplyHeader {
            xid,
            zxid: 1,
            error_code: 0,
        };
        zk_server::proto::encode_reply(&mut out, &header, &zk_server::proto::Response::Empty);
        out
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_session_waiting_for_a_slow_reply_pings() {
        runtime().block_on(async {
            // Session timeout 300 ms: a ping is due 100 ms after the last send.
            let address = fake_server(300, |mut stream| async move {
                let request = read_frame(&mut stream).await;
                assert_eq!(&request[..8], [0, 0, 0, 1, 0, 0, 0, 4], "getData, xid 1");
                let ping = read_frame(&mut stream).await;
                assert_eq!(ping, [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11], "a ping");
                let mut answers = reply(-2);
                answers.extend(reply(1));
                stream.write_all(&answers).await.expect("answer");
                // Keep the connection open until the client is done.
                let _ = stream.read(&mut [0; 64]).await;
            })
            .await;
            let mut connection = Connection::open(address, 30_000, Duration::from_secs(10))
                .await
                .expect("session");
            assert_eq!(connection.session_id(), 0x77);
            assert_eq!(connection.timeout(), Duration::from_millis(300));
            let xid = connection.next_xid();
            encode_read(&mut connection.write_buffer, xid, OpCode::GetData, b"/a");
            connection.flush().await.expect("send");
            let answered = loop {
                if let Some(reply) = connection.next_reply().expect("well-formed") {
                    break reply;
                }
                connection.receive().await.expect("the server answers");
            };
            assert_eq!(answered.xid, 1);
        });
    }

    #[test]
    fn a_silent_server_ends_the_session_after_its_timeout() {
        runtime().block_on(async {
            let address = fake_server(300, |mut stream| async move {
                // Read (pings included) but never answer.
                let mut sink = [0; 64];
                while matches!(stream.read(&mut sink).await, Ok(count) if count > 0) {}
            })
            .await;
            let mut connection = Connection::open(address, 300, Duration::from_secs(10))
                .await
                .expect("session");
            let xid = connection.next_xid();
            encode_read(&mut connection.write_buffer, xid, OpCode::Exists, b"/a");
            connection.flush().await.expect("send");
            let error = connection.receive().await.expect_err("no answer");
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn a_refused_session_is_an_error() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let request = read_frame(&mut stream).await;
                let request = ConnectRequest::decode_from(&request).expect("a ConnectRequest");
                let mut out = Vec::new();
                let refused = ConnectResponse::refused(&request, false);
                zk_server::proto::encode_connect_response(&mut out, &refused);
                stream.write_all(&out).await.expect("send");
            });
            let opened = Connection::open(address, 30_000, Duration::from_secs(10)).await;
            assert!(
                matches!(opened, Err(BenchError::Refused { .. })),
                "{opened:?}"
            );
        });
    }
}
