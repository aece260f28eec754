//! Helpers shared by slim's end-to-end tests: fixture images, running the
//! `slim` binary, and containers that are removed even when a test fails.
//!
//! The tests need root, a Docker daemon and eBPF. A plain `cargo test`
//! skips them with a printed reason when those are missing; with
//! `SLIM_E2E=require` (set by `scripts/test.sh`, the README's command, and by
//! CI) a missing prerequisite fails the test instead.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Mutex,
};

use serde_json::Value;

pub mod compose;
pub mod fake_registry;
pub mod hostile;
pub mod probes;
pub mod run_env;

/// Whether the end-to-end prerequisites are here. Prints why not and returns
/// false (skip), or panics when `SLIM_E2E=require`.
pub fn e2e_ready() -> bool {
    let missing = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root")
    } else if !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Some("no Docker daemon answers")
    } else if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        Some("the kernel has no BTF")
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if std::env::var("SLIM_E2E").as_deref() == Ok("require") => {
            panic!("end-to-end prerequisites missing: {why} (run scripts/setup.sh)")
        }
        Some(why) => {
            eprintln!("skipping end-to-end test: {why}; scripts/test.sh runs it");
            false
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The image reference of a fixture, built on first use (cached by tag).
pub fn fixture(name: &str) -> String {
    static BUILT: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let map = built.get_or_insert_with(HashMap::new);
    if let Some(r) = map.get(name) {
        return r.clone();
    }
    let out = Command::new("bash")
        .arg(repo_root().join("tests/fixtures/build.sh"))
        .arg(name)
        .output()
        .expect("run tests/fixtures/build.sh");
    assert!(
        out.status.success(),
        "building fixture {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = String::from_utf8(out.stdout).unwrap().trim().to_string();
    map.insert(name.to_string(), image.clone());
    image
}

/// The `slim` binary of this build (target/<profile>/slim).
pub fn slim_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("slim");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// `slim-test-NAME` made unique to this process and moment, for names of
/// directories and image tags that parallel tests must not share.
fn unique(name: &str, sep: char) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("slim-test-{name}{sep}{}-{nanos}", std::process::id())
}

/// A fresh artifacts directory in the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(unique(tag, '-'));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `slim ARGS` and returns its output.
pub fn slim(args: &[&str]) -> Output {
    slim_env(args, &[])
}

/// Runs `slim ARGS` with `env` set and returns its output.
pub fn slim_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new(slim_bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run slim")
}

/// Runs `slim profile IMAGE --artifacts DIR EXTRA...`; panics with its stderr
/// unless it succeeds; returns report.json.
pub fn profile(image: &str, dir: &TempDir, extra: &[&str]) -> Value {
    run_for_report(&["profile", image], dir, extra)
}

/// Runs `slim FIRST... --artifacts DIR EXTRA...`, which must succeed, and
/// returns DIR/report.json.
fn run_for_report(first: &[&str], dir: &TempDir, extra: &[&str]) -> Value {
    run_for_report_env(first, dir, extra, &[])
}

fn run_for_report_env(
    first: &[&str],
    dir: &TempDir,
    extra: &[&str],
    env: &[(&str, &Path)],
) -> Value {
    let d = dir.0.to_str().unwrap();
    let mut args = first.to_vec();
    args.extend_from_slice(&["--artifacts", d]);
    args.extend_from_slice(extra);
    let out = slim_env(&args, env);
    assert!(
        out.status.success(),
        "slim {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report = read_json(&dir.0.join("report.json"));
    check_report_schema(&report);
    report
}

/// Fails unless `report` follows docs/report.schema.json: every report an
/// end-to-end test reads through [`build`] or [`profile`] is checked.
pub fn check_report_schema(report: &Value) {
    check_schema(report, "docs/report.schema.json");
}

/// Fails unless `value` follows the JSON Schema at `schema` (a path in the
/// repository).
pub fn check_schema(value: &Value, schema: &str) {
    let schema_json = read_json(&repo_root().join(schema));
    let validator = jsonschema::validator_for(&schema_json)
        .unwrap_or_else(|e| panic!("{schema} is not a valid JSON Schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "output does not follow {schema}:\n{}",
        errors.join("\n")
    );
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The report's file record for `path`, if any.
pub fn file<'a>(report: &'a Value, path: &str) -> Option<&'a Value> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
}

/// Whether a JSON array (a record's `access`, `errors`, ...) holds `item`.
pub fn lists(array: &Value, item: &str) -> bool {
    array
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == item))
}

pub fn paths(report: &Value) -> Vec<String> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

pub fn syscalls(report: &Value) -> Vec<String> {
    report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Containers of `image` with slim's session label: a test checks none are left.
pub fn slim_containers(image: &str) -> Vec<String> {
    let ancestor = format!("ancestor={image}");
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=slim.session",
            "--filter",
            &ancestor,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A container started with `docker run -d` (or `podman run -d`), removed
/// on drop.
pub struct Container {
    pub id: String,
    /// The engine's CLI: docker or podman.
    pub cli: &'static str,
}

impl Container {
    pub fn run(args: &[&str]) -> Self {
        Self::run_with("docker", args)
    }

    pub fn run_with(cli: &'static str, args: &[&str]) -> Self {
        let out = Command::new(cli)
            .arg("run")
            .arg("-d")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cli} run {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            id: String::from_utf8(out.stdout).unwrap().trim().to_string(),
            cli,
        }
    }

    /// The host port published for a container TCP port.
    pub fn port(&self, port: u16) -> u16 {
        let out = Command::new(self.cli)
            .args(["port", &self.id, &format!("{port}/tcp")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("127.0.0.1"))
            .expect("a port on 127.0.0.1");
        line.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn logs(&self) -> String {
        let out = Command::new(self.cli)
            .args(["logs", &self.id])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(self.cli)
            .args(["rm", "-f", "-v", &self.id])
            .output();
    }
}

/// GET http://127.0.0.1:PORT/PATH with curl, retrying until the app answers;
/// returns (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    for _ in 0..100 {
        if let Some(answer) = curl(port, path, 2) {
            return answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no HTTP answer on 127.0.0.1:{port}{path}");
}

/// One GET with curl, waiting at most `seconds`: (status, body), or `None`
/// when no HTTP answer came.
fn curl(port: u16, path: &str, seconds: u32) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-m", &seconds.to_string(), "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n')?;
    let code: u16 = code.parse().ok()?;
    (code != 0).then(|| (code, body.to_string()))
}

/// A unique image tag, removed (with `docker rmi`) on drop.
pub struct Tag(pub String);

impl Tag {
    pub fn new(name: &str) -> Self {
        Self(unique(name, ':'))
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// Runs `slim build IMAGE --tag TAG --artifacts DIR EXTRA...`; panics with
/// its stderr unless it succeeds; returns report.json.
pub fn build(image: &str, tag: &Tag, dir: &TempDir, extra: &[&str]) -> Value {
    run_for_report(&["build", image, "--tag", &tag.0], dir, extra)
}

/// [`build`] with `env` set (SLIM_CACHE, for one).
pub fn build_env(image: &str, tag: &Tag, dir: &TempDir, env: &[(&str, &Path)]) -> Value {
    run_for_report_env(&["build", image, "--tag", &tag.0], dir, &[], env)
}

/// `docker image inspect -f FORMAT IMAGE`.
pub fn inspect(image: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "-f", format, image])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The `--security-opt` value for DIR/seccomp.json.
pub fn seccomp_opt(dir: &TempDir) -> String {
    format!("seccomp={}", dir.0.join("seccomp.json").display())
}

/// One GET with no retry: `None` when the app gives no HTTP answer (it
/// crashed, or closed the connection).
pub fn http_once(port: u16, path: &str) -> Option<(u16, String)> {
    curl(port, path, 10)
}

/// One GET of `path` that must get an HTTP answer; otherwise panics
/// naming `mode` (how the image runs) and showing the container's `logs`.
pub fn answer(port: u16, path: &str, mode: &str, logs: &dyn Fn() -> String) -> (u16, String) {
    http_once(port, path)
        .unwrap_or_else(|| panic!("{mode}: no answer to {path}; logs:\n{}", logs()))
}

/// Asserts that each `(path, body)` answers 200 with that body (and a
/// newline): the handlers of a "beyond the probe" fixture.
pub fn assert_answers(port: u16, mode: &str, logs: &dyn Fn() -> String, want: &[(&str, &str)]) {
    for (path, body) in want {
        assert_eq!(
            answer(port, path, mode, logs),
            (200, format!("{body}\n")),
            "{mode}: {path}; logs:\n{}",
            logs()
        );
    }
}

/// The kept-path record of `path` in a build report.
pub fn kept<'a>(report: &'a Value, path: &str) -> Option<&'a Value> {
    report["kept"]
        .as_array()?
        .iter()
        .find(|k| k["path"] == path)
}

/// How a slim image is started in the "beyond the probe" tests: plain, and
/// under its own seccomp profile.
pub fn run_modes(dir: &TempDir) -> [(&'static str, Vec<String>); 2] {
    [
        ("without a profile", Vec::new()),
        (
            "under its profile",
            vec!["--security-opt".to_string(), seccomp_opt(dir)],
        ),
    ]
}

/// Starts `image` with `port` published on 127.0.0.1 and `extra` docker
/// run flags; returns the container and the host port.
pub fn serve(image: &str, port: u16, extra: &[String]) -> (Container, u16) {
    let publish = format!("127.0.0.1::{port}");
    let mut args: Vec<&str> = vec!["-p", &publish];
    args.extend(extra.iter().map(String::as_str));
    args.push(image);
    let c = Container::run(&args);
    let host = c.port(port);
    (c, host)
}

/// A new image: `base` with `changes` (Dockerfile instructions, as
/// `docker commit --change` takes them), tagged uniquely, removed on drop.
pub fn derive(base: &str, name: &str, changes: &[&str]) -> Tag {
    let tag = Tag::new(name);
    let created = Command::new("docker")
        .args(["create", base])
        .output()
        .unwrap();
    assert!(created.status.success(), "docker create {base}");
    let id = String::from_utf8_lossy(&created.stdout).trim().to_string();
    commit(&id, changes, &tag);
    tag
}

/// `docker commit --change C... CONTAINER TAG`, then removes the container.
fn commit(container: &str, changes: &[&str], tag: &Tag) {
    let mut args = vec!["commit".to_string()];
    for c in changes {
        args.push("--change".into());
        args.push(c.to_string());
    }
    args.extend([container.to_string(), tag.0.clone()]);
    let out = Command::new("docker").args(&args).output().unwrap();
    let _ = Command::new("docker")
        .args(["rm", "-f", container])
        .output();
    assert!(
        out.status.success(),
        "docker commit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `slim build IMAGE` with a 60 s host probe and waits until its
/// container exists (for tests that interrupt it).
pub fn start_slow_build(image: &str, dir: &TempDir, tag: &Tag) -> std::process::Child {
    let mut child = Command::new(slim_bin())
        .args(["build", image, "--tag", &tag.0, "--artifacts"])
        .arg(&dir.0)
        .args(["--host-exec", "sleep 60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..150 {
        if !slim_containers(image).is_empty() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("slim never started its container");
}

/// A new image: `base` after `sh -c SETUP` ran in it, with `changes`
/// (`docker commit --change`), tagged uniquely, removed on drop.
pub fn derive_after(base: &str, name: &str, setup: &str, changes: &[&str]) -> Tag {
    let tag = Tag::new(name);
    let cname = format!("{}-setup", tag.0.replace(':', "-"));
    let run = Command::new("docker")
        .args([
            "run",
            "--name",
            &cname,
            "--entrypoint",
            "sh",
            base,
            "-c",
            setup,
        ])
        .output()
        .unwrap();
    if !run.status.success() {
        let _ = Command::new("docker").args(["rm", "-f", &cname]).output();
        panic!("setup {setup:?}: {}", String::from_utf8_lossy(&run.stderr));
    }
    commit(&cname, changes, &tag);
    tag
}

/// Runs a command, which must succeed; returns its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A real registry (Debian's docker-registry) on 127.0.0.1 at a free port,
/// storing in a temporary directory; stopped and removed on drop.
pub struct Registry {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    _dir: TempDir,
}

impl Registry {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that answers only `user` with `password` (basic auth
    /// from an htpasswd file, as docker-registry reads it).
    pub fn with_login(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Self {
        let dir = TempDir::new("registry");
        let mut auth = String::new();
        if let Some((user, password)) = login {
            let file = dir.0.join("htpasswd");
            let line = run_ok("htpasswd", &["-Bbn", user, password]);
            std::fs::write(&file, format!("{line}\n")).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: slim-test\n    path: {}\n",
                file.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.0.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.0.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(
                "docker-registry (Debian's docker-registry package; scripts/setup.sh installs it)",
            );
        let host = format!("127.0.0.1:{port}");
        let registry = Self {
            child,
            host,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "the registry did not listen on {} within 10 s",
            registry.host
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx fixture's page on `/` (200) and a 404 for a miss, served by `c`.
pub fn assert_serves_nginx(c: &Container) {
    let port = c.port(80);
    let (code, body) = http_get(port, "/");
    assert_eq!(code, 200, "{}", c.logs());
    assert!(body.contains("slim fixture: nginx"), "{body}");
    assert_eq!(http_get(port, "/missing").0, 404, "a miss");
}
