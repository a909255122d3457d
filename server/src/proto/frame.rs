//! Length-prefixed framing: every message on a client connection, in both directions, is an
//! `i32` big-endian body length followed by the body.
//!
//! [`decode_frame`] looks at the front of a receive buffer and says whether a whole frame is
//! there. It checks the announced length against the limit before the caller reserves anything,
//! so a peer cannot make the server allocate more than `jute.maxbuffer` bytes per frame. On a new
//! connection, call [`crate::proto::four_letter::FourLetterWord::detect`] first: a four-letter
//! word read as a length is always too large or negative.

use super::jute::INT_LEN;

/// ZooKeeper's default `jute.maxbuffer`: the largest frame body accepted, in bytes (1 MiB - 1).
pub const DEFAULT_MAX_FRAME_LEN: usize = 0xfffff;

/// What [`decode_frame`] found at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDecode<'a> {
    /// Fewer bytes than the length word, or than the body it announces: read more.
    Incomplete,
    /// A whole frame.
    Frame {
        /// The body, without its length word.
        body: &'a [u8],
        /// Bytes to drop from the buffer: the length word plus the body.
        consumed: usize,
    },
    /// The announced length exceeds the limit; ZooKeeper closes the connection.
    TooLarge(i32),
    /// The announced length is negative; ZooKeeper closes the connection.
    Negative(i32),
}

/// Looks for one frame at the front of `buffer`, accepting bodies of at most `max_frame_len`
/// bytes (ZooKeeper accepts a body exactly `jute.maxbuffer` long).
pub fn decode_frame(buffer: &[u8], max_frame_len: usize) -> FrameDecode<'_> {
    let Some((length_word, rest)) = buffer.split_first_chunk::<INT_LEN>() else {
        return FrameDecode::Incomplete;
    };
    let length = i32::from_be_bytes(*length_word);
    let Ok(body_len) = usize::try_from(length) else {
        return FrameDecode::Negative(length);
    };
    if body_len > max_frame_len {
        return FrameDecode::TooLarge(length);
    }
    match rest.get(..body_len) {
        None => FrameDecode::Incomplete,
        Some(body) => FrameDecode::Frame {
            body,
            consumed: INT_LEN + body_len,
        },
    }
}

/// Appends `body` to `out` as one frame.
///
/// # Panics
///
/// If `body` is longer than `i32::MAX` bytes.
pub fn encode_frame(out: &mut Vec<u8>, body: &[u8]) {
    let length = i32::try_from(body.len()).expect("frame bodies are at most i32::MAX bytes");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_buffers_are_incomplete() {
        assert_eq!(decode_frame(&[], 10), FrameDecode::Incomplete);
        assert_eq!(decode_frame(&[0, 0, 0], 10), FrameDecode::Incomplete);
        assert_eq!(decode_frame(&[0, 0, 0, 2, 1], 10), FrameDecode::Incomplete);
    }

    #[test]
    fn whole_frames_are_split_off() {
        let buffer = [0, 0, 0, 2, 7, 8, 9];
        assert_eq!(
            decode_frame(&buffer, 10),
            FrameDecode::Frame {
                body: &[7, 8],
                consumed: 6
            }
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 0], 0),
            FrameDecode::Frame {
                body: &[],
                consumed: 4
            }
        );
    }

    #[test]
    fn the_limit_is_inclusive() {
        assert_eq!(decode_frame(&[0, 0, 0, 3], 2), FrameDecode::TooLarge(3));
        assert_eq!(decode_frame(&[0, 0, 0, 2], 2), FrameDecode::Incomplete);
    }

    #[test]
    fn negative_lengths_are_reported() {
        assert_eq!(
            decode_frame(&[0xff, 0xff, 0xff, 0xff], 2),
            FrameDecode::Negative(-1)
        );
    }

    #[test]
    fn encode_then_decode() {
        let mut out = Vec::new();
        encode_frame(&mut out, b"abc");
        assert_eq!(
            decode_frame(&out, DEFAULT_MAX_FRAME_LEN),
            FrameDecode::Frame {
                body: b"abc",
                consumed: 7
            }
        );
    }
}
