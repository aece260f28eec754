//! Issue #17: Ctrl-C while a compose service is probed removes the
//! service's container, its dependencies, the project's networks and its
//! volumes (named and anonymous).
use std::time::Duration;

use slim_tests::{compose::*, *};

#[test]
fn ctrl_c_mid_probe_removes_the_surroundings() {
    if !e2e_ready() {
        return;
    }
    let s = Scenario::new("sigint");
    // No SOURCE: the service's image (APP_IMAGE) is probed.
    let child = s
        .build(None, &["compose.yml"])
        .args(["--host-exec", "sleep 60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-probe: the app container runs beside its database.
    assert!(
        s.wait_for_services(&["app", "db"]),
        "slim never ran the app beside its database: {:?}",
        s.running_services()
    );
    // Let the probe reach the host command.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !leftovers(&s.project.0).is_empty(),
        "nothing of the project found while it ran"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    s.assert_nothing_left("Ctrl-C");
}
