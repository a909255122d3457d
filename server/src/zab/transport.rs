//! TCP between the servers of an ensemble, for the driver that runs the ZAB core: votes on the
//! election ports, follower–leader links on the quorum ports, both in the format of
//! [`super::codec`].
//!
//! Every method is called from the driver's single event loop, so none of them waits: sends go
//! into an unbounded queue per connection, drained by a writer task; what arrives is handed to
//! the driver as [`Incoming`] on one channel. The transport never interprets a message: it only
//! frames, checks and delivers.
//!
//! - Votes are best effort. Each server sends its own votes on one outgoing connection per peer
//!   (opened at the first vote, reopened after a short backoff when it breaks); incoming election
//!   connections only deliver. Until a connection is up, only the newest vote is kept, as
//!   ZooKeeper's send queue of one does: the core re-sends its vote on a timer anyway.
//! - A link carries messages in order or breaks. Each side learns of a break once, as
//!   [`Incoming::LinkClosed`], unless it closed the link itself.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, watch, Semaphore};

use super::codec::{self, Hello};
use super::message::{LinkId, Message, ServerId};

/// How long a new connection may take to send its hello before it is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connect may take. Far below `initLimit` at ZooKeeper's usual settings, so that
/// a dead leader is reported as [`Incoming::LinkClosed`] while the follower can still retry.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// First wait before a failed election connection is tried again; doubles up to the maximum.
const VOTE_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest wait between election connection attempts.
const VOTE_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long a closed link may keep writing what was queued before it closed.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Connections accepted but still without a hello, per listener; more are dropped at once, so
/// that a flood of idle connections cannot pile up tasks.
const MAX_PENDING_HELLOS: usize = 64;
/// Read buffer per connection: small frames (acks, pings) cost no system call each.
const READ_BUFFER_LEN: usize = 64 * 1024;
/// A writer gathers queued frames into one write up to about this many bytes.
const WRITE_BATCH_LEN: usize = 256 * 1024;

/// Where a server listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddress {
    /// The quorum port (`server.N=host:quorum:election`): follower–leader links.
    pub quorum: SocketAddr,
    /// The election port: votes.
    pub election: SocketAddr,
}

/// What the transport hands to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A message on an election connection.
    Vote {
        /// The sender (from its hello).
        from: ServerId,
        /// The message.
        message: Message,
    },
    /// A message on a link.
    Link {
        /// The link.
        link: LinkId,
        /// The message.
        message: Message,
    },
    /// A link broke, the other side closed it, or (follower side) it could not be opened.
    LinkClosed {
        /// The link.
        link: LinkId,
    },
}

/// The quorum and election connections of one server. Cloning shares the same transport; when
/// the last clone is dropped, it shuts down.
#[derive(Clone)]
pub struct Transport {
    owner: Arc<Owner>,
}

/// Held by the `Transport` clones only (the tasks hold `Inner`): its drop stops the tasks.
struct Owner {
    inner: Arc<Inner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

struct Inner {
    me: ServerId,
    peers: BTreeMap<ServerId, PeerAddress>,
    incoming: UnboundedSender<Incoming>,
    runtime: tokio::runtime::Handle,
    stop: watch::Sender<bool>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    /// Open or opening links. A link's reader delivers only while its entry (same generation)
    /// is here, so nothing arrives after `close_link` and `LinkClosed` is delivered once.
    links: HashMap<LinkId, LinkEntry>,
    /// Queues of the outgoing election connections.
    voters: HashMap<ServerId, UnboundedSender<Message>>,
    /// The newest incoming election connection per peer; dropping its sender ends it.
    election_in: HashMap<ServerId, (u64, oneshot::Sender<()>)>,
    next_generation: u64,
}

struct LinkEntry {
    generation: u64,
    outgoing: UnboundedSender<Message>,
    /// Dropped with the entry: tells the connection task to finish writing and close.
    _close: oneshot::Sender<()>,
}

/// How a link's connection ended.
enum LinkEnd {
    /// The other side closed it.
    Eof,
    /// The connection or the bytes on it failed.
    Failed(String),
    /// This side closed it (`close_link` or shutdown).
    Local,
}

impl Transport {
    /// Binds this server's quorum and election listeners (from `peers[&me]`) and starts the
    /// tasks, on the current tokio runtime.
    pub async fn start(
        me: ServerId,
        peers: BTreeMap<ServerId, PeerAddress>,
        incoming: UnboundedSender<Incoming>,
    ) -> io::Result<Transport> {
        let Some(address) = peers.get(&me).copied() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("server {me} has no address in the peer list"),
            ));
        };
        let quorum = TcpListener::bind(address.quorum).await.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("binding the quorum port {}: {error}", address.quorum),
            )
        })?;
        let election = TcpListener::bind(address.election).await.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("binding the election port {}: {error}", address.election),
            )
        })?;
        Ok(Transport::start_with_listeners(
            me, peers, quorum, election, incoming,
        ))
    }

    /// Like [`Transport::start`] with listeners already bound (tests bind port 0 first, so the
    /// addresses are known before any transport starts). Must be called inside a tokio runtime.
    pub fn start_with_listeners(
        me: ServerId,
        peers: BTreeMap<ServerId, PeerAddress>,
        quorum: TcpListener,
        election: TcpListener,
        incoming: UnboundedSender<Incoming>,
    ) -> Transport {
        let inner = Arc::new(Inner {
            me,
            peers,
            incoming,
            runtime: tokio::runtime::Handle::current(),
            stop: watch::channel(false).0,
            state: Mutex::new(State::default()),
        });
        inner.spawn(accept_loop(inner.clone(), quorum, Port::Quorum));
        inner.spawn(accept_loop(inner.clone(), election, Port::Election));
        Transport {
            owner: Arc::new(Owner { inner }),
        }
    }

    /// Sends a vote: best effort, never blocks. Connects to `peers[to].election` at the first
    /// vote and after a break (with a short backoff); votes are dropped while not connected.
    pub fn send_vote(&self, to: ServerId, message: Message) {
        let inner = &self.owner.inner;
        if to == inner.me || !inner.peers.contains_key(&to) {
            log::debug!(
                "vote for server {to} dropped: not a peer of server {}",
                inner.me
            );
            return;
        }
        let mut state = inner.lock();
        if state.stopped {
            return;
        }
        let queue = state.voters.entry(to).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            inner.spawn(vote_sender(inner.clone(), to, receiver));
            sender
        });
        // Fails only when the task ended, at shutdown.
        let _ = queue.send(message);
    }

    /// Follower side: opens `link` to `peers[link.leader].quorum`. Messages sent before the
    /// connection is up are queued and go first. When it cannot be opened,
    /// [`Incoming::LinkClosed`] follows.
    pub fn open_link(&self, link: LinkId) {
        let inner = &self.owner.inner;
        let leader = inner.peers.get(&link.leader).copied();
        let mut state = inner.lock();
        if state.stopped {
            return;
        }
        if state.links.contains_key(&link) {
            log::warn!("{link:?} is already open; a second open_link is ignored");
            return;
        }
        let (generation, outgoing, close) = state.register(link);
        drop(state);
        let Some(leader) = leader.filter(|_| link.follower == inner.me && link.leader != inner.me)
        else {
            log::warn!(
                "server {} cannot open {link:?}: the follower must be this server and the \
                 leader another known server",
                inner.me
            );
            inner.link_closed(link, generation);
            return;
        };
        inner.spawn(open_link(
            inner.clone(),
            link,
            generation,
            leader.quorum,
            outgoing,
            close,
        ));
    }

    /// Sends on a link (either side), in order; dropped when the link is unknown or closed.
    pub fn send(&self, link: LinkId, message: Message) {
        let state = self.owner.inner.lock();
        match state.links.get(&link) {
            // Fails only when the connection task already ended; its end is being reported.
            Some(entry) => {
                let _ = entry.outgoing.send(message);
            }
            None => log::debug!(
                "{} to {link:?} dropped: the link is not open",
                codec::message_name(&message)
            ),
        }
    }

    /// Closes a link: what was already sent on it is still written (for at most a short
    /// linger), then the socket is shut. The other side gets [`Incoming::LinkClosed`]; this
    /// side gets nothing more from the link.
    pub fn close_link(&self, link: LinkId) {
        let removed = self.owner.inner.lock().links.remove(&link);
        if removed.is_none() {
            log::debug!("close of {link:?} ignored: the link is not open");
        }
    }

    /// Stops every task and closes every socket and listener; peers see their links close.
    /// Nothing is delivered afterwards and every later call does nothing.
    pub fn shutdown(&self) {
        self.owner.inner.shutdown();
    }

    /// This server's id.
    pub fn me(&self) -> ServerId {
        self.owner.inner.me
    }
}

impl State {
    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn register(
        &mut self,
        link: LinkId,
    ) -> (u64, UnboundedReceiver<Message>, oneshot::Receiver<()>) {
        let generation = self.generation();
        let (outgoing, receiver) = mpsc::unbounded_channel();
        let (close, closed) = oneshot::channel();
        self.links.insert(
            link,
            LinkEntry {
                generation,
                outgoing,
                _close: close,
            },
        );
        (generation, receiver, closed)
    }
}

impl Inner {
    fn shutdown(&self) {
        let mut state = self.lock();
        state.stopped = true;
        // Dropping the entries and queues lets no more messages in.
        state.links.clear();
        state.voters.clear();
        state.election_in.clear();
        drop(state);
        self.stop.send_replace(true);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (each change is one map operation).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `task` until it ends or the transport stops; stopping drops it, and with it its
    /// sockets.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.stop.subscribe();
        self.runtime.spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => {}
                () = task => {}
            }
        });
    }

    fn deliver_vote(&self, from: ServerId, message: Message) {
        if !self.lock().stopped {
            let _ = self.incoming.send(Incoming::Vote { from, message });
        }
    }

    /// Delivers a message from a link while the link is registered; false once it is not.
    fn deliver_link(&self, link: LinkId, generation: u64, message: Message) -> bool {
        let state = self.lock();
        let current = state
            .links
            .get(&link)
            .is_some_and(|entry| entry.generation == generation);
        if current {
            // Under the lock: a close_link that returned has stopped deliveries.
            let _ = self.incoming.send(Incoming::Link { link, message });
        }
        current
    }

    /// The link's connection ended without a local close: unregisters it and reports it, once.
    fn link_closed(&self, link: LinkId, generation: u64) {
        let mut state = self.lock();
        let current = state
            .links
            .get(&link)
            .is_some_and(|entry| entry.generation == generation);
        if current && !state.stopped {
            state.links.remove(&link);
            let _ = self.incoming.send(Incoming::LinkClosed { link });
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Port {
    Quorum,
    Election,
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, port: Port) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HELLOS));
    loop {
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, mostly: wait instead of spinning.
                log::warn!(
                    "server {}: accepting on the {port:?} port: {error}",
                    inner.me
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            log::warn!(
                "server {}: refused a {port:?} connection from {address}: \
                 {MAX_PENDING_HELLOS} connections are already waiting for their hello",
                inner.me
            );
            continue;
        };
        let inner_for_task = inner.clone();
        inner.spawn(async move {
            let _ = stream.set_nodelay(true);
            let (read, write) = stream.into_split();
            let mut read = BufReader::with_capacity(READ_BUFFER_LEN, read);
            let hello = tokio::time::timeout(HELLO_TIMEOUT, codec::read_hello(&mut read)).await;
            drop(permit);
            let hello = match hello {
                Ok(Ok(hello)) => hello,
                Ok(Err(error)) => {
                    log::warn!(
                        "server {}: refused a {port:?} connection from {address}: {error}",
                        inner_for_task.me
                    );
                    return;
                }
                Err(_) => {
                    log::warn!(
                        "server {}: refused a {port:?} connection from {address}: no hello \
                         within {HELLO_TIMEOUT:?}",
                        inner_for_task.me
                    );
                    return;
                }
            };
            match port {
                Port::Election => {
                    serve_election(inner_for_task, hello, address, read, write).await;
                }
                Port::Quorum => serve_link(inner_for_task, hello, address, read, write).await,
            }
        });
    }
}

/// Whether `id` is another server of the ensemble.
fn is_peer(inner: &Inner, id: ServerId) -> bool {
    id != inner.me && inner.peers.contains_key(&id)
}

/// Delivers the votes of one incoming election connection, until it ends or a newer one from
/// the same server replaces it.
async fn serve_election(
    inner: Arc<Inner>,
    hello: Hello,
    address: SocketAddr,
    mut read: BufReader<OwnedReadHalf>,
    // Nothing is sent back, but the write half stays open: dropping it sends a FIN, which the
    // sending server would take for a closed connection and reconnect.
    _write: OwnedWriteHalf,
) {
    let from = match hello {
        Hello::Election { from } if is_peer(&inner, from) => from,
        other => {
            log::warn!(
                "server {}: refused an election connection from {address}: {other:?} is not \
                 the hello of a known peer",
                inner.me
            );
            return;
        }
    };
    let (generation, mut replaced) = {
        let mut state = inner.lock();
        let generation = state.generation();
        let (replace, replaced) = oneshot::channel();
        // Dropping the older connection's sender ends it: one connection per peer.
        state.election_in.insert(from, (generation, replace));
        (generation, replaced)
    };
    loop {
        tokio::select! {
            _ = &mut replaced => return,
            frame = codec::read_frame(&mut read) => match frame {
                Ok(Some(message)) => inner.deliver_vote(from, message),
                Ok(None) => break,
                Err(error) => {
                    log::warn!(
                        "server {}: election connection from server {from} at {address}: {error}",
                        inner.me
                    );
                    break;
                }
            }
        }
    }
    let mut state = inner.lock();
    if state
        .election_in
        .get(&from)
        .is_some_and(|(current, _)| *current == generation)
    {
        state.election_in.remove(&from);
    }
}

/// Leader side of a link: registers it, then serves it.
async fn serve_link(
    inner: Arc<Inner>,
    hello: Hello,
    address: SocketAddr,
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
) {
    let link = match hello {
        Hello::Link { link } if link.leader == inner.me && is_peer(&inner, link.follower) => link,
        other => {
            log::warn!(
                "server {}: refused a quorum connection from {address}: {other:?} is not a link \
                 from a known peer to this server",
                inner.me
            );
            return;
        }
    };
    let (generation, outgoing, close) = {
        let mut state = inner.lock();
        if state.stopped {
            return;
        }
        if state.links.contains_key(&link) {
            log::warn!(
                "server {}: refused a quorum connection from {address}: {link:?} is already open",
                inner.me
            );
            return;
        }
        state.register(link)
    };
    run_link(
        inner,
        link,
        generation,
        read,
        write,
        Vec::new(),
        outgoing,
        close,
    )
    .await;
}

/// Follower side of a link: connects, then serves it with the hello as its first bytes.
async fn open_link(
    inner: Arc<Inner>,
    link: LinkId,
    generation: u64,
    address: SocketAddr,
    outgoing: UnboundedReceiver<Message>,
    mut close: oneshot::Receiver<()>,
) {
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address));
    let connected = tokio::select! {
        // Closed before it was up: the leader never hears of it.
        _ = &mut close => return,
        connected = connect => connected,
    };
    let stream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            log::info!("{link:?}: connecting to the leader at {address}: {error}");
            inner.link_closed(link, generation);
            return;
        }
        Err(_) => {
            log::info!("{link:?}: no connection to the leader at {address} in {CONNECT_TIMEOUT:?}");
            inner.link_closed(link, generation);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let read = BufReader::with_capacity(READ_BUFFER_LEN, read);
    let mut hello = Vec::new();
    codec::encode_hello(&Hello::Link { link }, &mut hello);
    run_link(inner, link, generation, read, write, hello, outgoing, close).await;
}

/// Runs both directions of a link until one ends, then reports the end.
#[allow(clippy::too_many_arguments)]
async fn run_link(
    inner: Arc<Inner>,
    link: LinkId,
    generation: u64,
    mut read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    first_bytes: Vec<u8>,
    outgoing: UnboundedReceiver<Message>,
    mut close: oneshot::Receiver<()>,
) {
    let reader = async {
        loop {
            match codec::read_frame(&mut read).await {
                Ok(Some(message)) => {
                    if !inner.deliver_link(link, generation, message) {
                        return LinkEnd::Local;
                    }
                }
                Ok(None) => return LinkEnd::Eof,
                Err(error) => return LinkEnd::Failed(error.to_string()),
            }
        }
    };
    let writer = write_link(write, first_bytes, outgoing);
    tokio::pin!(reader, writer);
    let end = tokio::select! {
        end = &mut reader => end,
        end = &mut writer => end,
        _ = &mut close => {
            // Closed here: finish writing what was queued, within the linger, then drop the
            // socket (the other side sees the end of the stream).
            match tokio::time::timeout(CLOSE_LINGER, &mut writer).await {
                Ok(LinkEnd::Failed(error)) => {
                    log::debug!("{link:?}: writing after close: {error}");
                }
                Ok(_) => {}
                Err(_) => log::debug!("{link:?}: the peer did not take the last messages"),
            }
            LinkEnd::Local
        }
    };
    match end {
        LinkEnd::Local => {}
        LinkEnd::Eof => {
            log::info!("{link:?}: closed by the other side");
            inner.link_closed(link, generation);
        }
        LinkEnd::Failed(error) => {
            log::warn!("{link:?}: {error}");
            inner.link_closed(link, generation);
        }
    }
}

/// Appends `message` to the batch, or writes the batch and then a large payload directly, so
/// that a snapshot is never copied into the batch.
async fn write_message(
    write: &mut OwnedWriteHalf,
    batch: &mut Vec<u8>,
    message: &Message,
) -> io::Result<()> {
    let len = codec::body_len(message);
    if len > u64::from(codec::MAX_BODY_LEN) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a {} message of {len} bytes is over the frame limit of {} bytes",
                codec::message_name(message),
                codec::MAX_BODY_LEN
            ),
        ));
    }
    let parts = codec::frame_parts(message);
    batch.extend_from_slice(&parts.head);
    if !parts.payload.is_empty() {
        write.write_all(batch).await?;
        batch.clear();
        write.write_all(parts.payload).await?;
    }
    Ok(())
}

/// Writes queued messages until the queue closes (a local close: then shuts the write side) or
/// a write fails.
async fn write_link(
    mut write: OwnedWriteHalf,
    first_bytes: Vec<u8>,
    mut outgoing: UnboundedReceiver<Message>,
) -> LinkEnd {
    let mut batch = first_bytes;
    let result: io::Result<()> = async {
        loop {
            if batch.is_empty() {
                let Some(message) = outgoing.recv().await else {
                    break;
                };
                write_message(&mut write, &mut batch, &message).await?;
            }
            while batch.len() < WRITE_BATCH_LEN {
                let Ok(message) = outgoing.try_recv() else {
                    break;
                };
                write_message(&mut write, &mut batch, &message).await?;
            }
            if !batch.is_empty() {
                write.write_all(&batch).await?;
                batch.clear();
            }
        }
        write.shutdown().await
    }
    .await;
    match result {
        Ok(()) => LinkEnd::Local,
        Err(error) => LinkEnd::Failed(format!("writing: {error}")),
    }
}

/// Sends this server's votes to server `to`, reconnecting as needed.
async fn vote_sender(inner: Arc<Inner>, to: ServerId, mut votes: UnboundedReceiver<Message>) {
    let Some(address) = inner.peers.get(&to).map(|peer| peer.election) else {
        return;
    };
    let mut backoff = VOTE_BACKOFF_MIN;
    let mut hello = Vec::new();
    codec::encode_hello(&Hello::Election { from: inner.me }, &mut hello);
    while let Some(mut newest) = votes.recv().await {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
        {
            Ok(Ok(stream)) => stream,
            failure => {
                let reason = match failure {
                    Ok(Err(error)) => error.to_string(),
                    _ => format!("no connection in {CONNECT_TIMEOUT:?}"),
                };
                log::debug!(
                    "server {}: election connection to server {to} at {address}: {reason}; \
                     votes are dropped for {backoff:?}",
                    inner.me
                );
                tokio::time::sleep(backoff).await;
                while votes.try_recv().is_ok() {}
                backoff = (backoff * 2).min(VOTE_BACKOFF_MAX);
                continue;
            }
        };
        backoff = VOTE_BACKOFF_MIN;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        // Votes queued while connecting are stale but the newest.
        while let Ok(vote) = votes.try_recv() {
            newest = vote;
        }
        let mut bytes = hello.clone();
        codec::encode(&newest, &mut bytes);
        if let Err(error) = write.write_all(&bytes).await {
            log::debug!(
                "server {}: sending a vote to server {to}: {error}",
                inner.me
            );
            continue;
        }
        let mut scratch = [0u8; 64];
        loop {
            tokio::select! {
                vote = votes.recv() => {
                    let Some(vote) = vote else {
                        return;
                    };
                    bytes.clear();
                    codec::encode(&vote, &mut bytes);
                    if let Err(error) = write.write_all(&bytes).await {
                        log::debug!("server {}: sending a vote to server {to}: {error}", inner.me);
                        break;
                    }
                }
                // The peer never sends on this connection: a read returns when it closed it.
                _ = read.read(&mut scratch) => {
                    log::debug!("server {}: election connection to server {to} closed", inner.me);
                    break;
                }
            }
        }
    }
}
