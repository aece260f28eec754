//! Issue #12: slim in its own container. scripts/slim-image.sh builds
//! slim's image from Debian packages and slims it with slim; that image,
//! run with the documented flags (no --privileged: CAP_SYS_ADMIN, the
//! host's pid namespace and network, the engine socket and tracefs),
//! slims the nginx fixture on the host. This is what a Kubernetes Job or
//! a CI service container runs (docs/in-a-container.md).
use std::process::Command;

use slim_tests::*;

#[test]
fn slims_own_image_slims_nginx_on_the_host() {
    if !e2e_ready() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let image = Tag::new("self");
    let full = Tag(format!("{}-full", image.0));
    let built = run_ok(
        "bash",
        &[
            &root.join("scripts/slim-image.sh").to_string_lossy(),
            &slim_bin().to_string_lossy(),
            &image.0,
        ],
    );
    assert_eq!(built.lines().last(), Some(image.0.as_str()));
    let full_size: u64 = inspect(&full.0, "{{.Size}}").parse().unwrap();
    let slim_size: u64 = inspect(&image.0, "{{.Size}}").parse().unwrap();
    assert!(slim_size < full_size, "{slim_size} < {full_size}");

    let out_dir = TempDir::new("self-out");
    let tag = Tag::new("self-nginx");
    let run = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--pid=host",
            "--network=host",
            "--cap-add=SYS_ADMIN",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            "/sys/kernel/tracing:/sys/kernel/tracing",
            "-v",
            &format!("{}:/out", out_dir.0.display()),
            &image.0,
            "build",
            &fixture("nginx"),
            "--tag",
            &tag.0,
            "--artifacts",
            "/out",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "slim in its container: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = read_json(&out_dir.0.join("report.json"));
    assert_eq!(r["events"]["dropped"], 0);
    assert!(file(&r, "/usr/sbin/nginx").is_some());
    let c = Container::run(&[
        "-p",
        "127.0.0.1::80",
        "--security-opt",
        &seccomp_opt(&out_dir),
        &tag.0,
    ]);
    let (code, body) = http_get(c.port(80), "/");
    assert_eq!(code, 200, "{}", c.logs());
    assert!(body.contains("slim fixture: nginx"));
    assert!(slim_containers(&fixture("nginx")).is_empty());
}
