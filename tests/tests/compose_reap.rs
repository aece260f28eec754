//! Issue #17: a compose run killed outright (SIGKILL: no cleanup runs)
//! leaves its dependencies, networks and volumes; the next slim run removes
//! them all and names them.
use slim_tests::{compose::*, *};

#[test]
fn the_next_run_reaps_what_a_killed_compose_run_left() {
    if !e2e_ready() {
        return;
    }
    let s = Scenario::new("reap");
    let mut child = s
        .build(None, &["compose.yml"])
        .args(["--host-exec", "sleep 60"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(s.wait_for_services(&["app"]), "slim never ran the app");
    child.kill().unwrap();
    child.wait().unwrap();
    let left = leftovers(&s.project.0);
    for kind in ["container", "network", "volume"] {
        assert!(
            left.iter().any(|l| l.starts_with(kind)),
            "no {kind} left by the killed run: {left:?}"
        );
    }
    // Any next run reaps; this one needs no dependency.
    let next_dir = TempDir::new("compose-reap-next");
    let out = slim(&[
        "profile",
        &fixture("pg-app"),
        "--artifacts",
        next_dir.0.to_str().unwrap(),
        "--no-http-probe",
        "--continue-after",
        "exit",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let warning = err
        .lines()
        .find(|l| l.contains("left by slim runs that died"))
        .unwrap_or_else(|| panic!("no reaping warning:\n{err}"));
    assert!(
        warning.contains(&format!("{}_back", s.project.0)),
        "the network is not named: {warning}"
    );
    assert_eq!(
        leftovers(&s.project.0),
        Vec::<String>::new(),
        "left after the next run"
    );
}
