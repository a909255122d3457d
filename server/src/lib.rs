//! zk-server: the ZooKeeper client protocol, sessions, watches and the request pipeline, on top of
//! the `zk-engine` storage engine.
//!
//! [`run`] serves a listener until a shutdown signal: it accepts connections
//! ([`connection`]), expires silent sessions, and reaps empty containers and expired TTL nodes.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod connection;
pub mod convert;
pub mod ensemble;
pub mod four_letter;
pub mod proto;
pub mod read;
pub mod server;
pub mod session;
pub mod stats;
pub mod store;
pub mod watch;
pub mod zab;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use zk_engine::tree::prepare::Request as WriteRequest;

use crate::server::{Origin, Server};
use crate::session::Outbound;

/// Serves clients on `listener` until `shutdown` turns true or the log fails; then stops
/// accepting, lets writes in flight finish, and makes the log durable.
pub async fn run(
    server: Arc<Server>,
    listener: TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let per_address: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::default();
    let expirer = tokio::spawn(expire_sessions(Arc::clone(&server)));
    let reaper = tokio::spawn(reap_containers(Arc::clone(&server)));
    let mut fatal = server.fatal();
    let outcome = loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                if !server.serving() {
                    // As ZooKeeper: a server outside an established ensemble turns clients away.
                    log::debug!("closing the connection from {peer}: not serving yet");
                    drop(stream);
                    continue;
                }
                let limit = server.config.max_client_connections;
                {
                    let mut counts = per_address.lock().unwrap_or_else(|e| e.into_inner());
                    let count = counts.entry(peer.ip()).or_default();
                    if limit != 0 && *count >= limit {
                        log::warn!(
                            "too many connections from {} - max is {limit} (maxClientCnxns)",
                            peer.ip()
                        );
                        continue;
                    }
                    *count += 1;
                }
                let server = Arc::clone(&server);
                let per_address = Arc::clone(&per_address);
                tokio::spawn(async move {
                    connection::serve(server, stream, peer).await;
                    let mut counts = per_address.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(count) = counts.get_mut(&peer.ip()) {
                        *count -= 1;
                        if *count == 0 {
                            counts.remove(&peer.ip());
                        }
                    }
                });
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break Ok(());
                }
            }
            _ = fatal.changed() => {
                let reason = fatal.borrow().clone().unwrap_or_default();
                break Err(reason);
            }
        }
    };
    expirer.abort();
    reaper.abort();
    if let Some(replication) = server.replication() {
        replication.shutdown();
    }
    drop(listener);
    server.stop_writes();
    let flushed = server.log().flush();
    // A snapshot in progress is finished rather than left as a temporary file.
    if let Some(Err(err)) = server.database().wait_for_snapshot() {
        log::warn!("the last background snapshot failed: {err}");
    }
    for (_, _, connection) in server.sessions().all() {
        if let Some(connection) = connection {
            let _ = connection.outbound.send(Outbound::Close);
        }
    }
    match (outcome, flushed) {
        (Ok(()), Ok(zxid)) => {
            log::info!("shut down cleanly; the log is durable up to zxid {zxid}");
            Ok(())
        }
        (Err(reason), _) => Err(reason),
        (Ok(()), Err(err)) => Err(format!("the log could not be made durable: {err}")),
    }
}

/// Closes sessions whose clients went silent for longer than their timeout.
async fn expire_sessions(server: Arc<Server>) {
    let period = Duration::from_millis(u64::from(server.config.tick_time_ms / 2).max(50));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        if !server.owns_housekeeping() {
            continue;
        }
        let expired = server.sessions().take_expired(Instant::now());
        for session_id in expired {
            log::info!("expiring session 0x{session_id:x}: no heartbeat within its timeout");
            let connection = server
                .sessions()
                .get_mut(session_id)
                .and_then(|s| s.connection.take());
            if let Some(connection) = connection {
                let _ = connection.outbound.send(Outbound::Close);
            }
            if let Err(err) = server.submit(
                session_id,
                0,
                &WriteRequest::CloseSession,
                None,
                Origin::Internal,
            ) {
                log::error!("cannot expire session 0x{session_id:x}: {err}");
            }
        }
    }
}

/// Deletes empty containers and expired TTL nodes, on ZooKeeper's schedule
/// (`znode.container.checkIntervalMs`).
async fn reap_containers(server: Arc<Server>) {
    let period = Duration::from_millis(server.config.container_check_interval_ms.max(10));
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if !server.owns_housekeeping() {
            continue;
        }
        let candidates = server.tree().reap_candidates(server::now_ms(), 0);
        for path in candidates {
            let request = WriteRequest::DeleteContainer { path };
            if let Err(err) = server.submit(0, 0, &request, None, Origin::Internal) {
                log::error!("cannot reap a container: {err}");
            }
        }
    }
}
