//! Issue #17 (1): Podman runs the --env/--network case too. Podman here uses
//! CNI without the dnsname plugin, so the app is given Redis's address on
//! the network rather than a name.
use std::process::Command;

use slim_tests::{run_env::*, *};

/// Copies a fixture from Docker's store into Podman's (once).
fn in_podman(image: &str) -> String {
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
struct PodmanTag(String);

impl Drop for PodmanTag {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn podman_slims_the_redis_app_on_its_network() {
    if !e2e_ready() {
        return;
    }
    let app = in_podman(&fixture("redis-greeter"));
    let redis_image = in_podman(&fixture("redis"));
    let net = Network::new("podman", "greeter-podman");
    let redis = Container::run_with("podman", &["--network", &net.name, &redis_image]);
    let ip = run_ok(
        "podman",
        &[
            "inspect",
            "-f",
            &format!(
                "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                net.name
            ),
            &redis.id,
        ],
    );
    assert!(!ip.is_empty(), "Redis has an address on {}", net.name);
    for _ in 0..100 {
        let pong = Command::new("podman")
            .args(["exec", &redis.id, "redis-cli", "ping"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&pong.stdout).trim() == "PONG" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let tag = PodmanTag(Tag::new("greeter-podman").0.clone());
    let dir = TempDir::new("greeter-podman");
    let host = format!("REDIS_HOST={ip}");
    let out = slim(&[
        "build",
        &app,
        "--engine",
        "podman",
        "--tag",
        &tag.0,
        "--artifacts",
        &dir.0.to_string_lossy(),
        "--env",
        &host,
        "--env",
        "GREETING=Hola",
        "--network",
        &net.name,
    ]);
    assert!(
        out.status.success(),
        "slim build --engine podman: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_json(&dir.0.join("report.json"));
    check_report_schema(&r);
    assert_eq!(r["engine"], "podman");
    assert_eq!(r["probes"][0]["code"], 200);
    assert_eq!(
        r["run"]["env_names"],
        serde_json::json!(["GREETING", "REDIS_HOST"])
    );
    let hits: u64 = redis_get(&redis, "greeter:hits").parse().unwrap();

    let c = Container::run_with(
        "podman",
        &[
            "--network",
            &net.name,
            "-e",
            &host,
            "-e",
            "GREETING=Hola",
            "--security-opt",
            &seccomp_opt(&dir),
            "-p",
            "127.0.0.1::8080",
            &tag.0,
        ],
    );
    let (code, body) = http_get(c.port(8080), "/");
    assert_eq!(code, 200, "{}", c.logs());
    assert_eq!(
        body.trim(),
        format!("Hola, world #{}", hits + 1),
        "{}",
        c.logs()
    );
    drop(c);
    let left = run_ok(
        "podman",
        &[
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=slim.session",
            "--filter",
            &format!("ancestor={app}"),
        ],
    );
    assert_eq!(left, "", "slim left containers in Podman");
}
