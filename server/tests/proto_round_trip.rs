//! Round trips for every record and for the typed request/response enums: `decode(encode(x)) ==
//! x`, the decoder consumes exactly what the encoder wrote, never less than the record's
//! `MIN_ENCODED_LEN`, and every strict prefix of an encoding is `Incomplete`.

use std::fmt::Debug;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use zk_server::proto::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,6}", "/[a-z]{1,4}(/[a-z0-9]{1,3}){0,2}"]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..12)
}

fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    option::of(bytes())
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

fn id() -> impl Strategy<Value = Id> {
    (text(), text()).prop_map(|(scheme, id)| Id { scheme, id })
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..3)
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(|(zxids_and_times, versions, rest)| Stat {
            created_zxid: zxids_and_times.0,
            modified_zxid: zxids_and_times.1,
            created_time_ms: zxids_and_times.2,
            modified_time_ms: zxids_and_times.3,
            version: versions.0,
            child_version: versions.1,
            acl_version: versions.2,
            ephemeral_owner: rest.0,
            data_length: rest.1,
            child_count: rest.2,
            child_list_zxid: rest.3,
        })
}

fn client_info() -> impl Strategy<Value = ClientInfo> {
    (text(), text()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
}

fn request_header() -> impl Strategy<Value = RequestHeader> {
    (any::<i32>(), any::<i32>()).prop_map(|(xid, op_code)| RequestHeader { xid, op_code })
}

fn reply_header() -> impl Strategy<Value = ReplyHeader> {
    (any::<i32>(), any::<i64>(), any::<i32>()).prop_map(|(xid, zxid, error_code)| ReplyHeader {
        xid,
        zxid,
        error_code,
    })
}

fn error_response() -> impl Strategy<Value = ErrorResponse> {
    any::<i32>().prop_map(|error_code| ErrorResponse { error_code })
}

fn multi_header() -> impl Strategy<Value = MultiHeader> {
    (any::<i32>(), any::<bool>(), any::<i32>()).prop_map(|(op_type, done, error_code)| {
        MultiHeader {
            op_type,
            done,
            error_code,
        }
    })
}

fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        bytes(),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, timeout_ms, session_id, password, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    timeout_ms,
                    session_id,
                    password,
                    read_only,
                }
            },
        )
}

fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        bytes(),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, timeout_ms, session_id, password, read_only)| ConnectResponse {
                protocol_version,
                timeout_ms,
                session_id,
                password,
                read_only,
            },
        )
}

/// Any flags for a lone create; a valid create mode inside a multi.
fn create_request(flags: impl Strategy<Value = i32>) -> impl Strategy<Value = CreateRequest> {
    (text(), data(), acls(), flags).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

fn valid_create_flags() -> impl Strategy<Value = i32> {
    0..=6i32
}

fn create_ttl_request() -> impl Strategy<Value = CreateTtlRequest> {
    (text(), data(), acls(), any::<i32>(), any::<i64>()).prop_map(
        |(path, data, acl, flags, ttl_ms)| CreateTtlRequest {
            path,
            data,
            acl,
            flags,
            ttl_ms,
        },
    )
}

fn create_response() -> impl Strategy<Value = CreateResponse> {
    text().prop_map(|path| CreateResponse { path })
}

fn create2_response() -> impl Strategy<Value = Create2Response> {
    (text(), stat()).prop_map(|(path, stat)| Create2Response { path, stat })
}

fn delete_request() -> impl Strategy<Value = DeleteRequest> {
    (text(), any::<i32>()).prop_map(|(path, version)| DeleteRequest { path, version })
}

fn delete_container_request() -> impl Strategy<Value = DeleteContainerRequest> {
    bytes().prop_map(|path| DeleteContainerRequest { path })
}

fn exists_request() -> impl Strategy<Value = ExistsRequest> {
    (text(), any::<bool>()).prop_map(|(path, watch)| ExistsRequest { path, watch })
}

fn exists_response() -> impl Strategy<Value = ExistsResponse> {
    stat().prop_map(|stat| ExistsResponse { stat })
}

fn get_data_request() -> impl Strategy<Value = GetDataRequest> {
    (text(), any::<bool>()).prop_map(|(path, watch)| GetDataRequest { path, watch })
}

fn get_data_response() -> impl Strategy<Value = GetDataResponse> {
    (data(), stat()).prop_map(|(data, stat)| GetDataResponse { data, stat })
}

fn set_data_request() -> impl Strategy<Value = SetDataRequest> {
    (text(), data(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

fn set_data_response() -> impl Strategy<Value = SetDataResponse> {
    stat().prop_map(|stat| SetDataResponse { stat })
}

fn get_acl_request() -> impl Strategy<Value = GetAclRequest> {
    text().prop_map(|path| GetAclRequest { path })
}

fn get_acl_response() -> impl Strategy<Value = GetAclResponse> {
    (acls(), stat()).prop_map(|(acl, stat)| GetAclResponse { acl, stat })
}

fn set_acl_request() -> impl Strategy<Value = SetAclRequest> {
    (text(), acls(), any::<i32>()).prop_map(|(path, acl, version)| SetAclRequest {
        path,
        acl,
        version,
    })
}

fn set_acl_response() -> impl Strategy<Value = SetAclResponse> {
    stat().prop_map(|stat| SetAclResponse { stat })
}

fn get_children_request() -> impl Strategy<Value = GetChildrenRequest> {
    (text(), any::<bool>()).prop_map(|(path, watch)| GetChildrenRequest { path, watch })
}

fn get_children_response() -> impl Strategy<Value = GetChildrenResponse> {
    texts().prop_map(|children| GetChildrenResponse { children })
}

fn get_children2_response() -> impl Strategy<Value = GetChildren2Response> {
    (texts(), stat()).prop_map(|(children, stat)| GetChildren2Response { children, stat })
}

fn get_all_children_number_request() -> impl Strategy<Value = GetAllChildrenNumberRequest> {
    text().prop_map(|path| GetAllChildrenNumberRequest { path })
}

fn get_all_children_number_response() -> impl Strategy<Value = GetAllChildrenNumberResponse> {
    any::<i32>().prop_map(|total_number| GetAllChildrenNumberResponse { total_number })
}

fn get_ephemerals_request() -> impl Strategy<Value = GetEphemeralsRequest> {
    text().prop_map(|prefix_path| GetEphemeralsRequest { prefix_path })
}

fn get_ephemerals_response() -> impl Strategy<Value = GetEphemeralsResponse> {
    texts().prop_map(|ephemerals| GetEphemeralsResponse { ephemerals })
}

fn sync_request() -> impl Strategy<Value = SyncRequest> {
    text().prop_map(|path| SyncRequest { path })
}

fn sync_response() -> impl Strategy<Value = SyncResponse> {
    text().prop_map(|path| SyncResponse { path })
}

fn check_version_request() -> impl Strategy<Value = CheckVersionRequest> {
    (text(), any::<i32>()).prop_map(|(path, version)| CheckVersionRequest { path, version })
}

fn auth_packet() -> impl Strategy<Value = AuthPacket> {
    (any::<i32>(), text(), bytes()).prop_map(|(auth_type, scheme, auth)| AuthPacket {
        auth_type,
        scheme,
        auth,
    })
}

fn sasl_request() -> impl Strategy<Value = SaslRequest> {
    bytes().prop_map(|token| SaslRequest { token })
}

fn sasl_response() -> impl Strategy<Value = SaslResponse> {
    bytes().prop_map(|token| SaslResponse { token })
}

fn set_watches() -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), texts(), texts(), texts()).prop_map(
        |(relative_zxid, data_watches, exist_watches, child_watches)| SetWatches {
            relative_zxid,
            data_watches,
            exist_watches,
            child_watches,
        },
    )
}

fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (any::<i64>(), texts(), texts(), texts(), texts(), texts()).prop_map(
        |(relative_zxid, data, exist, child, persistent, recursive)| SetWatches2 {
            relative_zxid,
            data_watches: data,
            exist_watches: exist,
            child_watches: child,
            persistent_watches: persistent,
            persistent_recursive_watches: recursive,
        },
    )
}

fn add_watch_request() -> impl Strategy<Value = AddWatchRequest> {
    (text(), any::<i32>()).prop_map(|(path, mode)| AddWatchRequest { path, mode })
}

fn check_watches_request() -> impl Strategy<Value = CheckWatchesRequest> {
    (text(), any::<i32>())
        .prop_map(|(path, watcher_type)| CheckWatchesRequest { path, watcher_type })
}

fn remove_watches_request() -> impl Strategy<Value = RemoveWatchesRequest> {
    (text(), any::<i32>())
        .prop_map(|(path, watcher_type)| RemoveWatchesRequest { path, watcher_type })
}

fn watcher_event() -> impl Strategy<Value = WatcherEvent> {
    (any::<i32>(), any::<i32>(), text()).prop_map(|(event_type, state, path)| WatcherEvent {
        event_type,
        state,
        path,
    })
}

fn who_am_i_response() -> impl Strategy<Value = WhoAmIResponse> {
    vec(client_info(), 0..3).prop_map(|client_info| WhoAmIResponse { client_info })
}

fn reconfig_request() -> impl Strategy<Value = ReconfigRequest> {
    (
        option::of(text()),
        option::of(text()),
        option::of(text()),
        any::<i64>(),
    )
        .prop_map(
            |(joining_servers, leaving_servers, new_members, current_config_id)| ReconfigRequest {
                joining_servers,
                leaving_servers,
                new_members,
                current_config_id,
            },
        )
}

fn write_operation() -> impl Strategy<Value = MultiOperation> {
    prop_oneof![
        create_request(valid_create_flags()).prop_map(MultiOperation::Create),
        create_request(valid_create_flags()).prop_map(MultiOperation::Create2),
        create_request(valid_create_flags()).prop_map(MultiOperation::CreateContainer),
        create_ttl_request().prop_map(MultiOperation::CreateTtl),
        delete_request().prop_map(MultiOperation::Delete),
        set_data_request().prop_map(MultiOperation::SetData),
        check_version_request().prop_map(MultiOperation::Check),
    ]
}

fn read_operation() -> impl Strategy<Value = MultiOperation> {
    prop_oneof![
        get_children_request().prop_map(MultiOperation::GetChildren),
        get_data_request().prop_map(MultiOperation::GetData),
    ]
}

fn multi_write_request() -> impl Strategy<Value = MultiRequest> {
    vec(write_operation(), 0..4).prop_map(|operations| MultiRequest { operations })
}

fn multi_read_request() -> impl Strategy<Value = MultiRequest> {
    vec(read_operation(), 0..4).prop_map(|operations| MultiRequest { operations })
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        create_response().prop_map(MultiResult::Create),
        create2_response().prop_map(MultiResult::Create2),
        Just(MultiResult::Delete),
        set_data_response().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        get_children_response().prop_map(MultiResult::GetChildren),
        get_data_response().prop_map(MultiResult::GetData),
        error_response().prop_map(MultiResult::Error),
    ]
}

fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(multi_result(), 0..4).prop_map(|results| MultiResponse { results })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        create_request(any::<i32>()).prop_map(Request::Create),
        create_request(any::<i32>()).prop_map(Request::Create2),
        create_request(any::<i32>()).prop_map(Request::CreateContainer),
        create_ttl_request().prop_map(Request::CreateTtl),
        delete_request().prop_map(Request::Delete),
        delete_container_request().prop_map(Request::DeleteContainer),
        exists_request().prop_map(Request::Exists),
        get_data_request().prop_map(Request::GetData),
        set_data_request().prop_map(Request::SetData),
        get_acl_request().prop_map(Request::GetAcl),
        set_acl_request().prop_map(Request::SetAcl),
        get_children_request().prop_map(Request::GetChildren),
        get_children_request().prop_map(Request::GetChildren2),
        get_all_children_number_request().prop_map(Request::GetAllChildrenNumber),
        get_ephemerals_request().prop_map(Request::GetEphemerals),
        sync_request().prop_map(Request::Sync),
        check_version_request().prop_map(Request::Check),
        multi_write_request().prop_map(Request::Multi),
        multi_read_request().prop_map(Request::MultiRead),
        auth_packet().prop_map(Request::Auth),
        sasl_request().prop_map(Request::Sasl),
        set_watches().prop_map(Request::SetWatches),
        set_watches2().prop_map(Request::SetWatches2),
        add_watch_request().prop_map(Request::AddWatch),
        remove_watches_request().prop_map(Request::RemoveWatches),
        check_watches_request().prop_map(Request::CheckWatches),
        Just(Request::WhoAmI),
        reconfig_request().prop_map(Request::Reconfig),
        Just(Request::CloseSession),
        Just(Request::Ping),
    ]
}

/// A response paired with an op code whose reply it can be.
fn op_code_and_response() -> impl Strategy<Value = (OpCode, Response)> {
    prop_oneof![
        Just((OpCode::Delete, Response::Empty)),
        Just((OpCode::Ping, Response::Empty)),
        create_response().prop_map(|body| (OpCode::Create, Response::Create(body))),
        create2_response().prop_map(|body| (OpCode::CreateTtl, Response::Create2(body))),
        exists_response().prop_map(|body| (OpCode::Exists, Response::Exists(body))),
        get_data_response().prop_map(|body| (OpCode::GetData, Response::GetData(body))),
        set_data_response().prop_map(|body| (OpCode::Check, Response::SetData(body))),
        get_acl_response().prop_map(|body| (OpCode::GetAcl, Response::GetAcl(body))),
        set_acl_response().prop_map(|body| (OpCode::SetAcl, Response::SetAcl(body))),
        get_children_response().prop_map(|body| (OpCode::GetChildren, Response::GetChildren(body))),
        get_children2_response()
            .prop_map(|body| (OpCode::GetChildren2, Response::GetChildren2(body))),
        get_all_children_number_response().prop_map(|body| {
            (
                OpCode::GetAllChildrenNumber,
                Response::GetAllChildrenNumber(body),
            )
        }),
        get_ephemerals_response()
            .prop_map(|body| (OpCode::GetEphemerals, Response::GetEphemerals(body))),
        sync_response().prop_map(|body| (OpCode::Sync, Response::Sync(body))),
        multi_response().prop_map(|body| (OpCode::Multi, Response::Multi(body))),
        error_response().prop_map(|body| (OpCode::AddWatch, Response::AddWatch(body))),
        who_am_i_response().prop_map(|body| (OpCode::WhoAmI, Response::WhoAmI(body))),
        sasl_response().prop_map(|body| (OpCode::Sasl, Response::Sasl(body))),
    ]
}

/// Encodes, decodes, and checks length bounds and that every strict prefix is incomplete.
fn check_record<R: Record + PartialEq + Debug>(value: &R) -> Result<(), TestCaseError> {
    let bytes = value.to_bytes();
    prop_assert!(bytes.len() >= R::MIN_ENCODED_LEN);
    let mut reader = Reader::new(&bytes);
    prop_assert_eq!(&R::decode(&mut reader).unwrap(), value);
    prop_assert!(
        reader.is_empty(),
        "decoder left {} bytes",
        reader.remaining_len()
    );
    for cut in 0..bytes.len() {
        prop_assert_eq!(R::decode_from(&bytes[..cut]), Err(DecodeError::Incomplete));
    }
    Ok(())
}

/// Like [`check_record`] for the connect records, whose last byte is optional: dropping it
/// decodes as the old form, any shorter prefix is incomplete.
fn check_connect_record<R: Record + PartialEq + Debug>(
    value: &R,
    has_optional_byte: bool,
    without_optional_byte: impl Fn(&R) -> R,
) -> Result<(), TestCaseError> {
    let bytes = value.to_bytes();
    prop_assert_eq!(&R::decode_from(&bytes).unwrap(), value);
    let mandatory_len = bytes.len() - usize::from(has_optional_byte);
    prop_assert_eq!(
        R::decode_from(&bytes[..mandatory_len]).unwrap(),
        without_optional_byte(value)
    );
    for cut in 0..mandatory_len {
        prop_assert_eq!(R::decode_from(&bytes[..cut]), Err(DecodeError::Incomplete));
    }
    Ok(())
}

macro_rules! round_trip_tests {
    ($($name:ident: $strategy:expr;)+) => {
        proptest! {
            $(
                #[test]
                fn $name(value in $strategy) {
                    check_record(&value)?;
                }
            )+
        }
    };
}

round_trip_tests! {
    round_trip_id: id();
    round_trip_acl: acl();
    round_trip_stat: stat();
    round_trip_client_info: client_info();
    round_trip_request_header: request_header();
    round_trip_reply_header: reply_header();
    round_trip_error_response: error_response();
    round_trip_multi_header: multi_header();
    round_trip_create_request: create_request(any::<i32>());
    round_trip_create_ttl_request: create_ttl_request();
    round_trip_create_response: create_response();
    round_trip_create2_response: create2_response();
    round_trip_delete_request: delete_request();
    round_trip_delete_container_request: delete_container_request();
    round_trip_exists_request: exists_request();
    round_trip_exists_response: exists_response();
    round_trip_get_data_request: get_data_request();
    round_trip_get_data_response: get_data_response();
    round_trip_set_data_request: set_data_request();
    round_trip_set_data_response: set_data_response();
    round_trip_get_acl_request: get_acl_request();
    round_trip_get_acl_response: get_acl_response();
    round_trip_set_acl_request: set_acl_request();
    round_trip_set_acl_response: set_acl_response();
    round_trip_get_children_request: get_children_request();
    round_trip_get_children_response: get_children_response();
    round_trip_get_children2_response: get_children2_response();
    round_trip_get_all_children_number_request: get_all_children_number_request();
    round_trip_get_all_children_number_response: get_all_children_number_response();
    round_trip_get_ephemerals_request: get_ephemerals_request();
    round_trip_get_ephemerals_response: get_ephemerals_response();
    round_trip_sync_request: sync_request();
    round_trip_sync_response: sync_response();
    round_trip_check_version_request: check_version_request();
    round_trip_auth_packet: auth_packet();
    round_trip_sasl_request: sasl_request();
    round_trip_sasl_response: sasl_response();
    round_trip_set_watches: set_watches();
    round_trip_set_watches2: set_watches2();
    round_trip_add_watch_request: add_watch_request();
    round_trip_check_watches_request: check_watches_request();
    round_trip_remove_watches_request: remove_watches_request();
    round_trip_watcher_event: watcher_event();
    round_trip_who_am_i_response: who_am_i_response();
    round_trip_reconfig_request: reconfig_request();
    round_trip_multi_write_request: multi_write_request();
    round_trip_multi_read_request: multi_read_request();
    round_trip_multi_response: multi_response();
}

proptest! {
    #[test]
    fn round_trip_connect_request(value in connect_request()) {
        check_connect_record(&value, value.read_only.is_some(), |request| ConnectRequest {
            read_only: None,
            ..request.clone()
        })?;
    }

    #[test]
    fn round_trip_connect_response(value in connect_response()) {
        check_connect_record(&value, value.read_only.is_some(), |response| ConnectResponse {
            read_only: None,
            ..response.clone()
        })?;
    }

    #[test]
    fn round_trip_request_through_decode_request(value in request(), xid in any::<i32>()) {
        let mut frame = Vec::new();
        encode_request(&mut frame, xid, &value);
        let FrameDecode::Frame { body, consumed } = decode_frame(&frame, DEFAULT_MAX_FRAME_LEN)
        else {
            return Err(TestCaseError::fail("not a whole frame"));
        };
        prop_assert_eq!(consumed, frame.len());
        let (header, record) = split_request_header(body).unwrap();
        prop_assert_eq!(header, RequestHeader { xid, op_code: value.op_code().value() });
        prop_assert_eq!(&decode_request(header.op_code, record).unwrap(), &value);
        prop_assert_eq!(record, &value.body_bytes()[..]);
    }

    #[test]
    fn round_trip_response_through_decode_response(
        (op_code, value) in op_code_and_response(),
        header in reply_header(),
    ) {
        let mut frame = Vec::new();
        encode_reply(&mut frame, &header, &value);
        let FrameDecode::Frame { body, .. } = decode_frame(&frame, DEFAULT_MAX_FRAME_LEN) else {
            return Err(TestCaseError::fail("not a whole frame"));
        };
        let (decoded_header, record) = split_reply_header(body).unwrap();
        prop_assert_eq!(&decoded_header, &header);
        prop_assert_eq!(decode_response(op_code, record).unwrap(), value);
    }
}

#[test]
fn every_wire_enum_round_trips() {
    fn check<T: Copy + PartialEq + Debug + TryFrom<i32, Error = i32> + Into<i32>>(all: &[T]) {
        let mut values: Vec<i32> = all.iter().map(|variant| (*variant).into()).collect();
        for variant in all {
            assert_eq!(T::try_from((*variant).into()), Ok(*variant));
        }
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), all.len(), "values are distinct");
    }
    check(OpCode::ALL);
    check(ErrorCode::ALL);
    check(CreateMode::ALL);
    check(EventType::ALL);
    check(KeeperState::ALL);
    check(AddWatchMode::ALL);
    check(WatcherType::ALL);
    assert_eq!(OpCode::ALL.len(), 33);
    assert_eq!(ErrorCode::ALL.len(), 32);
}
