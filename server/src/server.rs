//! The server's shared state and its write pipeline: prepare (checks, the transaction), append to
//! the log (group commit), apply to the tree in zxid order, fire watches, reply.
//!
//! Lock order, always: `prepare` before `tree`; `tree` before `watches` before `sessions`. The
//! apply thread holds the tree's write lock while it queues watch notifications, so a read that
//! sees a change (it takes the read lock later) is answered after the notification of that
//! change went out on the same connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use zk_engine::db::Database;
use zk_engine::tree::prepare::{PendingChanges, Request as WriteRequest};
use zk_engine::tree::{split_parent, DataTree, TxnResult};
use zk_engine::txn::{Txn, TxnBody, TxnHeader};
use zk_engine::txnlog::TxnLog;
use zk_engine::Zxid;

use crate::auth::Identity;
use crate::config::ServerConfig;
use crate::ensemble::Replication;
use crate::proto::header::ReplyHeader;
use crate::proto::response::{encode_notification, encode_reply, Response};
use crate::proto::{ErrorCode, EventType, KeeperState, WatcherEvent};
use crate::session::{Outbound, SessionTracker};
use crate::stats::ServerStats;
use crate::watch::WatchManager;

/// Shapes a client's reply from what apply did (or gives the error code).
pub type Respond = Box<dyn FnOnce(&TxnResult) -> Result<Response, i32> + Send>;

/// How a committed transaction's outcome reaches whoever asked for it.
pub enum Origin {
    /// A client request: the apply thread shapes the reply with `respond` and sends the frame.
    Client {
        /// The request's xid.
        xid: i32,
        /// Builds the reply body from what apply did (or returns the error code).
        respond: Respond,
        /// Where the reply frame goes.
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// A new session's creation: told when it is applied.
    Connect {
        /// Receives the zxid of the createSession.
        done: oneshot::Sender<Zxid>,
    },
    /// The server itself (session expiry, container reaping).
    Internal,
}

struct Committed {
    txn: Txn,
    encoded_len: usize,
    origin: Origin,
    durable: zk_engine::Result<Zxid>,
}

struct PrepareState {
    pending: PendingChanges,
    last_zxid: Zxid,
}

/// Why a write could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The log refused the record (it is poisoned, or closed).
    #[error("the transaction log refused the write: {0}")]
    Log(#[from] zk_engine::Error),
    /// In an ensemble: this server is not serving (no established leader).
    #[error("this server is not serving: the ensemble has no established leader it follows")]
    NotServing,
}

/// Everything the connections share.
pub struct Server {
    /// The configuration.
    pub config: ServerConfig,
    tree: Arc<RwLock<DataTree>>,
    database: Database,
    prepare: Mutex<PrepareState>,
    sessions: Mutex<SessionTracker>,
    watches: Mutex<WatchManager>,
    apply_sender: Mutex<Option<mpsc::Sender<Committed>>>,
    session_secret: Vec<u8>,
    /// Counters for the four-letter words.
    pub stats: ServerStats,
    next_connection_id: AtomicU64,
    /// When the server started.
    pub started: Instant,
    /// Set when the log failed: the server stops.
    fatal: tokio::sync::watch::Sender<Option<String>>,
    /// Set in an ensemble: writes go through ZAB.
    replication: std::sync::OnceLock<Arc<Replication>>,
}

impl Server {
    /// Builds the server over a recovered tree and an open log, and starts the apply thread.
    pub fn start(
        config: ServerConfig,
        database: Database,
        session_secret: Vec<u8>,
    ) -> std::io::Result<(Arc<Server>, std::thread::JoinHandle<()>)> {
        let tree = Arc::clone(database.tree());
        let mut sessions = SessionTracker::new(config.my_id.unwrap_or(0) as u8);
        let last_zxid = {
            let tree = tree.read().unwrap_or_else(|e| e.into_inner());
            for (id, timeout_ms) in tree.sessions().iter() {
                // Sessions restored from disk get a full timeout to reconnect, as in ZooKeeper.
                let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
                sessions.insert(id, timeout, None);
            }
            database.log().last_zxid().max(tree.last_applied_zxid())
        };
        let (sender, receiver) = mpsc::channel();
        let (fatal, _) = tokio::sync::watch::channel(None);
        let server = Arc::new(Server {
            config,
            tree,
            database,
            prepare: Mutex::new(PrepareState {
                pending: PendingChanges::new(),
                last_zxid,
            }),
            sessions: Mutex::new(sessions),
            watches: Mutex::new(WatchManager::default()),
            apply_sender: Mutex::new(Some(sender)),
            session_secret,
            stats: ServerStats::default(),
            next_connection_id: AtomicU64::new(1),
            started: Instant::now(),
            fatal,
            replication: std::sync::OnceLock::new(),
        });
        let apply_server = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("zk-apply".into())
            .spawn(move || apply_server.apply_loop(&receiver))?;
        Ok((server, thread))
    }

    /// The tree, for reading.
    pub fn tree(&self) -> RwLockReadGuard<'_, DataTree> {
        self.tree.read().unwrap_or_else(|e| e.into_inner())
    }

    fn tree_mut(&self) -> RwLockWriteGuard<'_, DataTree> {
        self.tree.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The session tracker.
    pub fn sessions(&self) -> MutexGuard<'_, SessionTracker> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The watch manager.
    pub fn watches(&self) -> MutexGuard<'_, WatchManager> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The transaction log.
    pub fn log(&self) -> &TxnLog {
        self.database.log()
    }

    /// The database (snapshots and log).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// A session's password.
    pub fn session_password(&self, session_id: i64) -> [u8; 16] {
        crate::session::session_password(session_id, &self.session_secret)
    }

    /// A unique id for a new connection.
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The last zxid applied to the tree.
    pub fn last_applied_zxid(&self) -> Zxid {
        self.tree().last_applied_zxid()
    }

    /// The last zxid handed out (applied or not).
    pub fn last_prepared_zxid(&self) -> Zxid {
        self.lock_prepare().last_zxid
    }

    /// Resolves when the server has failed for good (its log is poisoned).
    pub fn fatal(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.fatal.subscribe()
    }

    fn lock_prepare(&self) -> MutexGuard<'_, PrepareState> {
        self.prepare.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prepares a write, appends it to the log and arranges for it to be applied; `origin` hears
    /// the outcome. `authorize` checks permissions for the requester.
    pub fn submit(
        &self,
        session_id: i64,
        cxid: i32,
        request: &WriteRequest,
        identity: Option<&Identity>,
        origin: Origin,
    ) -> Result<(), SubmitError> {
        if let Some(replication) = self.replication() {
            return replication.submit(self, session_id, cxid, request, identity, origin);
        }
        let sender = self
            .apply_sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(sender) = sender else {
            return Err(SubmitError::Log(zk_engine::Error::Closed));
        };
        let mut prepare = self.lock_prepare();
        let zxid = Zxid(prepare.last_zxid.0 + 1);
        let txn = self.prepare_txn(&mut prepare, zxid, session_id, cxid, request, identity);
        let bytes = zk_engine::txn::encode(&txn);
        let encoded_len = bytes.len();
        let callback_txn = txn;
        self.log().append_with(
            zxid,
            bytes,
            Box::new(move |durable| {
                let _ = sender.send(Committed {
                    txn: callback_txn,
                    encoded_len,
                    origin,
                    durable,
                });
            }),
        )?;
        prepare.last_zxid = zxid;
        Ok(())
    }

    /// The replication side, in an ensemble.
    pub fn replication(&self) -> Option<&Arc<Replication>> {
        self.replication.get()
    }

    /// Makes this server a member of an ensemble (once, before serving).
    pub fn set_replication(&self, replication: Arc<Replication>) {
        let _ = self.replication.set(replication);
    }

    /// Whether clients may be served: always standalone; in an ensemble, once synced.
    pub fn serving(&self) -> bool {
        self.replication().is_none_or(|r| r.serving())
    }

    /// Whether this server expires sessions and reaps containers: standalone, or the serving
    /// leader of an ensemble.
    pub fn owns_housekeeping(&self) -> bool {
        self.replication().is_none_or(|r| r.is_serving_leader())
    }

    /// Stops the server for good with `message` (see [`Server::fatal`]).
    pub fn fail(&self, message: &str) {
        log::error!("{message}; the server stops");
        self.fatal.send_replace(Some(message.to_owned()));
    }

    /// Ensemble leader: prepares a write as transaction `zxid`.
    pub(crate) fn prepare_write(
        &self,
        zxid: Zxid,
        session_id: i64,
        cxid: i32,
        request: &WriteRequest,
        identity: Option<&Identity>,
    ) -> Txn {
        let mut prepare = self.lock_prepare();
        self.prepare_txn(&mut prepare, zxid, session_id, cxid, request, identity)
    }

    /// Checks a write against the tree and the outstanding changes, with `identity`'s
    /// permissions, and makes it transaction `zxid` (an error transaction when it fails).
    fn prepare_txn(
        &self,
        prepare: &mut PrepareState,
        zxid: Zxid,
        session_id: i64,
        cxid: i32,
        request: &WriteRequest,
        identity: Option<&Identity>,
    ) -> Txn {
        let authorize = |acl: &[zk_engine::txn::Acl], perm: i32| {
            identity.is_none_or(|identity| identity.allows(acl, perm))
        };
        let header = TxnHeader {
            session_id,
            cxid,
            zxid,
            time_ms: now_ms(),
        };
        let tree = self.tree();
        prepare.pending.prepare(&tree, header, request, &authorize)
    }

    /// Ensemble: hands a committed transaction to the apply thread.
    pub(crate) fn dispatch_committed(&self, txn: Txn, encoded_len: usize, origin: Origin) {
        let sender = self
            .apply_sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(sender) = sender {
            let zxid = txn.header.zxid;
            let _ = sender.send(Committed {
                txn,
                encoded_len,
                origin,
                durable: Ok(zxid),
            });
        }
    }

    /// Ensemble: forgets the outstanding changes of proposals that may never commit.
    pub(crate) fn reset_pending_changes(&self) {
        self.lock_prepare().pending = PendingChanges::new();
    }

    /// Closes every client connection (the server stopped serving; clients reconnect).
    pub(crate) fn close_client_connections(&self) {
        for (_, _, connection) in self.sessions().all() {
            if let Some(connection) = connection {
                let _ = connection.outbound.send(Outbound::Close);
            }
        }
    }

    /// Gives every session a full timeout from now (a new leader took over their expiry).
    pub(crate) fn touch_all_sessions(&self) {
        let mut sessions = self.sessions();
        let ids: Vec<i64> = sessions.all().into_iter().map(|(id, _, _)| id).collect();
        for id in ids {
            sessions.touch(id);
        }
    }

    /// Sessions connected to this server and heard from within their timeout.
    pub(crate) fn live_local_sessions(&self) -> Vec<i64> {
        self.sessions().live_connected(Instant::now())
    }

    /// Makes the session table match the tree's (after a snapshot replaced the tree).
    pub(crate) fn restore_sessions_from_tree(&self) {
        let tree = self.tree();
        let mut sessions = self.sessions();
        let in_tree: std::collections::HashMap<i64, i32> = tree.sessions().iter().collect();
        for (id, _, _) in sessions.all() {
            if !in_tree.contains_key(&id) {
                sessions.remove(id);
            }
        }
        for (id, timeout_ms) in in_tree {
            if sessions.get(id).is_none() {
                let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
                sessions.insert(id, timeout, None);
            }
        }
    }

    fn apply_loop(&self, receiver: &mpsc::Receiver<Committed>) {
        while let Ok(committed) = receiver.recv() {
            let Committed {
                txn,
                encoded_len,
                origin,
                durable,
            } = committed;
            if let Err(err) = durable {
                let message = format!("the transaction log failed: {err}");
                log::error!("{message}; the server stops serving writes and shuts down");
                self.fatal.send_replace(Some(message));
                if let Origin::Client { xid, reply, .. } = origin {
                    let _ = reply.send(error_frame(xid, 0, ErrorCode::SystemError.value()));
                }
                continue;
            }
            let zxid = txn.header.zxid;
            let result = {
                let mut tree = self.tree_mut();
                let result = tree.apply(&txn);
                self.notify_watches(&txn, &result);
                result
            };
            self.lock_prepare().pending.applied(zxid);
            self.stats.note_write();
            // Snapshots run in the background, on the tree as applied (only durable transactions).
            self.database.note_applied(encoded_len);
            match (&txn.body, &result) {
                (TxnBody::CloseSession { .. }, TxnResult::SessionClosed) => {
                    let removed = self.sessions().remove(txn.header.session_id);
                    // In an ensemble the leader expires sessions: the client's connection here
                    // learns of it now.
                    if let (Some(session), Origin::Internal) = (removed, &origin) {
                        if let Some(connection) = session.connection {
                            let _ = connection.outbound.send(Outbound::Close);
                        }
                    }
                }
                (TxnBody::CreateSession { timeout_ms }, _) => {
                    // Created through another server of the ensemble: known here too, so that
                    // the client may move here and the leader may expire it.
                    let mut sessions = self.sessions();
                    if sessions.get(txn.header.session_id).is_none() {
                        let timeout =
                            Duration::from_millis(u64::try_from(*timeout_ms).unwrap_or(0));
                        sessions.insert(txn.header.session_id, timeout, None);
                    }
                }
                _ => {}
            }
            match origin {
                Origin::Client {
                    xid,
                    respond,
                    reply,
                } => {
                    let frame = match respond(&result) {
                        Ok(response) => {
                            let mut out = Vec::new();
                            let header = ReplyHeader {
                                xid,
                                zxid: zxid.0 as i64,
                                error_code: 0,
                            };
                            encode_reply(&mut out, &header, &response);
                            out
                        }
                        Err(code) => error_frame(xid, zxid.0 as i64, code),
                    };
                    let _ = reply.send(frame);
                }
                Origin::Connect { done } => {
                    let _ = done.send(zxid);
                }
                Origin::Internal => {}
            }
        }
    }

    /// Queues the notifications `txn` triggers on the watchers' connections. Called with the
    /// tree's write lock held.
    fn notify_watches(&self, txn: &Txn, result: &TxnResult) {
        let mut events = Vec::new();
        collect_events(&txn.body, result, &mut events);
        let closed_session = match &txn.body {
            TxnBody::CloseSession { .. } => Some(txn.header.session_id),
            _ => None,
        };
        if events.is_empty() && closed_session.is_none() {
            return;
        }
        let mut watches = self.watches();
        if let Some(session) = closed_session {
            watches.remove_session(session);
        }
        let sessions = self.sessions();
        for (event, path) in events {
            for session in watches.trigger(event, &path) {
                let Some(connection) = sessions.get(session).and_then(|s| s.connection.as_ref())
                else {
                    continue;
                };
                let mut frame = Vec::new();
                let notification = WatcherEvent {
                    event_type: event.value(),
                    state: KeeperState::SyncConnected.value(),
                    path: path.clone(),
                };
                encode_notification(&mut frame, txn.header.zxid.0 as i64, &notification);
                let _ = connection.outbound.send(Outbound::Frame(frame));
                self.stats.note_notification();
            }
        }
    }

    /// Stops accepting writes: later submits fail. The apply thread ends once the log has
    /// delivered every outstanding record.
    pub fn stop_writes(&self) {
        self.apply_sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// The watch events of an applied transaction, in order.
fn collect_events(body: &TxnBody, result: &TxnResult, events: &mut Vec<(EventType, String)>) {
    let with_parent = |events: &mut Vec<(EventType, String)>, event: EventType, path: &str| {
        events.push((event, path.to_owned()));
        if let Some((parent, _)) = split_parent(path) {
            events.push((EventType::NodeChildrenChanged, parent.to_owned()));
        }
    };
    match (body, result) {
        (TxnBody::Create(_), TxnResult::Created { path, .. }) => {
            with_parent(events, EventType::NodeCreated, path);
        }
        (TxnBody::Delete { path }, TxnResult::Deleted) => {
            with_parent(events, EventType::NodeDeleted, path);
        }
        (TxnBody::SetData { path, .. }, TxnResult::DataSet { .. }) => {
            events.push((EventType::NodeDataChanged, path.clone()));
        }
        (TxnBody::Multi(bodies), TxnResult::Multi(results)) => {
            for (body, result) in bodies.iter().zip(results) {
                collect_events(body, result, events);
            }
        }
        (TxnBody::CloseSession { paths }, TxnResult::SessionClosed) => {
            for path in paths {
                with_parent(events, EventType::NodeDeleted, path);
            }
        }
        _ => {}
    }
}

/// A reply frame carrying only an error code.
pub fn error_frame(xid: i32, zxid: i64, error_code: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let header = ReplyHeader {
        xid,
        zxid,
        error_code,
    };
    encode_reply(&mut out, &header, &Response::Empty);
    out
}

/// Milliseconds since the Unix epoch (the leader's clock goes into every transaction).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
