//! Issue #2: through the real stack (eBPF in the kernel, Docker, a fixture
//! built from Debian packages), the probe sees the container's syscalls and
//! the files it opened by absolute path, and nothing of a host process that
//! runs at the same time.
use std::process::{Command, Stdio};

use slim_tests::*;

#[test]
fn probe_records_the_container_and_nothing_of_the_host() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("cli");
    let dir = TempDir::new("sees");
    // A host process that keeps touching a path of its own meanwhile.
    let marker = format!("/tmp/slim-host-marker-{}", std::process::id());
    let mut host = Command::new("sh")
        .args([
            "-c",
            &format!("while :; do cat {marker} 2>/dev/null; sleep 0.01; done"),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let report = profile(&image, &dir, &[]);
    host.kill().unwrap();
    let _ = host.wait();

    let syscalls = syscalls(&report);
    for s in ["execve", "openat", "read", "write", "exit_group"] {
        assert!(
            syscalls.contains(&s.to_string()),
            "{s} missing from {syscalls:?}"
        );
    }
    let passwd = file(&report, "/etc/passwd").expect("/etc/passwd was read by grep");
    assert_eq!(passwd["ok"], true, "{passwd}");
    assert!(lists(&passwd["access"], "open"), "{passwd}");
    let paths = paths(&report);
    assert!(
        paths.iter().all(|p| p.starts_with('/')),
        "not absolute: {paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("slim-host-marker")),
        "host path leaked: {paths:?}"
    );
    assert_eq!(report["events"]["dropped"], 0, "{}", report["events"]);
    assert_eq!(
        report["container"]["exit_code"], 3,
        "the cli fixture exits 3"
    );
    assert!(
        slim_containers(&image).is_empty(),
        "slim left containers behind"
    );
}
