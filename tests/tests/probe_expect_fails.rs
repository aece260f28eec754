//! Issue #18: a probe whose expectation fails (the app answers 500) fails
//! the build with its own exit status (8) and one line naming the probe,
//! and writes no image; the report lists it. --accept-probe-failures
//! records it and goes on.
use slim_tests::*;

#[test]
fn a_failed_expectation_fails_the_build_and_writes_no_image() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-api");
    let dir = TempDir::new("probe-fails");
    let file = dir.0.join("probes.json");
    std::fs::write(
        &file,
        r#"[{"http": {"path": "/health", "expect": 200}}, {"http": {"path": "/fail"}}, {"exec": "true"}]"#,
    )
    .unwrap();
    let tag = Tag::new("probe-fails");
    let d = dir.0.to_str().unwrap();
    let out = slim(&[
        "build",
        &image,
        "--tag",
        &tag.0,
        "--artifacts",
        d,
        "--probe-file",
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "exit status: {err}");
    let line = err.lines().last().unwrap_or("");
    assert!(
        line.starts_with("slim: error: probe failed: ")
            && line.contains("probe file entry 2 (http GET /fail on port 8000)")
            && line.contains("expected status < 500, got status 500"),
        "{line}"
    );
    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", &tag.0])
        .output()
        .unwrap();
    assert!(
        !inspect.status.success(),
        "{} exists after a failed probe",
        tag.0
    );
    // The report says what ran: the first probe passed, the second failed,
    // and the third never ran.
    let r = read_json(&dir.0.join("report.json"));
    check_report_schema(&r);
    let probes = r["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2, "{probes:?}");
    assert_eq!(probes[0]["ok"], true);
    assert_eq!(probes[1]["ok"], false);
    assert_eq!(probes[1]["got"], "status 500");
    assert!(r["result"].is_null());
    assert!(slim_containers(&image).is_empty(), "container left behind");

    // Accepted: recorded, and the run goes on to the end.
    let accepted = TempDir::new("probe-fails-accepted");
    let r = profile(
        &image,
        &accepted,
        &[
            "--probe-file",
            file.to_str().unwrap(),
            "--accept-probe-failures",
        ],
    );
    let probes = r["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 3, "{probes:?}");
    assert_eq!(probes[1]["ok"], false);
    assert_eq!(probes[2]["kind"], "exec");
    assert_eq!(probes[2]["ok"], true);
}
