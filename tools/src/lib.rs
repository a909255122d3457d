//! Shared code of the tools: the `zk-bench` load generator lives in [`bench`].
#![forbid(unsafe_code)]

pub mod bench;
