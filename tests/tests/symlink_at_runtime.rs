//! Issue #11 (1): a file opened through a symlink the app creates at run
//! time is recorded as the file the kernel opened, so the slim image keeps
//! it (it used to keep /tmp/v's name only and fail with "No such file").
use std::process::Command;

use slim_tests::*;

#[test]
fn a_file_read_through_a_runtime_symlink_is_kept() {
    if !e2e_ready() {
        return;
    }
    let image = derive(
        &fixture("cli"),
        "symlink-src",
        &[r#"ENTRYPOINT ["sh", "-c", "ln -sf /etc/debian_version /tmp/v && cat /tmp/v"]"#],
    );
    let tag = Tag::new("symlink");
    let dir = TempDir::new("symlink");
    let r = build(
        &image.0,
        &tag,
        &dir,
        &["--continue-after", "exit", "--keep", "minimal"],
    );
    let f = file(&r, "/etc/debian_version").expect("the opened file is in the trace");
    assert!(lists(&f["access"], "open"), "{f}");
    assert!(kept(&r, "/etc/debian_version").is_some());
    let out = Command::new("docker")
        .args(["run", "--rm", &tag.0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the slim image failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = Command::new("docker")
        .args(["run", "--rm", &image.0])
        .output()
        .unwrap();
    assert_eq!(out.stdout, want.stdout);
}
