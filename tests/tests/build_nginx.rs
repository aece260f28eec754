//! Issue #4: the nginx fixture becomes a small image that serves the page
//! and the 404 under its own seccomp profile; the source image is untouched.
use slim_tests::*;

#[test]
fn nginx_slim_serves_under_its_profile_and_is_small() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let source_id = inspect(&image, "{{.Id}}");
    let tag = Tag::new("nginx");
    let dir = TempDir::new("build-nginx");
    let r = build(
        &image,
        &tag,
        &dir,
        &[
            "--http-probe",
            "GET /",
            "--http-probe",
            "GET /missing",
            "--verify",
        ],
    );

    assert_eq!(
        inspect(&image, "{{.Id}}"),
        source_id,
        "the source image changed"
    );
    let size: u64 = inspect(&tag.0, "{{.Size}}").parse().unwrap();
    eprintln!("nginx: {} -> {size} bytes", r["source"]["size_bytes"]);
    assert!(size <= 12_000_000, "slim nginx is {size} bytes, over 12 MB");
    assert_eq!(r["result"]["image"], tag.0.as_str());
    assert_eq!(r["result"]["size_bytes"], size);
    assert_eq!(
        inspect(&tag.0, "{{json .Config.Cmd}}"),
        r#"["nginx","-g","daemon off;"]"#
    );
    assert_eq!(
        inspect(&tag.0, "{{json .Config.ExposedPorts}}"),
        r#"{"80/tcp":{}}"#
    );
    let reason = |p: &str| {
        r["kept"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["path"] == p)
            .map(|k| k["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("/usr/sbin/nginx").as_deref(), Some("touched"));
    assert_eq!(
        reason("/lib").as_deref(),
        Some("symlink"),
        "merged-/usr symlink kept"
    );
    assert_eq!(reason("/tmp").as_deref(), Some("rule"));
    assert_eq!(r["verify"].as_array().unwrap().len(), 2);

    let c = Container::run(&[
        "-p",
        "127.0.0.1::80",
        "--security-opt",
        &seccomp_opt(&dir),
        &tag.0,
    ]);
    assert_serves_nginx(&c);
    // No shell in the slim image.
    let sh = std::process::Command::new("docker")
        .args(["exec", &c.id, "sh", "-c", "true"])
        .output()
        .unwrap();
    assert!(!sh.status.success(), "the slim image should have no shell");
}
