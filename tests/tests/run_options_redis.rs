//! Issue #17 (1): an app that refuses to start unless REDIS_HOST names a
//! reachable Redis is slimmed with `--env`/`--network` beside a Redis the
//! test starts, and its slim image then works in the same surroundings
//! under its own profile. Nothing of slim's is left in the engine, also
//! when the build fails (a wrong REDIS_HOST) or is interrupted mid-probe.
use std::process::Command;

use slim_tests::{run_env::*, *};

#[test]
fn an_app_needing_redis_is_slimmed_beside_it_and_works_there() {
    if !e2e_ready() {
        return;
    }
    let _serial = leftover_check_lock();
    let (app, net, redis) = greeter_beside_redis("greeter");
    let dir = TempDir::new("greeter");
    let tag = Tag::new("greeter");
    let since = now();
    let r = build(
        &app,
        &tag,
        &dir,
        &[
            "--env",
            "REDIS_HOST=cache",
            "--env",
            "GREETING=Bonjour",
            "--network",
            &net.name,
            // An anonymous volume: it must go with slim's container.
            "--mount",
            "type=volume,target=/var/cache/greeter",
            "--verify",
        ],
    );
    assert_eq!(
        r["probes"][0]["code"], 200,
        "the app served during the probe"
    );
    assert_eq!(
        r["verify"][0]["code"], 200,
        "--verify ran with the same options"
    );
    assert_eq!(
        r["run"]["env_names"],
        serde_json::json!(["GREETING", "REDIS_HOST"])
    );
    assert_eq!(r["run"]["network"], net.name.as_str());
    assert!(
        file(&r, "/usr/lib/python3/dist-packages/redis/client.py").is_some(),
        "the app imported redis"
    );
    let hits: u64 = redis_get(&redis, "greeter:hits").parse().unwrap();
    assert!(hits >= 2, "probe and verify counted hits in Redis: {hits}");
    assert_eq!(docker_leftovers(&app, since, true), Vec::<String>::new());

    // The slim image in the same surroundings, under its own profile.
    let c = run_greeter("docker", &net, "cache", "Bonjour", &dir, &tag.0);
    assert_greets(&c, "Bonjour", hits + 1);
    assert_eq!(redis_get(&redis, "greeter:hits"), (hits + 1).to_string());
    drop(c);
    assert_eq!(
        net.containers().trim(),
        redis.id,
        "only the test's Redis is on the network"
    );
}

#[test]
fn a_build_that_fails_or_is_interrupted_leaves_nothing() {
    if !e2e_ready() {
        return;
    }
    let _serial = leftover_check_lock();
    let (app, net, redis) = greeter_beside_redis("greeter-fail");
    let since = now();

    // A REDIS_HOST that names nothing: the app exits at start.
    let dir = TempDir::new("greeter-fail");
    let tag = Tag::new("greeter-fail");
    let out = slim(&[
        "build",
        &app,
        "--tag",
        &tag.0,
        "--artifacts",
        dir.0.to_str().unwrap(),
        "--env",
        "REDIS_HOST=nosuchhost",
        "--network",
        &net.name,
        "--mount",
        "type=volume,target=/var/cache/greeter",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "built with no Redis");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("slim: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(
        errors[0].contains("exited") && errors[0].contains("cannot reach Redis"),
        "{err}"
    );
    let img = Command::new("docker")
        .args(["image", "inspect", &tag.0])
        .output()
        .unwrap();
    assert!(!img.status.success(), "no image after a failed build");

    // Interrupted (SIGINT) mid-probe.
    let dir = TempDir::new("greeter-int");
    let tag = Tag::new("greeter-int");
    let child = Command::new(slim_bin())
        .args(["build", &app, "--tag", &tag.0, "--artifacts"])
        .arg(&dir.0)
        .args(["--env", "REDIS_HOST=cache", "--network", &net.name])
        .args(["--mount", "type=volume,target=/var/cache/greeter"])
        .args(["--host-exec", "sleep 60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = false;
    for _ in 0..300 {
        if !redis_get(&redis, "greeter:hits").is_empty() {
            running = true; // the probe's GET reached the app and Redis
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(running, "the probe never reached the app: {err}");
    assert!(
        !out.status.success() && err.contains("interrupted"),
        "{err}"
    );
    assert_eq!(docker_leftovers(&app, since, true), Vec::<String>::new());
    assert_eq!(
        net.containers().trim(),
        redis.id,
        "only the test's Redis is on the network"
    );
}
