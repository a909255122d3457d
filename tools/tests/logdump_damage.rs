//! `zk-logdump` on damaged copies of the clean fixture: flipped bytes across headers and records,
//! files cut short or extended, garbage, empty files. Whatever the damage, the tool must not
//! panic, must exit with 0, 1 or 2, must end its output with a verdict that matches the exit
//! status, and must report damage to checksummed bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

const SEGMENTS: [&str; 3] = [
    "log.0000000100000001",
    "log.0000000100000007",
    "log.0000000200000001",
];

fn clean_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log-clean")
}

/// Runs `zk-logdump args... dir`; checks the invariants; returns the exit status and output.
fn check(dir: &Path, args: &[&str], what: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_zk-logdump"))
        .args(args)
        .arg(dir)
        .output()
        .expect("run zk-logdump");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{what}: panic: {stderr}");
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal"));
    assert!(
        matches!(code, 0..=2),
        "{what}: exit status {code}: {stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    let expected = if last.starts_with('{') {
        let tag = match code {
            0 => "\"verdict\":\"clean\"",
            1 => "\"verdict\":\"torn_tail\"",
            _ => "\"exit_code\":2",
        };
        last.starts_with("{\"type\":\"verdict\"") && last.contains(tag)
    } else {
        let verdict = last
            .strip_prefix("# verdict: ")
            .or_else(|| last.strip_prefix("verdict: "))
            .unwrap_or(&last);
        match code {
            0 => verdict == "clean",
            1 => verdict.starts_with("torn tail at "),
            _ => verdict.starts_with("corruption at ") || verdict.starts_with("unreadable: "),
        }
    };
    assert!(
        expected,
        "{what}: exit {code} but the verdict says {last:?}"
    );
    (code, stdout)
}

fn copy_with(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("tempdir");
    for name in SEGMENTS {
        std::fs::copy(clean_fixture().join(name), temp.path().join(name)).expect("copy");
    }
    edit(temp.path());
    temp
}

fn edit_file(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join(name);
    let mut bytes = std::fs::read(&path).expect("read");
    edit(&mut bytes);
    std::fs::write(&path, bytes).expect("write");
}

/// Where the records of a clean segment end (the first all-zero 8-byte word after the header).
fn records_end(bytes: &[u8]) -> usize {
    let mut offset = 64;
    while offset + 8 <= bytes.len() && bytes[offset..offset + 8] != [0; 8] {
        offset += 8;
    }
    offset
}

#[test]
fn flipped_bytes_never_panic_and_checksummed_damage_is_reported() {
    for (index, name) in SEGMENTS.iter().enumerate() {
        let clean = std::fs::read(clean_fixture().join(name)).expect("read");
        let end = records_end(&clean);
        let stride = if index == 1 { 3 } else { 13 };
        let positions = (0..64).chain((64..end + 16).step_by(stride));
        for position in positions {
            let temp = copy_with(|dir| edit_file(dir, name, |bytes| bytes[position] ^= 0x5a));
            let what = format!("{name} byte {position} flipped");
            let (code, _) = check(temp.path(), &["--verify"], &what);
            check(temp.path(), &[], &what);
            // Header bytes and every byte of the first record are checksummed: damage there
            // never goes unnoticed. (Padding between records is not checksummed.)
            let first_record_end =
                64 + u32::from_le_bytes(clean[64..68].try_into().expect("len")) as usize;
            if position < first_record_end {
                assert_ne!(code, 0, "{what} went unnoticed");
            }
        }
    }
}

/// A change to a file's bytes.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn cut_extended_and_garbage_files_never_panic() {
    let cases: Vec<(&str, Edit)> = vec![
        ("empty", Box::new(|b: &mut Vec<u8>| b.clear())),
        ("7 bytes", Box::new(|b: &mut Vec<u8>| b.truncate(7))),
        ("header only", Box::new(|b: &mut Vec<u8>| b.truncate(64))),
        (
            "cut in a record",
            Box::new(|b: &mut Vec<u8>| b.truncate(300)),
        ),
        (
            "cut after the records",
            Box::new(|b: &mut Vec<u8>| b.truncate(4096)),
        ),
        (
            "extended",
            Box::new(|b: &mut Vec<u8>| b.extend_from_slice(&[7; 100])),
        ),
        ("zeroed", Box::new(|b: &mut Vec<u8>| b.fill(0))),
        ("zeroed header", Box::new(|b: &mut Vec<u8>| b[..64].fill(0))),
        (
            "garbage",
            Box::new(|b: &mut Vec<u8>| {
                let mut state = 0x9e37_79b9_7f4a_7c15u64;
                for byte in b.iter_mut() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *byte = state as u8;
                }
            }),
        ),
        (
            "garbage after the header",
            Box::new(|b: &mut Vec<u8>| {
                let mut state = 0x1234_5678_9abc_def1u64;
                for byte in b.iter_mut().skip(64) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *byte = state as u8;
                }
            }),
        ),
        ("header checksum", Box::new(|b: &mut Vec<u8>| b[61] ^= 1)),
        ("version 2", Box::new(|b: &mut Vec<u8>| b[8] = 2)),
    ];
    for name in SEGMENTS {
        for (label, edit) in &cases {
            let temp = copy_with(|dir| edit_file(dir, name, |bytes| edit(bytes)));
            let what = format!("{name}: {label}");
            let (code, _) = check(temp.path(), &["--verify"], &what);
            assert_ne!(code, 0, "{what} went unnoticed");
            check(temp.path(), &["--stats"], &what);
            check(temp.path(), &["--json"], &what);
            check(&temp.path().join(name), &["--verify"], &what);
        }
    }
}

/// A header whose checksum is wrong but whose salt is intact: the records are still read, and
/// found intact.
#[test]
fn records_behind_a_damaged_header_are_still_dumped() {
    let temp = copy_with(|dir| edit_file(dir, SEGMENTS[1], |bytes| bytes[61] ^= 1));
    let (code, stdout) = check(temp.path(), &[], "header checksum");
    assert_eq!(code, 2);
    assert!(
        stdout.contains("#! corruption at log.0000000100000007:0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("zxid 0x100000009 error code=-101 (NONODE)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("zxid 0x200000005 delete /app/ttl"),
        "{stdout}"
    );
}

/// A segment cut short (e.g. a copy that stopped): what it holds is dumped.
#[test]
fn records_of_a_cut_short_segment_are_still_dumped() {
    let temp = copy_with(|dir| edit_file(dir, SEGMENTS[0], |bytes| bytes.truncate(800)));
    let (code, stdout) = check(temp.path(), &[], "cut short");
    assert_eq!(code, 2);
    assert!(stdout.contains("the file has 800"), "{stdout}");
    assert!(
        stdout.contains("zxid 0x100000004 create /app/lock-0000000001"),
        "{stdout}"
    );
    // The next segment's link to the cut one is checked against what was read.
    assert!(stdout.contains("log.0000000100000007:32"), "{stdout}");
}

/// Unexpected files are listed as notes and do not change the verdict.
#[test]
fn other_files_are_noted() {
    let temp = copy_with(|dir| {
        std::fs::write(dir.join("log.0000000200000001.torn-856"), b"x").expect("write");
        std::fs::write(dir.join("log.0000000300000001.tmp"), b"").expect("write");
        std::fs::write(dir.join("notes.txt"), b"hello").expect("write");
        std::fs::create_dir(dir.join("log.0000000400000001")).expect("mkdir");
    });
    let (code, stdout) = check(temp.path(), &["--verify"], "other files");
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("note: log.0000000200000001.torn-856: bytes cut from a torn tail"));
    assert!(stdout.contains("note: log.0000000300000001.tmp: a segment whose roll never completed"));
    assert!(stdout.contains("note: notes.txt: not part of the log"));
}
