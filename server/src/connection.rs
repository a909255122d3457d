//! One client connection: the handshake (or a four-letter word), then requests answered in the
//! order they came.
//!
//! Three tasks per connection: a reader that cuts frames (so a slow request never stalls
//! reading), this task that keeps the requests in order, and a writer that owns the socket's
//! write half. Writes go to the pipeline at once (many in flight); a read runs when every earlier
//! request of the same connection has been answered, so it sees the session's own writes and
//! waits for nothing else.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use zk_engine::tree::code;
use zk_engine::tree::prepare::Request as WriteRequest;
use zk_engine::tree::TxnResult;
use zk_engine::txn::CreateMode as TreeCreateMode;

use crate::auth::Identity;
use crate::convert;
use crate::proto::connect::PASSWORD_LEN;
use crate::proto::header::{ErrorResponse, ReplyHeader};
use crate::proto::jute::{DecodeError, Invalid, Record};
use crate::proto::multi::{MultiOperation, MultiResponse, MultiResult};
use crate::proto::op_code::OpCode;
use crate::proto::request::{decode_request, split_request_header, Request};
use crate::proto::response::{encode_connect_response, encode_ping_reply, encode_reply, Response};
use crate::proto::{
    Acl, ConnectRequest, ConnectResponse, Create2Response, CreateResponse, ErrorCode,
    FourLetterWord, SetAclResponse, SetDataResponse,
};
use crate::read::{self, Reader};
use crate::server::{error_frame, Origin, Respond, Server, SubmitError};
use crate::session::{ConnectionHandle, Outbound};

/// Requests a connection may have in flight before the server stops reading from it.
const MAX_OUTSTANDING_REQUESTS: usize = 1000;
/// Frames the reader may cut ahead of the request loop.
const READ_AHEAD_FRAMES: usize = 64;
/// How long a client has to send its connect request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const MARSHALLING_ERROR: i32 = ErrorCode::MarshallingError.value();
const UNIMPLEMENTED: i32 = ErrorCode::Unimplemented.value();
const AUTH_FAILED: i32 = ErrorCode::AuthFailed.value();
const SESSION_EXPIRED: i32 = ErrorCode::SessionExpired.value();
const SYSTEM_ERROR: i32 = ErrorCode::SystemError.value();
const CONNECTION_LOSS: i32 = ErrorCode::ConnectionLoss.value();

/// A request waiting for its turn to be answered.
enum Slot {
    /// A write in the pipeline: its reply frame arrives on the receiver.
    Write {
        reply: oneshot::Receiver<Vec<u8>>,
        started: Instant,
        closes_session: bool,
    },
    /// A read, run when it reaches the front.
    Read {
        xid: i32,
        request: Request,
        started: Instant,
    },
    /// An answer already known (errors found while decoding, auth replies).
    Ready { frame: Vec<u8>, close_after: bool },
}

/// Serves one accepted connection until it closes.
pub async fn serve(server: Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (mut read_half, write_half) = stream.into_split();
    let mut first = [0u8; 4];
    if read_half.read_exact(&mut first).await.is_err() {
        return;
    }
    if let Some(word) = FourLetterWord::detect(&first) {
        let output = crate::four_letter::run(&server, word, peer);
        let mut write_half = write_half;
        let _ = write_half.write_all(output.as_bytes()).await;
        let _ = write_half.shutdown().await;
        return;
    }
    let max_frame = server.config.jute_max_buffer as usize;
    let length = i32::from_be_bytes(first);
    if length < 0 || length as usize > max_frame {
        log::warn!(
            "closing the connection from {peer}: its first frame announces {length} bytes \
             (jute.maxbuffer is {max_frame}); not a ZooKeeper client, or a misconfigured one"
        );
        return;
    }
    let mut body = vec![0u8; length as usize];
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_half.read_exact(&mut body)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    let request = match ConnectRequest::decode_from(&body) {
        Ok(request) => request,
        Err(err) => {
            log::warn!("closing the connection from {peer}: bad connect request ({err:?})");
            return;
        }
    };

    let (outbound, outbound_receiver) = mpsc::unbounded_channel();
    let connection = ConnectionHandle {
        id: server.next_connection_id(),
        outbound: outbound.clone(),
        peer,
    };
    let writer = tokio::spawn(write_loop(
        Arc::clone(&server),
        write_half,
        outbound_receiver,
    ));
    let Some(session_id) = handshake(&server, &request, &connection, peer).await else {
        let _ = outbound.send(Outbound::Close);
        let _ = writer.await;
        return;
    };

    let (frames_sender, frames) = mpsc::channel(READ_AHEAD_FRAMES);
    let reader = tokio::spawn(read_loop(read_half, frames_sender, max_frame, peer));
    let mut connection_state = Connection {
        server: Arc::clone(&server),
        session_id,
        identity: Identity::new(peer.ip()),
        outbound: outbound.clone(),
        queue: VecDeque::new(),
        waiting: None,
        closing: false,
    };
    connection_state.run(frames).await;
    reader.abort();
    let still_current = {
        let mut sessions = server.sessions();
        match sessions.get_mut(session_id) {
            Some(session)
                if session
                    .connection
                    .as_ref()
                    .is_some_and(|c| c.id == connection.id) =>
            {
                session.connection = None;
                true
            }
            _ => false,
        }
    };
    if still_current {
        // Watches live with the connection, as in ZooKeeper: a client that comes back sets them
        // again with setWatches.
        server.watches().remove_session(session_id);
    }
    let _ = outbound.send(Outbound::Close);
    let _ = writer.await;
}

/// Answers the connect request; returns the session id when the connection goes on.
async fn handshake(
    server: &Arc<Server>,
    request: &ConnectRequest,
    connection: &ConnectionHandle,
    peer: SocketAddr,
) -> Option<i64> {
    let send = |response: &ConnectResponse| {
        let mut frame = Vec::new();
        encode_connect_response(&mut frame, response);
        let _ = connection.outbound.send(Outbound::Frame(frame));
    };
    let last_zxid = server.last_applied_zxid().0 as i64;
    if request.last_zxid_seen > last_zxid {
        log::warn!(
            "refusing the session of {peer}: the client has seen zxid 0x{:x}, this server's \
             last is 0x{last_zxid:x}; the client must try another server",
            request.last_zxid_seen
        );
        return None;
    }
    let config = &server.config;
    let requested = u32::try_from(request.timeout_ms).unwrap_or(0);
    let timeout_ms = requested.clamp(config.min_session_timeout_ms, config.max_session_timeout_ms);
    if request.session_id == 0 {
        let session_id = server.sessions().next_session_id();
        let (done, created) = oneshot::channel();
        let create = WriteRequest::CreateSession {
            timeout_ms: timeout_ms as i32,
        };
        match server.submit(session_id, 0, &create, None, Origin::Connect { done }) {
            Ok(()) => {}
            Err(SubmitError::NotServing) => {
                log::info!("turning {peer} away: {}", SubmitError::NotServing);
                return None;
            }
            Err(err) => {
                log::error!("cannot create a session for {peer}: {err}");
                return None;
            }
        }
        created.await.ok()?;
        server.sessions().insert(
            session_id,
            Duration::from_millis(u64::from(timeout_ms)),
            Some(connection.clone()),
        );
        send(&ConnectResponse::accepted(
            request,
            timeout_ms as i32,
            session_id,
            server.session_password(session_id),
            false,
        ));
        log::debug!("new session 0x{session_id:x} for {peer}, timeout {timeout_ms} ms");
        return Some(session_id);
    }
    let session_id = request.session_id;
    let password_ok = request.password.len() == PASSWORD_LEN
        && request.password[..] == server.session_password(session_id)[..];
    let previous = {
        let mut sessions = server.sessions();
        match sessions.get_mut(session_id) {
            Some(session) if password_ok && !session.closing => {
                session.last_active = Instant::now();
                let timeout_ms = session.timeout.as_millis() as i32;
                let previous = session.connection.replace(connection.clone());
                Some((timeout_ms, previous))
            }
            _ => None,
        }
    };
    match previous {
        Some((timeout_ms, previous)) => {
            if let Some(previous) = previous {
                let _ = previous.outbound.send(Outbound::Close);
            }
            // The old connection's watches go with it; the client sends setWatches next.
            server.watches().remove_session(session_id);
            send(&ConnectResponse::accepted(
                request,
                timeout_ms,
                session_id,
                server.session_password(session_id),
                false,
            ));
            log::debug!("session 0x{session_id:x} reconnected from {peer}");
            Some(session_id)
        }
        None => {
            log::info!(
                "refusing to reopen session 0x{session_id:x} for {peer}: expired, unknown, or a \
                 wrong password"
            );
            send(&ConnectResponse::refused(request, false));
            None
        }
    }
}

/// Cuts frames off the socket and hands them on; ends at EOF, on an error, or on a frame that
/// is too large (which closes this connection and only this one).
async fn read_loop(
    mut read_half: OwnedReadHalf,
    frames: mpsc::Sender<Vec<u8>>,
    max_frame: usize,
    peer: SocketAddr,
) {
    loop {
        let mut length = [0u8; 4];
        if read_half.read_exact(&mut length).await.is_err() {
            return;
        }
        let length = i32::from_be_bytes(length);
        if length < 0 || length as usize > max_frame {
            log::warn!(
                "closing the connection from {peer}: a frame of {length} bytes exceeds \
                 jute.maxbuffer ({max_frame}); raise jute.maxbuffer on the server and the client \
                 if such requests are intended"
            );
            return;
        }
        let mut body = vec![0u8; length as usize];
        if read_half.read_exact(&mut body).await.is_err() {
            return;
        }
        if frames.send(body).await.is_err() {
            return;
        }
    }
}

/// Owns the write half: writes queued frames, flushing when the queue runs dry.
async fn write_loop(
    server: Arc<Server>,
    write_half: OwnedWriteHalf,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
) {
    let mut socket = BufWriter::with_capacity(64 * 1024, write_half);
    while let Some(message) = outbound.recv().await {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Outbound::Frame(frame) => {
                    server.stats.note_sent();
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                Outbound::Close => {
                    let _ = socket.flush().await;
                    let _ = socket.shutdown().await;
                    return;
                }
            }
            next = outbound.try_recv().ok();
        }
        if socket.flush().await.is_err() {
            return;
        }
    }
}

struct Connection {
    server: Arc<Server>,
    session_id: i64,
    identity: Identity,
    outbound: mpsc::UnboundedSender<Outbound>,
    queue: VecDeque<Slot>,
    waiting: Option<(oneshot::Receiver<Vec<u8>>, Instant, bool)>,
    closing: bool,
}

impl Connection {
    async fn run(&mut self, mut frames: mpsc::Receiver<Vec<u8>>) {
        loop {
            self.advance();
            if self.closing && self.waiting.is_none() && self.queue.is_empty() {
                return;
            }
            let outstanding = self.queue.len() + usize::from(self.waiting.is_some());
            tokio::select! {
                reply = async {
                    match self.waiting.as_mut() {
                        Some(waiting) => (&mut waiting.0).await.ok(),
                        None => std::future::pending().await,
                    }
                }, if self.waiting.is_some() => {
                    let Some((_, started, closes)) = self.waiting.take() else {
                        continue;
                    };
                    match reply {
                        Some(frame) => self.send(frame, started),
                        None => {
                            // The pipeline dropped the request: the server is failing.
                            self.closing = true;
                        }
                    }
                    if closes {
                        self.closing = true;
                    }
                }
                frame = frames.recv(), if outstanding < MAX_OUTSTANDING_REQUESTS && !self.closing => {
                    match frame {
                        Some(frame) => self.accept(&frame),
                        None => return,
                    }
                }
            }
        }
    }

    /// Answers what can be answered at the front of the queue.
    fn advance(&mut self) {
        while self.waiting.is_none() {
            match self.queue.pop_front() {
                None => return,
                Some(Slot::Write {
                    reply,
                    started,
                    closes_session,
                }) => self.waiting = Some((reply, started, closes_session)),
                Some(Slot::Read {
                    xid,
                    request,
                    started,
                }) => {
                    let frame = if matches!(request, Request::Ping) {
                        let mut frame = Vec::new();
                        encode_ping_reply(&mut frame, self.server.last_applied_zxid().0 as i64);
                        frame
                    } else {
                        let reader = Reader {
                            session_id: self.session_id,
                            identity: &self.identity,
                        };
                        read::answer(&self.server, &reader, xid, &request)
                    };
                    self.send(frame, started);
                }
                Some(Slot::Ready { frame, close_after }) => {
                    let _ = self.outbound.send(Outbound::Frame(frame));
                    if close_after {
                        self.closing = true;
                        self.queue.clear();
                        return;
                    }
                }
            }
        }
    }

    fn send(&self, frame: Vec<u8>, started: Instant) {
        self.server.stats.note_latency(started.elapsed());
        let _ = self.outbound.send(Outbound::Frame(frame));
    }

    fn ready(&mut self, frame: Vec<u8>, close_after: bool) {
        self.queue.push_back(Slot::Ready { frame, close_after });
    }

    /// Takes one request frame.
    fn accept(&mut self, frame: &[u8]) {
        let started = Instant::now();
        self.server.stats.note_received();
        self.server.sessions().touch(self.session_id);
        let (header, body) = match split_request_header(frame) {
            Ok(parts) => parts,
            Err(_) => {
                log::warn!(
                    "closing session 0x{:x}'s connection: a frame without a request header",
                    self.session_id
                );
                self.closing = true;
                return;
            }
        };
        let xid = header.xid;
        let request = match decode_request(header.op_code, body) {
            Ok(request) => request,
            Err(DecodeError::Invalid(Invalid::UnsupportedOpCode(op))) => {
                log::warn!("session 0x{:x} sent unknown op code {op}", self.session_id);
                let zxid = self.server.last_applied_zxid().0 as i64;
                self.ready(error_frame(xid, zxid, UNIMPLEMENTED), true);
                return;
            }
            Err(_) => {
                let zxid = self.server.last_applied_zxid().0 as i64;
                self.ready(error_frame(xid, zxid, MARSHALLING_ERROR), false);
                return;
            }
        };
        match request {
            Request::Auth(packet) => {
                // Taken into account at once, as ZooKeeper does, so that requests sent right
                // after it are checked with it; its reply keeps its place in the order.
                let super_digest = self.server.config.super_digest.as_deref();
                let ok = self
                    .identity
                    .add(&packet.scheme, &packet.auth, super_digest);
                let code = if ok { 0 } else { AUTH_FAILED };
                if !ok {
                    log::info!(
                        "authentication with scheme {} failed for session 0x{:x}",
                        packet.scheme,
                        self.session_id
                    );
                }
                let mut frame = Vec::new();
                let header = ReplyHeader {
                    xid,
                    zxid: 0,
                    error_code: code,
                };
                encode_reply(&mut frame, &header, &Response::Empty);
                self.ready(frame, !ok);
            }
            Request::Reconfig(_) | Request::Sasl(_) | Request::Check(_) => {
                let zxid = self.server.last_applied_zxid().0 as i64;
                self.ready(error_frame(xid, zxid, UNIMPLEMENTED), false);
            }
            Request::Sync(request) if self.server.replication().is_some() => {
                self.sync(xid, request.path, started);
            }
            request if is_write(&request) => self.submit_write(xid, &request, started),
            request => self.queue.push_back(Slot::Read {
                xid,
                request,
                started,
            }),
        }
    }

    /// `sync` in an ensemble: answered once this server has applied every write the leader
    /// had committed when the sync reached it; later requests on the connection wait for it.
    fn sync(&mut self, xid: i32, path: String, started: Instant) {
        let Some(caught_up) = self.server.replication().and_then(|r| r.sync()) else {
            let zxid = self.server.last_applied_zxid().0 as i64;
            self.ready(error_frame(xid, zxid, CONNECTION_LOSS), true);
            return;
        };
        let (reply_sender, reply) = oneshot::channel();
        let server = Arc::clone(&self.server);
        tokio::spawn(async move {
            let Ok(target) = caught_up.await else {
                return; // not serving any more: the connection closes
            };
            while server.last_applied_zxid() < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let mut frame = Vec::new();
            let header = ReplyHeader {
                xid,
                zxid: server.last_applied_zxid().0 as i64,
                error_code: 0,
            };
            encode_reply(
                &mut frame,
                &header,
                &Response::Sync(crate::proto::SyncResponse { path }),
            );
            let _ = reply_sender.send(frame);
        });
        self.queue.push_back(Slot::Write {
            reply,
            started,
            closes_session: false,
        });
    }

    fn submit_write(&mut self, xid: i32, request: &Request, started: Instant) {
        let zxid_now = || self.server.last_applied_zxid().0 as i64;
        let closes_session = matches!(request, Request::CloseSession);
        let prepared = match write_request(request, &self.identity, &self.server) {
            Ok(prepared) => prepared,
            Err(Refusal::Code(code)) => {
                let frame = error_frame(xid, zxid_now(), code);
                self.ready(frame, false);
                return;
            }
            Err(Refusal::Multi(results)) => {
                let mut frame = Vec::new();
                let header = ReplyHeader {
                    xid,
                    zxid: zxid_now(),
                    error_code: 0,
                };
                encode_reply(
                    &mut frame,
                    &header,
                    &Response::Multi(MultiResponse { results }),
                );
                self.ready(frame, false);
                return;
            }
        };
        if closes_session {
            if let Some(session) = self.server.sessions().get_mut(self.session_id) {
                session.closing = true;
            }
        }
        let (reply_sender, reply) = oneshot::channel();
        let origin = Origin::Client {
            xid,
            respond: prepared.respond,
            reply: reply_sender,
        };
        match self.server.submit(
            self.session_id,
            xid,
            &prepared.request,
            Some(&self.identity),
            origin,
        ) {
            Ok(()) => self.queue.push_back(Slot::Write {
                reply,
                started,
                closes_session,
            }),
            Err(err) => {
                if matches!(err, SubmitError::NotServing) {
                    log::info!("write refused: {err}");
                } else {
                    log::error!("write refused: {err}");
                }
                let frame = error_frame(xid, zxid_now(), SYSTEM_ERROR);
                self.ready(frame, true);
            }
        }
    }
}

fn is_write(request: &Request) -> bool {
    matches!(
        request,
        Request::Create(_)
            | Request::Create2(_)
            | Request::CreateContainer(_)
            | Request::CreateTtl(_)
            | Request::Delete(_)
            | Request::DeleteContainer(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Multi(_)
            | Request::CloseSession
    )
}

/// Why a write is answered without a transaction.
enum Refusal {
    Code(i32),
    Multi(Vec<MultiResult>),
}

struct PreparedWrite {
    request: WriteRequest,
    respond: Respond,
}

/// What a create's reply looks like.
#[derive(Clone, Copy)]
enum CreateReply {
    Path,
    PathAndStat,
}

/// The fields of any create request.
struct Create<'a> {
    path: &'a str,
    data: &'a Option<Vec<u8>>,
    acl: &'a [Acl],
    flags: i32,
    ttl_ms: i64,
    op: OpCode,
}

fn create_request(
    create: &Create<'_>,
    identity: &Identity,
    server: &Server,
) -> Result<WriteRequest, i32> {
    // The order of the checks is ZooKeeper's (PrepRequestProcessor), so that a request with
    // several faults gets the same error from both servers.
    let ttl_flag = matches!(create.flags, 5 | 6);
    if ttl_flag && !server.config.extended_types_enabled {
        return Err(UNIMPLEMENTED);
    }
    let mode = TreeCreateMode::from_flag(create.flags, create.ttl_ms).ok_or(code::BAD_ARGUMENTS)?;
    let is_ttl = mode.ttl_ms().is_some();
    match create.op {
        OpCode::CreateTtl if !is_ttl => return Err(code::BAD_ARGUMENTS),
        OpCode::CreateContainer if mode != TreeCreateMode::Container => {
            return Err(code::BAD_ARGUMENTS)
        }
        _ => {}
    }
    if !create.path.starts_with('/') || create.path.contains('\0') {
        return Err(code::BAD_ARGUMENTS);
    }
    Ok(WriteRequest::Create {
        path: create.path.to_owned(),
        data: create.data.clone(),
        acl: identity.fixup(create.acl)?,
        mode,
    })
}

fn created(result: &TxnResult, reply: CreateReply) -> Result<Response, i32> {
    match (result, reply) {
        (TxnResult::Created { path, .. }, CreateReply::Path) => {
            Ok(Response::Create(CreateResponse { path: path.clone() }))
        }
        (TxnResult::Created { path, stat }, CreateReply::PathAndStat) => {
            Ok(Response::Create2(Create2Response {
                path: path.clone(),
                stat: convert::stat(stat),
            }))
        }
        (other, _) => Err(failure_code(other)),
    }
}

fn failure_code(result: &TxnResult) -> i32 {
    match result.error_code() {
        0 => code::RUNTIME_INCONSISTENCY,
        code => code,
    }
}

/// Turns a client write into what the engine prepares, and how to shape the reply.
fn write_request(
    request: &Request,
    identity: &Identity,
    server: &Server,
) -> Result<PreparedWrite, Refusal> {
    let plain = |request: WriteRequest, respond: Respond| Ok(PreparedWrite { request, respond });
    match request {
        Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => {
            let op = request.op_code();
            let reply = if op == OpCode::Create {
                CreateReply::Path
            } else {
                CreateReply::PathAndStat
            };
            let create = Create {
                path: &r.path,
                data: &r.data,
                acl: &r.acl,
                flags: r.flags,
                ttl_ms: 0,
                op,
            };
            let write = create_request(&create, identity, server).map_err(Refusal::Code)?;
            plain(write, Box::new(move |result| created(result, reply)))
        }
        Request::CreateTtl(r) => {
            let create = Create {
                path: &r.path,
                data: &r.data,
                acl: &r.acl,
                flags: r.flags,
                ttl_ms: r.ttl_ms,
                op: OpCode::CreateTtl,
            };
            let write = create_request(&create, identity, server).map_err(Refusal::Code)?;
            plain(
                write,
                Box::new(|result| created(result, CreateReply::PathAndStat)),
            )
        }
        Request::Delete(r) => plain(
            WriteRequest::Delete {
                path: r.path.clone(),
                version: r.version,
            },
            Box::new(|result| match result {
                TxnResult::Deleted => Ok(Response::Empty),
                other => Err(failure_code(other)),
            }),
        ),
        Request::DeleteContainer(r) => plain(
            WriteRequest::DeleteContainer {
                path: String::from_utf8_lossy(&r.path).into_owned(),
            },
            Box::new(|result| match result {
                TxnResult::Deleted => Ok(Response::Empty),
                other => Err(failure_code(other)),
            }),
        ),
        Request::SetData(r) => plain(
            WriteRequest::SetData {
                path: r.path.clone(),
                data: r.data.clone(),
                version: r.version,
            },
            Box::new(|result| match result {
                TxnResult::DataSet { stat } => Ok(Response::SetData(SetDataResponse {
                    stat: convert::stat(stat),
                })),
                other => Err(failure_code(other)),
            }),
        ),
        Request::SetAcl(r) => {
            let acl = identity.fixup(&r.acl).map_err(Refusal::Code)?;
            plain(
                WriteRequest::SetAcl {
                    path: r.path.clone(),
                    acl,
                    version: r.version,
                },
                Box::new(|result| match result {
                    TxnResult::AclSet { stat } => Ok(Response::SetAcl(SetAclResponse {
                        stat: convert::stat(stat),
                    })),
                    other => Err(failure_code(other)),
                }),
            )
        }
        Request::CloseSession => plain(
            WriteRequest::CloseSession,
            Box::new(|result| match result {
                TxnResult::SessionClosed => Ok(Response::Empty),
                TxnResult::Error { code } if *code == code::NO_NODE => Err(SESSION_EXPIRED),
                other => Err(failure_code(other)),
            }),
        ),
        Request::Multi(multi) => {
            let mut requests = Vec::with_capacity(multi.operations.len());
            let op_codes: Vec<OpCode> = multi.operations.iter().map(|o| o.op_code()).collect();
            for (index, operation) in multi.operations.iter().enumerate() {
                let converted = multi_operation(operation, identity, server);
                match converted {
                    Ok(request) => {
                        requests.push(request);
                    }
                    Err(code) => {
                        let count = multi.operations.len();
                        let results = (0..count)
                            .map(|i| {
                                let error_code = match i.cmp(&index) {
                                    std::cmp::Ordering::Less => 0,
                                    std::cmp::Ordering::Equal => code,
                                    std::cmp::Ordering::Greater => code::RUNTIME_INCONSISTENCY,
                                };
                                MultiResult::Error(ErrorResponse { error_code })
                            })
                            .collect();
                        return Err(Refusal::Multi(results));
                    }
                }
            }
            plain(
                WriteRequest::Multi(requests),
                Box::new(move |result| multi_response(result, &op_codes)),
            )
        }
        _ => Err(Refusal::Code(UNIMPLEMENTED)),
    }
}

fn multi_operation(
    operation: &MultiOperation,
    identity: &Identity,
    server: &Server,
) -> Result<WriteRequest, i32> {
    let op = operation.op_code();
    Ok(match operation {
        MultiOperation::Create(r)
        | MultiOperation::Create2(r)
        | MultiOperation::CreateContainer(r) => create_request(
            &Create {
                path: &r.path,
                data: &r.data,
                acl: &r.acl,
                flags: r.flags,
                ttl_ms: 0,
                op,
            },
            identity,
            server,
        )?,
        MultiOperation::CreateTtl(r) => create_request(
            &Create {
                path: &r.path,
                data: &r.data,
                acl: &r.acl,
                flags: r.flags,
                ttl_ms: r.ttl_ms,
                op,
            },
            identity,
            server,
        )?,
        MultiOperation::Delete(r) => WriteRequest::Delete {
            path: r.path.clone(),
            version: r.version,
        },
        MultiOperation::SetData(r) => WriteRequest::SetData {
            path: r.path.clone(),
            data: r.data.clone(),
            version: r.version,
        },
        MultiOperation::Check(r) => WriteRequest::Check {
            path: r.path.clone(),
            version: r.version,
        },
        MultiOperation::GetChildren(_) | MultiOperation::GetData(_) => {
            return Err(code::BAD_ARGUMENTS)
        }
    })
}

fn multi_response(result: &TxnResult, op_codes: &[OpCode]) -> Result<Response, i32> {
    let TxnResult::Multi(results) = result else {
        return Err(failure_code(result));
    };
    let results = results
        .iter()
        .zip(op_codes)
        .map(|(result, op)| match result {
            // What ZooKeeper 3.8 does: create and create2 are answered with a plain create
            // result (the path only); createContainer and createTTL with a create2 result.
            TxnResult::Created { path, stat } => match op {
                OpCode::CreateContainer | OpCode::CreateTtl => {
                    MultiResult::Create2(Create2Response {
                        path: path.clone(),
                        stat: convert::stat(stat),
                    })
                }
                _ => MultiResult::Create(CreateResponse { path: path.clone() }),
            },
            TxnResult::Deleted => MultiResult::Delete,
            TxnResult::DataSet { stat } => MultiResult::SetData(SetDataResponse {
                stat: convert::stat(stat),
            }),
            TxnResult::Checked => MultiResult::Check,
            other => MultiResult::Error(ErrorResponse {
                error_code: other.error_code(),
            }),
        })
        .collect();
    Ok(Response::Multi(MultiResponse { results }))
}
