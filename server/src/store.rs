//! Opening the server's data: snapshots under `<dataDir>/snap`, the transaction log under
//! `<dataLogDir>/log`, the tree recovered from them, and the secret session passwords derive from.

use std::io::Read;
use std::path::Path;

use zk_engine::db::{Database, DatabaseConfig};
use zk_engine::storage::WriteMode;
use zk_engine::txnlog::LogConfig;

use crate::config::ServerConfig;

/// Why the data could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine refused (damaged data, I/O, a locked directory).
    #[error(transparent)]
    Engine(#[from] zk_engine::Error),
    /// The session secret could not be read or made.
    #[error("cannot read or create the session secret {path}: {source}")]
    Secret {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The recovered state.
pub struct Store {
    /// The tree and the log, with snapshot scheduling and retention.
    pub database: Database,
    /// Secret for session passwords.
    pub session_secret: Vec<u8>,
}

/// Opens (creating if needed) the data directories of `config` and recovers the tree: the
/// newest valid snapshot in `<dataDir>/snap`, then the log in `<dataLogDir>/log`.
pub fn open(config: &ServerConfig) -> Result<Store, StoreError> {
    let log_config = LogConfig {
        segment_size: config.log_segment_size(),
        write_mode: WriteMode::from_name(&config.log_write_mode).unwrap_or_default(),
        sync: config.force_sync,
        slow_sync_warning: std::time::Duration::from_millis(config.fsync_warning_threshold_ms),
        ..LogConfig::default()
    };
    let mut database_config = DatabaseConfig::new(
        config.data_dir.join("snap"),
        config.data_log_dir.join("log"),
    );
    database_config.log = log_config;
    database_config.snap_count = config.snap_count.max(2);
    database_config.snap_size_bytes =
        u64::try_from(config.snap_size_limit_kb).map_or(0, |kb| kb.saturating_mul(1024));
    database_config.snap_retain_count = config.autopurge_snap_retain_count.max(1) as usize;
    let (database, report) = Database::open(database_config)?;
    for skipped in &report.skipped_snapshots {
        log::warn!("skipped a snapshot: {skipped:?}");
    }
    let session_secret = secret(&config.data_dir.join("session.secret"))?;
    Ok(Store {
        database,
        session_secret,
    })
}

/// The server's secret: 32 random bytes made once per data directory.
fn secret(path: &Path) -> Result<Vec<u8>, StoreError> {
    let error = |source| StoreError::Secret {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => return Ok(bytes),
        Ok(_) | Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut bytes = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(error)?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, &bytes).map_err(error)?;
    std::fs::File::open(&temporary)
        .and_then(|f| f.sync_all())
        .map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|f| f.sync_all())
            .map_err(error)?;
    }
    Ok(bytes)
}

/// The session-password secret of an ensemble: every server must derive the same passwords, so
/// that a client keeps its session when it moves to another server. It derives from the server
/// list, which every member's zoo.cfg repeats (ZooKeeper uses one published constant).
pub fn ensemble_secret(config: &ServerConfig) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(b"zk-server ensemble session secret\n");
    let mut servers: Vec<String> = config
        .servers
        .iter()
        .map(|s| format!("{}={}:{}:{}", s.id, s.host, s.quorum_port, s.election_port))
        .collect();
    servers.sort();
    for line in servers {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_vec()
}
