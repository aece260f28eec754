//! Issue #17: `--network` repeats as with docker run. The redis-greeter app
//! joins two networks of the test's; Redis is on the second one only,
//! reachable as an alias given there (`name=NET,alias=...`), so the app
//! starts only if slim joins it to both. Nothing of slim's stays on either.
use slim_tests::{run_env::*, *};

#[test]
fn repeated_network_flags_join_each_network() {
    if !e2e_ready() {
        return;
    }
    let _serial = leftover_check_lock();
    let front = Network::new("docker", "greeter-front");
    let (app, back, redis) = greeter_beside_redis("greeter-back");
    let since = now();
    let dir = TempDir::new("greeter-networks");
    let r = profile(
        &app,
        &dir,
        &[
            "--env",
            "REDIS_HOST=cache",
            "--network",
            &front.name,
            "--network-alias",
            "web",
            "--network",
            &format!("name={},alias=greeter", back.name),
        ],
    );
    assert_eq!(
        r["probes"][0]["code"], 200,
        "the app served: {}",
        r["probes"]
    );
    assert_eq!(
        r["run"]["networks"],
        serde_json::json!([
            {"name": front.name, "aliases": ["web"]},
            {"name": back.name, "aliases": ["greeter"]},
        ])
    );
    assert_eq!(r["run"]["network"], front.name.as_str());
    let hits: u64 = redis_get(&redis, "greeter:hits").parse().unwrap();
    assert!(hits >= 1, "the probe reached Redis on the second network");
    assert_eq!(docker_leftovers(&app, since, false), Vec::<String>::new());
    assert_eq!(
        front.containers().trim(),
        "",
        "nothing left on {}",
        front.name
    );
    assert_eq!(
        back.containers().trim(),
        redis.id,
        "only Redis on {}",
        back.name
    );

    // What docker run refuses fails before anything starts.
    let out = slim(&[
        "profile",
        &app,
        "--artifacts",
        dir.0.to_str().unwrap(),
        "--network",
        "host",
        "--network",
        &back.name,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.trim() == "slim: error: conflicting options: --network host cannot be combined with other networks (docker run refuses it too)",
        "{err}"
    );
}
