//! Replication: a thin ZAB (ZooKeeper Atomic Broadcast) layer over the engine.
//!
//! - [`peer`]: the protocol as a pure state machine, events in and actions out.
//! - [`history`]: which zxids a log holds, to choose between diff, truncation and snapshot.
//! - [`message`]: what servers say to each other.
//! - [`sim`]: a seeded, deterministic simulation of an ensemble with faults, checked after
//!   every step.

pub mod history;
pub mod message;
pub mod peer;
pub mod sim;
