//! Issue #11 (2): SIGTERM and SIGHUP mid-probe end the run like Ctrl-C (no
//! container left, one line saying so). (SIGKILL: reap_leftovers.rs.)
use slim_tests::*;

#[test]
fn sigterm_and_sighup_remove_the_container() {
    if !e2e_ready() {
        return;
    }
    // Its own image: containers are counted per image, and tests run in parallel.
    let own = derive(&fixture("nginx"), "signal-src", &["LABEL test=signal"]);
    let image = own.0.clone();
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let dir = TempDir::new("signal");
        let tag = Tag::new("signal");
        let child = start_slow_build(&image, &dir, &tag);
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}");
        assert!(
            err.contains(&format!("interrupted ({name})")),
            "{name}: {err}"
        );
        assert!(
            slim_containers(&image).is_empty(),
            "container left after {name}"
        );
    }
}
