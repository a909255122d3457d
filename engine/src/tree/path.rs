//! Znode paths: ZooKeeper's validity rules (`PathUtils.validatePath`) and splitting a path into
//! its parent and last component, the way ZooKeeper does (at the last `/`).

use super::error::TreeError;

/// Checks a path with ZooKeeper's rules: absolute; no trailing `/` (except the root); no empty,
/// `.` or `..` component; no NUL; none of the characters U+0001..U+001F, U+007F..U+009F,
/// U+E000..U+F8FF, U+FFF0..U+FFFF, and nothing outside the Basic Multilingual Plane (ZooKeeper
/// works on UTF-16 units and rejects every surrogate, U+D800..U+DFFF).
pub fn validate_path(path: &str) -> Result<(), TreeError> {
    let relative = path.strip_prefix('/').ok_or(TreeError::BadArguments)?;
    if relative.is_empty() {
        return Ok(());
    }
    for component in relative.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(TreeError::BadArguments);
        }
        if component.chars().any(is_forbidden_char) {
            return Err(TreeError::BadArguments);
        }
    }
    Ok(())
}

fn is_forbidden_char(character: char) -> bool {
    let code = u32::from(character);
    code == 0
        || (0x01..=0x1F).contains(&code)
        || (0x7F..=0x9F).contains(&code)
        || (0xD800..=0xF8FF).contains(&code)
        || (0xFFF0..=0xFFFF).contains(&code)
        || code > 0xFFFF
}

/// Splits `path` at its last `/` into (parent path, name); the parent of `/x` is `/`. `None` when
/// the path has no `/`.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    let name = path.get(slash + 1..)?;
    let parent = if slash == 0 { "/" } else { path.get(..slash)? };
    Some((parent, name))
}

/// ZooKeeper's sequential suffix: the counter as a decimal number, zero-padded to 10 characters
/// (Java's `%010d`; a negative counter, after 2^31 creations, keeps its sign: `-000000005`).
pub fn sequential_suffix(counter: i32) -> String {
    format!("{counter:010}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_path_rules() {
        for good in ["/", "/a", "/a/b", "/a.b", "/..a", "/a/...", "/é", "/a b"] {
            assert_eq!(validate_path(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/a/..",
            "/a/./b",
            "/a\0",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{f8ff}",
            "/\u{fff0}",
            "/\u{ffff}",
            "/\u{1f600}",
        ] {
            assert_eq!(validate_path(bad), Err(TreeError::BadArguments), "{bad:?}");
        }
    }

    #[test]
    fn split_at_last_slash() {
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(split_parent("/"), Some(("/", "")));
        assert_eq!(split_parent("/a/"), Some(("/a", "")));
        assert_eq!(split_parent("a"), None);
    }

    #[test]
    fn suffix_is_java_percent_010d() {
        assert_eq!(sequential_suffix(0), "0000000000");
        assert_eq!(sequential_suffix(42), "0000000042");
        assert_eq!(sequential_suffix(i32::MAX), "2147483647");
        assert_eq!(sequential_suffix(-5), "-000000005");
    }
}
