//! Fuzz target body for four-letter words: detection on the first bytes of a connection, names,
//! and the `4lw.commands.whitelist` setting.
//!
//! This file is compiled twice: as a module of the fuzz crate, and by `#[path]` into
//! `server/tests/fuzz_corpus.rs`, which replays the corpus on stable. It belongs in
//! `zk_server::proto::fuzzing` beside the other protocol targets; once it is there, both users
//! call it from there and this file goes.

use zk_server::config::{FourLetterWhitelist, ServerConfig};
use zk_server::proto::{decode_frame, FourLetterWord, FrameDecode, DEFAULT_MAX_FRAME_LEN};

/// The input is the first bytes of a connection, and, as text, a whitelist value.
pub fn four_letter(data: &[u8]) {
    match (FourLetterWord::detect(data), data.first_chunk::<4>()) {
        (Some(word), Some(first)) => {
            assert_eq!(word.bytes(), *first, "{word:?} detected in other bytes");
            assert_eq!(FourLetterWord::from_name(word.name()), Some(word));
            // The server detects words before reading a length: a word must never also be a
            // frame the server would wait for or accept.
            let as_frame = decode_frame(data, DEFAULT_MAX_FRAME_LEN);
            assert!(
                matches!(
                    as_frame,
                    FrameDecode::TooLarge(_) | FrameDecode::Negative(_)
                ),
                "{word:?} is also a frame: {as_frame:?}"
            );
        }
        (Some(word), None) => panic!("{word:?} detected in fewer than four bytes"),
        (None, Some(first)) => assert!(
            FourLetterWord::ALL.iter().all(|w| w.bytes() != *first),
            "a word was not detected in {first:?}"
        ),
        (None, None) => {}
    }

    let text = String::from_utf8_lossy(data);
    if let Some(word) = FourLetterWord::from_name(&text) {
        assert_eq!(word.name(), text, "from_name");
    }
    let value: String = text.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
    let config_text = format!("4lw.commands.whitelist={value}\n");
    let Ok(config) = ServerConfig::from_text(&config_text, "fuzz.cfg") else {
        return;
    };
    match &config.four_letter_whitelist {
        FourLetterWhitelist::All => {
            for word in FourLetterWord::ALL {
                assert!(config.four_letter_whitelist.allows(word.name()));
            }
        }
        FourLetterWhitelist::Only(words) => {
            for listed in words {
                assert!(
                    !listed.is_empty() && listed.trim() == listed && listed != "*",
                    "whitelist entry {listed:?} from {value:?}"
                );
                assert!(!listed.contains(','), "unsplit entry {listed:?}");
            }
            for word in FourLetterWord::ALL {
                assert_eq!(
                    config.four_letter_whitelist.allows(word.name()),
                    words.contains(word.name()),
                    "{word:?}"
                );
            }
        }
    }
}
