//! Issue #4: an image whose USER is not root (python's http.server as
//! "app", uid 1500) keeps its user and still serves under its profile.
use slim_tests::*;

#[test]
fn a_non_root_user_image_keeps_its_user_and_serves() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("user");
    let tag = Tag::new("user");
    let dir = TempDir::new("build-user");
    let r = build(&image, &tag, &dir, &["--verify", "--stop-timeout", "1"]);
    assert_eq!(inspect(&tag.0, "{{.Config.User}}"), "app");
    assert_eq!(inspect(&tag.0, "{{.Config.WorkingDir}}"), "/srv/app");
    let kept = |p: &str| r["kept"].as_array().unwrap().iter().any(|k| k["path"] == p);
    assert!(
        kept("/etc/passwd") && kept("/etc/group"),
        "runc needs them to resolve USER app"
    );
    let c = Container::run(&[
        "-p",
        "127.0.0.1::8000",
        "--security-opt",
        &seccomp_opt(&dir),
        &tag.0,
    ]);
    let (code, body) = http_get(c.port(8000), "/index.html");
    assert_eq!(code, 200, "{}", c.logs());
    assert_eq!(body, "served by app\n");
    let top = std::process::Command::new("docker")
        .args(["top", &c.id, "-o", "uid,pid"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&top.stdout),
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(text.contains("1500"), "not running as uid 1500: {text}");
}
