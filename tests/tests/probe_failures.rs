//! Issue #3: a failing probe fails the run with one clear line, and the
//! container is removed; so is a missing image.
use slim_tests::*;

fn one_line_error(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "slim should have failed");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap_or("").to_string();
    assert!(line.starts_with("slim: error: "), "stderr: {err}");
    line
}

#[test]
fn a_failing_exec_probe_fails_the_run_and_cleans_up() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("fail");
    let d = dir.0.to_str().unwrap();
    let out = slim(&[
        "profile",
        &fixture("nginx"),
        "--artifacts",
        d,
        "--exec",
        "exit 7",
    ]);
    let line = one_line_error(&out);
    assert!(line.contains("exited with 7"), "{line}");
    assert!(
        slim_containers(&fixture("nginx")).is_empty(),
        "container left behind"
    );
}

#[test]
fn a_missing_image_says_so() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("missing");
    let d = dir.0.to_str().unwrap();
    let out = slim(&["profile", "slim-no-such-image:0", "--artifacts", d]);
    let line = one_line_error(&out);
    assert!(line.contains("not in the Docker daemon"), "{line}");
}

#[test]
fn an_app_that_never_answers_times_out_clearly() {
    if !e2e_ready() {
        return;
    }
    // The cli fixture exposes no port: asking for an HTTP probe is an error.
    let dir = TempDir::new("noport");
    let d = dir.0.to_str().unwrap();
    let out = slim(&[
        "profile",
        &fixture("cli"),
        "--artifacts",
        d,
        "--http-probe",
        "GET /",
    ]);
    let line = one_line_error(&out);
    assert!(line.contains("exposes none"), "{line}");
    assert!(slim_containers(&fixture("cli")).is_empty());
}
