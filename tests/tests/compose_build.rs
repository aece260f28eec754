//! Issue #17: an app that refuses to start without its database is slimmed
//! from a compose file: slim starts the database (depends_on with
//! service_healthy, on the file's network, with its alias), runs the app
//! from its definition (.env interpolation, env_file), verifies the slim
//! image in the same surroundings, and leaves nothing in the engine. The
//! slim image then serves under its own profile beside a database the test
//! starts itself.
use std::process::Command;

use slim_tests::{compose::*, *};

/// A network of the test's own, removed on drop.
struct Network(String);

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

#[test]
fn compose_service_is_slimmed_beside_its_database() {
    if !e2e_ready() {
        return;
    }
    let s = Scenario::new("build");
    // The greeting comes from the env_file and the database name from
    // .env: without either, this probe fails the build.
    let out = s
        .build(Some(&fixture("pg-app")), &["compose.yml"])
        .args([
            "--host-exec",
            "curl -sf http://$SLIM_HOST:$SLIM_PORT_8080/ | grep -q 'hello from the env_file: Zoë, Ärger, apple'",
            "--verify",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "slim build failed:\n{err}");
    // One warning line lists what the file declares and slim ignored.
    let warning = err
        .lines()
        .find(|l| l.contains("slim ignores"))
        .unwrap_or_else(|| panic!("no warning about ignored keys:\n{err}"));
    assert!(
        warning.contains("services.app.build") && warning.contains("services.app.restart"),
        "{warning}"
    );
    s.assert_no_leftovers("the build");

    let report = read_json(&s.dir.0.join("report.json"));
    check_report_schema(&report);
    let compose = &report["compose"];
    assert_eq!(compose["service"], "app", "{compose}");
    assert_eq!(compose["project"], s.project.0.as_str(), "{compose}");
    assert_eq!(compose["dependencies"][0]["service"], "db", "{compose}");
    assert!(
        lists(&compose["ignored"], "services.app.build"),
        "{compose}"
    );
    assert!(
        report["verify"].as_array().is_some_and(|v| !v.is_empty()),
        "--verify replayed no probe"
    );
    // Values of the env_file (secrets, often) are not in the report.
    assert!(
        !report.to_string().contains("tok-3e1f-from-env-file"),
        "env_file value in report.json"
    );

    // The slim image beside a database the test starts, under its profile.
    let net = Network(format!("{}-net", s.project.0));
    let created = Command::new("docker")
        .args(["network", "create", &net.0])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let db = Container::run(&[
        "--network",
        &net.0,
        "--network-alias",
        "pgdb",
        &fixture("postgres"),
    ]);
    let mut ready = false;
    for _ in 0..120 {
        let probe = Command::new("docker")
            .args([
                "exec",
                &db.id,
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .output()
            .unwrap();
        if probe.status.success() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        ready,
        "the test's database never became ready:\n{}",
        db.logs()
    );
    let extra = [
        "--network".to_string(),
        net.0.clone(),
        "-e".to_string(),
        "DATABASE_HOST=pgdb".to_string(),
        "-e".to_string(),
        "GREETING=slim".to_string(),
        "--security-opt".to_string(),
        seccomp_opt(&s.dir),
    ];
    let (app, port) = serve(&s.tag.0, 8080, &extra);
    let (code, body) = http_get(port, "/");
    assert_eq!(
        (code, body.trim()),
        (200, "slim: Zoë, Ärger, apple"),
        "{}",
        app.logs()
    );
    drop(app);
    drop(db);
}
