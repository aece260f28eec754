//! Issue #11 (10): the summary says when the app exited non-zero by
//! itself; --verify with nothing to replay says so; a failed run leaves no
//! empty artifacts directory behind.
use slim_tests::*;

#[test]
fn the_summary_tells_what_happened() {
    if !e2e_ready() {
        return;
    }
    // The cli fixture's job exits with 3 by design.
    let image = fixture("cli");
    let tag = Tag::new("messages");
    let dir = TempDir::new("messages");
    let d = dir.0.to_str().unwrap();
    let out = slim(&[
        "build",
        &image,
        "--tag",
        &tag.0,
        "--artifacts",
        d,
        "--verify",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("the app exited by itself with code 3"),
        "{err}"
    );
    assert!(err.contains("--verify has no probes to replay"), "{err}");
    assert!(err.contains("verified: no probes to replay"), "{err}");
}

#[test]
fn a_failed_run_leaves_no_empty_artifacts_directory() {
    if !e2e_ready() {
        return;
    }
    let parent = TempDir::new("no-empty-dir");
    let dir = parent.0.join("artifacts");
    let out = slim(&[
        "profile",
        "slim-test-no-such-image:1",
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in the Docker daemon"));
    assert!(!dir.exists(), "an empty {} was left", dir.display());
}
