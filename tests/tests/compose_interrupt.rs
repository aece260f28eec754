//! Issue #17: Ctrl-C while a compose service is probed removes the
//! service's container, its dependencies, the project's networks and its
//! volumes (named and anonymous).
use std::{process::Command, time::Duration};

use slim_tests::{compose::*, *};

#[test]
fn ctrl_c_mid_probe_removes_the_surroundings() {
    if !e2e_ready() {
        return;
    }
    let project = Project(project_name("sigint"));
    let dir = TempDir::new("compose-sigint");
    let tag = Tag::new("compose-sigint");
    let child = slim_compose(&project.0)
        .args([
            // No SOURCE: the service's image (APP_IMAGE) is probed.
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
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-probe: the app container runs beside its database.
    let label = format!("label=slim.compose.project={}", project.0);
    let running = || -> Vec<String> {
        let out = Command::new("docker")
            .args([
                "ps",
                "--format",
                "{{.Label \"slim.compose.service\"}}",
                "--filter",
                &label,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let mut seen = false;
    for _ in 0..600 {
        let up = running();
        if up.iter().any(|s| s == "app") && up.iter().any(|s| s == "db") {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen,
        "slim never ran the app beside its database: {:?}",
        running()
    );
    // Let the probe reach the host command.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !leftovers(&project.0).is_empty(),
        "nothing of the project found while it ran"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(
        leftovers(&project.0),
        Vec::<String>::new(),
        "left in the engine after Ctrl-C"
    );
    assert!(
        slim_containers(&fixture("pg-app")).is_empty(),
        "probe container left"
    );
}
