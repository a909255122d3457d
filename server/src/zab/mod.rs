//! Replication: a thin ZAB (ZooKeeper Atomic Broadcast) layer over the engine.
//!
//! - [`peer`]: the protocol as a pure state machine, events in and actions out.
//! - [`history`]: which zxids a log holds, to choose between diff, truncation and snapshot.
//! - [`message`]: what servers say to each other.
//! - [`sim`]: a seeded, deterministic simulation of an ensemble with faults, checked after
//!   every step.
//! - [`codec`]: the bytes of a [`message::Message`] and of the hello that opens a connection.
//! - [`transport`]: TCP between servers: votes and follower–leader links.
//! - [`epoch_file`]: the accepted and current epochs, persisted atomically.
//!
//! Byte layouts of the wire and of the epoch file: `PROTOCOL.md` beside this file.

pub mod codec;
pub mod epoch_file;
pub mod history;
pub mod message;
pub mod peer;
pub mod sim;
pub mod transport;
