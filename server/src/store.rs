//! Opening the server's data: the transaction log under `<dataLogDir>/log`, the tree recovered
//! from it, and the secret that session passwords derive from.

use std::io::Read;
use std::path::Path;

use zk_engine::storage::WriteMode;
use zk_engine::tree::DataTree;
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::Zxid;

use crate::config::ServerConfig;

/// Why the data could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine refused (damaged data, I/O, a locked directory).
    #[error(transparent)]
    Engine(#[from] zk_engine::Error),
    /// A logged transaction does not decode.
    #[error("the transaction at zxid {zxid} in the log does not decode: {reason}")]
    BadTransaction {
        /// Its zxid.
        zxid: Zxid,
        /// Why.
        reason: String,
    },
    /// The log starts after zxid 0 and there is no snapshot to start from.
    #[error(
        "the transaction log in {dir} starts after zxid {base}, and there is no snapshot to \
         start from: transactions are missing"
    )]
    Gap {
        /// The log directory.
        dir: String,
        /// What the log says precedes it.
        base: Zxid,
    },
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
    /// The tree, as of the log's last transaction.
    pub tree: DataTree,
    /// The open log.
    pub log: TxnLog,
    /// Secret for session passwords.
    pub session_secret: Vec<u8>,
}

/// Opens (creating if needed) the data directories of `config` and recovers the tree.
pub fn open(config: &ServerConfig) -> Result<Store, StoreError> {
    let log_dir = config.data_log_dir.join("log");
    let log_config = LogConfig {
        segment_size: config.log_segment_size(),
        write_mode: WriteMode::from_name(&config.log_write_mode).unwrap_or_default(),
        sync: config.force_sync,
        slow_sync_warning: std::time::Duration::from_millis(config.fsync_warning_threshold_ms),
    };
    let (log, report) = TxnLog::open_path(&log_dir, log_config)?;
    if report.base_zxid != Zxid::NONE {
        return Err(StoreError::Gap {
            dir: log_dir.display().to_string(),
            base: report.base_zxid,
        });
    }
    let mut tree = DataTree::new();
    for record in log.read_from(Zxid::NONE)? {
        let record = record?;
        let txn =
            zk_engine::txn::decode(&record.payload).map_err(|e| StoreError::BadTransaction {
                zxid: record.zxid,
                reason: e.to_string(),
            })?;
        tree.replay(&txn);
    }
    log::info!(
        "recovered {} transactions from {} ({} segments), last zxid {}, {} znodes",
        report.records,
        log_dir.display(),
        report.segments,
        report.last_zxid,
        tree.node_count()
    );
    let session_secret = secret(&config.data_dir.join("session.secret"))?;
    Ok(Store {
        tree,
        log,
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
