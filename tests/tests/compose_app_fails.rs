//! Issue #17: when the probed service itself fails (here it cannot open
//! its database: DATABASE_NAME from slim's environment wins over .env, as
//! in compose), the build fails with the app's own words and leaves
//! nothing: the project network is removed although the failed probe
//! container was still attached to it.
use slim_tests::{compose::*, *};

#[test]
fn a_failing_service_leaves_no_surroundings() {
    if !e2e_ready() {
        return;
    }
    let project = Project(project_name("appfails"));
    let dir = TempDir::new("compose-appfails");
    let tag = Tag::new("compose-appfails");
    let out = slim_compose(&project.0)
        .env("DATABASE_NAME", "nosuchdb")
        .args([
            "build",
            &fixture("pg-app"),
            "--tag",
            &tag.0,
            "--artifacts",
            dir.0.to_str().unwrap(),
            "--compose-file",
            compose_file("compose.yml").to_str().unwrap(),
            "--service",
            "app",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the build passed without its database:\n{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("slim: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{err}"));
    assert!(
        line.contains("database \"nosuchdb\" does not exist"),
        "{line}"
    );
    assert_eq!(
        leftovers(&project.0),
        Vec::<String>::new(),
        "left in the engine after the failure"
    );
    assert!(
        slim_containers(&fixture("pg-app")).is_empty(),
        "probe container left"
    );
}
