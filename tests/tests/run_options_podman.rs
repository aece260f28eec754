//! Issue #17 (1): Podman runs the --env/--network case too. Podman here uses
//! CNI without the dnsname plugin, so the app is given Redis's address on
//! the network rather than a name.
use slim_tests::{run_env::*, *};

#[test]
fn podman_slims_the_redis_app_on_its_network() {
    if !e2e_ready() {
        return;
    }
    let app = in_podman(&fixture("redis-greeter"));
    let redis_image = in_podman(&fixture("redis"));
    let net = Network::new("podman", "greeter-podman");
    let redis = Container::run_with("podman", &["--network", &net.name, &redis_image]);
    let ip = net.address_of(&redis);
    assert!(!ip.is_empty(), "Redis has an address on {}", net.name);
    wait_for_redis(&redis);
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

    let c = run_greeter("podman", &net, &ip, "Hola", &dir, &tag.0);
    assert_greets(&c, "Hola", hits + 1);
    drop(c);
    let left = podman_slim_containers(&app);
    assert_eq!(left, "", "slim left containers in Podman");
}
