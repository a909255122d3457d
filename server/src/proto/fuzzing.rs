//! Fuzz target bodies, kept in the library so that `cargo test` can replay a corpus on stable
//! Rust and the cargo-fuzz crate stays a thin wrapper.
//!
//! Each target takes arbitrary bytes and panics only when an oracle is violated: a decoder must
//! return (never panic), and whatever it decodes must survive an encode/decode round trip
//! unchanged.

use super::connect::ConnectRequest;
use super::four_letter::FourLetterWord;
use super::frame::{decode_frame, FrameDecode};
use super::jute::Record;
use super::request::{decode_request, split_request_header};

/// Largest frame body the frame target accepts; small, so that the fuzzer reaches whole frames.
const FUZZ_MAX_FRAME_LEN: usize = 4096;

/// The first four bytes are the op code, the rest the request body.
pub fn decode_request_target(input: &[u8]) {
    let Some((op_code, body)) = input.split_first_chunk::<4>() else {
        return;
    };
    let op_code = i32::from_be_bytes(*op_code);
    if let Ok(request) = decode_request(op_code, body) {
        let again = decode_request(op_code, &request.body_bytes());
        assert_eq!(
            again.as_ref(),
            Ok(&request),
            "a decoded request must re-encode to itself"
        );
    }
}

/// A byte stream as a new connection would see it: an optional four-letter word, then frames,
/// the first being a connect request and the others requests.
pub fn connection_stream_target(input: &[u8]) {
    if FourLetterWord::detect(input).is_some() {
        return;
    }
    let mut rest = input;
    let mut first = true;
    while let FrameDecode::Frame { body, consumed } = decode_frame(rest, FUZZ_MAX_FRAME_LEN) {
        if first {
            if let Ok(connect) = ConnectRequest::decode_from(body) {
                let again = ConnectRequest::decode_from(&connect.to_bytes());
                assert_eq!(again.as_ref(), Ok(&connect), "connect request round trip");
            }
            first = false;
        } else if let Ok((header, record)) = split_request_header(body) {
            let mut input = header.op_code.to_be_bytes().to_vec();
            input.extend_from_slice(record);
            decode_request_target(&input);
        }
        rest = rest.get(consumed..).unwrap_or_default();
    }
}
