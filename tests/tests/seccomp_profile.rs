//! Issue #3: the generated profile denies by default, and the fixtures start
//! and work under it with `docker run --security-opt seccomp=DIR/seccomp.json`.
use std::process::Command;

use slim_tests::*;

#[test]
fn nginx_starts_and_serves_under_its_profile() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let dir = TempDir::new("seccomp-nginx");
    profile(
        &image,
        &dir,
        &["--http-probe", "GET /", "--http-probe", "GET /missing"],
    );
    let prof = read_json(&dir.0.join("seccomp.json"));
    assert_eq!(prof["defaultAction"], "SCMP_ACT_ERRNO");
    let allowed = prof["syscalls"][0]["names"].as_array().unwrap();
    assert!(
        !allowed.iter().any(|n| n == "ptrace" || n == "mount"),
        "{allowed:?}"
    );
    let opt = format!("seccomp={}", dir.0.join("seccomp.json").display());
    let c = Container::run(&["-p", "127.0.0.1::80", "--security-opt", &opt, &image]);
    assert_serves_nginx(&c);
}

#[test]
fn cli_runs_the_same_under_its_profile() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("cli");
    let dir = TempDir::new("seccomp-cli");
    profile(&image, &dir, &[]);
    let opt = format!("seccomp={}", dir.0.join("seccomp.json").display());
    let plain = Command::new("docker")
        .args(["run", "--rm", &image])
        .output()
        .unwrap();
    let confined = Command::new("docker")
        .args(["run", "--rm", "--security-opt", &opt, &image])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(3));
    assert_eq!(
        confined.status.code(),
        plain.status.code(),
        "{}",
        String::from_utf8_lossy(&confined.stderr)
    );
    assert_eq!(confined.stdout, plain.stdout);
}

#[test]
fn a_denied_syscall_is_denied() {
    if !e2e_ready() {
        return;
    }
    // The first-syscall fixture never calls mkdir: under its profile a shell
    // cannot even start, let alone mkdir. Use the cli image with the
    // first-syscall profile to show the profile is enforced.
    let dir = TempDir::new("seccomp-deny");
    profile(&fixture("first-syscall"), &dir, &[]);
    let opt = format!("seccomp={}", dir.0.join("seccomp.json").display());
    let out = Command::new("docker")
        .args(["run", "--rm", "--security-opt", &opt, &fixture("cli")])
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(3),
        "the cli ran to its end under a profile that lacks its syscalls"
    );
    let ok = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--security-opt",
            &opt,
            &fixture("first-syscall"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
