//! Surroundings for the run-option tests (issue #17): an engine network
//! and a Redis on it, removed on drop, and a check that slim left nothing
//! (containers, or the anonymous volumes they had) in the engine.
use std::process::Command;

use crate::{run_ok, Container};

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

/// A Redis container on `net`, answering as `alias`.
pub fn redis_on(net: &Network, image: &str, alias: &str) -> Container {
    let c = Container::run_with(
        net.cli,
        &["--network", &net.name, "--network-alias", alias, image],
    );
    for _ in 0..100 {
        let pong = Command::new(net.cli)
            .args(["exec", &c.id, "redis-cli", "ping"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&pong.stdout).trim() == "PONG" {
            return c;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("Redis never answered: {}", c.logs());
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

/// What slim left in Docker of the containers it created from `image` since
/// `since`: those containers, and the volumes they mounted. Empty: nothing.
/// `volumes`: the runs had an anonymous volume (the check must see one).
pub fn docker_leftovers(image: &str, since: u64, volumes: bool) -> Vec<String> {
    let until = (now() + 1).to_string();
    let since = since.to_string();
    let created = run_ok(
        "docker",
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--filter",
            "label=slim.session",
            "--filter",
            &format!("image={image}"),
            "--format",
            "{{.Actor.ID}}",
        ],
    );
    let ids: Vec<&str> = created.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        !ids.is_empty(),
        "slim created no container of {image} (the check would prove nothing)"
    );
    let mounts = run_ok(
        "docker",
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--filter",
            "event=mount",
            "--format",
            "{{.Actor.ID}} {{index .Actor.Attributes \"container\"}}",
        ],
    );
    let mut left = Vec::new();
    let mut seen_volume = false;
    for id in &ids {
        let exists = Command::new("docker")
            .args(["container", "inspect", id])
            .output()
            .unwrap();
        if exists.status.success() {
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
        let exists = Command::new("docker")
            .args(["volume", "inspect", volume])
            .output()
            .unwrap();
        if exists.status.success() {
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
