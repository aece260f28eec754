//! Issue #3: only the target container is recorded: not a busy neighbour
//! container running at the same time, nor its syscalls.
use slim_tests::*;

#[test]
fn a_busy_neighbour_is_not_recorded() {
    if !e2e_ready() {
        return;
    }
    let neighbour = Container::run(&[&fixture("neighbour")]);
    let dir = TempDir::new("neighbour");
    let r = profile(&fixture("helper"), &dir, &[]);
    let logs = neighbour.logs();
    drop(neighbour);
    let paths = paths(&r);
    assert!(
        !paths.iter().any(|p| p.contains("neighbour-was-here")),
        "the neighbour's stat leaked into the trace: {paths:?} ({logs})"
    );
    // The neighbour sleeps with nanosleep; the helper never calls it.
    let s = syscalls(&r);
    assert!(
        !s.contains(&"nanosleep".to_string()),
        "neighbour syscall leaked: {s:?}"
    );
    assert!(
        file(&r, "/etc/debian_version").is_some(),
        "the target itself was recorded"
    );
}

/// The kernel reuses a freed namespace number at once: a container started
/// just after a short-lived target exits can get the target's mount
/// namespace number. It must not be recorded as the target (it runs under
/// another host name).
#[test]
fn a_container_reusing_the_targets_namespace_number_is_not_recorded() {
    if !e2e_ready() {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let cli = fixture("cli");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::process::Command::new("docker")
                    .args(["run", "--rm", &cli])
                    .output();
            }
        })
    };
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let dir = TempDir::new(&format!("reuse-{i}"));
            profile(&fixture("first-syscall"), &dir, &[])
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    for r in runs {
        // The first-syscall binary makes two syscalls; the cli's shell
        // allocates (brk) and waits for its pipelines (wait4).
        let s = syscalls(&r);
        assert!(
            !s.iter().any(|n| n == "brk" || n == "wait4"),
            "another container's syscalls were recorded: {s:?}"
        );
        let p = paths(&r);
        assert!(
            !p.iter().any(|p| p == "/usr/local/bin/report"),
            "another container's files were recorded: {p:?}"
        );
    }
}
