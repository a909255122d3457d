//! zk-server: the ZooKeeper client protocol, sessions, watches and the request pipeline, on top of
//! the `zk-engine` storage engine.
#![forbid(unsafe_code)]

pub mod config;
pub mod proto;
