//! Issue #21, runtimes: the slim nginx starts, serves and takes an exec
//! under its generated profile on every runtime that runs here, with and
//! without no-new-privileges (the runtimes install the filter at different
//! points of their set-up then): runc under Docker and under Podman, and
//! crun 1.8 alone, as Podman drives it (create, then start). crun refuses
//! this machine's hybrid cgroup hierarchy, so it runs in a mount namespace
//! of its own without the cgroup2 mount (cgroup v1 only, which it
//! supports). Without crun's own post-filter calls (setresgid, setresuid,
//! pselect6: slim-cli/rules/runtime-base.toml) the profile does not start
//! under crun at all.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::{json, Value};
use slim_tests::run_env::{in_podman, PodmanTag};
use slim_tests::*;

/// The slim nginx and its artifacts.
fn slim_nginx(name: &str) -> (Tag, TempDir) {
    let tag = Tag::new(name);
    let dir = TempDir::new(name);
    build(&fixture("nginx"), &tag, &dir, &["--http-probe", "GET /"]);
    (tag, dir)
}

const NNP: [&str; 2] = ["--security-opt", "no-new-privileges"];

fn exec_ok(cli: &str, c: &Container) {
    let out = Command::new(cli)
        .args(["exec", &c.id, "nginx", "-v"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cli} exec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn runc_runs_the_profile_with_and_without_no_new_privileges() {
    if !e2e_ready() {
        return;
    }
    let (tag, dir) = slim_nginx("runtimes-runc");
    let opt = seccomp_opt(&dir);
    for (cli, image) in [("docker", tag.0.clone()), ("podman", in_podman(&tag.0))] {
        let _podman_copy = (cli == "podman").then(|| PodmanTag(image.clone()));
        for nnp in [false, true] {
            let mut args = vec!["-p", "127.0.0.1::80", "--security-opt", &opt];
            if nnp {
                args.extend(NNP);
            }
            args.push(&image);
            let c = Container::run_with(cli, &args);
            assert_serves_nginx(&c);
            exec_ok(c.cli, &c);
        }
    }
}

/// crun, in a mount namespace without the cgroup2 mount (see the module).
fn crun(args: &[&str]) -> Output {
    crun_command(args).output().expect("run unshare")
}

/// `crun create` and `crun start`: the container's init inherits their
/// standard streams and outlives them, so those are not pipes to wait on;
/// crun's own error goes to its log file.
fn crun_detached(args: &[&str], log: &Path) -> Result<(), String> {
    let status = crun_command(&[&["--log", &format!("file:{}", log.display())], args].concat())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run unshare");
    if status.success() {
        Ok(())
    } else {
        Err(std::fs::read_to_string(log).unwrap_or_default())
    }
}

fn crun_command(args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun \"$@\"",
        "crun",
    ])
    .args(args);
    c
}

/// A crun container, deleted on drop.
struct Crun(String);

impl Drop for Crun {
    fn drop(&mut self) {
        let _ = crun(&["delete", "-f", &self.0]);
    }
}

/// An OCI bundle of `image`'s filesystem with `profile` as its seccomp
/// filter: Docker's capabilities and nginx's command, a writable root.
fn bundle(image: &str, dir: &Path) -> PathBuf {
    let b = dir.join("bundle");
    let rootfs = b.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let id = run_ok("docker", &["create", image]);
    let export = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker export {id} | tar -C {} -x",
            rootfs.display()
        ))
        .status()
        .unwrap();
    let _ = Command::new("docker").args(["rm", &id]).output();
    assert!(export.success(), "docker export {image}");
    b
}

fn configure(bundle: &Path, profile: &Value, nnp: bool) {
    let _ = std::fs::remove_file(bundle.join("config.json"));
    let out = Command::new("crun")
        .arg("spec")
        .current_dir(bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "crun spec");
    let path = bundle.join("config.json");
    let mut c = read_json(&path);
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    let p = &mut c["process"];
    p["terminal"] = json!(false);
    p["args"] = json!(["nginx", "-g", "daemon off;"]);
    p["env"] = json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    p["noNewPrivileges"] = json!(nnp);
    p["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    c["root"]["readonly"] = json!(false);
    // Docker's profile format is the runtime spec's linux.seccomp.
    c["linux"]["seccomp"] = profile.clone();
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

/// Creates and starts a crun container of `bundle` (as Podman does), and
/// returns it with whether nginx answered in its network namespace.
fn start(bundle: &Path, name: &str) -> (Crun, Result<String, String>) {
    let id = format!("slim-test-{name}-{}", std::process::id());
    let c = Crun(id.clone());
    let log = bundle.join(format!("{name}.log"));
    let _ = std::fs::remove_file(&log);
    let b = bundle.to_string_lossy();
    if let Err(e) = crun_detached(&["create", "--bundle", &b, &id], &log)
        .and_then(|()| crun_detached(&["start", &id], &log))
    {
        return (c, Err(e));
    }
    let state: Value = serde_json::from_slice(&crun(&["state", &id]).stdout).unwrap_or_default();
    let pid = state["pid"].as_u64().unwrap_or(0).to_string();
    for _ in 0..50 {
        let curl = Command::new("nsenter")
            .args([
                "-t",
                &pid,
                "-n",
                "curl",
                "-s",
                "-m",
                "2",
                "http://127.0.0.1/",
            ])
            .output()
            .unwrap();
        if curl.status.success() {
            return (c, Ok(String::from_utf8_lossy(&curl.stdout).into()));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let state = crun(&["state", &id]);
    (
        c,
        Err(format!(
            "no answer; state {}",
            String::from_utf8_lossy(&state.stdout)
        )),
    )
}

#[test]
fn crun_runs_the_profile_with_and_without_no_new_privileges() {
    if !e2e_ready() {
        return;
    }
    if Command::new("crun").arg("--version").output().is_err() {
        assert_ne!(
            std::env::var("SLIM_E2E").as_deref(),
            Ok("require"),
            "crun is missing: run scripts/setup.sh"
        );
        eprintln!("skipping: crun is not installed (scripts/setup.sh installs it)");
        return;
    }
    let (tag, dir) = slim_nginx("runtimes-crun");
    let profile = read_json(&dir.0.join("seccomp.json"));
    let b = bundle(&tag.0, &dir.0);
    for nnp in [false, true] {
        configure(&b, &profile, nnp);
        let (c, answer) = start(&b, "crun");
        let body = answer.unwrap_or_else(|e| panic!("crun, no-new-privileges {nnp}: {e}"));
        assert!(body.contains("slim fixture: nginx"), "{body}");
        let exec = crun(&["exec", &c.0, "nginx", "-v"]);
        assert!(
            exec.status.success(),
            "crun exec, no-new-privileges {nnp}: {}",
            String::from_utf8_lossy(&exec.stderr)
        );
    }

    // The runtime base is what makes it start: without crun's identity
    // calls (runc's set alone), crun cannot switch to the container's user.
    let mut runc_only = profile.clone();
    for rule in runc_only["syscalls"].as_array_mut().unwrap() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "setresgid" && n != "setresuid");
        }
    }
    configure(&b, &runc_only, false);
    let (_c, answer) = start(&b, "crun-runc-base");
    let err = answer.expect_err("crun started without setresgid and setresuid");
    assert!(err.contains("setresgid"), "{err}");
}
