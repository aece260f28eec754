//! Issue #21, the audit-to-enforce loop: the slim learn fixture (a static
//! server whose unprobed routes each make one rare syscall) is refused
//! those under its generated profile; run under DIR/seccomp-audit.json it
//! makes them, the kernel logs them, `slim learn --container` adds exactly
//! the named container's (by pid while the process lives, by executable
//! once it exited; another container's call is left out), relaxes the
//! socket rule it outgrew (flagged), and the new profile allows them.
use std::process::Command;

use serde_json::Value;
use slim_tests::*;

/// `learn-server call NAME` inside `c`: ok, EPERM or an errno's name.
fn exec_call(c: &Container, name: &str) -> String {
    let out = Command::new("docker")
        .args(["exec", &c.id, "/learn-server", "call", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn call(port: u16, name: &str) -> String {
    let (code, body) = http_get(port, &format!("/call/{name}"));
    assert_eq!(code, 200, "{name}: {body}");
    body
}

fn learn(dir: &TempDir, extra: &[&str]) -> Value {
    let d = dir.0.to_string_lossy().to_string();
    let mut args = vec!["learn", "--artifacts", &d, "--json"];
    args.extend_from_slice(extra);
    let out = slim(&args);
    assert!(
        out.status.success(),
        "slim learn {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("learn --json prints JSON")
}

fn row<'a>(o: &'a Value, syscall: &str) -> Option<&'a Value> {
    o["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["syscall"] == syscall)
}

#[test]
fn learn_adds_what_the_audit_run_logged_and_the_new_profile_allows_it() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("learn");
    let tag = Tag::new("learn");
    let dir = TempDir::new("learn");
    build(&image, &tag, &dir, &["--http-probe", "GET /"]);
    let enforce = vec!["--security-opt".to_string(), seccomp_opt(&dir)];
    let before = std::fs::read(dir.0.join("seccomp.json")).unwrap();

    // Enforced, the paths the probe never took are refused.
    let (old, port) = serve(&tag.0, 8080, &enforce);
    assert_eq!(http_get(port, "/").1, "hello\n", "{}", old.logs());
    for name in ["getpriority", "times", "netlink"] {
        assert_eq!(call(port, name), "EPERM", "{name} under the old profile");
    }
    assert_eq!(exec_call(&old, "getrusage"), "EPERM");
    drop(old);

    // Audited: allowed, and logged. `other` runs the same image beside it.
    let audit = vec![
        "--security-opt".to_string(),
        format!("seccomp={}", dir.0.join("seccomp-audit.json").display()),
    ];
    let (web, port) = serve(&tag.0, 8080, &audit);
    let (other, other_port) = serve(&tag.0, 8080, &audit);
    assert_eq!(call(port, "getpriority"), "ok");
    assert_eq!(call(port, "netlink"), "ok");
    assert_eq!(exec_call(&web, "getrusage"), "ok");
    assert_eq!(call(other_port, "times"), "ok");

    // kauditd prints the records shortly after the calls.
    let mut dry = Value::Null;
    for _ in 0..50 {
        dry = learn(&dir, &["--container", &web.id, "--dry-run"]);
        if ["getpriority", "getrusage", "socket"]
            .iter()
            .all(|s| row(&dry, s).is_some())
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(dry["written"], false, "{dry}");
    assert_eq!(std::fs::read(dir.0.join("seccomp.json")).unwrap(), before);
    assert_eq!(dry["lost"]["serials_skipped"], 0, "records dropped: {dry}");
    let kept = learn(
        &dir,
        &[
            "--container",
            &web.id,
            "--dry-run",
            "--keep-argument-filters",
        ],
    );
    assert_eq!(
        row(&kept, "socket").unwrap()["change"],
        "left_out",
        "{kept}"
    );

    let o = learn(&dir, &["--container", &web.id]);
    assert_eq!(o["written"], true, "{o}");
    let p = row(&o, "getpriority").unwrap_or_else(|| panic!("getpriority in {o}"));
    assert_eq!(p["change"], "added");
    assert_eq!(p["callers"][0]["exe"], "/learn-server");
    assert_eq!(p["callers"][0]["attributed_by"], "pid", "the server lives");
    let r = row(&o, "getrusage").unwrap_or_else(|| panic!("getrusage in {o}"));
    assert_eq!(r["change"], "added");
    assert_eq!(r["callers"][0]["attributed_by"], "exe", "the exec exited");
    let s = row(&o, "socket").unwrap_or_else(|| panic!("socket in {o}"));
    assert_eq!(s["change"], "relaxed", "{s}");
    assert!(
        s["was"].as_str().unwrap().contains("AF_INET/SOCK_STREAM"),
        "{s}"
    );
    assert!(
        row(&o, "times").is_none(),
        "the other container's call: {o}"
    );
    assert!(
        o["records"]["left_out"]["another process"].as_u64() >= Some(1),
        "{o}"
    );
    drop(other);
    drop(web);

    // What was written agrees with itself.
    assert_eq!(
        std::fs::read(dir.0.join("seccomp.previous.json")).unwrap(),
        before
    );
    let new = read_json(&dir.0.join("seccomp.json"));
    let audit_json = read_json(&dir.0.join("seccomp-audit.json"));
    assert_eq!(audit_json["defaultAction"], "SCMP_ACT_LOG");
    assert_eq!(audit_json["syscalls"], new["syscalls"]);
    let yaml = std::fs::read_to_string(dir.0.join("seccomp-profile.yaml")).unwrap();
    assert!(yaml.contains("- getpriority"), "{yaml}");
    let report = read_json(&dir.0.join("report.json"));
    check_report_schema(&report);
    assert!(lists(&report["seccomp"]["allowed"], "getrusage"));
    assert_eq!(
        report["seccomp"]["learned"][0]["relaxed"],
        serde_json::json!(["socket"])
    );
    let diff = std::fs::read_to_string(dir.0.join("seccomp-learned.txt")).unwrap();
    assert!(diff.contains("+ getpriority"), "{diff}");
    assert!(diff.contains("~ socket"), "{diff}");

    // Enforced again: what the audit run did is allowed, the rest is not.
    let (new_c, port) = serve(&tag.0, 8080, &enforce);
    assert_eq!(call(port, "getpriority"), "ok", "{}", new_c.logs());
    assert_eq!(call(port, "netlink"), "ok");
    assert_eq!(exec_call(&new_c, "getrusage"), "ok");
    assert_eq!(call(port, "times"), "EPERM", "never learned");
    assert_eq!(call(port, "getitimer"), "EPERM", "never called");
}

#[test]
fn learn_refuses_a_directory_without_a_profile_in_one_line() {
    let dir = TempDir::new("learn-empty");
    let out = slim(&["learn", "--artifacts", &dir.0.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("seccomp.json"), "{err}");
    let bad = slim(&[
        "learn",
        "--artifacts",
        &dir.0.to_string_lossy(),
        "--since",
        "yesterday",
    ]);
    assert_eq!(bad.status.code(), Some(1));
}
