//! Issue #3, repeats: the kernel sends a repeated event once, and only an
//! event that is the same in every respect (bar the thread) counts as a
//! repeat: the same path with another result, or from another process, is
//! still recorded.
use slim_tests::*;

#[test]
fn repeats_are_counted_once_yet_results_and_processes_are_kept() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("repeats");
    // Two shells (two processes), each stats the same paths hundreds of
    // times; /tmp/slim-repeat is missing for the first 300 and present after.
    let first = "for i in $(seq 300); do test -e /tmp/slim-repeat; test -e /etc/hostname; done; \
                 : > /tmp/slim-repeat; \
                 for i in $(seq 300); do test -e /tmp/slim-repeat; done";
    let second = "for i in $(seq 300); do test -e /etc/hostname; done";
    let r = profile(
        &fixture("nginx"),
        &dir,
        &["--no-http-probe", "--exec", first, "--exec", second],
    );

    let repeat = file(&r, "/tmp/slim-repeat").expect("/tmp/slim-repeat recorded");
    assert_eq!(repeat["ok"], true, "{repeat}");
    assert!(
        lists(&repeat["errors"], "ENOENT"),
        "the failed stats before the file existed are kept: {repeat}"
    );
    assert!(lists(&repeat["access"], "create"), "{repeat}");

    let hostname = file(&r, "/etc/hostname").expect("/etc/hostname recorded");
    assert!(
        hostname["pids"].as_array().unwrap().len() >= 2,
        "both shells are named: {hostname}"
    );

    // 1200 stats of three distinct (path, result, process) events: at least
    // 1100 of them are repeats, skipped rather than recorded again.
    let dup = r["events"]["duplicates"].as_u64().unwrap();
    assert!(dup >= 1100, "repeats skipped: {dup}");
    assert_eq!(r["events"]["dropped"], 0);
}
