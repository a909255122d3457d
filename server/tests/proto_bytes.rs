//! Exact bytes for representative frames, copied from the worked examples in
//! `server/PROTOCOL.md` section 12: each is decoded to the expected value and the value is
//! encoded back to the same bytes.

use zk_server::proto::{
    decode_frame, decode_request, decode_response, encode_connect_response, encode_notification,
    encode_ping_reply, encode_reply, encode_request, split_reply_header, split_request_header, Acl,
    ConnectRequest, ConnectResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorCode,
    ErrorResponse, EventType, FourLetterWord, FrameDecode, GetDataRequest, MultiOperation,
    MultiRequest, MultiResponse, MultiResult, OpCode, Record, ReplyHeader, Request, RequestHeader,
    Response, SetWatches, WatcherEvent, DEFAULT_MAX_FRAME_LEN,
};

/// Parses hex digits, ignoring spaces, newlines and the `|` field separators of PROTOCOL.md.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Splits one whole frame off `bytes`, checking that nothing is left over.
fn frame_body(bytes: &[u8]) -> &[u8] {
    match decode_frame(bytes, DEFAULT_MAX_FRAME_LEN) {
        FrameDecode::Frame { body, consumed } => {
            assert_eq!(consumed, bytes.len(), "one frame, nothing after it");
            body
        }
        other => panic!("expected a whole frame, got {other:?}"),
    }
}

fn decode_request_frame(bytes: &[u8]) -> (RequestHeader, Request) {
    let (header, body) = split_request_header(frame_body(bytes)).unwrap();
    let request = decode_request(header.op_code, body).unwrap();
    (header, request)
}

fn decode_reply_frame(op_code: OpCode, bytes: &[u8]) -> (ReplyHeader, Response) {
    let (header, body) = split_reply_header(frame_body(bytes)).unwrap();
    let response = if header.error_code == 0 {
        decode_response(op_code, body).unwrap()
    } else {
        assert!(body.is_empty(), "an error reply has no body");
        Response::Empty
    };
    (header, response)
}

fn open_acl_create(path: &str, data: &[u8], flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.to_owned(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        flags,
    }
}

const CONNECT_REQUEST_JAVA_3X: &str = "
    00 00 00 2d
    00 00 00 00
    00 00 00 00 00 00 00 00
    00 00 75 30
    00 00 00 00 00 00 00 00
    00 00 00 10 | 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00";

#[test]
fn connect_request_from_a_java_3x_client() {
    let bytes = hex(CONNECT_REQUEST_JAVA_3X);
    let request = ConnectRequest::decode_from(frame_body(&bytes)).unwrap();
    let expected = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 30_000,
        session_id: 0,
        password: vec![0; 16],
        read_only: Some(false),
    };
    assert_eq!(request, expected);
    let mut encoded = Vec::new();
    let mut writer = zk_server::proto::Writer::new(&mut encoded);
    let frame = writer.start_frame();
    request.encode(&mut writer);
    writer.finish_frame(frame);
    assert_eq!(encoded, bytes);
}

#[test]
fn connect_request_from_a_3_3_client_has_no_read_only_byte() {
    let mut bytes = hex(CONNECT_REQUEST_JAVA_3X);
    bytes.pop();
    bytes[3] = 0x2c;
    let request = ConnectRequest::decode_from(frame_body(&bytes)).unwrap();
    assert_eq!(request.read_only, None);
    assert_eq!(request.timeout_ms, 30_000);
    // The reply mirrors the old form: no readOnly byte, 36 bytes of body.
    let response = ConnectResponse::accepted(&request, 30_000, 1, [7; 16], false);
    let mut out = Vec::new();
    encode_connect_response(&mut out, &response);
    assert_eq!(out.len(), 4 + 36);
    assert_eq!(&out[..4], &[0, 0, 0, 36]);
}

#[test]
fn connect_response_accepting_a_session() {
    let bytes = hex("
        00 00 00 25
        00 00 00 00
        00 00 75 30
        01 23 45 67 89 ab cd ef
        00 00 00 10 | 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10
        00");
    let request = ConnectRequest::decode_from(frame_body(&hex(CONNECT_REQUEST_JAVA_3X))).unwrap();
    let password: [u8; 16] = std::array::from_fn(|index| index as u8 + 1);
    let response =
        ConnectResponse::accepted(&request, 30_000, 0x0123_4567_89ab_cdef, password, false);
    let mut out = Vec::new();
    encode_connect_response(&mut out, &response);
    assert_eq!(out, bytes);
    assert_eq!(
        ConnectResponse::decode_from(frame_body(&bytes)).unwrap(),
        response
    );
}

#[test]
fn refused_session_has_zero_fields() {
    let request = ConnectRequest::decode_from(frame_body(&hex(CONNECT_REQUEST_JAVA_3X))).unwrap();
    let mut out = Vec::new();
    encode_connect_response(&mut out, &ConnectResponse::refused(&request, false));
    let mut expected = hex("00 00 00 25 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 00 00 00 00");
    expected.extend_from_slice(&hex("00 00 00 10"));
    expected.extend_from_slice(&[0; 16]);
    expected.push(0);
    assert_eq!(out, expected);
}

#[test]
fn create_request_and_reply() {
    let request_bytes = hex("
        00 00 00 35
        00 00 00 01 | 00 00 00 01
        00 00 00 04 | 2f 61 70 70
        00 00 00 02 | 68 69
        00 00 00 01
        00 00 00 1f
        00 00 00 05 | 77 6f 72 6c 64
        00 00 00 06 | 61 6e 79 6f 6e 65
        00 00 00 00");
    let (header, request) = decode_request_frame(&request_bytes);
    assert_eq!(header, RequestHeader { xid: 1, op_code: 1 });
    let expected = Request::Create(open_acl_create("/app", b"hi", 0));
    assert_eq!(request, expected);
    let mut out = Vec::new();
    encode_request(&mut out, 1, &expected);
    assert_eq!(out, request_bytes);

    let reply_bytes = hex("
        00 00 00 18
        00 00 00 01 | 00 00 00 01 00 00 00 02 | 00 00 00 00
        00 00 00 04 | 2f 61 70 70");
    let header = ReplyHeader::new(1, 0x1_0000_0002, ErrorCode::Ok);
    let response = Response::Create(CreateResponse {
        path: "/app".to_owned(),
    });
    let mut out = Vec::new();
    encode_reply(&mut out, &header, &response);
    assert_eq!(out, reply_bytes);
    assert_eq!(
        decode_reply_frame(OpCode::Create, &reply_bytes),
        (header, response)
    );
}

#[test]
fn get_data_of_a_missing_znode() {
    let request_bytes =
        hex("00 00 00 11 | 00 00 00 03 | 00 00 00 04 | 00 00 00 04 2f 61 70 70 | 00");
    let (header, request) = decode_request_frame(&request_bytes);
    assert_eq!(header, RequestHeader { xid: 3, op_code: 4 });
    assert_eq!(
        request,
        Request::GetData(GetDataRequest {
            path: "/app".to_owned(),
            watch: false
        })
    );

    let reply_bytes = hex("00 00 00 10 | 00 00 00 03 | 00 00 00 01 00 00 00 02 | ff ff ff 9b");
    let header = ReplyHeader::new(3, 0x1_0000_0002, ErrorCode::NoNode);
    let mut out = Vec::new();
    encode_reply(&mut out, &header, &Response::Empty);
    assert_eq!(out, reply_bytes);
    assert_eq!(
        decode_reply_frame(OpCode::GetData, &reply_bytes),
        (header, Response::Empty)
    );
}

fn two_op_multi() -> Request {
    Request::Multi(MultiRequest {
        operations: vec![
            MultiOperation::Create(open_acl_create("/a", b"", 0)),
            MultiOperation::Delete(DeleteRequest {
                path: "/b".to_owned(),
                version: -1,
            }),
        ],
    })
}

#[test]
fn multi_with_two_operations() {
    let request_bytes = hex("
        00 00 00 56
        00 00 00 02 | 00 00 00 0e
        00 00 00 01 | 00 | ff ff ff ff
        00 00 00 02 | 2f 61
        00 00 00 00
        00 00 00 01 | 00 00 00 1f | 00 00 00 05 77 6f 72 6c 64 | 00 00 00 06 61 6e 79 6f 6e 65
        00 00 00 00
        00 00 00 02 | 00 | ff ff ff ff
        00 00 00 02 | 2f 62
        ff ff ff ff
        ff ff ff ff | 01 | ff ff ff ff");
    let (header, request) = decode_request_frame(&request_bytes);
    assert_eq!(
        header,
        RequestHeader {
            xid: 2,
            op_code: 14
        }
    );
    assert_eq!(request, two_op_multi());
    let mut out = Vec::new();
    encode_request(&mut out, 2, &two_op_multi());
    assert_eq!(out, request_bytes);
}

#[test]
fn multi_reply_success() {
    let reply_bytes = hex("
        00 00 00 31
        00 00 00 02 | 00 00 00 01 00 00 00 03 | 00 00 00 00
        00 00 00 01 | 00 | 00 00 00 00
        00 00 00 02 | 2f 61
        00 00 00 02 | 00 | 00 00 00 00
        ff ff ff ff | 01 | ff ff ff ff");
    let header = ReplyHeader::new(2, 0x1_0000_0003, ErrorCode::Ok);
    let response = Response::Multi(MultiResponse {
        results: vec![
            MultiResult::Create(CreateResponse {
                path: "/a".to_owned(),
            }),
            MultiResult::Delete,
        ],
    });
    let mut out = Vec::new();
    encode_reply(&mut out, &header, &response);
    assert_eq!(out, reply_bytes);
    assert_eq!(
        decode_reply_frame(OpCode::Multi, &reply_bytes),
        (header, response)
    );
}

#[test]
fn multi_reply_failure() {
    let reply_bytes = hex("
        00 00 00 33
        00 00 00 02 | 00 00 00 01 00 00 00 03 | 00 00 00 00
        ff ff ff ff | 00 | 00 00 00 00 | 00 00 00 00
        ff ff ff ff | 00 | ff ff ff 9b | ff ff ff 9b
        ff ff ff ff | 01 | ff ff ff ff");
    let header = ReplyHeader::new(2, 0x1_0000_0003, ErrorCode::Ok);
    let response = Response::Multi(MultiResponse {
        results: vec![
            MultiResult::Error(ErrorResponse { error_code: 0 }),
            MultiResult::Error(ErrorResponse {
                error_code: ErrorCode::NoNode.value(),
            }),
        ],
    });
    let mut out = Vec::new();
    encode_reply(&mut out, &header, &response);
    assert_eq!(out, reply_bytes);
    assert_eq!(
        decode_reply_frame(OpCode::Multi, &reply_bytes),
        (header, response)
    );
}

#[test]
fn ping_request_and_reply() {
    let request_bytes = hex("00 00 00 08 | ff ff ff fe | 00 00 00 0b");
    assert_eq!(
        decode_request_frame(&request_bytes),
        (
            RequestHeader {
                xid: -2,
                op_code: 11
            },
            Request::Ping
        )
    );
    assert_eq!(Request::Ping.special_xid(), Some(-2));
    let mut out = Vec::new();
    encode_request(&mut out, -2, &Request::Ping);
    assert_eq!(out, request_bytes);

    let mut out = Vec::new();
    encode_ping_reply(&mut out, 0x1_0000_0003);
    assert_eq!(
        out,
        hex("00 00 00 10 | ff ff ff fe | 00 00 00 01 00 00 00 03 | 00 00 00 00")
    );
}

#[test]
fn notification() {
    let bytes = hex("
        00 00 00 20
        ff ff ff ff | 00 00 00 01 00 00 00 05 | 00 00 00 00
        00 00 00 03
        00 00 00 03
        00 00 00 04 | 2f 61 70 70");
    let event = WatcherEvent::node_event(EventType::NodeDataChanged, "/app");
    let mut out = Vec::new();
    encode_notification(&mut out, 0x1_0000_0005, &event);
    assert_eq!(out, bytes);
    let (header, body) = split_reply_header(frame_body(&bytes)).unwrap();
    assert_eq!(
        header,
        ReplyHeader {
            xid: -1,
            zxid: 0x1_0000_0005,
            error_code: 0
        }
    );
    assert_eq!(WatcherEvent::decode_from(body).unwrap(), event);
}

#[test]
fn set_watches_after_a_reconnect() {
    let bytes = hex("
        00 00 00 24
        ff ff ff f8 | 00 00 00 65
        00 00 00 01 00 00 00 05
        00 00 00 01 | 00 00 00 04 2f 61 70 70
        00 00 00 00
        00 00 00 00");
    let expected = Request::SetWatches(SetWatches {
        relative_zxid: 0x1_0000_0005,
        data_watches: vec!["/app".to_owned()],
        exist_watches: Vec::new(),
        child_watches: Vec::new(),
    });
    assert_eq!(
        decode_request_frame(&bytes),
        (
            RequestHeader {
                xid: -8,
                op_code: 101
            },
            expected.clone()
        )
    );
    assert_eq!(expected.special_xid(), Some(-8));
    let mut out = Vec::new();
    encode_request(&mut out, -8, &expected);
    assert_eq!(out, bytes);
}

#[test]
fn close_session() {
    let bytes = hex("00 00 00 08 | 00 00 00 05 | ff ff ff f5");
    assert_eq!(
        decode_request_frame(&bytes),
        (
            RequestHeader {
                xid: 5,
                op_code: -11
            },
            Request::CloseSession
        )
    );
    let mut out = Vec::new();
    encode_reply(
        &mut out,
        &ReplyHeader::new(5, 9, ErrorCode::Ok),
        &Response::Empty,
    );
    assert_eq!(
        out,
        hex("00 00 00 10 | 00 00 00 05 | 00 00 00 00 00 00 00 09 | 00 00 00 00")
    );
}

#[test]
fn four_letter_word_instead_of_a_frame() {
    let bytes = hex("72 75 6f 6b");
    assert_eq!(
        FourLetterWord::detect(&bytes),
        Some(FourLetterWord::AreYouOk)
    );
    assert_eq!(
        decode_frame(&bytes, DEFAULT_MAX_FRAME_LEN),
        FrameDecode::TooLarge(1_920_298_859)
    );
    assert_eq!(
        FourLetterWord::detect(&hex("ff f4 ff fd")),
        Some(FourLetterWord::TelnetClose)
    );
    // An ordinary connect frame is not a word.
    assert_eq!(FourLetterWord::detect(&hex(CONNECT_REQUEST_JAVA_3X)), None);
}

#[test]
fn stat_is_68_bytes_in_field_order() {
    let stat = zk_server::proto::Stat {
        created_zxid: 1,
        modified_zxid: 2,
        created_time_ms: 3,
        modified_time_ms: 4,
        version: 5,
        child_version: 6,
        acl_version: 7,
        ephemeral_owner: 8,
        data_length: 9,
        child_count: 10,
        child_list_zxid: 11,
    };
    let bytes = stat.to_bytes();
    assert_eq!(bytes.len(), 68);
    let expected = hex("
        00 00 00 00 00 00 00 01 | 00 00 00 00 00 00 00 02 | 00 00 00 00 00 00 00 03
        00 00 00 00 00 00 00 04 | 00 00 00 05 | 00 00 00 06 | 00 00 00 07
        00 00 00 00 00 00 00 08 | 00 00 00 09 | 00 00 00 0a | 00 00 00 00 00 00 00 0b");
    assert_eq!(bytes, expected);
}

#[test]
fn null_data_stays_null() {
    let request = CreateRequest {
        path: "/n".to_owned(),
        data: None,
        acl: Vec::new(),
        flags: 0,
    };
    let bytes = request.to_bytes();
    assert_eq!(
        bytes,
        hex("00 00 00 02 2f 6e | ff ff ff ff | 00 00 00 00 | 00 00 00 00")
    );
    assert_eq!(CreateRequest::decode_from(&bytes).unwrap().data, None);
    // A null ACL vector reads as empty.
    let with_null_acl = hex("00 00 00 02 2f 6e | 00 00 00 00 | ff ff ff ff | 00 00 00 00");
    let decoded = CreateRequest::decode_from(&with_null_acl).unwrap();
    assert_eq!(decoded.data, Some(Vec::new()));
    assert!(decoded.acl.is_empty());
}

#[test]
fn add_watch_reply_is_a_zero_error_response() {
    let response = Response::AddWatch(ErrorResponse { error_code: 0 });
    let mut out = Vec::new();
    encode_reply(&mut out, &ReplyHeader::new(4, 1, ErrorCode::Ok), &response);
    assert_eq!(
        out,
        hex("00 00 00 14 | 00 00 00 04 | 00 00 00 00 00 00 00 01 | 00 00 00 00 | 00 00 00 00")
    );
}
