//! Text helpers shared by `zk-logdump` and `zk-snapdump` (the latter includes this file with
//! `#[path]`): JSON string escaping and a tiny JSON object builder, base64, hex, data rendering
//! (text when printable, else hex or base64), UTC time stamps, ZooKeeper error-code and
//! permission names, and number parsing for the command line. Nothing here reads a file or can
//! panic on any input.

use std::fmt::Write as _;

use zk_engine::txn::Acl;
use zk_engine::Zxid;

/// Appends `value` to `out` as a JSON string literal (quotes included).
pub fn json_string_into(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `value` as a JSON string literal.
pub fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    json_string_into(&mut out, value);
    out
}

/// Builds one JSON object, keys in the order they are added.
pub struct JsonObject {
    buf: String,
    empty: bool,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject {
            buf: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        json_string_into(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut JsonObject {
        self.key(key);
        json_string_into(&mut self.buf, value);
        self
    }

    /// Adds a number member.
    pub fn num(&mut self, key: &str, value: impl Into<i128>) -> &mut JsonObject {
        self.key(key);
        let _ = write!(self.buf, "{}", value.into());
        self
    }

    /// Adds a boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut JsonObject {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds a member whose value is already JSON text.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut JsonObject {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// The finished object.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.buf);
        out.push('}');
        self.empty = true;
        self.buf.push('{');
        out
    }
}

/// A JSON array of already-encoded values.
pub fn json_array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// A zxid as JSON: a hex string, as ZooKeeper's tools print it (a JSON number would lose
/// precision in many readers).
pub fn zxid_hex(zxid: Zxid) -> String {
    format!("0x{:x}", zxid.0)
}

/// A session id (or ephemeral owner) in hex, the way ZooKeeper prints it.
pub fn session_hex(session_id: i64) -> String {
    format!("0x{:x}", session_id as u64)
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648, section 4).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(BASE64_ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// Lower-case hex, no prefix.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Whether `data` is shown as text: valid UTF-8 without control characters other than tab,
/// line feed and carriage return.
pub fn printable_text(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    let ok = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    ok.then_some(text)
}

/// `text` in double quotes with `"`, `\` and control characters escaped (JSON-style escapes, so
/// the result reads the same in text and JSON output).
pub fn quoted(text: &str) -> String {
    json_string(text)
}

/// A path as one token: as is when it has no space, quote, backslash or control character,
/// else quoted.
pub fn path_token(path: &str) -> String {
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\');
    if plain {
        path.to_owned()
    } else {
        quoted(path)
    }
}

/// Data for a text line: `"text"` when printable, else `0x` and hex; at most `limit` bytes are
/// shown (0 = all), and `...` after the closing quote or the hex marks a cut.
pub fn data_token(data: &[u8], limit: usize) -> String {
    let cut = limit != 0 && data.len() > limit;
    let shown = if cut {
        data.get(..limit).unwrap_or(data)
    } else {
        data
    };
    let mut out = match printable_text(data) {
        Some(_) => {
            // Cut on a character boundary so the shown prefix is still text.
            let mut end = shown.len();
            while end > 0 && std::str::from_utf8(data.get(..end).unwrap_or_default()).is_err() {
                end -= 1;
            }
            let text = std::str::from_utf8(data.get(..end).unwrap_or_default()).unwrap_or("");
            quoted(text)
        }
        None => format!("0x{}", hex(shown)),
    };
    if cut {
        out.push_str("...");
    }
    out
}

/// Data as a JSON object: `{"size":N,"text":"..."}` when printable, else `{"size":N,"base64":
/// "..."}`; with a `limit` (0 = none), at most that many bytes are included and `"truncated":
/// true` says so.
pub fn data_json(data: &[u8], limit: usize) -> String {
    let mut object = JsonObject::new();
    object.num("size", data.len() as u64);
    let cut = limit != 0 && data.len() > limit;
    let shown = if cut {
        data.get(..limit).unwrap_or(data)
    } else {
        data
    };
    match printable_text(data) {
        Some(_) => {
            let mut end = shown.len();
            while end > 0 && std::str::from_utf8(data.get(..end).unwrap_or_default()).is_err() {
                end -= 1;
            }
            let text = std::str::from_utf8(data.get(..end).unwrap_or_default()).unwrap_or("");
            object.str("text", text);
        }
        None => {
            object.str("base64", &base64(shown));
        }
    }
    if cut {
        object.bool("truncated", true);
    }
    object.finish()
}

/// ZooKeeper permission letters in `getAcl` order (`cdrwa`), then any unknown bits in hex.
pub fn perms_letters(perms: i32) -> String {
    let mut out = String::new();
    for (bit, letter) in [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')] {
        if perms & bit != 0 {
            out.push(letter);
        }
    }
    let unknown = perms & !31;
    if unknown != 0 {
        let _ = write!(out, "+0x{:x}", unknown as u32);
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// An ACL for a text line: `[scheme:id:perms,...]`, zkCli's `setAcl` syntax (the permission
/// letters come after the last colon, so ids with colons stay unambiguous).
pub fn acl_token(acl: &[Acl]) -> String {
    let entries: Vec<String> = acl
        .iter()
        .map(|entry| {
            let who = format!(
                "{}:{}:{}",
                entry.scheme,
                entry.id,
                perms_letters(entry.perms)
            );
            if who
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | ',' | ']'))
            {
                quoted(&who)
            } else {
                who
            }
        })
        .collect();
    format!("[{}]", entries.join(","))
}

/// An ACL as a JSON array of `{"perms":N,"scheme":"...","id":"..."}`.
pub fn acl_json(acl: &[Acl]) -> String {
    let entries: Vec<String> = acl
        .iter()
        .map(|entry| {
            JsonObject::new()
                .num("perms", entry.perms)
                .str("scheme", &entry.scheme)
                .str("id", &entry.id)
                .finish()
        })
        .collect();
    json_array(&entries)
}

/// The name of a ZooKeeper error code (`KeeperException.Code`), if it has one.
pub fn error_code_name(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => "OK",
        -1 => "SYSTEMERROR",
        -2 => "RUNTIMEINCONSISTENCY",
        -3 => "DATAINCONSISTENCY",
        -4 => "CONNECTIONLOSS",
        -5 => "MARSHALLINGERROR",
        -6 => "UNIMPLEMENTED",
        -7 => "OPERATIONTIMEOUT",
        -8 => "BADARGUMENTS",
        -12 => "UNKNOWNSESSION",
        -13 => "NEWCONFIGNOQUORUM",
        -14 => "RECONFIGINPROGRESS",
        -100 => "APIERROR",
        -101 => "NONODE",
        -102 => "NOAUTH",
        -103 => "BADVERSION",
        -108 => "NOCHILDRENFOREPHEMERALS",
        -110 => "NODEEXISTS",
        -111 => "NOTEMPTY",
        -112 => "SESSIONEXPIRED",
        -113 => "INVALIDCALLBACK",
        -114 => "INVALIDACL",
        -115 => "AUTHFAILED",
        -118 => "SESSIONMOVED",
        -119 => "NOTREADONLY",
        -120 => "EPHEMERALONLOCALSESSION",
        -121 => "NOWATCHER",
        -122 => "REQUESTTIMEOUT",
        -123 => "RECONFIGDISABLED",
        -124 => "SESSIONCLOSEDREQUIRESASLAUTH",
        -125 => "QUOTAEXCEEDED",
        -127 => "THROTTLEDOP",
        _ => return None,
    })
}

/// Milliseconds since the Unix epoch as an ISO 8601 UTC time stamp,
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`. Every `i64` is accepted (years beyond 9999 get more digits,
/// years before 0 a minus sign).
pub fn utc_time(ms: i64) -> String {
    let ms = i128::from(ms);
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year = if year < 0 {
        format!("-{:04}", -year)
    } else {
        format!("{year:04}")
    };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Year, month, day of the proleptic Gregorian calendar from days since 1970-01-01 (the
/// well-known `civil_from_days` algorithm of H. Hinnant), in `i128` so no input overflows.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let year = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { year + 1 } else { year }, month, day)
}

/// A duration in milliseconds as `1d 2h 3m 4.567s` (largest units first, zero units left out).
pub fn duration_text(ms: i128) -> String {
    let negative = ms < 0;
    let ms = ms.abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let (days, hours, minutes) = (ms / 86_400_000, ms / 3_600_000 % 24, ms / 60_000 % 60);
    let (seconds, millis) = (ms / 1000 % 60, ms % 1000);
    for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m")] {
        if value != 0 {
            let _ = write!(out, "{value}{unit} ");
        }
    }
    let _ = write!(out, "{seconds}.{millis:03}s");
    out
}

/// A byte count with a binary unit when large: `512 B`, `1.5 KiB`, `64.0 MiB`.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("TiB"))
}

/// Parses an unsigned number written in decimal or, after `0x`, in hex.
pub fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Parses a zxid: `0x100000005` (hex), `4294967301` (decimal) or `1.5` (epoch.counter).
pub fn parse_zxid(text: &str) -> Option<Zxid> {
    if let Some((epoch, counter)) = text.split_once('.') {
        let epoch: u32 = epoch.trim().parse().ok()?;
        let counter: u32 = counter.trim().parse().ok()?;
        return Some(Zxid::new(epoch, counter));
    }
    parse_u64(text).map(Zxid)
}

/// Parses a session id: hex after `0x` (as ZooKeeper prints them), or decimal (negative
/// allowed).
pub fn parse_session(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.starts_with("0x") || text.starts_with("0X") {
        return parse_u64(text).map(|v| v as i64);
    }
    text.parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_time(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(utc_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        // Extremes do not panic.
        let _ = utc_time(i64::MAX);
        let _ = utc_time(i64::MIN);
    }

    #[test]
    fn json_escapes_controls() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn data_tokens() {
        assert_eq!(data_token(b"hi", 0), "\"hi\"");
        assert_eq!(data_token(&[0, 255], 0), "0x00ff");
        assert_eq!(data_token(b"hello", 2), "\"he\"...");
        assert_eq!(data_token("é".as_bytes(), 1), "\"\"...");
        assert_eq!(data_token(&[1, 2, 3], 2), "0x0102...");
    }

    #[test]
    fn zxids_parse() {
        assert_eq!(parse_zxid("0x100000005"), Some(Zxid::new(1, 5)));
        assert_eq!(parse_zxid("1.5"), Some(Zxid::new(1, 5)));
        assert_eq!(parse_zxid("4294967301"), Some(Zxid::new(1, 5)));
        assert_eq!(parse_zxid("x"), None);
    }
}
