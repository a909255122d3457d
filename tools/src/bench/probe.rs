//! Two small measurements that `benches/compare` needs beside the load runs:
//!
//! - [`raw_fsync`]: the disk's floor for a durable write, measured the way the log bench does
//!   (`pwrite` of one small record after the previous one in a preallocated, synced file, then
//!   `fdatasync`), so that workload (a)'s p50 can be divided by it in the same run;
//! - [`wait_read`]: how long until a server answers a read, polled from the outside (restart
//!   time to serving, workload (f)).
//!
//! Neither loads the server: the first touches only its own file, the second sends one
//! `getData` per attempt.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zk_server::proto::OpCode;

use super::report::{json_number, json_string, latency_json, LatencySummary};
use super::session::new_histogram;
use super::wire::{encode_read, Connection};
use super::BenchError;

/// What [`raw_fsync`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFsyncConfig {
    /// Directory the probe file is created in (then removed): put it on the data directories'
    /// file system.
    pub dir: PathBuf,
    /// Bytes written by each `pwrite`.
    pub record_bytes: usize,
    /// Size of the preallocated (zero-written and synced) file; writes wrap at its end.
    pub file_bytes: u64,
    /// Number of measured `pwrite` + `fdatasync`.
    pub count: u64,
    /// Unmeasured ones before them.
    pub warmup_count: u64,
}

impl Default for RawFsyncConfig {
    fn default() -> RawFsyncConfig {
        RawFsyncConfig {
            dir: PathBuf::from("."),
            record_bytes: 100,
            file_bytes: 64 << 20,
            count: 2_000,
            warmup_count: 100,
        }
    }
}

/// The result of [`raw_fsync`].
#[derive(Debug, Clone, PartialEq)]
pub struct RawFsyncReport {
    /// What was run.
    pub config: RawFsyncConfig,
    /// Latency of one `pwrite` + `fdatasync`, µs.
    pub latency: LatencySummary,
    /// Wall-clock time of the measured loop.
    pub elapsed: Duration,
}

impl RawFsyncReport {
    /// One JSON object: `{"raw_fsync":{...,"latency_us":{...}}}`.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"raw_fsync\":{{\"dir\":{},\"record_bytes\":{},\"file_bytes\":{},\"count\":{},\
             \"elapsed_s\":{},\"latency_us\":{}}}}}",
            json_string(&self.config.dir.display().to_string()),
            self.config.record_bytes,
            self.config.file_bytes,
            self.config.count,
            json_number(self.elapsed.as_secs_f64()),
            latency_json(&self.latency),
        );
        out
    }

    /// A short human-readable line.
    pub fn to_table(&self) -> String {
        let latency = &self.latency;
        format!(
            "raw pwrite({} B) + fdatasync in {}: {} writes | p50 {:.1} us | p90 {:.1} | p99 {:.1} \
             | p99.9 {:.1} | max {:.1}\n",
            self.config.record_bytes,
            self.config.dir.display(),
            self.config.count,
            latency.p50_us,
            latency.p90_us,
            latency.p99_us,
            latency.p999_us,
            latency.max_us
        )
    }
}

/// Creates a file in `config.dir`, writes `file_bytes` zeros and syncs it (and the directory),
/// then times `count` rounds of `pwrite(record_bytes)` after the previous record +
/// `fdatasync`. The file is removed at the end, also on error.
///
/// # Errors
///
/// The I/O error, with the path.
pub fn raw_fsync(config: &RawFsyncConfig) -> io::Result<RawFsyncReport> {
    if config.record_bytes == 0 || config.count == 0 || config.file_bytes < 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "raw fsync probe: the record, the count and the file (>= 4096 bytes) must not be empty",
        ));
    }
    let path = config
        .dir
        .join(format!("zk-bench-raw-fsync.{}", std::process::id()));
    let result = raw_fsync_on(&path, config);
    let _ = std::fs::remove_file(&path);
    result.map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))
}

fn raw_fsync_on(path: &Path, config: &RawFsyncConfig) -> io::Result<RawFsyncReport> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = config.file_bytes;
    while left > 0 {
        let chunk = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(zeros.get(..chunk).unwrap_or_default())?;
        left -= chunk as u64;
    }
    file.sync_all()?;
    File::open(&config.dir)?.sync_all()?;

    let record = vec![0x5A_u8; config.record_bytes];
    let record_len = config.record_bytes as u64;
    let mut offset = 0_u64;
    let mut append = |file: &File| -> io::Result<()> {
        if offset + record_len > config.file_bytes {
            offset = 0;
        }
        file.write_all_at(&record, offset)?;
        file.sync_data()?;
        offset += record_len;
        Ok(())
    };
    for _ in 0..config.warmup_count {
        append(&file)?;
    }
    let mut histogram = new_histogram();
    let started = Instant::now();
    for _ in 0..config.count {
        let before = Instant::now();
        append(&file)?;
        let nanoseconds = u64::try_from(before.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram.saturating_record(nanoseconds.max(1));
    }
    Ok(RawFsyncReport {
        config: config.clone(),
        latency: LatencySummary::from_histogram(&histogram),
        elapsed: started.elapsed(),
    })
}

/// The result of [`wait_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitReport {
    /// The znode read.
    pub path: String,
    /// Wall-clock time (Unix epoch, ns) at which the read's reply arrived: a caller that noted
    /// when it started the server subtracts.
    pub ready_unix_ns: u128,
    /// From the start of the polling to the reply.
    pub waited: Duration,
    /// Sessions tried (the last one succeeded).
    pub attempts: u64,
}

impl WaitReport {
    /// One JSON object: `{"wait_read":{...}}`.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"wait_read\":{{\"path\":{},\"ready_unix_ns\":{},\"waited_s\":{},\"attempts\":{}}}}}",
            json_string(&self.path),
            self.ready_unix_ns,
            json_number(self.waited.as_secs_f64()),
            self.attempts
        )
    }

    /// A short human-readable line.
    pub fn to_table(&self) -> String {
        format!(
            "getData {} answered after {:.3} s ({} attempt(s)); at {} ns since the epoch\n",
            self.path,
            self.waited.as_secs_f64(),
            self.attempts,
            self.ready_unix_ns
        )
    }
}

/// How long to sleep between attempts of [`wait_read`].
const WAIT_POLL: Duration = Duration::from_millis(5);
/// How long the first attempt may wait for a session and a reply; each attempt that runs out
/// of time doubles it for the next, up to [`WAIT_ATTEMPT_MAX`]. A server that accepts
/// connections while it is still loading (Apache ZooKeeper does) may leave one unanswered: a
/// long first wait would measure this probe's patience instead of the server's start-up.
const WAIT_ATTEMPT_FIRST: Duration = Duration::from_millis(250);
const WAIT_ATTEMPT_MAX: Duration = Duration::from_secs(10);

/// Opens a session to `address` and reads `path` (`getData`) until a read succeeds, every
/// [`WAIT_POLL`], for at most `timeout`. Connection refusals, refused sessions and errors
/// (`NoNode` included: the data may not be loaded yet) all count as "not yet".
///
/// # Errors
///
/// `NotReady` with the last failure when nothing succeeded within `timeout`.
pub fn wait_read(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<WaitReport, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| BenchError::Runtime(error.to_string()))?;
    runtime.block_on(async {
        let started = Instant::now();
        let mut attempts = 0;
        let mut patience = WAIT_ATTEMPT_FIRST;
        loop {
            attempts += 1;
            let attempt = tokio::time::timeout(patience, read_once(address, path, patience)).await;
            let failure = match attempt {
                Ok(Ok(())) => {
                    let ready_unix_ns = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_nanos());
                    return Ok(WaitReport {
                        path: path.to_owned(),
                        ready_unix_ns,
                        waited: started.elapsed(),
                        attempts,
                    });
                }
                Ok(Err(error)) => error,
                Err(_) => {
                    let waited = patience;
                    patience = (patience * 2).min(WAIT_ATTEMPT_MAX);
                    format!("no answer within {} ms", waited.as_millis())
                }
            };
            if started.elapsed() >= timeout {
                return Err(BenchError::NotReady {
                    address,
                    detail: format!(
                        "no successful getData {path} within {:.1} s ({attempts} attempts; last: \
                         {failure})",
                        timeout.as_secs_f64()
                    ),
                });
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    })
}

/// One session, one `getData`, then `closeSession`; the failure as text.
async fn read_once(address: SocketAddr, path: &str, patience: Duration) -> Result<(), String> {
    let mut connection = Connection::open(address, 30_000, patience)
        .await
        .map_err(|error| error.to_string())?;
    let xid = connection.next_xid();
    encode_read(
        &mut connection.write_buffer,
        xid,
        OpCode::GetData,
        path.as_bytes(),
    );
    connection
        .flush()
        .await
        .map_err(|error| error.to_string())?;
    let outcome = loop {
        match connection.next_reply() {
            Ok(Some(reply)) if reply.xid == xid => break Ok(reply.error_code),
            Ok(Some(_)) => {}
            Ok(None) => {
                if let Err(error) = connection.receive().await {
                    break Err(error.to_string());
                }
            }
            Err(error) => break Err(error.to_string()),
        }
    };
    connection.close(Duration::from_secs(1)).await;
    match outcome? {
        0 => Ok(()),
        code => Err(format!(
            "getData {path} gave {}",
            super::report::error_name(code)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fsync_measures_and_cleans_up() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = RawFsyncConfig {
            dir: dir.path().to_owned(),
            file_bytes: 8192,
            count: 100,
            warmup_count: 2,
            ..RawFsyncConfig::default()
        };
        let report = raw_fsync(&config).expect("probe runs");
        assert_eq!(report.latency.count, 100);
        assert!(report.latency.p50_us > 0.0);
        assert!(report.to_json().starts_with("{\"raw_fsync\":{"));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .collect();
        assert!(left.is_empty(), "probe file left behind: {left:?}");
    }

    #[test]
    fn raw_fsync_refuses_empty_settings() {
        let config = RawFsyncConfig {
            count: 0,
            ..RawFsyncConfig::default()
        };
        assert!(raw_fsync(&config).is_err());
    }

    #[test]
    fn wait_read_gives_up_on_a_closed_port() {
        // Bind then drop a listener: the port is very likely closed for the next second.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let outcome = wait_read(address, "/", Duration::from_millis(50));
        assert!(matches!(outcome, Err(BenchError::NotReady { .. })));
    }
}
