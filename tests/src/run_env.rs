//! Surroundings for the run-option tests (issue #17): an engine network
//! and a Redis on it, removed on drop, and a check that slim left nothing
//! (containers, or the anonymous volumes they had) in the engine.
use std::process::Command;

use crate::{http_get, run_ok, Container};

/// A network of the engine `cli` (docker or podman), removed on drop.
pub struct Network {
    pub name: String,
    pub cli: &'static str,
}

impl Network {
    pub fn new(cli: &'static str, name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("slim-test-{name}-{}-{nanos}", std::process::id());
        run_ok(cli, &["network", "create", &name]);
        Network { name, cli }
    }

    /// `c`'s address on this network (for engines whose networks have no DNS).
    pub fn address_of(&self, c: &Container) -> String {
        let format = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            self.name
        );
        run_ok(self.cli, &["inspect", "-f", &format, &c.id])
    }

    /// The containers attached to it now.
    pub fn containers(&self) -> String {
        run_ok(
            self.cli,
            &[
                "network",
                "inspect",
                "-f",
                "{{range $k, $v := .Containers}}{{$k}} {{end}}",
                &self.name,
            ],
        )
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new(self.cli)
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// Every path in `image`'s filesystem (docker export of a created container).
pub fn image_paths(image: &str) -> Vec<String> {
    let id = run_ok("docker", &["create", image]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("docker export {id} | tar -t"))
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| format!("/{}", l.trim_end_matches('/')))
        .collect()
}

/// A Redis container on `net`, answering as `alias`.
pub fn redis_on(net: &Network, image: &str, alias: &str) -> Container {
    let c = Container::run_with(
        net.cli,
        &["--network", &net.name, "--network-alias", alias, image],
    );
    wait_for_redis(&c);
    c
}

/// Waits (10 s at most) until the Redis of container `c` answers PING.
pub fn wait_for_redis(c: &Container) {
    for _ in 0..100 {
        let pong = Command::new(c.cli)
            .args(["exec", &c.id, "redis-cli", "ping"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&pong.stdout).trim() == "PONG" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("Redis never answered: {}", c.logs());
}

/// The redis-greeter fixture, and a Docker network `name` with the redis
/// fixture on it answering as `cache` (where the app looks for it).
pub fn greeter_beside_redis(name: &str) -> (String, Network, Container) {
    let net = Network::new("docker", name);
    let redis = redis_on(&net, &crate::fixture("redis"), "cache");
    (crate::fixture("redis-greeter"), net, redis)
}

/// The value of `key` in the Redis of container `c`.
pub fn redis_get(c: &Container, key: &str) -> String {
    run_ok(c.cli, &["exec", &c.id, "redis-cli", "get", key])
}

/// Seconds since the epoch, for `docker events --since`.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Held by each test of a binary that calls [`docker_leftovers`]: that
/// check counts every slim container of an image created since a time, so
/// another test of the same image running meanwhile (the test harness runs
/// a binary's tests in parallel) would be counted as a leak.
pub fn leftover_check_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// What slim left in Docker of the containers it created from `image` since
/// `since`: those containers, and the volumes they mounted. Empty: nothing.
/// `volumes`: the runs had an anonymous volume (the check must see one).
/// Callers hold [`leftover_check_lock`].
pub fn docker_leftovers(image: &str, since: u64, volumes: bool) -> Vec<String> {
    let until = (now() + 1).to_string();
    let since = since.to_string();
    let created = docker_events(
        &since,
        &until,
        &[
            "type=container",
            "event=create",
            "label=slim.session",
            &format!("image={image}"),
        ],
        "{{.Actor.ID}}",
    );
    let ids: Vec<&str> = created.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        !ids.is_empty(),
        "slim created no container of {image} (the check would prove nothing)"
    );
    let mounts = docker_events(
        &since,
        &until,
        &["type=volume", "event=mount"],
        "{{.Actor.ID}} {{index .Actor.Attributes \"container\"}}",
    );
    let mut left = Vec::new();
    let mut seen_volume = false;
    for id in &ids {
        if docker_has("container", id) {
            left.push(format!("container {id}"));
        }
    }
    for line in mounts.lines() {
        let Some((volume, container)) = line.split_once(' ') else {
            continue;
        };
        if !ids.contains(&container) {
            continue;
        }
        seen_volume = true;
        if docker_has("volume", volume) {
            left.push(format!("volume {volume}"));
        }
    }
    assert!(
        seen_volume || !volumes,
        "no volume of slim's containers was seen (the check would prove nothing)"
    );
    left.sort();
    left.dedup();
    left
}

/// `docker events` between `since` and `until` that pass every filter of
/// `filters`, one a line in `format`.
fn docker_events(since: &str, until: &str, filters: &[&str], format: &str) -> String {
    let mut args = vec!["events", "--since", since, "--until", until];
    for f in filters {
        args.extend(["--filter", f]);
    }
    args.extend(["--format", format]);
    run_ok("docker", &args)
}

/// Whether Docker still has the `kind` (container, volume) `id`.
fn docker_has(kind: &str, id: &str) -> bool {
    Command::new("docker")
        .args([kind, "inspect", id])
        .output()
        .unwrap()
        .status
        .success()
}

/// Copies a fixture from Docker's store into Podman's (once).
pub fn in_podman(image: &str) -> String {
    let have = Command::new("podman")
        .args(["image", "exists", image])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        run_ok("podman", &["pull", "-q", &format!("docker-daemon:{image}")]);
    }
    image.to_string()
}

/// A tag in Podman's store, removed on drop.
pub struct PodmanTag(pub String);

impl Drop for PodmanTag {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
    }
}

/// slim's containers (running or not) of `image` in Podman.
pub fn podman_slim_containers(image: &str) -> String {
    run_ok(
        "podman",
        &[
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=slim.session",
            "--filter",
            &format!("ancestor={image}"),
        ],
    )
}

/// The slim redis-greeter image `image` started in engine `cli` on `net`
/// under the seccomp profile in `artifacts`, with REDIS_HOST=`redis_host`
/// and GREETING=`greeting`, its port 8080 published on 127.0.0.1.
pub fn run_greeter(
    cli: &'static str,
    net: &Network,
    redis_host: &str,
    greeting: &str,
    artifacts: &crate::TempDir,
    image: &str,
) -> Container {
    Container::run_with(
        cli,
        &[
            "--network",
            &net.name,
            "-e",
            &format!("REDIS_HOST={redis_host}"),
            "-e",
            &format!("GREETING={greeting}"),
            "--security-opt",
            &crate::seccomp_opt(artifacts),
            "-p",
            "127.0.0.1::8080",
            image,
        ],
    )
}

/// Asserts that the redis-greeter app in `c` answers `/` with `greeting`
/// and hit number `hit`.
pub fn assert_greets(c: &Container, greeting: &str, hit: u64) {
    let (code, body) = http_get(c.port(8080), "/");
    assert_eq!(code, 200, "{}", c.logs());
    assert_eq!(
        body.trim(),
        format!("{greeting}, world #{hit}"),
        "{}",
        c.logs()
    );
}
