//! Issue #3, file records: absolute paths exactly as the container sees them,
//! for relative paths (cwd), *at() calls (dirfd), failed accesses, two-path
//! calls and execs; and the dynamic loader's first opens.
use slim_tests::*;

fn has(report: &serde_json::Value, path: &str, access: &str, ok: bool) {
    let f = file(report, path).unwrap_or_else(|| panic!("{path} missing from {:?}", paths(report)));
    assert!(
        lists(&f["access"], access),
        "{path}: expected access {access} in {f}"
    );
    assert_eq!(f["ok"], ok, "{path}: {f}");
}

#[test]
fn relative_dirfd_failed_and_two_path_accesses_resolve() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("paths");
    let r = profile(&fixture("helper"), &dir, &[]);
    has(&r, "/etc/slim-helper-missing", "open", false);
    let missing = file(&r, "/etc/slim-helper-missing").unwrap();
    assert_eq!(missing["errors"][0], "ENOENT", "{missing}");
    // open("base-files/motd") with cwd /usr/share
    has(&r, "/usr/share/base-files/motd", "open", true);
    // openat(dirfd of /etc, "debian_version"), fstatat(dirfd, "issue")
    has(&r, "/etc/debian_version", "open", true);
    has(&r, "/etc/issue", "stat", true);
    // chdir("doc") then stat("../../lib/os-release")
    has(&r, "/usr/share/doc", "chdir", true);
    has(&r, "/usr/lib/os-release", "stat", true);
    has(&r, "/bin", "readlink", true);
    has(&r, "/etc/shells", "access", true);
    has(&r, "/tmp/slim-helper-dir", "mkdir", true);
    has(&r, "/tmp/slim-helper-dir", "rename", true);
    has(&r, "/tmp/slim-helper-renamed", "rename", true);
    has(&r, "/usr/local/bin/probe-helper", "exec", true);
    has(&r, "/bin/true", "exec", true);
    // Each record names the process that made it.
    let procs = r["processes"].as_array().unwrap();
    let pid = &procs[0]["pid"];
    assert!(file(&r, "/etc/issue").unwrap()["pids"]
        .as_array()
        .unwrap()
        .contains(pid));
    assert_eq!(r["events"]["dropped"], 0);
}

#[test]
fn the_dynamic_loaders_first_opens_are_recorded() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("loader");
    let r = profile(&fixture("cli"), &dir, &[]);
    // /bin/sh (dash) is the entrypoint's interpreter; its loader opens these
    // before main runs.
    has(&r, "/etc/ld.so.cache", "open", true);
    has(&r, "/lib/x86_64-linux-gnu/libc.so.6", "open", true);
    has(&r, "/usr/local/bin/report", "exec", true);
    let first = &r["processes"][0];
    assert_eq!(first["exec"][0], "/usr/local/bin/report", "{first}");
}
