//! Issue #3: the probe is attached before the container exists, so the very
//! first instruction of the entrypoint (a syncfs syscall, no libc start-up)
//! is in the record.
use slim_tests::*;

#[test]
fn the_entrypoints_first_syscall_is_recorded() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("first");
    let r = profile(&fixture("first-syscall"), &dir, &[]);
    let s = syscalls(&r);
    assert!(
        s.contains(&"syncfs".to_string()),
        "syncfs missing from {s:?}"
    );
    assert!(s.contains(&"exit_group".to_string()), "{s:?}");
    assert_eq!(r["container"]["exit_code"], 0);
}
