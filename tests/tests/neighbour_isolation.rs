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
