//! Issue #12: Podman as the engine, through its Docker-compatible API
//! socket (started by slim when none answers). The eBPF probe finds the
//! container as it does under Docker (Podman names the container's host by
//! its short ID too), the image is written to Podman's store, and it serves
//! under its own profile with Podman's own CLI.
use std::process::Command;

use slim_tests::run_env::{in_podman, podman_slim_containers, PodmanTag};
use slim_tests::*;

#[test]
fn nginx_slimmed_under_podman_serves_under_its_profile() {
    if !e2e_ready() {
        return;
    }
    let image = in_podman(&fixture("nginx"));
    let tag = PodmanTag(Tag::new("podman-nginx").0.clone());
    let dir = TempDir::new("podman-nginx");
    let out = slim(&[
        "build",
        &image,
        "--engine",
        "podman",
        "--tag",
        &tag.0,
        "--artifacts",
        &dir.0.to_string_lossy(),
        "--verify",
    ]);
    assert!(
        out.status.success(),
        "slim build --engine podman: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_json(&dir.0.join("report.json"));
    assert_eq!(r["engine"], "podman");
    assert_eq!(r["events"]["dropped"], 0);
    assert!(
        file(&r, "/usr/sbin/nginx").is_some(),
        "the probe saw nginx run"
    );
    assert_eq!(r["verify"][0]["code"], 200);
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    assert!(size < 20_000_000, "slim image of {size} bytes");

    // Podman's own CLI runs it under the profile.
    let c = Container::run_with(
        "podman",
        &[
            "-p",
            "127.0.0.1::80",
            "--security-opt",
            &seccomp_opt(&dir),
            &tag.0,
        ],
    );
    assert_serves_nginx(&c);
    drop(c);
    for i in [&image, &tag.0] {
        assert_eq!(podman_slim_containers(i), "", "slim left containers of {i}");
    }
}

#[test]
fn an_archive_runs_under_podman_and_leaves_nothing_behind() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("podman-archive");
    let archive = dir.0.join("cli.tar");
    run_ok(
        "docker",
        &["save", "-o", &archive.to_string_lossy(), &fixture("cli")],
    );
    let artifacts = dir.0.join("out");
    let out = slim(&[
        "profile",
        &format!("docker-archive:{}", archive.display()),
        "--engine",
        "podman",
        "--artifacts",
        &artifacts.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_json(&artifacts.join("report.json"));
    // The cli fixture's job exits 3 by design.
    assert_eq!(r["container"]["exit_code"], 3);
    assert!(file(&r, "/usr/local/bin/report").is_some());
    let id = r["source"]["id"].as_str().unwrap();
    assert!(
        !Command::new("podman")
            .args(["image", "exists", id])
            .status()
            .unwrap()
            .success(),
        "the image slim loaded into Podman to run it ({id}) is removed"
    );
}
