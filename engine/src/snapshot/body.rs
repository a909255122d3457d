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
/// Tag of a compact node section (format version 2).
pub(crate) const TAG_NODE_COMPACT: u8 = 5;

/// Flag of a compact node: `mzxid` equals `czxid`.
const SAME_MZXID: u8 = 1;
/// Flag of a compact node: `pzxid` equals `czxid`.
const SAME_PZXID: u8 = 1 << 1;
/// Flag of a compact node: `mtime` equals `ctime`.
const SAME_MTIME: u8 = 1 << 2;
/// Flag of a compact node: `version`, `cversion` and `aversion` are all 0.
const ZERO_VERSIONS: u8 = 1 << 3;
/// Flag of a compact node: `ephemeralOwner` is 0.
const NOT_EPHEMERAL: u8 = 1 << 4;
/// Every flag a compact node may carry; the others must be 0.
const KNOWN_FLAGS: u8 = SAME_MZXID | SAME_PZXID | SAME_MTIME | ZERO_VERSIONS | NOT_EPHEMERAL;

/// What a compact node section's `czxid` and `ctime` are relative to: those of the node section
/// before it (zeros before the first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NodeBase {
    pub(crate) czxid: i64,
    pub(crate) ctime: i64,
}

impl NodeBase {
    /// The base for the node section after one with `stat`.
    pub(crate) fn after(stat: &StatPersisted) -> NodeBase {
        NodeBase {
            czxid: stat.czxid,
            ctime: stat.ctime,
        }
    }
}

/// How node sections are written, by format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeEncoding {
    /// Version 1: tag 3, every stat field in full.
    Full,
    /// Version 2: tag 5, relative to the previous node section.
    Compact(NodeBase),
}

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

/// Appends a version 1 node section (this build writes version 2; tests write version 1 bodies
/// to check that they are still read).
#[cfg(test)]
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

/// Appends `value` as an unsigned LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed value zigzag-encoded (small magnitudes of either sign take few bytes).
fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn zigzag_decode(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends a compact node section (format version 2, FORMAT.md 8.3) relative to `base`.
pub(crate) fn encode_node_compact(out: &mut Vec<u8>, node: &SnapshotNode<'_>, base: NodeBase) {
    let stat = &node.stat;
    out.push(TAG_NODE_COMPACT);
    put_varint(out, node.path.len() as u64);
    out.extend_from_slice(node.path.as_bytes());
    match node.data {
        Some(data) => {
            put_varint(out, data.len() as u64 + 1);
            out.extend_from_slice(data);
        }
        None => put_varint(out, 0),
    }
    put_varint(out, u64::from(node.acl_id));
    let zero_versions = stat.version == 0 && stat.cversion == 0 && stat.aversion == 0;
    let flags = [
        (stat.mzxid == stat.czxid, SAME_MZXID),
        (stat.pzxid == stat.czxid, SAME_PZXID),
        (stat.mtime == stat.ctime, SAME_MTIME),
        (zero_versions, ZERO_VERSIONS),
        (stat.ephemeral_owner == 0, NOT_EPHEMERAL),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0u8, |flags, (_, flag)| flags | flag);
    out.push(flags);
    put_signed(out, stat.czxid.wrapping_sub(base.czxid));
    put_signed(out, stat.ctime.wrapping_sub(base.ctime));
    if flags & SAME_MZXID == 0 {
        put_signed(out, stat.mzxid.wrapping_sub(stat.czxid));
    }
    if flags & SAME_PZXID == 0 {
        put_signed(out, stat.pzxid.wrapping_sub(stat.czxid));
    }
    if flags & SAME_MTIME == 0 {
        put_signed(out, stat.mtime.wrapping_sub(stat.ctime));
    }
    if !zero_versions {
        for value in [stat.version, stat.cversion, stat.aversion] {
            put_signed(out, i64::from(value));
        }
    }
    if flags & NOT_EPHEMERAL == 0 {
        out.extend_from_slice(&stat.ephemeral_owner.to_le_bytes());
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

    /// An unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    fn varint(&mut self, what: &str) -> Result<u64, Need> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            if shift == 63 && byte > 1 {
                return Err(Need::Invalid(format!("{what}: varint overflows 64 bits")));
            }
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Need::Invalid(format!(
            "{what}: varint longer than 10 bytes"
        )))
    }

    fn signed(&mut self, what: &str) -> Result<i64, Need> {
        Ok(zigzag_decode(self.varint(what)?))
    }

    fn signed_i32(&mut self, what: &str) -> Result<i32, Need> {
        let value = self.signed(what)?;
        i32::try_from(value)
            .map_err(|_| Need::Invalid(format!("{what} {value} is not a 32-bit value")))
    }

    /// A field length given as a varint, checked against [`MAX_FIELD_LEN`].
    fn varint_len(&mut self, value: u64, what: &str) -> Result<usize, Need> {
        usize::try_from(value)
            .ok()
            .filter(|len| field_fits(*len))
            .ok_or_else(|| {
                Need::Invalid(format!(
                    "{what} of {value} bytes is longer than the limit of {MAX_FIELD_LEN}"
                ))
            })
    }

    /// A compact node section's path: a varint length, then UTF-8 bytes.
    fn varint_string(&mut self, what: &str) -> Result<&'a str, Need> {
        let value = self.varint(what)?;
        let len = self.varint_len(value, what)?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| Need::Invalid(format!("{what} is not UTF-8: {e}")))
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
/// sessions section are still to come; `nodes` says which node sections the file's version has
/// (and, for compact ones, the base the next one is relative to).
pub(crate) fn parse_section(
    bytes: &[u8],
    body_left: u64,
    sessions_left: u32,
    nodes: NodeEncoding,
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
        section(&mut cursor, nodes)
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

fn section<'a>(cursor: &mut Cursor<'a>, nodes: NodeEncoding) -> Result<Section<'a>, Need> {
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
        TAG_NODE if nodes == NodeEncoding::Full => {
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
        TAG_NODE_COMPACT => match nodes {
            NodeEncoding::Compact(base) => compact_node(cursor, base).map(Section::Node),
            NodeEncoding::Full => Err(Need::Invalid(
                "a compact node section (tag 5) in a version 1 snapshot".into(),
            )),
        },
        TAG_NODE => Err(Need::Invalid(
            "a version 1 node section (tag 3) in a version 2 snapshot".into(),
        )),
        TAG_END => Ok(Section::End),
        tag => Err(Need::Invalid(format!("unknown section tag {tag}"))),
    }
}

/// The rest of a compact node section (FORMAT.md 8.3), its tag taken.
fn compact_node<'a>(cursor: &mut Cursor<'a>, base: NodeBase) -> Result<SnapshotNode<'a>, Need> {
    let path = cursor.varint_string("node path")?;
    let data = match cursor.varint("node data length")? {
        0 => None,
        value => {
            let len = cursor.varint_len(value - 1, "node data")?;
            Some(cursor.take(len, "node data")?)
        }
    };
    let acl_id = u32::try_from(cursor.varint("node ACL id")?)
        .map_err(|_| Need::Invalid("node ACL id does not fit in 32 bits".into()))?;
    let flags = cursor.u8("node flags")?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Need::Invalid(format!("unknown node flags {flags:#04x}")));
    }
    let czxid = base.czxid.wrapping_add(cursor.signed("czxid")?);
    let ctime = base.ctime.wrapping_add(cursor.signed("ctime")?);
    let mut relative = |flag: u8, to: i64, what: &str| -> Result<i64, Need> {
        if flags & flag != 0 {
            Ok(to)
        } else {
            Ok(to.wrapping_add(cursor.signed(what)?))
        }
    };
    let mzxid = relative(SAME_MZXID, czxid, "mzxid")?;
    let pzxid = relative(SAME_PZXID, czxid, "pzxid")?;
    let mtime = relative(SAME_MTIME, ctime, "mtime")?;
    let (version, cversion, aversion) = if flags & ZERO_VERSIONS != 0 {
        (0, 0, 0)
    } else {
        (
            cursor.signed_i32("version")?,
            cursor.signed_i32("cversion")?,
            cursor.signed_i32("aversion")?,
        )
    };
    let ephemeral_owner = if flags & NOT_EPHEMERAL != 0 {
        0
    } else {
        cursor.i64("ephemeralOwner")?
    };
    Ok(SnapshotNode {
        path,
        data,
        acl_id,
        stat: StatPersisted {
            czxid,
            mzxid,
            ctime,
            mtime,
            version,
            cversion,
            aversion,
            ephemeral_owner,
            pzxid,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::txn::perms;
    use proptest::prelude::*;
    use NodeEncoding::Full;

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
            match parse_section(rest, rest.len() as u64, sessions_left, Full).unwrap() {
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
                parse_section(&bytes[at..], left, sessions_left, Full).unwrap()
            else {
                panic!()
            };
            for cut in at..at + used {
                assert_eq!(
                    parse_section(&bytes[at..cut], left, sessions_left, Full),
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
        assert!(parse_section(&bytes, 10, 0, Full).is_err());
        // A huge session count is refused before any allocation.
        let mut huge = vec![TAG_SESSIONS];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_section(&huge, 1 << 20, 0, Full).is_err());
        assert!(parse_section(&[9], 1, 0, Full).is_err());
        // A large ACL entry count that fits the section limit allocates only for the bytes at
        // hand; one past the limit is refused.
        let mut acl = vec![TAG_ACL_LIST, 1, 0, 0, 0];
        acl.extend_from_slice(&1_000_000u32.to_le_bytes());
        assert_eq!(
            parse_section(&acl, 1 << 40, 0, Full),
            Ok(Parsed::Incomplete)
        );
        acl.truncate(5);
        acl.extend_from_slice(&(u32::MAX / 64).to_le_bytes());
        assert!(parse_section(&acl, 1 << 40, 0, Full).is_err());
    }

    fn stat_strategy() -> impl Strategy<Value = StatPersisted> {
        // Mostly the common shapes (equal zxids and times, zero versions, no owner), sometimes
        // anything, so that every flag is seen set and clear.
        let zxid = prop_oneof![0i64..1000, any::<i64>()];
        let small = prop_oneof![Just(0i32), any::<i32>()];
        let owner = prop_oneof![Just(0i64), any::<i64>()];
        (
            (
                zxid.clone(),
                zxid.clone(),
                zxid,
                any::<i64>(),
                any::<bool>(),
            ),
            (small.clone(), small.clone(), small, owner),
        )
            .prop_map(
                |(
                    (czxid, mzxid, pzxid, ctime, same_time),
                    (version, cversion, aversion, owner),
                )| {
                    StatPersisted {
                        czxid,
                        mzxid,
                        ctime,
                        mtime: if same_time {
                            ctime
                        } else {
                            ctime.wrapping_add(7)
                        },
                        version,
                        cversion,
                        aversion,
                        ephemeral_owner: owner,
                        pzxid,
                    }
                },
            )
    }

    proptest! {
        /// Compact node sections in a row decode to what was encoded, each relative to the one
        /// before; and every cut inside one asks for more bytes instead of failing.
        #[test]
        fn compact_nodes_round_trip(
            nodes in prop::collection::vec(
                (
                    "/[a-z]{0,12}",
                    prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
                    any::<u32>(),
                    stat_strategy(),
                ),
                1..12,
            ),
        ) {
            let mut bytes = Vec::new();
            let mut base = NodeBase::default();
            for (path, data, acl_id, stat) in &nodes {
                let node = SnapshotNode { path, data: data.as_deref(), acl_id: *acl_id, stat: *stat };
                encode_node_compact(&mut bytes, &node, base);
                base = NodeBase::after(stat);
            }
            let mut at = 0;
            let mut base = NodeBase::default();
            for (path, data, acl_id, stat) in &nodes {
                let left = (bytes.len() - at) as u64;
                let encoding = NodeEncoding::Compact(base);
                let Parsed::Section(Section::Node(node), used) =
                    parse_section(&bytes[at..], left, 0, encoding).unwrap()
                else {
                    panic!("not a node at {at}")
                };
                prop_assert_eq!(node.path, path.as_str());
                prop_assert_eq!(node.data, data.as_deref());
                prop_assert_eq!(node.acl_id, *acl_id);
                prop_assert_eq!(node.stat, *stat);
                for cut in at..at + used {
                    prop_assert_eq!(
                        parse_section(&bytes[at..cut], left, 0, encoding),
                        Ok(Parsed::Incomplete)
                    );
                }
                // A compact node is refused in a version 1 body.
                prop_assert!(parse_section(&bytes[at..], left, 0, Full).is_err());
                base = NodeBase::after(&node.stat);
                at += used;
            }
            prop_assert_eq!(at, bytes.len());
        }
    }

    #[test]
    fn compact_node_section_bytes() {
        // The common case: one varint per length, flags, two one-byte deltas.
        let stat = StatPersisted {
            czxid: 0x101,
            mzxid: 0x101,
            ctime: 1_000,
            mtime: 1_000,
            pzxid: 0x101,
            ..StatPersisted::default()
        };
        let node = SnapshotNode {
            path: "/a",
            data: Some(b"xy"),
            acl_id: 1,
            stat,
        };
        let mut out = Vec::new();
        encode_node_compact(
            &mut out,
            &node,
            NodeBase {
                czxid: 0x100,
                ctime: 1_002,
            },
        );
        let expected = [
            5, // tag
            2, b'/', b'a', // path
            3, b'x', b'y', // data: length + 1
            1,    // ACL id
            0x1F, // every flag
            2,    // czxid + 1, zigzag
            3,    // ctime - 2, zigzag
        ];
        assert_eq!(out, expected);
        // Nothing shared: every field written, null data.
        let stat = StatPersisted {
            czxid: 5,
            mzxid: 6,
            ctime: 10,
            mtime: 8,
            version: 1,
            cversion: -1,
            aversion: 2,
            ephemeral_owner: 0x0102,
            pzxid: 4,
        };
        let node = SnapshotNode {
            path: "/",
            data: None,
            acl_id: 200,
            stat,
        };
        let mut out = Vec::new();
        encode_node_compact(&mut out, &node, NodeBase::default());
        let mut expected = vec![
            5, // tag
            1, b'/', // path
            0,    // null data
            0xC8, 0x01, // ACL id 200
            0,    // no flag
            10,   // czxid 5, zigzag
            20,   // ctime 10
            2,    // mzxid = czxid + 1
            1,    // pzxid = czxid - 1
            3,    // mtime = ctime - 2
            2, 1, 4, // version 1, cversion -1, aversion 2
        ];
        expected.extend_from_slice(&0x0102i64.to_le_bytes());
        assert_eq!(out, expected);
        let parsed = parse_section(
            &out,
            out.len() as u64,
            0,
            NodeEncoding::Compact(NodeBase::default()),
        );
        assert_eq!(parsed, Ok(Parsed::Section(Section::Node(node), out.len())));
    }

    #[test]
    fn bad_compact_nodes_are_invalid() {
        let compact = NodeEncoding::Compact(NodeBase::default());
        // Unknown flag bits.
        let bytes = [5, 1, b'/', 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse_section(&bytes, bytes.len() as u64, 0, compact).is_err());
        // A varint of 11 bytes.
        let mut long = vec![5];
        long.extend_from_slice(&[0x80; 10]);
        long.push(0);
        assert!(parse_section(&long, long.len() as u64, 0, compact).is_err());
        // A path length past the limit.
        let mut huge = vec![5];
        put_varint(&mut huge, MAX_FIELD_LEN as u64 + 1);
        assert!(parse_section(&huge, 1 << 40, 0, compact).is_err());
        // A version that does not fit in 32 bits.
        let mut wide = vec![
            5,
            1,
            b'/',
            1,
            1,
            SAME_MZXID | SAME_PZXID | SAME_MTIME | NOT_EPHEMERAL,
        ];
        wide.extend_from_slice(&[0, 0]);
        put_signed(&mut wide, i64::from(i32::MAX) + 1);
        wide.extend_from_slice(&[0, 0]);
        assert!(parse_section(&wide, wide.len() as u64, 0, compact).is_err());
        // A version 1 node in a version 2 body.
        let mut v1 = Vec::new();
        encode_node(
            &mut v1,
            &SnapshotNode {
                path: "/",
                data: None,
                acl_id: 1,
                stat: StatPersisted::default(),
            },
        );
        assert!(parse_section(&v1, v1.len() as u64, 0, compact).is_err());
    }
}
