//! Issue #11 (6): inputs slim cannot honour fail with one line saying why,
//! instead of being ignored or reported as something else.
use std::process::Command;

use slim_tests::*;

fn fails_with(args: &[&str], want: &str) {
    let out = slim(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(want), "{args:?}: {err}");
}

#[test]
fn includes_that_cannot_be_kept_fail() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let dir = TempDir::new("bad-inputs");
    let d = dir.0.to_str().unwrap();
    let tag = Tag::new("bad-inputs");
    let base = ["build", &image, "--tag", &tag.0, "--artifacts", d];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    fails_with(
        &with(&["--include-path", "relative/path"]),
        "not an absolute path",
    );
    fails_with(
        &with(&["--include-path", "/nonexistent"]),
        "--include-path /nonexistent: no such path in the image",
    );
    fails_with(
        &with(&["--include-bin", "nosuch"]),
        "--include-bin nosuch: not found in the image",
    );
}

#[test]
fn the_source_tag_is_never_moved() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let id = inspect(&image, "{{.Id}}");
    let dir = TempDir::new("same-tag");
    fails_with(
        &[
            "build",
            &image,
            "--tag",
            &image,
            "--artifacts",
            dir.0.to_str().unwrap(),
        ],
        "names the source image",
    );
    assert_eq!(inspect(&image, "{{.Id}}"), id);
}

#[test]
fn a_non_root_user_hears_about_privileges() {
    if !e2e_ready() {
        return;
    }
    let gid = Command::new("stat")
        .args(["-c", "%g", "/var/run/docker.sock"])
        .output()
        .unwrap();
    let gid = String::from_utf8_lossy(&gid.stdout).trim().to_string();
    let dir = TempDir::new("non-root");
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", &format!("--groups={gid}")])
        .arg(slim_bin())
        .args(["profile", &fixture("nginx"), "--artifacts"])
        .arg(&dir.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)"),
        "{err}"
    );
}

#[test]
fn an_app_that_exits_at_once_is_reported_as_such() {
    if !e2e_ready() {
        return;
    }
    let image = derive(
        &fixture("nginx"),
        "exits-at-once",
        &[r#"CMD ["sh", "-c", "echo boom >&2; exit 7"]"#],
    );
    let dir = TempDir::new("exits");
    for _ in 0..3 {
        fails_with(
            &["profile", &image.0, "--artifacts", dir.0.to_str().unwrap()],
            "exit code 7",
        );
    }
    let out = slim(&["profile", &image.0, "--artifacts", dir.0.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("boom"));
}
