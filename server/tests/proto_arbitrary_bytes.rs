//! Decoders meet hostile input: arbitrary bytes for every op code, valid encodings with length
//! fields replaced by extreme values, byte flips, and huge announced lengths. Nothing may panic
//! or allocate by an unchecked length; whatever decodes must round-trip (the fuzz oracles in
//! `zk_server::proto::fuzzing`).

use proptest::collection::vec;
use proptest::prelude::*;
use zk_server::proto::fuzzing::{connection_stream_target, decode_request_target};
use zk_server::proto::*;

/// Known op codes, unknown neighbours and extremes.
fn interesting_op_codes() -> Vec<i32> {
    let mut op_codes: Vec<i32> = OpCode::ALL.iter().map(|op_code| op_code.value()).collect();
    op_codes.extend([10, 23, 99, 108, -2, -12, i32::MAX, i32::MIN]);
    op_codes
}

fn target_input(op_code: i32, body: &[u8]) -> Vec<u8> {
    let mut input = op_code.to_be_bytes().to_vec();
    input.extend_from_slice(body);
    input
}

/// A small valid body for each request op code, to mutate.
fn sample_requests() -> Vec<Request> {
    let acl = Acl::open_unsafe();
    let create = CreateRequest {
        path: "/a/b".to_owned(),
        data: Some(b"data".to_vec()),
        acl: acl.clone(),
        flags: 1,
    };
    vec![
        Request::Create(create.clone()),
        Request::Create2(create.clone()),
        Request::CreateContainer(CreateRequest {
            flags: 4,
            ..create.clone()
        }),
        Request::CreateTtl(CreateTtlRequest {
            path: "/t".to_owned(),
            data: None,
            acl: acl.clone(),
            flags: 5,
            ttl_ms: 1000,
        }),
        Request::Delete(DeleteRequest {
            path: "/a".to_owned(),
            version: -1,
        }),
        Request::DeleteContainer(DeleteContainerRequest {
            path: b"/c".to_vec(),
        }),
        Request::Exists(ExistsRequest {
            path: "/a".to_owned(),
            watch: true,
        }),
        Request::GetData(GetDataRequest {
            path: "/a".to_owned(),
            watch: true,
        }),
        Request::SetData(SetDataRequest {
            path: "/a".to_owned(),
            data: Some(vec![1, 2]),
            version: 3,
        }),
        Request::GetAcl(GetAclRequest {
            path: "/a".to_owned(),
        }),
        Request::SetAcl(SetAclRequest {
            path: "/a".to_owned(),
            acl: acl.clone(),
            version: 0,
        }),
        Request::GetChildren(GetChildrenRequest {
            path: "/".to_owned(),
            watch: false,
        }),
        Request::GetChildren2(GetChildrenRequest {
            path: "/".to_owned(),
            watch: true,
        }),
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
            path: "/".to_owned(),
        }),
        Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: "/".to_owned(),
        }),
        Request::Sync(SyncRequest {
            path: "/".to_owned(),
        }),
        Request::Check(CheckVersionRequest {
            path: "/a".to_owned(),
            version: 2,
        }),
        Request::Multi(MultiRequest {
            operations: vec![
                MultiOperation::Create(create),
                MultiOperation::SetData(SetDataRequest {
                    path: "/a".to_owned(),
                    data: None,
                    version: -1,
                }),
                MultiOperation::Check(CheckVersionRequest {
                    path: "/a".to_owned(),
                    version: 1,
                }),
            ],
        }),
        Request::MultiRead(MultiRequest {
            operations: vec![
                MultiOperation::GetData(GetDataRequest {
                    path: "/a".to_owned(),
                    watch: false,
                }),
                MultiOperation::GetChildren(GetChildrenRequest {
                    path: "/".to_owned(),
                    watch: false,
                }),
            ],
        }),
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".to_owned(),
            auth: b"user:password".to_vec(),
        }),
        Request::Sasl(SaslRequest { token: vec![9; 5] }),
        Request::SetWatches(SetWatches {
            relative_zxid: 7,
            data_watches: vec!["/a".to_owned()],
            exist_watches: vec!["/b".to_owned(), "/c".to_owned()],
            child_watches: vec!["/".to_owned()],
        }),
        Request::SetWatches2(SetWatches2 {
            relative_zxid: 7,
            data_watches: vec!["/a".to_owned()],
            exist_watches: Vec::new(),
            child_watches: vec!["/".to_owned()],
            persistent_watches: vec!["/p".to_owned()],
            persistent_recursive_watches: vec!["/r".to_owned()],
        }),
        Request::AddWatch(AddWatchRequest {
            path: "/a".to_owned(),
            mode: 1,
        }),
        Request::RemoveWatches(RemoveWatchesRequest {
            path: "/a".to_owned(),
            watcher_type: 3,
        }),
        Request::CheckWatches(CheckWatchesRequest {
            path: "/a".to_owned(),
            watcher_type: 1,
        }),
        Request::WhoAmI,
        Request::Reconfig(ReconfigRequest {
            joining_servers: Some("server.4=h:1:2:participant;3".to_owned()),
            leaving_servers: None,
            new_members: None,
            current_config_id: -1,
        }),
        Request::CloseSession,
        Request::Ping,
    ]
}

#[test]
fn every_client_op_code_has_a_sample() {
    let sampled: Vec<OpCode> = sample_requests().iter().map(Request::op_code).collect();
    for op_code in OpCode::ALL {
        let is_client_request = !matches!(
            op_code,
            OpCode::Notification | OpCode::CreateSession | OpCode::Error
        );
        assert_eq!(sampled.contains(op_code), is_client_request, "{op_code:?}");
    }
}

#[test]
fn all_short_bodies_for_every_op_code() {
    for op_code in interesting_op_codes() {
        decode_request_target(&target_input(op_code, &[]));
        for first in 0..=u8::MAX {
            decode_request_target(&target_input(op_code, &[first]));
            for second in [0, 1, 0x7f, 0x80, 0xff] {
                decode_request_target(&target_input(op_code, &[first, second]));
            }
        }
    }
}

#[test]
fn extreme_values_in_every_aligned_word() {
    let extremes = [-1i32, -2, 0, 1, 0x7fff_ffff, i32::MIN, 0xfffff, 0x10_0000];
    for request in sample_requests() {
        let op_code = request.op_code().value();
        let body = request.body_bytes();
        decode_request_target(&target_input(op_code, &body));
        // Lengths are not aligned in jute, so try every offset.
        for offset in 0..body.len() {
            for extreme in extremes {
                let mut mutated = body.clone();
                for (index, byte) in extreme.to_be_bytes().into_iter().enumerate() {
                    if let Some(slot) = mutated.get_mut(offset + index) {
                        *slot = byte;
                    }
                }
                decode_request_target(&target_input(op_code, &mutated));
            }
        }
        // Every truncation.
        for cut in 0..body.len() {
            let result = decode_request(op_code, &body[..cut]);
            assert!(
                result.is_err(),
                "{request:?} cut at {cut} decoded as {result:?}"
            );
        }
    }
}

#[test]
fn huge_counts_fail_without_allocating() {
    // A vector of i32::MAX strings in 8 bytes: refused by the count check, not by running out
    // of memory.
    let mut body = 0i64.to_be_bytes().to_vec();
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    assert_eq!(decode_request(101, &body), Err(DecodeError::Incomplete));
    let mut acl_body = vec![0, 0, 0, 1, b'/'];
    acl_body.extend_from_slice(&i32::MAX.to_be_bytes());
    assert_eq!(decode_request(7, &acl_body), Err(DecodeError::Incomplete));
    // A data buffer announcing 2 GiB.
    let mut create = vec![0, 0, 0, 1, b'/'];
    create.extend_from_slice(&i32::MAX.to_be_bytes());
    assert_eq!(decode_request(1, &create), Err(DecodeError::Incomplete));
    // Lengths below -1.
    assert_eq!(
        decode_request(3, &(-2i32).to_be_bytes()),
        Err(DecodeError::Invalid(Invalid::NegativeLength(-2)))
    );
}

#[test]
fn a_multi_of_many_empty_headers_terminates() {
    // 10 000 delete headers, each with an empty path and a version, then no END: incomplete.
    let mut body = Vec::new();
    for _ in 0..10_000 {
        body.extend_from_slice(&[0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff]);
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(decode_request(14, &body), Err(DecodeError::Incomplete));
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]);
    match decode_request(14, &body) {
        Ok(Request::Multi(multi)) => assert_eq!(multi.operations.len(), 10_000),
        other => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_for_any_op_code(op_code in any::<i32>(), body in vec(any::<u8>(), 0..64)) {
        decode_request_target(&target_input(op_code, &body));
    }

    #[test]
    fn arbitrary_bytes_for_known_op_codes(
        index in 0..OpCode::ALL.len(),
        body in vec(any::<u8>(), 0..96),
    ) {
        decode_request_target(&target_input(OpCode::ALL[index].value(), &body));
    }

    #[test]
    fn flipped_bytes_in_valid_requests(
        index in 0..31usize,
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let requests = sample_requests();
        let request = &requests[index % requests.len()];
        let mut body = request.body_bytes();
        if !body.is_empty() {
            for (position, value) in flips {
                let slot = position.index(body.len());
                body[slot] ^= value;
            }
        }
        decode_request_target(&target_input(request.op_code().value(), &body));
    }

    #[test]
    fn arbitrary_responses_for_every_op_code(
        index in 0..OpCode::ALL.len(),
        body in vec(any::<u8>(), 0..96),
    ) {
        let _ = decode_response(OpCode::ALL[index], &body);
    }

    #[test]
    fn arbitrary_connection_streams(input in vec(any::<u8>(), 0..128)) {
        connection_stream_target(&input);
        let _ = ConnectResponse::decode_from(&input);
        let _ = FourLetterWord::detect(&input);
    }

    #[test]
    fn frame_decoder_on_arbitrary_input(
        input in vec(any::<u8>(), 0..32),
        max_frame_len in 0usize..64,
    ) {
        match decode_frame(&input, max_frame_len) {
            FrameDecode::Frame { body, consumed } => {
                prop_assert_eq!(consumed, body.len() + 4);
                prop_assert!(body.len() <= max_frame_len);
                prop_assert_eq!(&input[4..consumed], body);
            }
            FrameDecode::Incomplete => {
                prop_assert!(
                    input.len() < 4
                        || input.len() - 4 < i32::from_be_bytes(input[..4].try_into().unwrap()) as usize
                );
            }
            FrameDecode::TooLarge(length) => prop_assert!(length as usize > max_frame_len),
            FrameDecode::Negative(length) => prop_assert!(length < 0),
        }
    }
}
