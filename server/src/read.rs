//! Requests answered from the tree without a transaction: reads, watch management, `sync`,
//! `whoAmI`. Each runs under the tree's read lock, and registers its watch under that same lock,
//! so that no change can slip between what the client read and the watch it set.

use zk_engine::tree::{code, DataTree};
use zk_engine::txn::perms;

use crate::auth::Identity;
use crate::convert;
use crate::proto::header::{ErrorResponse, ReplyHeader};
use crate::proto::multi::{MultiOperation, MultiResponse, MultiResult};
use crate::proto::request::Request;
use crate::proto::response::{encode_notification, encode_reply, Response};
use crate::proto::watch::{AddWatchMode, WatcherType};
use crate::proto::who_am_i::{ClientInfo, WhoAmIResponse};
use crate::proto::{
    ErrorCode, EventType, ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, KeeperState,
    SyncResponse, WatcherEvent,
};
use crate::server::Server;
use crate::watch::{WatchKind, WatchManager};

const NO_WATCHER: i32 = ErrorCode::NoWatcher.value();
const UNIMPLEMENTED: i32 = ErrorCode::Unimplemented.value();
const MARSHALLING_ERROR: i32 = ErrorCode::MarshallingError.value();

/// Who is reading.
pub struct Reader<'a> {
    /// The session.
    pub session_id: i64,
    /// What the connection has proven.
    pub identity: &'a Identity,
}

/// Answers a read-type request: the frames to send, notifications (from `setWatches`) first.
pub fn answer(server: &Server, reader: &Reader<'_>, xid: i32, request: &Request) -> Vec<u8> {
    let tree = server.tree();
    let zxid = tree.last_applied_zxid().0 as i64;
    let mut out = Vec::new();
    let result = {
        let mut watches = server.watches();
        respond(&tree, &mut watches, reader, request, zxid, &mut out)
    };
    let (error_code, response) = match result {
        Ok(response) => (0, response),
        Err(code) => (code, Response::Empty),
    };
    let header = ReplyHeader {
        xid,
        zxid,
        error_code,
    };
    encode_reply(&mut out, &header, &response);
    out
}

/// Reads do not validate paths, as in ZooKeeper: a malformed path simply names no node, and
/// the empty path is the root (ZooKeeper keeps the root under "").
fn lookup(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

fn respond(
    tree: &DataTree,
    watches: &mut WatchManager,
    reader: &Reader<'_>,
    outer: &Request,
    zxid: i64,
    notifications: &mut Vec<u8>,
) -> Result<Response, i32> {
    let session = reader.session_id;
    let request = outer;
    match request {
        Request::Exists(request) => {
            let node = tree.get(lookup(&request.path));
            if request.watch {
                watches.add(session, WatchKind::Data, &request.path);
            }
            let node = node.ok_or(code::NO_NODE)?;
            Ok(Response::Exists(ExistsResponse {
                stat: convert::stat(&node.stat()),
            }))
        }
        Request::GetData(request) => {
            let node = tree.get(lookup(&request.path)).ok_or(code::NO_NODE)?;
            if !reader.identity.allows(node.acl(), perms::READ) {
                return Err(code::NO_AUTH);
            }
            if request.watch {
                watches.add(session, WatchKind::Data, &request.path);
            }
            Ok(Response::GetData(GetDataResponse {
                data: node.data_option().map(<[u8]>::to_vec),
                stat: convert::stat(&node.stat()),
            }))
        }
        Request::GetChildren(request) | Request::GetChildren2(request) => {
            let node = tree.get(lookup(&request.path)).ok_or(code::NO_NODE)?;
            if !reader.identity.allows(node.acl(), perms::READ) {
                return Err(code::NO_AUTH);
            }
            if request.watch {
                watches.add(session, WatchKind::Child, &request.path);
            }
            let children: Vec<String> = node.children().map(str::to_owned).collect();
            Ok(if matches!(outer, Request::GetChildren2(_)) {
                Response::GetChildren2(GetChildren2Response {
                    children,
                    stat: convert::stat(&node.stat()),
                })
            } else {
                Response::GetChildren(GetChildrenResponse { children })
            })
        }
        Request::GetAcl(request) => {
            let node = tree.get(lookup(&request.path)).ok_or(code::NO_NODE)?;
            if !reader
                .identity
                .allows(node.acl(), perms::READ | perms::ADMIN)
            {
                return Err(code::NO_AUTH);
            }
            let mut acl = convert::acl_to_wire(node.acl());
            if !reader.identity.allows(node.acl(), perms::ADMIN) {
                // Without ADMIN the digest hashes are hidden, as ZooKeeper does.
                for entry in acl.iter_mut().filter(|a| a.id.scheme == "digest") {
                    let user = entry.id.id.split(':').next().unwrap_or_default().to_owned();
                    entry.id.id = format!("{user}:x");
                }
            }
            Ok(Response::GetAcl(GetAclResponse {
                acl,
                stat: convert::stat(&node.stat()),
            }))
        }
        Request::GetAllChildrenNumber(request) => {
            let node = tree.get(lookup(&request.path)).ok_or(code::NO_NODE)?;
            if !reader.identity.allows(node.acl(), perms::READ) {
                return Err(code::NO_AUTH);
            }
            Ok(Response::GetAllChildrenNumber(
                GetAllChildrenNumberResponse {
                    total_number: count_descendants(tree, lookup(&request.path)),
                },
            ))
        }
        Request::GetEphemerals(request) => {
            let prefix = request.prefix_path.as_str();
            let ephemerals = tree
                .ephemerals(session)
                .into_iter()
                .filter(|path| prefix == "/" || path.starts_with(prefix))
                .collect();
            Ok(Response::GetEphemerals(GetEphemeralsResponse {
                ephemerals,
            }))
        }
        Request::Sync(request) => Ok(Response::Sync(SyncResponse {
            path: request.path.clone(),
        })),
        Request::MultiRead(request) => {
            let mut results = Vec::with_capacity(request.operations.len());
            for operation in &request.operations {
                let single = match operation {
                    MultiOperation::GetData(read) => Request::GetData(read.clone()),
                    MultiOperation::GetChildren(read) => Request::GetChildren(read.clone()),
                    _ => {
                        results.push(MultiResult::Error(ErrorResponse {
                            error_code: code::BAD_ARGUMENTS,
                        }));
                        continue;
                    }
                };
                let result = respond(tree, watches, reader, &single, zxid, notifications);
                results.push(match result {
                    Ok(Response::GetData(response)) => MultiResult::GetData(response),
                    Ok(Response::GetChildren(response)) => MultiResult::GetChildren(response),
                    Ok(_) => MultiResult::Error(ErrorResponse {
                        error_code: code::RUNTIME_INCONSISTENCY,
                    }),
                    Err(error_code) => MultiResult::Error(ErrorResponse { error_code }),
                });
            }
            Ok(Response::Multi(MultiResponse { results }))
        }
        Request::SetWatches(request) => {
            let empty = Vec::new();
            set_watches(
                tree,
                watches,
                session,
                request.relative_zxid,
                [
                    &request.data_watches,
                    &request.exist_watches,
                    &request.child_watches,
                ],
                [&empty, &empty],
                zxid,
                notifications,
            );
            Ok(Response::Empty)
        }
        Request::SetWatches2(request) => {
            set_watches(
                tree,
                watches,
                session,
                request.relative_zxid,
                [
                    &request.data_watches,
                    &request.exist_watches,
                    &request.child_watches,
                ],
                [
                    &request.persistent_watches,
                    &request.persistent_recursive_watches,
                ],
                zxid,
                notifications,
            );
            Ok(Response::Empty)
        }
        Request::AddWatch(request) => {
            let kind = match AddWatchMode::try_from(request.mode) {
                Ok(AddWatchMode::Persistent) => WatchKind::Persistent,
                Ok(AddWatchMode::PersistentRecursive) => WatchKind::PersistentRecursive,
                Err(_) => return Err(MARSHALLING_ERROR),
            };
            watches.add(session, kind, &request.path);
            Ok(Response::AddWatch(ErrorResponse { error_code: 0 }))
        }
        Request::RemoveWatches(request) => {
            let kinds = watch_kinds(request.watcher_type)?;
            let mut removed = false;
            for kind in kinds {
                removed |= watches.remove(session, *kind, &request.path);
            }
            if removed {
                Ok(Response::Empty)
            } else {
                Err(NO_WATCHER)
            }
        }
        Request::CheckWatches(request) => {
            let kinds = watch_kinds(request.watcher_type)?;
            if kinds
                .iter()
                .any(|kind| watches.contains(session, *kind, &request.path))
            {
                Ok(Response::Empty)
            } else {
                Err(NO_WATCHER)
            }
        }
        Request::WhoAmI => Ok(Response::WhoAmI(WhoAmIResponse {
            client_info: reader
                .identity
                .ids
                .iter()
                .filter(|id| id.scheme != "super")
                .map(|id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: match id.scheme.as_str() {
                        "digest" => id.id.split(':').next().unwrap_or_default().to_owned(),
                        _ => id.id.clone(),
                    },
                })
                .collect(),
        })),
        _ => Err(UNIMPLEMENTED),
    }
}

fn watch_kinds(watcher_type: i32) -> Result<&'static [WatchKind], i32> {
    Ok(match WatcherType::try_from(watcher_type) {
        Ok(WatcherType::Children) => &[WatchKind::Child],
        Ok(WatcherType::Data) => &[WatchKind::Data],
        Ok(WatcherType::Any) => &[
            WatchKind::Data,
            WatchKind::Child,
            WatchKind::Persistent,
            WatchKind::PersistentRecursive,
        ],
        Ok(WatcherType::Persistent) => &[WatchKind::Persistent],
        Ok(WatcherType::PersistentRecursive) => &[WatchKind::PersistentRecursive],
        // ZooKeeper fails to deserialize an unknown type: MarshallingError, connection kept.
        Err(_) => return Err(MARSHALLING_ERROR),
    })
}

/// Number of nodes below `path` (not counting it).
fn count_descendants(tree: &DataTree, path: &str) -> i32 {
    let mut count: i32 = 0;
    let mut stack = vec![path.to_owned()];
    while let Some(current) = stack.pop() {
        let Some(children) = tree.children(&current) else {
            continue;
        };
        for child in children {
            count = count.saturating_add(1);
            stack.push(if current == "/" {
                format!("/{child}")
            } else {
                format!("{current}/{child}")
            });
        }
    }
    count
}

/// Re-registers a reconnecting client's watches (ZooKeeper's `DataTree.setWatches`): a watch
/// whose node changed after `relative_zxid` fires at once instead.
#[allow(clippy::too_many_arguments)]
fn set_watches(
    tree: &DataTree,
    watches: &mut WatchManager,
    session: i64,
    relative_zxid: i64,
    [data, exist, child]: [&Vec<String>; 3],
    [persistent, recursive]: [&Vec<String>; 2],
    zxid: i64,
    notifications: &mut Vec<u8>,
) {
    let mut fire = |event: EventType, path: &str| {
        let event = WatcherEvent {
            event_type: event.value(),
            state: KeeperState::SyncConnected.value(),
            path: path.to_owned(),
        };
        encode_notification(notifications, zxid, &event);
    };
    for path in data {
        match tree.get(path) {
            None => fire(EventType::NodeDeleted, path),
            Some(node) if node.stat().mzxid > relative_zxid => {
                fire(EventType::NodeDataChanged, path);
            }
            Some(_) => watches.add(session, WatchKind::Data, path),
        }
    }
    for path in exist {
        if tree.contains(path) {
            fire(EventType::NodeCreated, path);
        } else {
            watches.add(session, WatchKind::Data, path);
        }
    }
    for path in child {
        match tree.get(path) {
            None => fire(EventType::NodeDeleted, path),
            Some(node) if node.stat().pzxid > relative_zxid => {
                fire(EventType::NodeChildrenChanged, path);
            }
            Some(_) => watches.add(session, WatchKind::Child, path),
        }
    }
    for path in persistent {
        watches.add(session, WatchKind::Persistent, path);
    }
    for path in recursive {
        watches.add(session, WatchKind::PersistentRecursive, path);
    }
}
