//! Issue #4: Ctrl-C in the middle of a run leaves no container behind and
//! says what happened.
use std::{process::Command, time::Duration};

use slim_tests::*;

#[test]
fn ctrl_c_removes_the_container() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let dir = TempDir::new("sigint");
    let tag = Tag::new("sigint");
    let child = Command::new(slim_bin())
        .args([
            "build",
            &image,
            "--tag",
            &tag.0,
            "--artifacts",
            dir.0.to_str().unwrap(),
            "--host-exec",
            "sleep 60",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the container exists, then interrupt.
    let mut seen = false;
    for _ in 0..100 {
        if !slim_containers(&image).is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "slim never started its container");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        slim_containers(&image).is_empty(),
        "container left after Ctrl-C"
    );
    let img = Command::new("docker")
        .args(["image", "inspect", &tag.0])
        .output()
        .unwrap();
    assert!(
        !img.status.success(),
        "no image may be written after Ctrl-C"
    );
}
