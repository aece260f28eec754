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
    let s = Scenario::new("appfails");
    let out = s
        .build(Some(&fixture("pg-app")), &["compose.yml"])
        .env("DATABASE_NAME", "nosuchdb")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the build passed without its database:\n{err}"
    );
    let line = error_line(&err);
    assert!(
        line.contains("database \"nosuchdb\" does not exist"),
        "{line}"
    );
    s.assert_nothing_left("the failure");
}
