//! The fuzz target bodies, one function per target in `fuzz_targets/`, each taking arbitrary
//! bytes. They live in the crates they test, so that `cargo test` replays `corpus/<target>/` and
//! `regressions/<target>/` on stable (`engine/tests/fuzz_corpus.rs`,
//! `server/tests/fuzz_corpus.rs`); this crate only names them.

mod four_letter;

pub use four_letter::four_letter;
pub use zk_engine::fuzzing::{log_recovery, log_segment_scan, snapshot_read, txn_decode};
pub use zk_server::proto::fuzzing::{
    connection_stream_target as connection_stream, decode_request_target as request_decode,
};
pub use zk_server::zab::codec::fuzzing::zab_message_target as zab_message;
