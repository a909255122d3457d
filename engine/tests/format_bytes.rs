//! The encoders and decoders against byte arrays written by hand from FORMAT.md (3 and 4). The
//! CRCs were computed independently (Python's `zlib.crc32`, the same IEEE CRC-32).

use zk_engine::format::record::{self, RecordError, RecordHeader};
use zk_engine::format::segment_header::{HeaderError, SegmentHeader};
use zk_engine::Zxid;

const SALT: u64 = 0x1122_3344_5566_7788;

#[rustfmt::skip]
const HEADER_BYTES: [u8; 64] = [
    0x89, b'Z', b'K', b'L', b'O', b'G', b'\r', b'\n',           // magic
    0x01, 0x00, 0x00, 0x00,                                     // format_version 1
    0x40, 0x00, 0x00, 0x00,                                     // header_len 64
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,             // salt
    0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,             // first_zxid 0x1_00000001
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             // prev_zxid 0
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,             // segment_size 65536
    0x00, 0x68, 0xE5, 0xCF, 0x8B, 0x01, 0x00, 0x00,             // created_ms 1_700_000_000_000
    0x00, 0x00, 0x00, 0x00,                                     // reserved
    0xA0, 0xA3, 0x57, 0xD5,                                     // header_crc 0xD557A3A0
];

#[rustfmt::skip]
const RECORD_BYTES: [u8; 40] = [
    0x23, 0x00, 0x00, 0x00,                                     // record_len 35 = 32 + 3
    0x1B, 0x85, 0x90, 0x0A,                                     // crc 0x0A90851B
    0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,             // zxid 0x1_00000001
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             // batch_start 64
    0x01, 0x00, 0x00, 0x00,                                     // kind 1 (transaction)
    0x00, 0x00, 0x00, 0x00,                                     // reserved
    b'a', b'b', b'c',                                           // payload
    0x00, 0x00, 0x00, 0x00, 0x00,                               // padding to 40
];

fn header() -> SegmentHeader {
    SegmentHeader {
        salt: SALT,
        first_zxid: Zxid::new(1, 1),
        prev_zxid: Zxid::NONE,
        segment_size: 65536,
        created_ms: 1_700_000_000_000,
    }
}

#[test]
fn crc_is_ieee_crc32() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn segment_header_encodes_to_the_documented_bytes() {
    assert_eq!(header().encode(), HEADER_BYTES);
}

#[test]
fn segment_header_decodes_from_the_documented_bytes() {
    assert_eq!(SegmentHeader::decode(&HEADER_BYTES), Ok(header()));
}

#[test]
fn segment_header_rejects_each_kind_of_damage() {
    assert_eq!(SegmentHeader::decode(&[0u8; 64]), Err(HeaderError::Zeroed));
    assert!(matches!(
        SegmentHeader::decode(&HEADER_BYTES[..63]),
        Err(HeaderError::Invalid(_))
    ));
    for at in 0..64 {
        let mut damaged = HEADER_BYTES;
        damaged[at] ^= 0x01;
        assert!(
            SegmentHeader::decode(&damaged).is_err(),
            "flip at {at} accepted"
        );
    }
    // A well-formed header of another version is "unsupported", not "corrupt".
    let mut newer = HEADER_BYTES;
    newer[8] = 2;
    let crc = crc32fast::hash(&newer[..60]);
    newer[60..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        SegmentHeader::decode(&newer),
        Err(HeaderError::UnsupportedVersion(2))
    );
}

#[test]
fn record_encodes_to_the_documented_bytes() {
    let mut out = Vec::new();
    let header = RecordHeader {
        zxid: Zxid::new(1, 1),
        batch_start: 64,
    };
    record::encode_into(&mut out, SALT, header, b"abc");
    assert_eq!(out, RECORD_BYTES);
    assert_eq!(record::encoded_len(3), 40);
}

#[test]
fn record_decodes_from_the_documented_bytes() {
    let mut segment = HEADER_BYTES.to_vec();
    segment.extend_from_slice(&RECORD_BYTES);
    segment.resize(256, 0);
    let found = record::decode_at(&segment, SALT, 64).expect("valid record");
    assert_eq!(found.zxid, Zxid::new(1, 1));
    assert_eq!(found.batch_start, 64);
    assert_eq!(found.payload(&segment), b"abc");
    assert_eq!(found.next_offset, 104);
    assert_eq!(
        record::decode_at(&segment, SALT, 104),
        Err(RecordError::Empty)
    );
    // The salt is part of the checksum: the same bytes in another segment do not validate.
    assert!(matches!(
        record::decode_at(&segment, SALT ^ 1, 64),
        Err(RecordError::Invalid(_))
    ));
}

#[test]
fn every_single_bit_flip_of_a_record_is_detected() {
    let mut segment = HEADER_BYTES.to_vec();
    segment.extend_from_slice(&RECORD_BYTES);
    segment.resize(256, 0);
    for at in 64..(64 + 35) {
        for bit in 0..8 {
            let mut damaged = segment.clone();
            damaged[at] ^= 1 << bit;
            assert!(
                record::decode_at(&damaged, SALT, 64).is_err(),
                "flip of bit {bit} at {at} accepted"
            );
        }
    }
}
