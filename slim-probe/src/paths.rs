//! Turns what a syscall was given into the absolute path the container saw.
//!
//! The kernel side sends the path string as passed and, for a relative one,
//! the names of its base directory (the cwd or the dirfd's directory) walked
//! up to the task's root. Joining and normalising happens here, lexically:
//! `.` and repeated slashes go, `..` pops a name. (A `..` after a symlink in
//! the user-supplied part is resolved lexically, not as the kernel would; the
//! image-side closure resolves symlinks properly.)

/// The absolute, normalised path for `path` relative to the base directory
/// given as names innermost first (empty for `/`).
pub fn absolute(path: &str, base_innermost_first: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !path.starts_with('/') {
        parts.extend(base_innermost_first.iter().rev().map(String::as_str));
    }
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len() + 16);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::absolute;

    fn base(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn absolute_paths_ignore_the_base() {
        assert_eq!(absolute("/etc/passwd", &base(&["x"])), "/etc/passwd");
    }

    #[test]
    fn relative_paths_join_the_base_outermost_first() {
        let b = base(&["share", "usr"]);
        assert_eq!(
            absolute("base-files/motd", &b),
            "/usr/share/base-files/motd"
        );
    }

    #[test]
    fn dot_dot_and_dot_and_slashes_normalise() {
        let b = base(&["doc", "share", "usr"]);
        assert_eq!(
            absolute("../../lib//./os-release", &b),
            "/usr/lib/os-release"
        );
        assert_eq!(absolute("../../../../..", &b), "/");
        assert_eq!(absolute("/a/./b/../c/", &[]), "/a/c");
    }

    #[test]
    fn relative_to_root() {
        assert_eq!(absolute("etc", &[]), "/etc");
        assert_eq!(absolute(".", &[]), "/");
    }
}
