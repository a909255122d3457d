//! Four-letter words: the administrative commands (`ruok`, `srvr`, `mntr`, ...) that a tool
//! sends as the first four bytes of a connection instead of a framed connect request.
//!
//! ZooKeeper reads those bytes as a frame length and compares the number with the ASCII codes of
//! the known words; so detection happens only on a connection that has not yet completed the
//! connect handshake, before the length check (every word read as a length is larger than
//! `jute.maxbuffer`, and the telnet close sequence is negative). This module only recognises the
//! words; whether one is enabled (`4lw.commands.whitelist`) and what it prints belong to the
//! server.

/// A recognised four-letter word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// `conf`: print the configuration.
    Configuration,
    /// `cons`: list connections and their statistics.
    Connections,
    /// `crst`: reset connection statistics.
    ResetConnectionStatistics,
    /// `dirs`: sizes of the snapshot and log directories.
    Directories,
    /// `dump`: sessions and their ephemeral znodes (leader only).
    Dump,
    /// `envi`: the server's environment.
    Environment,
    /// `gtmk`: print the trace mask.
    GetTraceMask,
    /// `ruok`: answers `imok` when the server is running.
    AreYouOk,
    /// `stmk`: set the trace mask; followed by the mask as an 8-byte big-endian `long`.
    SetTraceMask,
    /// `srvr`: server details (the only word enabled by default).
    Server,
    /// `srst`: reset server statistics.
    ResetStatistics,
    /// `stat`: server details and connections.
    Statistics,
    /// `wchc`: watches by session.
    WatchesByConnection,
    /// `wchp`: watches by path.
    WatchesByPath,
    /// `wchs`: watch summary.
    WatchSummary,
    /// `mntr`: metrics as `key<TAB>value` lines.
    Monitor,
    /// `isro`: answers `ro` or `rw`.
    IsReadOnly,
    /// `hash`: digest history of the data tree.
    Hash,
    /// The telnet "interrupt process" sequence `ff f4 ff fd`: close the connection.
    TelnetClose,
}

impl FourLetterWord {
    /// Every word, in the order listed above.
    pub const ALL: [Self; 19] = [
        Self::Configuration,
        Self::Connections,
        Self::ResetConnectionStatistics,
        Self::Directories,
        Self::Dump,
        Self::Environment,
        Self::GetTraceMask,
        Self::AreYouOk,
        Self::SetTraceMask,
        Self::Server,
        Self::ResetStatistics,
        Self::Statistics,
        Self::WatchesByConnection,
        Self::WatchesByPath,
        Self::WatchSummary,
        Self::Monitor,
        Self::IsReadOnly,
        Self::Hash,
        Self::TelnetClose,
    ];

    /// Bytes of the trace mask that follow `stmk`.
    pub const TRACE_MASK_LEN: usize = 8;

    /// The four bytes on the wire.
    pub const fn bytes(self) -> [u8; 4] {
        match self {
            Self::Configuration => *b"conf",
            Self::Connections => *b"cons",
            Self::ResetConnectionStatistics => *b"crst",
            Self::Directories => *b"dirs",
            Self::Dump => *b"dump",
            Self::Environment => *b"envi",
            Self::GetTraceMask => *b"gtmk",
            Self::AreYouOk => *b"ruok",
            Self::SetTraceMask => *b"stmk",
            Self::Server => *b"srvr",
            Self::ResetStatistics => *b"srst",
            Self::Statistics => *b"stat",
            Self::WatchesByConnection => *b"wchc",
            Self::WatchesByPath => *b"wchp",
            Self::WatchSummary => *b"wchs",
            Self::Monitor => *b"mntr",
            Self::IsReadOnly => *b"isro",
            Self::Hash => *b"hash",
            Self::TelnetClose => [0xff, 0xf4, 0xff, 0xfd],
        }
    }

    /// The name used in the whitelist and in logs (`telnet close` for the telnet sequence).
    pub fn name(self) -> &'static str {
        match self {
            Self::TelnetClose => "telnet close",
            Self::Configuration => "conf",
            Self::Connections => "cons",
            Self::ResetConnectionStatistics => "crst",
            Self::Directories => "dirs",
            Self::Dump => "dump",
            Self::Environment => "envi",
            Self::GetTraceMask => "gtmk",
            Self::AreYouOk => "ruok",
            Self::SetTraceMask => "stmk",
            Self::Server => "srvr",
            Self::ResetStatistics => "srst",
            Self::Statistics => "stat",
            Self::WatchesByConnection => "wchc",
            Self::WatchesByPath => "wchp",
            Self::WatchSummary => "wchs",
            Self::Monitor => "mntr",
            Self::IsReadOnly => "isro",
            Self::Hash => "hash",
        }
    }

    /// The word whose bytes begin `first_bytes`, or `None` when fewer than four bytes are
    /// given or they are no known word (then they are a frame length). Case matters: `RUOK`
    /// is not a word.
    pub fn detect(first_bytes: &[u8]) -> Option<Self> {
        let (word, _) = first_bytes.split_first_chunk::<4>()?;
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.bytes() == *word)
    }

    /// The word named `name` (as written in a whitelist), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_detected_and_named() {
        for word in FourLetterWord::ALL {
            assert_eq!(FourLetterWord::detect(&word.bytes()), Some(word));
            assert_eq!(FourLetterWord::from_name(word.name()), Some(word));
        }
        assert_eq!(
            FourLetterWord::detect(b"ruok\n"),
            Some(FourLetterWord::AreYouOk)
        );
    }

    #[test]
    fn other_bytes_are_not_words() {
        assert_eq!(FourLetterWord::detect(b"ruo"), None);
        assert_eq!(FourLetterWord::detect(b"RUOK"), None);
        assert_eq!(FourLetterWord::detect(&[0, 0, 0, 45]), None);
    }

    #[test]
    fn words_read_as_lengths_are_never_valid_frames() {
        for word in FourLetterWord::ALL {
            let as_length = i32::from_be_bytes(word.bytes());
            assert!(!(0..=0xfffff).contains(&as_length), "{}", word.name());
        }
    }
}
