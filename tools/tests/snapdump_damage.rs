//! `zk-snapdump` on damaged copies of a checked-in snapshot: every single byte flipped, the file
//! cut at many lengths, bytes appended, garbage. Every byte of a snapshot is covered by a
//! checksum, so every change must be reported (exit status 2) with a precise verdict, never a
//! panic; and the dump still shows what can be read.

use std::path::{Path, PathBuf};
use std::process::Command;

const NAME: &str = "snap.0000000200000005";

fn clean_snapshot() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/snap")
            .join(NAME),
    )
    .expect("the fixture")
}

/// Runs `zk-snapdump args... file`; checks the invariants; returns the status and the output.
fn check(file: &Path, args: &[&str], what: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_zk-snapdump"))
        .args(args)
        .arg(file)
        .output()
        .expect("run zk-snapdump");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{what}: panic: {stderr}");
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal"));
    let last = stdout.lines().last().unwrap_or_default();
    if last.starts_with('{') {
        assert!(
            last.starts_with("{\"type\":\"verdict\"")
                && last.contains(&format!("\"exit_code\":{code}")),
            "{what}: {last}"
        );
        return (code, stdout);
    }
    let verdict = last.strip_prefix("# verdict: ").unwrap_or(last);
    match code {
        0 => assert_eq!(verdict, "clean", "{what}"),
        2 => assert!(
            verdict.starts_with(&format!("corruption at {NAME}:"))
                || verdict.starts_with(&format!("unreadable: {NAME}:")),
            "{what}: {verdict}"
        ),
        other => panic!("{what}: exit status {other}: {stderr}"),
    }
    (code, stdout)
}

fn write_copy(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join(NAME);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn every_flipped_byte_is_reported() {
    let clean = clean_snapshot();
    let temp = tempfile::tempdir().expect("tempdir");
    for position in 0..clean.len() {
        let mut bytes = clean.clone();
        bytes[position] ^= 0x10;
        let path = write_copy(temp.path(), &bytes);
        let what = format!("byte {position} flipped");
        let (code, _) = check(&path, &["--verify"], &what);
        assert_eq!(code, 2, "{what} went unnoticed");
        if position % 7 == 0 {
            check(&path, &["-d"], &what);
            check(&path, &["--summary", "2", "--json"], &what);
        }
    }
}

#[test]
fn cut_and_extended_files_are_reported_and_never_panic() {
    let clean = clean_snapshot();
    let temp = tempfile::tempdir().expect("tempdir");
    for len in (0..clean.len()).step_by(5) {
        let path = write_copy(temp.path(), &clean[..len]);
        let what = format!("cut at {len}");
        let (code, _) = check(&path, &["--verify"], &what);
        assert_eq!(code, 2, "{what} went unnoticed");
        check(&path, &[], &what);
    }
    for extra in [&[0u8][..], &[0; 64][..], b"garbage after the trailer"] {
        let mut bytes = clean.clone();
        bytes.extend_from_slice(extra);
        let path = write_copy(temp.path(), &bytes);
        let (code, _) = check(&path, &["--verify"], "extended");
        assert_eq!(code, 2);
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let path = write_copy(temp.path(), &garbage);
    let (code, _) = check(&path, &["--verify"], "garbage");
    assert_eq!(code, 2);
}

/// A damaged header does not hide the blocks: the nodes are still dumped.
#[test]
fn a_damaged_header_still_shows_the_nodes() {
    let mut bytes = clean_snapshot();
    bytes[61] ^= 1;
    let temp = tempfile::tempdir().expect("tempdir");
    let path = write_copy(temp.path(), &bytes);
    let (code, stdout) = check(&path, &[], "header checksum");
    assert_eq!(code, 2);
    assert!(
        stdout.contains(&format!("#! corruption at {NAME}:0: invalid header")),
        "{stdout}"
    );
    assert!(stdout.contains("\n/app/blob "), "{stdout}");
    assert!(stdout.contains("\n/zookeeper/quota "), "{stdout}");
}

/// The digest is recomputed: a snapshot whose nodes and trailer disagree (with every checksum
/// made right again) is reported.
#[test]
fn a_digest_that_does_not_match_is_reported() {
    let mut bytes = clean_snapshot();
    let trailer = bytes.len() - 64;
    bytes[trailer + 16] ^= 1; // the digest
    let crc = crc32(&bytes[trailer..trailer + 60]);
    bytes[trailer + 60..].copy_from_slice(&crc.to_le_bytes());
    let temp = tempfile::tempdir().expect("tempdir");
    let path = write_copy(temp.path(), &bytes);
    let (code, stdout) = check(&path, &["--verify"], "digest");
    assert_eq!(code, 2);
    assert!(stdout.contains("MISMATCH"), "{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "corruption at {NAME}:{}: tree digest mismatch",
            trailer + 16
        )) || stdout.contains(&format!(
            "corruption at {NAME}:{}: tree digest mismatch",
            trailer + 16
        )),
        "{stdout}"
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
