//! Issue #4: a run-to-completion CLI image (a shell script calling a few
//! binaries, one of which lists a directory) gives the same stdout and exit
//! code as the original, under its profile.
use std::process::Command;

use slim_tests::*;

#[test]
fn cli_slim_prints_the_same_and_exits_the_same() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("cli");
    let tag = Tag::new("cli");
    let dir = TempDir::new("build-cli");
    let r = build(
        &image,
        &tag,
        &dir,
        &["--continue-after", "exit", "--verify"],
    );
    assert_eq!(r["container"]["stopped_by"], "itself");
    let original = Command::new("docker")
        .args(["run", "--rm", &image])
        .output()
        .unwrap();
    let slim = Command::new("docker")
        .args(["run", "--rm", "--security-opt", &seccomp_opt(&dir), &tag.0])
        .output()
        .unwrap();
    assert_eq!(original.status.code(), Some(3));
    assert_eq!(
        slim.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&slim.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&slim.stdout),
        String::from_utf8_lossy(&original.stdout),
        "stdout differs"
    );
    let src: u64 = inspect(&image, "{{.Size}}").parse().unwrap();
    let out: u64 = inspect(&tag.0, "{{.Size}}").parse().unwrap();
    eprintln!("cli: {src} -> {out} bytes");
    assert!(out * 10 < src, "not much smaller: {src} -> {out}");
}
