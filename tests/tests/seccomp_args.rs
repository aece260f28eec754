//! Issue #21: argument filters from observation. Inside the slim nginx,
//! running (and serving) under its generated profile, a small static
//! program (tests/fixtures/seccomp_args.c, copied in with `docker cp` and
//! run with `docker exec`, which runs under the container's profile) is
//! refused an AF_PACKET socket, a user namespace (clone and unshare),
//! READ_IMPLIES_EXEC and a writable+executable mapping, each of which
//! succeeds in the same image unconfined and, where the syscall was seen,
//! under the names-only profile (`--seccomp-args off`). Arguments with
//! high bits set are judged on the low 32 bits the kernel reads.
use std::process::Command;

use slim_tests::*;

/// tests/fixtures/seccomp_args.c compiled statically with the host's gcc.
fn program(dir: &TempDir) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/seccomp_args.c");
    let out = dir.0.join("seccomp-args");
    let cc = Command::new("gcc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("run gcc");
    assert!(
        cc.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    out
}

/// Starts the slim image with `opts`, serving; copies the program in.
fn start(tag: &str, opts: &[String], prog: &std::path::Path) -> Container {
    let (c, port) = serve(tag, 80, opts);
    let (code, body) = http_get(port, "/");
    assert_eq!(code, 200, "{opts:?}: {body}\n{}", c.logs());
    run_ok(
        "docker",
        &[
            "cp",
            &prog.to_string_lossy(),
            &format!("{}:/seccomp-args", c.id),
        ],
    );
    c
}

/// The program's verdict on MODE inside the container: ok, EPERM, or an
/// errno name.
fn attempt(c: &Container, mode: &str) -> String {
    let out = Command::new("docker")
        .args(["exec", &c.id, "/seccomp-args", mode])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !said.is_empty(),
        "{mode} said nothing ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

#[test]
fn slim_nginx_refuses_what_it_never_did_by_argument() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let tag = Tag::new("seccomp-args");
    let dir = TempDir::new("seccomp-args");
    let names_dir = TempDir::new("seccomp-args-off");
    let r = build(&image, &tag, &dir, &["--http-probe", "GET /"]);
    let off = profile(
        &tag.0,
        &names_dir,
        &["--http-probe", "GET /", "--seccomp-args", "off"],
    );
    let prog = program(&dir);

    // What the report says was seen and drawn.
    assert_eq!(r["seccomp"]["argument_filters"], true);
    let args = r["seccomp"]["arguments"].as_array().unwrap();
    let socket = args
        .iter()
        .find(|a| a["syscall"] == "socket")
        .unwrap_or_else(|| panic!("socket in {args:?}"));
    assert_eq!(socket["rule"], "values", "{socket}");
    let seen: Vec<&str> = socket["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(seen.contains(&"AF_INET/SOCK_STREAM"), "{seen:?}");
    assert!(!seen.iter().any(|s| s.starts_with("AF_PACKET")), "{seen:?}");
    assert_eq!(off["seccomp"]["argument_filters"], false);
    assert!(off["seccomp"]["arguments"].as_array().unwrap().is_empty());
    let names_only = read_json(&names_dir.0.join("seccomp.json"));
    assert!(
        names_only["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("args").is_none()),
        "{names_only}"
    );

    let refused = [
        "packet",
        "unshare-user",
        "clone-user",
        "persona",
        "wx",
        "wx-mprotect",
    ];
    let unconfined = start(
        &tag.0,
        &["--security-opt".into(), "seccomp=unconfined".into()],
        &prog,
    );
    for mode in refused.iter().chain(&["inet", "inet-high"]) {
        assert_eq!(attempt(&unconfined, mode), "ok", "{mode} unconfined");
    }
    drop(unconfined);

    // Names only: socket, clone and mmap were seen, so nothing stops these.
    let opt = format!("seccomp={}", names_dir.0.join("seccomp.json").display());
    let loose = start(&tag.0, &["--security-opt".into(), opt], &prog);
    for mode in ["packet", "clone-user", "wx", "wx-mprotect", "inet"] {
        assert_eq!(
            attempt(&loose, mode),
            "ok",
            "{mode} under the names-only profile"
        );
    }
    drop(loose);

    let confined = start(&tag.0, &["--security-opt".into(), seccomp_opt(&dir)], &prog);
    for mode in refused {
        assert_eq!(
            attempt(&confined, mode),
            "EPERM",
            "{mode} under slim's profile"
        );
    }
    // The kernel reads an int: bit 32 neither makes AF_INET another domain
    // nor hides AF_PACKET or READ_IMPLIES_EXEC.
    assert_eq!(attempt(&confined, "inet"), "ok");
    assert_eq!(attempt(&confined, "inet-high"), "ok");
    assert_eq!(attempt(&confined, "packet-high"), "EPERM");
    assert_eq!(attempt(&confined, "persona-high"), "EPERM");
    // nginx still serves under it after all that.
    let port = confined.port(80);
    assert_eq!(http_get(port, "/").0, 200, "{}", confined.logs());
}
