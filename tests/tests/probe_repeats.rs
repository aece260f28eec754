//! Issue #3, repeats: the kernel sends a repeated event once, and only an
//! event that is the same in every respect (bar the thread) counts as a
//! repeat: the same path with another result, or from another process, is
//! still recorded.
use slim_tests::*;

/// 151 bytes: its event is longer than the short dedupe key (`DEDUP_KEY_SHORT`).
const LONG: &str = "/tmp/slim-repeat-long-path-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

#[test]
fn repeats_are_counted_once_yet_results_and_processes_are_kept() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("repeats");
    // Two shells (two processes), each stats the same paths hundreds of
    // times; /tmp/slim-repeat is missing for the first 300 and present after.
    // A 151-byte path is deduped with the longer key.
    let first = format!(
        "for i in $(seq 300); do test -e /tmp/slim-repeat; test -e /etc/hostname; done; \
         : > /tmp/slim-repeat; \
         for i in $(seq 300); do test -e /tmp/slim-repeat; done; \
         : > {LONG}; for i in $(seq 300); do test -e {LONG}; done"
    );
    let second = "for i in $(seq 300); do test -e /etc/hostname; done";
    let r = profile(
        &fixture("nginx"),
        &dir,
        &["--no-http-probe", "--exec", &first, "--exec", second],
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

    let long = file(&r, LONG).expect("the long path recorded");
    assert_eq!(long["ok"], true, "{long}");

    // 1500 stats of four distinct (path, result, process) events: at least
    // 1400 of them are repeats, skipped rather than recorded again.
    let dup = r["events"]["duplicates"].as_u64().unwrap();
    assert!(dup >= 1400, "repeats skipped: {dup}");
    assert_eq!(r["events"]["dropped"], 0);
}
