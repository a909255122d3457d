//! The body stream (FORMAT.md 8.3): the sections a snapshot holds once its blocks are
//! decompressed and concatenated. Encoders append to a `Vec<u8>`; the parser takes the bytes it
//! has so far and either returns one whole section, says it needs more bytes, or says why the
//! bytes cannot be a section. It checks every length against the bytes the body still holds
//! before allocating anything.

use super::header::MAX_FIELD_LEN;
use crate::tree::StatPersisted;
use crate::txn::Acl;

/// Tag of the sessions section.
pub(crate) const TAG_SESSIONS: u8 = 1;
/// Tag of an ACL list section.
pub(crate) const TAG_ACL_LIST: u8 = 2;
/// Tag of a node section.
pub(crate) const TAG_NODE: u8 = 3;
/// Tag of the end of the stream.
pub(crate) const TAG_END: u8 = 4;

/// Bytes of one session entry: `i64` id, `i32` timeout.
const SESSION_LEN: usize = 12;
/// Smallest ACL entry: `i32` perms and two empty strings.
const MIN_ACL_ENTRY_LEN: usize = 12;
/// Bytes of the persisted stat in a node section.
const STAT_LEN: usize = 60;
/// Largest section the reader accepts (a node with a path and data of [`MAX_FIELD_LEN`] each
/// fits), so that what it holds in memory while a section is incomplete is bounded. Each
/// session entry counts as a section of its own.
pub(crate) const MAX_SECTION_LEN: usize = 2 * MAX_FIELD_LEN + 128;

/// One node as a snapshot stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotNode<'a> {
    /// Absolute path.
    pub path: &'a str,
    /// Data; `None` when it is null (FORMAT.md 8.3: length `0xFFFFFFFF`).
    pub data: Option<&'a [u8]>,
    /// Id of its ACL list, local to the file (an earlier ACL list section defines it).
    pub acl_id: u32,
    /// Persisted stat.
    pub stat: StatPersisted,
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a length-prefixed field. The caller has checked that it fits in a `u32`.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// Appends the sessions section.
pub(crate) fn encode_sessions(out: &mut Vec<u8>, sessions: &[(i64, i32)]) {
    out.push(TAG_SESSIONS);
    put_u32(out, sessions.len() as u32);
    for (id, timeout_ms) in sessions {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&timeout_ms.to_le_bytes());
    }
}

/// Appends an ACL list section.
pub(crate) fn encode_acl_list(out: &mut Vec<u8>, id: u32, acl: &[Acl]) {
    out.push(TAG_ACL_LIST);
    put_u32(out, id);
    put_u32(out, acl.len() as u32);
    for entry in acl {
        out.extend_from_slice(&entry.perms.to_le_bytes());
        put_bytes(out, entry.scheme.as_bytes());
        put_bytes(out, entry.id.as_bytes());
    }
}

/// Appends a node section.
pub(crate) fn encode_node(out: &mut Vec<u8>, node: &SnapshotNode<'_>) {
    out.push(TAG_NODE);
    put_bytes(out, node.path.as_bytes());
    match node.data {
        Some(data) => put_bytes(out, data),
        None => put_u32(out, crate::txn::codec::NULL_DATA_LEN),
    }
    put_u32(out, node.acl_id);
    let stat = &node.stat;
    for value in [stat.czxid, stat.mzxid, stat.ctime, stat.mtime] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for value in [stat.version, stat.cversion, stat.aversion] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for value in [stat.ephemeral_owner, stat.pzxid] {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Appends the end tag.
pub(crate) fn encode_end(out: &mut Vec<u8>) {
    out.push(TAG_END);
}

/// Whether a field of this length can be written (and will be read back).
pub(crate) fn field_fits(len: usize) -> bool {
    len <= MAX_FIELD_LEN
}

/// The length of the ACL list section of `acl`.
pub(crate) fn acl_list_len(acl: &[Acl]) -> usize {
    9 + acl
        .iter()
        .map(|entry| 12 + entry.scheme.len() + entry.id.len())
        .sum::<usize>()
}

/// One section of the body stream, as the parser hands it on. The sessions section comes as
/// its count, then one item per session, so that no allocation depends on the count.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Section<'a> {
    /// The start of the sessions section.
    Sessions { count: u32 },
    /// One entry of the sessions section.
    Session { id: i64, timeout_ms: i32 },
    /// An ACL list and its file-local id.
    AclList { id: u32, acl: Vec<Acl> },
    /// A node.
    Node(SnapshotNode<'a>),
    /// The end of the stream.
    End,
}

/// What [`parse_section`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A whole section, and how many bytes it took.
    Section(Section<'a>, usize),
    /// The bytes end inside a section: call again with more.
    Incomplete,
}

/// A cursor over the bytes at hand. `body_left` is how many bytes the body still holds from the
/// start of `bytes` (the trailer says how long the body is), so that a length can be checked
/// against what can possibly follow even when only part of it has been read; `limit` is that,
/// or less: the most one section may take.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    limit: u64,
    body_left: u64,
}

/// Why a section could not be taken from the bytes at hand.
enum Need {
    /// More bytes are needed.
    More,
    /// The bytes are not a valid section.
    Invalid(String),
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Need> {
        let end = self
            .at
            .checked_add(n)
            .ok_or_else(|| Need::Invalid(format!("{what} of {n} bytes overflows")))?;
        if end as u64 > self.limit {
            return Err(Need::Invalid(format!(
                "{what} of {n} bytes runs past the end of the body or the section size limit \
                 ({} bytes left)",
                self.limit.saturating_sub(self.at as u64)
            )));
        }
        let slice = self.bytes.get(self.at..end).ok_or(Need::More)?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Need> {
        let slice = self.take(N, what)?;
        slice
            .try_into()
            .map_err(|_| Need::Invalid(format!("{what}: short read")))
    }

    fn u8(&mut self, what: &str) -> Result<u8, Need> {
        Ok(u8::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Need> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32, Need> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &str) -> Result<i64, Need> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], Need> {
        let len = self.u32(what)? as usize;
        if !field_fits(len) {
            return Err(Need::Invalid(format!(
                "{what} of {len} bytes is longer than the limit of {MAX_FIELD_LEN}"
            )));
        }
        self.take(len, what)
    }

    /// A data field: bytes, or `None` for the null length.
    fn data(&mut self, what: &str) -> Result<Option<&'a [u8]>, Need> {
        let len = self.u32(what)?;
        if len == crate::txn::codec::NULL_DATA_LEN {
            return Ok(None);
        }
        let len = len as usize;
        if !field_fits(len) {
            return Err(Need::Invalid(format!(
                "{what} of {len} bytes is longer than the limit of {MAX_FIELD_LEN}"
            )));
        }
        self.take(len, what).map(Some)
    }

    fn string(&mut self, what: &str) -> Result<&'a str, Need> {
        let bytes = self.bytes(what)?;
        std::str::from_utf8(bytes).map_err(|e| Need::Invalid(format!("{what} is not UTF-8: {e}")))
    }

    /// Checks that `count` items of at least `each` bytes can follow in the body (or, with
    /// `in_section`, in this section); returns how many of them the bytes at hand could hold,
    /// which bounds any allocation made for them.
    fn check_count(
        &self,
        count: u32,
        each: usize,
        in_section: bool,
        what: &str,
    ) -> Result<usize, Need> {
        let needed = u64::from(count).saturating_mul(each as u64);
        let room = if in_section {
            self.limit
        } else {
            self.body_left
        };
        let left = room.saturating_sub(self.at as u64);
        if needed > left {
            return Err(Need::Invalid(format!(
                "{count} {what} cannot fit in the {left} bytes left"
            )));
        }
        let at_hand = self.bytes.len().saturating_sub(self.at) / each.max(1);
        Ok((count as usize).min(at_hand))
    }
}

/// Takes one section from the front of `bytes`. `body_left` is how many bytes of the body remain
/// from the start of `bytes`, `bytes.len()` included; `sessions_left` is how many entries of the
/// sessions section are still to come.
pub(crate) fn parse_section(
    bytes: &[u8],
    body_left: u64,
    sessions_left: u32,
) -> Result<Parsed<'_>, String> {
    let mut cursor = Cursor {
        bytes,
        at: 0,
        limit: body_left.min(MAX_SECTION_LEN as u64),
        body_left,
    };
    let parsed = if sessions_left > 0 {
        session(&mut cursor)
    } else {
        section(&mut cursor)
    };
    match parsed {
        Ok(section) => Ok(Parsed::Section(section, cursor.at)),
        Err(Need::More) => Ok(Parsed::Incomplete),
        Err(Need::Invalid(reason)) => Err(reason),
    }
}

fn session<'a>(cursor: &mut Cursor<'a>) -> Result<Section<'a>, Need> {
    Ok(Section::Session {
        id: cursor.i64("session id")?,
        timeout_ms: cursor.i32("session timeout")?,
    })
}

fn section<'a>(cursor: &mut Cursor<'a>) -> Result<Section<'a>, Need> {
    match cursor.u8("section tag")? {
        TAG_SESSIONS => {
            let count = cursor.u32("session count")?;
            cursor.check_count(count, SESSION_LEN, false, "sessions")?;
            Ok(Section::Sessions { count })
        }
        TAG_ACL_LIST => {
            let id = cursor.u32("ACL list id")?;
            let count = cursor.u32("ACL entry count")?;
            let at_hand = cursor.check_count(count, MIN_ACL_ENTRY_LEN, true, "ACL entries")?;
            let mut acl = Vec::with_capacity(at_hand);
            for _ in 0..count {
                let perms = cursor.i32("ACL perms")?;
                let scheme = cursor.string("ACL scheme")?;
                let id = cursor.string("ACL id")?;
                acl.push(Acl::new(perms, scheme, id));
            }
            Ok(Section::AclList { id, acl })
        }
        TAG_NODE => {
            let path = cursor.string("node path")?;
            let data = cursor.data("node data")?;
            let acl_id = cursor.u32("node ACL id")?;
            cursor.check_count(1, STAT_LEN, true, "node stats")?;
            let stat = StatPersisted {
                czxid: cursor.i64("czxid")?,
                mzxid: cursor.i64("mzxid")?,
                ctime: cursor.i64("ctime")?,
                mtime: cursor.i64("mtime")?,
                version: cursor.i32("version")?,
                cversion: cursor.i32("cversion")?,
                aversion: cursor.i32("aversion")?,
                ephemeral_owner: cursor.i64("ephemeralOwner")?,
                pzxid: cursor.i64("pzxid")?,
            };
            Ok(Section::Node(SnapshotNode {
                path,
                data,
                acl_id,
                stat,
            }))
        }
        TAG_END => Ok(Section::End),
        tag => Err(Need::Invalid(format!("unknown section tag {tag}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::txn::perms;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode_sessions(&mut out, &[(7, 3000), (-2, 40_000)]);
        encode_acl_list(
            &mut out,
            1,
            &[
                Acl::new(perms::ALL, "world", "anyone"),
                Acl::new(perms::READ, "digest", "u:p"),
            ],
        );
        encode_node(
            &mut out,
            &SnapshotNode {
                path: "/a",
                data: Some(b"xyz"),
                acl_id: 1,
                stat: StatPersisted {
                    czxid: 1,
                    mzxid: 2,
                    ctime: 3,
                    mtime: 4,
                    version: 5,
                    cversion: 6,
                    aversion: 7,
                    ephemeral_owner: 8,
                    pzxid: 9,
                },
            },
        );
        encode_end(&mut out);
        out
    }

    /// Sessions still to come after `section`.
    fn sessions_after(section: &Section<'_>, sessions_left: u32) -> u32 {
        match section {
            Section::Sessions { count } => *count,
            Section::Session { .. } => sessions_left - 1,
            _ => sessions_left,
        }
    }

    fn parse_all(bytes: &[u8]) -> Vec<String> {
        let mut at = 0;
        let mut sessions_left = 0;
        let mut seen = Vec::new();
        loop {
            let rest = &bytes[at..];
            match parse_section(rest, rest.len() as u64, sessions_left).unwrap() {
                Parsed::Section(section, used) => {
                    let end = section == Section::End;
                    sessions_left = sessions_after(&section, sessions_left);
                    seen.push(format!("{section:?}"));
                    at += used;
                    if end {
                        return seen;
                    }
                }
                Parsed::Incomplete => panic!("incomplete at {at}"),
            }
        }
    }

    #[test]
    fn node_section_bytes() {
        let mut out = Vec::new();
        let stat = StatPersisted {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            pzxid: 9,
        };
        encode_node(
            &mut out,
            &SnapshotNode {
                path: "/a",
                data: Some(b"d"),
                acl_id: 2,
                stat,
            },
        );
        let mut expected = vec![3u8, 2, 0, 0, 0, b'/', b'a', 1, 0, 0, 0, b'd', 2, 0, 0, 0];
        for v in [1i64, 2, 3, 4] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        for v in [5i32, 6, 7] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        for v in [8i64, 9] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn round_trip_and_every_prefix_is_incomplete() {
        let bytes = sample();
        // Sessions header, two sessions, ACL list, node, end.
        assert_eq!(parse_all(&bytes).len(), 6);
        // Any cut inside a section asks for more, never fails, as long as the body is longer.
        let total = bytes.len() as u64;
        let mut at = 0;
        let mut sessions_left = 0;
        while at < bytes.len() {
            let left = total - at as u64;
            let Parsed::Section(section, used) =
                parse_section(&bytes[at..], left, sessions_left).unwrap()
            else {
                panic!()
            };
            for cut in at..at + used {
                assert_eq!(
                    parse_section(&bytes[at..cut], left, sessions_left),
                    Ok(Parsed::Incomplete),
                    "cut at {cut}"
                );
            }
            sessions_left = sessions_after(&section, sessions_left);
            at += used;
        }
    }

    #[test]
    fn lengths_past_the_body_are_invalid() {
        let bytes = sample();
        // The body claims to end early: the first section no longer fits.
        assert!(parse_section(&bytes, 10, 0).is_err());
        // A huge session count is refused before any allocation.
        let mut huge = vec![TAG_SESSIONS];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_section(&huge, 1 << 20, 0).is_err());
        assert!(parse_section(&[9], 1, 0).is_err());
        // A large ACL entry count that fits the section limit allocates only for the bytes at
        // hand; one past the limit is refused.
        let mut acl = vec![TAG_ACL_LIST, 1, 0, 0, 0];
        acl.extend_from_slice(&1_000_000u32.to_le_bytes());
        assert_eq!(parse_section(&acl, 1 << 40, 0), Ok(Parsed::Incomplete));
        acl.truncate(5);
        acl.extend_from_slice(&(u32::MAX / 64).to_le_bytes());
        assert!(parse_section(&acl, 1 << 40, 0).is_err());
    }
}
