//! zk-engine: the storage engine of zk-server.
//!
//! It owns everything that must survive a crash: the transaction log ([`txnlog`]), and (later)
//! snapshots, the data tree and recovery. It knows nothing of sockets, sessions or clients.
//!
//! The byte layouts are specified in `engine/FORMAT.md`; every I/O goes through the
//! [`storage::LogDir`] trait, so the same code runs on real files (three write paths) and on a
//! simulated disk that produces crash images.
#![deny(unsafe_code)]
#![doc = include_str!("../FORMAT.md")]

pub mod db;
pub mod error;
pub mod format;
pub mod fuzzing;
pub mod snapshot;
pub mod storage;
pub mod tree;
pub mod txn;
pub mod txnlog;
pub mod zxid;

pub use error::{Error, Result};
pub use zxid::Zxid;
