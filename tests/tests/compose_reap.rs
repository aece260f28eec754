//! Issue #17: a compose run killed outright (SIGKILL: no cleanup runs)
//! leaves its dependencies, networks and volumes; the next slim run removes
//! them all and names them.
use std::{process::Command, time::Duration};

use slim_tests::{compose::*, *};

#[test]
fn the_next_run_reaps_what_a_killed_compose_run_left() {
    if !e2e_ready() {
        return;
    }
    let project = Project(project_name("reap"));
    let dir = TempDir::new("compose-reap");
    let tag = Tag::new("compose-reap");
    let mut child = slim_compose(&project.0)
        .args([
            "build",
            "--tag",
            &tag.0,
            "--artifacts",
            dir.0.to_str().unwrap(),
            "--compose-file",
            compose_file("compose.yml").to_str().unwrap(),
            "--service",
            "app",
            "--host-exec",
            "sleep 60",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let label = "label=slim.compose.service=app".to_string();
    let project_label = format!("label=slim.compose.project={}", project.0);
    let mut seen = false;
    for _ in 0..600 {
        let out = Command::new("docker")
            .args(["ps", "-q", "--filter", &label, "--filter", &project_label])
            .output()
            .unwrap();
        if !out.stdout.is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "slim never ran the app");
    child.kill().unwrap();
    child.wait().unwrap();
    let left = leftovers(&project.0);
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
        warning.contains(&format!("{}_back", project.0)),
        "the network is not named: {warning}"
    );
    assert_eq!(
        leftovers(&project.0),
        Vec::<String>::new(),
        "left after the next run"
    );
}
