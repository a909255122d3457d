//! Special xids. A client numbers its requests with increasing positive xids and the server
//! echoes each in the reply; these negative values mark frames that are not ordinary replies.

/// Server to client: a watch notification (`ReplyHeader` + `WatcherEvent`).
pub const NOTIFICATION: i32 = -1;
/// Both ways: a ping request and its reply.
pub const PING: i32 = -2;
/// Both ways: an `AuthPacket` request and its reply.
pub const AUTH: i32 = -4;
/// Both ways: the `SetWatches`/`SetWatches2` a client sends after reconnecting, and its reply.
pub const SET_WATCHES: i32 = -8;
