//! The transaction encoding against byte arrays written from `engine/FORMAT-TXN.md` (section 4),
//! round trips of arbitrary transactions, and decoding of arbitrary bytes (never a panic).

use proptest::prelude::*;
use zk_engine::txn::{
    decode, encode, Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnDecodeError, TxnHeader, TTL_MAX_MS,
};
use zk_engine::Zxid;

fn header() -> TxnHeader {
    TxnHeader {
        session_id: 5,
        cxid: 7,
        zxid: Zxid(0x0000_0001_0000_0002),
        time_ms: 1000,
    }
}

/// FORMAT-TXN.md section 4: the header of every example.
const HEADER_BYTES: [u8; 29] = [
    0x01, // format_version
    0x05, 0, 0, 0, 0, 0, 0, 0, // session_id
    0x07, 0, 0, 0, // cxid
    0x02, 0, 0, 0, 0x01, 0, 0, 0, // zxid
    0xE8, 0x03, 0, 0, 0, 0, 0, 0, // time_ms
];

fn with_header(body: &[u8]) -> Vec<u8> {
    let mut bytes = HEADER_BYTES.to_vec();
    bytes.extend_from_slice(body);
    bytes
}

fn check(body: TxnBody, body_bytes: &[u8]) {
    let txn = Txn {
        header: header(),
        body,
    };
    let bytes = with_header(body_bytes);
    assert_eq!(encode(&txn), bytes, "encoding of {txn:?}");
    assert_eq!(decode(&bytes), Ok(txn));
}

fn ephemeral_create(mode: CreateMode) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: "/a".into(),
        data: Some(b"hi".to_vec()),
        acl: Acl::open_unsafe(),
        mode,
        parent_cversion: 1,
    })
}

#[rustfmt::skip]
const CREATE_PREFIX: [u8; 40] = [
    0x01,                                   // kind Create
    0x02, 0, 0, 0, 0x2F, 0x61,              // path "/a"
    0x02, 0, 0, 0, 0x68, 0x69,              // data "hi"
    0x01, 0, 0, 0,                          // 1 ACL entry
    0x1F, 0, 0, 0,                          // perms 31
    0x05, 0, 0, 0, b'w', b'o', b'r', b'l', b'd',
    0x06, 0, 0, 0, b'a', b'n', b'y', b'o', b'n', b'e',
];

#[test]
fn delete_example() {
    check(
        TxnBody::Delete { path: "/a".into() },
        &[0x02, 0x02, 0, 0, 0, 0x2F, 0x61],
    );
}

#[test]
fn create_example() {
    let mut body = CREATE_PREFIX.to_vec();
    body.push(0x01); // mode EPHEMERAL
    body.extend_from_slice(&[0x01, 0, 0, 0]); // parent_cversion 1
    check(ephemeral_create(CreateMode::Ephemeral), &body);
}

#[test]
fn ttl_create_example() {
    let mut body = CREATE_PREFIX.to_vec();
    body.push(0x05); // PERSISTENT_WITH_TTL
    body.extend_from_slice(&[0xE8, 0x03, 0, 0, 0, 0, 0, 0]); // ttl 1000
    body.extend_from_slice(&[0x01, 0, 0, 0]);
    check(
        ephemeral_create(CreateMode::PersistentWithTtl { ttl_ms: 1000 }),
        &body,
    );
}

#[test]
fn failed_multi_example() {
    check(
        TxnBody::Multi(vec![
            TxnBody::Error { code: 0 },
            TxnBody::Error { code: -101 },
            TxnBody::Error { code: -2 },
        ]),
        &[
            0x06, 0x03, 0, 0, 0, //
            0x09, 0, 0, 0, 0, //
            0x09, 0x9B, 0xFF, 0xFF, 0xFF, //
            0x09, 0xFE, 0xFF, 0xFF, 0xFF,
        ],
    );
}

#[test]
fn session_examples() {
    check(
        TxnBody::CreateSession { timeout_ms: 30000 },
        &[0x07, 0x30, 0x75, 0, 0],
    );
    check(
        TxnBody::CloseSession {
            paths: vec!["/e".into()],
        },
        &[0x08, 0x01, 0, 0, 0, 0x02, 0, 0, 0, 0x2F, 0x65],
    );
}

#[test]
fn other_bodies_follow_the_tables() {
    check(
        TxnBody::SetData {
            path: "/a".into(),
            data: Some(vec![0xAB]),
            version: 2,
        },
        &[
            0x03, 0x02, 0, 0, 0, 0x2F, 0x61, 0x01, 0, 0, 0, 0xAB, 0x02, 0, 0, 0,
        ],
    );
    check(
        TxnBody::SetAcl {
            path: "/a".into(),
            acl: vec![],
            version: -1,
        },
        &[
            0x04, 0x02, 0, 0, 0, 0x2F, 0x61, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
    );
    check(
        TxnBody::Check {
            path: "/".into(),
            version: 3,
        },
        &[0x05, 0x01, 0, 0, 0, 0x2F, 0x03, 0, 0, 0],
    );
    check(
        TxnBody::Error { code: -110 },
        &[0x09, 0x92, 0xFF, 0xFF, 0xFF],
    );
}

#[test]
fn readers_reject_what_the_format_forbids() {
    let delete = with_header(&[0x02, 0x02, 0, 0, 0, 0x2F, 0x61]);

    let mut wrong_version = delete.clone();
    wrong_version[0] = 2;
    assert_eq!(
        decode(&wrong_version),
        Err(TxnDecodeError::UnsupportedVersion { found: 2 })
    );

    let mut trailing = delete.clone();
    trailing.push(0);
    assert_eq!(
        decode(&trailing),
        Err(TxnDecodeError::TrailingBytes {
            offset: 36,
            count: 1
        })
    );

    assert_eq!(
        decode(&delete[..35]),
        Err(TxnDecodeError::Truncated {
            offset: 34,
            needed: 1
        })
    );
    assert_eq!(
        decode(&[]),
        Err(TxnDecodeError::Truncated {
            offset: 0,
            needed: 1
        })
    );

    assert_eq!(
        decode(&with_header(&[0x0A])),
        Err(TxnDecodeError::UnknownKind {
            offset: 29,
            kind: 10
        })
    );
    // A session change inside a multi.
    assert_eq!(
        decode(&with_header(&[0x06, 0x01, 0, 0, 0, 0x07, 0, 0, 0, 0])),
        Err(TxnDecodeError::NotAllowedInMulti {
            offset: 34,
            kind: 7
        })
    );
    // Path "\xFF" is not UTF-8.
    assert_eq!(
        decode(&with_header(&[0x02, 0x01, 0, 0, 0, 0xFF])),
        Err(TxnDecodeError::InvalidUtf8 { offset: 30 })
    );
    // A length far beyond the input.
    assert!(matches!(
        decode(&with_header(&[0x02, 0xFF, 0xFF, 0xFF, 0xFF])),
        Err(TxnDecodeError::Truncated { offset: 34, .. })
    ));

    let mut bad_mode = CREATE_PREFIX.to_vec();
    bad_mode.push(0x07);
    bad_mode.extend_from_slice(&[0x01, 0, 0, 0]);
    assert_eq!(
        decode(&with_header(&bad_mode)),
        Err(TxnDecodeError::InvalidCreateMode {
            offset: 69,
            flag: 7
        })
    );

    for ttl in [0i64, -1, TTL_MAX_MS + 1] {
        let mut bad_ttl = CREATE_PREFIX.to_vec();
        bad_ttl.push(0x06);
        bad_ttl.extend_from_slice(&ttl.to_le_bytes());
        bad_ttl.extend_from_slice(&[0x01, 0, 0, 0]);
        assert_eq!(
            decode(&with_header(&bad_ttl)),
            Err(TxnDecodeError::InvalidTtl {
                offset: 70,
                ttl_ms: ttl
            })
        );
    }
}

fn acl_strategy() -> impl Strategy<Value = Vec<Acl>> {
    prop::collection::vec(
        (any::<i32>(), "[a-z]{0,6}", "\\PC{0,8}").prop_map(|(perms, scheme, id)| Acl {
            perms,
            scheme,
            id,
        }),
        0..3,
    )
}

fn mode_strategy() -> impl Strategy<Value = CreateMode> {
    (0i32..7, 1..=TTL_MAX_MS)
        .prop_map(|(flag, ttl)| CreateMode::from_flag(flag, ttl).expect("valid flag and TTL"))
}

fn multi_op_strategy() -> impl Strategy<Value = TxnBody> {
    let path = "\\PC{0,12}";
    prop_oneof![
        (
            path,
            prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            acl_strategy(),
            mode_strategy(),
            any::<i32>()
        )
            .prop_map(|(path, data, acl, mode, parent_cversion)| {
                TxnBody::Create(CreateTxn {
                    path,
                    data,
                    acl,
                    mode,
                    parent_cversion,
                })
            }),
        path.prop_map(|path| TxnBody::Delete { path }),
        (
            path,
            prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            any::<i32>()
        )
            .prop_map(|(path, data, version)| TxnBody::SetData {
                path,
                data,
                version
            }),
        (path, any::<i32>()).prop_map(|(path, version)| TxnBody::Check { path, version }),
        any::<i32>().prop_map(|code| TxnBody::Error { code }),
    ]
}

fn body_strategy() -> impl Strategy<Value = TxnBody> {
    prop_oneof![
        4 => multi_op_strategy(),
        1 => ("\\PC{0,12}", acl_strategy(), any::<i32>())
            .prop_map(|(path, acl, version)| TxnBody::SetAcl { path, acl, version }),
        1 => prop::collection::vec(multi_op_strategy(), 0..4).prop_map(TxnBody::Multi),
        1 => any::<i32>().prop_map(|timeout_ms| TxnBody::CreateSession { timeout_ms }),
        1 => prop::collection::vec("\\PC{0,12}", 0..4)
            .prop_map(|paths| TxnBody::CloseSession { paths }),
    ]
}

fn txn_strategy() -> impl Strategy<Value = Txn> {
    (
        any::<i64>(),
        any::<i32>(),
        any::<u64>(),
        any::<i64>(),
        body_strategy(),
    )
        .prop_map(|(session_id, cxid, zxid, time_ms, body)| Txn {
            header: TxnHeader {
                session_id,
                cxid,
                zxid: Zxid(zxid),
                time_ms,
            },
            body,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(txn in txn_strategy()) {
        let bytes = encode(&txn);
        prop_assert_eq!(decode(&bytes), Ok(txn));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn damaged_encodings_never_panic(
        txn in txn_strategy(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&txn);
        // The encoding is self-delimiting: no strict prefix of it decodes.
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut]).is_err());
        let mut damaged = bytes;
        for (at, value) in flips {
            let at = at.index(damaged.len());
            damaged[at] = value;
        }
        let _ = decode(&damaged);
    }
}

/// Null data is the length 0xFFFFFFFF alone (FORMAT-TXN.md 1), empty data a zero length.
#[test]
fn null_data_is_told_apart_from_empty_data() {
    use zk_engine::txn::{decode, encode, Txn, TxnBody, TxnHeader};
    use zk_engine::Zxid;
    let header = TxnHeader {
        session_id: 1,
        cxid: 2,
        zxid: Zxid::new(1, 3),
        time_ms: 4,
    };
    let null = Txn {
        header,
        body: TxnBody::SetData {
            path: "/a".to_owned(),
            data: None,
            version: 1,
        },
    };
    let empty = Txn {
        header,
        body: TxnBody::SetData {
            path: "/a".to_owned(),
            data: Some(Vec::new()),
            version: 1,
        },
    };
    let (null_bytes, empty_bytes) = (encode(&null), encode(&empty));
    let tail = |bytes: &[u8]| bytes[bytes.len() - 8..].to_vec();
    assert_eq!(tail(&null_bytes), [0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
    assert_eq!(tail(&empty_bytes), [0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(decode(&null_bytes).expect("decodes"), null);
    assert_eq!(decode(&empty_bytes).expect("decodes"), empty);
}
