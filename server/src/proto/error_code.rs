//! ZooKeeper error codes: the `err` field of a `ReplyHeader`, of a `MultiHeader` in a multi
//! response, and of an `ErrorResponse`.
//!
//! Values from ZooKeeper's `KeeperException.Code`. `0` is success; codes from -1 to -99 are
//! system errors, codes from -100 down are API errors that a client is expected to handle.

wire_enum! {
    /// Every error code of the ZooKeeper 3.9 protocol.
    pub enum ErrorCode {
        /// Success.
        Ok = 0,
        /// An unexpected server-side failure.
        SystemError = -1,
        /// A runtime inconsistency was found; in a multi response, the ops that were rolled back
        /// because another op failed.
        RuntimeInconsistency = -2,
        /// A data inconsistency was found.
        DataInconsistency = -3,
        /// The connection to the server was lost (client side only).
        ConnectionLoss = -4,
        /// A request or response could not be encoded or decoded.
        MarshallingError = -5,
        /// The operation is not implemented.
        Unimplemented = -6,
        /// The operation timed out.
        OperationTimeout = -7,
        /// Invalid arguments (bad path, bad create flags, ...).
        BadArguments = -8,
        /// The session is not known to the server.
        UnknownSession = -12,
        /// A reconfiguration could not reach a quorum of the new configuration.
        NewConfigNoQuorum = -13,
        /// Another reconfiguration is in progress.
        ReconfigInProgress = -14,
        /// Generic API error (never returned by the server).
        ApiError = -100,
        /// The znode does not exist.
        NoNode = -101,
        /// Not authorized.
        NoAuth = -102,
        /// The expected version does not match.
        BadVersion = -103,
        /// Ephemeral znodes may not have children.
        NoChildrenForEphemerals = -108,
        /// The znode already exists.
        NodeExists = -110,
        /// The znode has children.
        NotEmpty = -111,
        /// The session has expired.
        SessionExpired = -112,
        /// Invalid callback (client side only).
        InvalidCallback = -113,
        /// Invalid ACL.
        InvalidAcl = -114,
        /// Authentication failed.
        AuthFailed = -115,
        /// The session moved to another server.
        SessionMoved = -118,
        /// A write was sent to a read-only server.
        NotReadOnly = -119,
        /// Ephemeral znodes need a global session, not a local one.
        EphemeralOnLocalSession = -120,
        /// No such watch to check or remove.
        NoWatcher = -121,
        /// The request timed out (client side only).
        RequestTimeout = -122,
        /// Dynamic reconfiguration is disabled.
        ReconfigDisabled = -123,
        /// The session was closed because SASL authentication is required.
        SessionClosedRequireSaslAuth = -124,
        /// A quota was exceeded.
        QuotaExceeded = -125,
        /// The operation was throttled.
        ThrottledOp = -127,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_are_distinct() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::try_from(code.value()), Ok(*code));
        }
        let mut values: Vec<i32> = ErrorCode::ALL.iter().map(|code| code.value()).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), ErrorCode::ALL.len());
        assert_eq!(ErrorCode::try_from(-126), Err(-126));
    }
}
