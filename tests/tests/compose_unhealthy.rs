//! Issue #17: a compose dependency that never becomes healthy fails the
//! build with one line naming it, and slim leaves nothing in the engine.
//! The second file is merged over the first (its healthcheck replaces the
//! database's test).
use slim_tests::{compose::*, *};

#[test]
fn unhealthy_dependency_fails_the_build_and_leaves_nothing() {
    if !e2e_ready() {
        return;
    }
    let s = Scenario::new("unhealthy");
    let out = s
        .build(Some(&fixture("pg-app")), &["compose.yml", "unhealthy.yml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the build passed with an unhealthy database:\n{err}"
    );
    let line = error_line(&err);
    assert!(line.contains("dependency db is unhealthy"), "{line}");
    s.assert_nothing_left("the failure");
    let img = std::process::Command::new("docker")
        .args(["image", "inspect", &s.tag.0])
        .output()
        .unwrap();
    assert!(
        !img.status.success(),
        "an image was written although the build failed"
    );
}
