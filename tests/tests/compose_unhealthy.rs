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
    let project = Project(project_name("unhealthy"));
    let dir = TempDir::new("compose-unhealthy");
    let tag = Tag::new("compose-unhealthy");
    let out = slim_compose(&project.0)
        .args([
            "build",
            &fixture("pg-app"),
            "--tag",
            &tag.0,
            "--artifacts",
            dir.0.to_str().unwrap(),
            "--compose-file",
            compose_file("compose.yml").to_str().unwrap(),
            "--compose-file",
            compose_file("unhealthy.yml").to_str().unwrap(),
            "--service",
            "app",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the build passed with an unhealthy database:\n{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("slim: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{err}"));
    assert!(line.contains("dependency db is unhealthy"), "{line}");
    assert_eq!(
        leftovers(&project.0),
        Vec::<String>::new(),
        "left in the engine after the failure"
    );
    assert!(
        slim_containers(&fixture("pg-app")).is_empty(),
        "probe container left"
    );
    let img = std::process::Command::new("docker")
        .args(["image", "inspect", &tag.0])
        .output()
        .unwrap();
    assert!(
        !img.status.success(),
        "an image was written although the build failed"
    );
}
