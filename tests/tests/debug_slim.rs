//! Issue #18: `slim debug` on a slim image (no shell in it): a container of
//! the source image (from the label slim set) in the target's pid and
//! network namespaces lists the target's processes and reads a file of its
//! root filesystem through /proc/1/root, passes the command's exit status
//! on, and is removed afterwards.
use std::process::Command;

use slim_tests::*;

#[test]
fn slim_debug_sees_the_processes_and_files_of_a_slim_container() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("static-site");
    let dir = TempDir::new("debug");
    let tag = Tag::new("debug");
    build(&image, &tag, &dir, &[]);
    let source_id = inspect(&image, "{{.Id}}");
    assert_eq!(
        inspect(&tag.0, "{{index .Config.Labels \"io.slim.source\"}}"),
        source_id
    );

    let (c, _port) = serve(&tag.0, 80, &[]);
    let no_shell = Command::new("docker")
        .args(["exec", &c.id, "sh", "-c", "true"])
        .output()
        .unwrap();
    assert!(!no_shell.status.success(), "the slim image has no shell");

    let out = slim(&[
        "debug",
        &c.id,
        "--",
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do cat $p/comm; done; cat /proc/1/root/var/www/html/index.html",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "slim debug failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l == "nginx"),
        "the target's processes: {stdout}"
    );
    assert!(
        stdout.contains(r#"<h1 id="top">static site</h1>"#),
        "a file of its root: {stdout}"
    );

    // The command's status comes back, with no line of slim's own.
    let out = slim(&[
        "debug", &c.id, "--image", &image, "--", "sh", "-c", "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(
        slim_containers(&source_id).is_empty(),
        "debug container left behind"
    );
    assert!(
        slim_containers(&image).is_empty(),
        "debug container left behind"
    );
}
