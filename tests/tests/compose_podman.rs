//! Issue #17: compose under Podman. Podman here runs no healthcheck (it
//! needs systemd timers) and its CNI networks have no DNS, so slim runs
//! `service_healthy` checks itself and puts the dependencies' names in the
//! app's /etc/hosts. The redis-greeter case (two networks, Redis on the
//! second, a config file bind-mounted) is slimmed and verified under
//! Podman, the slim image then serves under its profile beside a Redis the
//! test starts there; a dependency that never turns healthy fails the
//! build with its own words. Nothing is left in Podman either way.
use slim_tests::{compose::*, run_env::*, *};

#[test]
fn compose_under_podman_slims_the_greeter_beside_redis() {
    if !e2e_ready() {
        return;
    }
    let (app, redis_image) = (
        in_podman(&fixture("redis-greeter")),
        in_podman(&fixture("redis")),
    );
    let s = Scenario::podman("podman");
    let _tag = PodmanTag(s.tag.0.clone());
    let out = s
        .build(None, &["networks.yml"])
        .env("GREETER_IMAGE", &app)
        .env("REDIS_IMAGE", &redis_image)
        .args([
            "--host-exec",
            "curl -fs http://$SLIM_HOST:$SLIM_PORT_8080/ | grep -q 'Hallo, compose #'",
            "--verify",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "slim build --engine podman failed:\n{err}"
    );
    s.assert_no_leftovers("the build");
    assert_eq!(podman_slim_containers(&app), "", "probe containers left");

    let r = read_json(&s.dir.0.join("report.json"));
    check_report_schema(&r);
    assert_eq!(r["engine"], "podman");
    assert_eq!(r["verify"][0]["code"], 200, "{}", r["verify"]);
    assert_eq!(r["run"]["networks"].as_array().map(Vec::len), Some(2));
    // Redis by its service name, and by its alias (scrubbed: it is the
    // value of REDIS_HOST), at its address on `back`.
    let hosts = &r["run"]["add_hosts"];
    assert!(
        hosts.as_array().is_some_and(|h| h.len() == 2
            && h[0].as_str().is_some_and(|e| e.starts_with("redis:"))),
        "{hosts}"
    );
    let conf = "/etc/greeter/greeter.conf";
    assert!(kept(&r, conf).is_none(), "{conf} selected");

    // The slim image under its profile beside a Redis of the test's (by
    // address: no DNS on Podman's networks here).
    let net = Network::new("podman", "compose-podman");
    let redis = Container::run_with("podman", &["--network", &net.name, &redis_image]);
    wait_for_redis(&redis);
    let ip = net.address_of(&redis);
    let c = run_greeter("podman", &net, &ip, "Hallo", &s.dir, &s.tag.0);
    assert_greets(&c, "Hallo", 1);
}

#[test]
fn an_unhealthy_dependency_under_podman_fails_and_leaves_nothing() {
    if !e2e_ready() {
        return;
    }
    let app = in_podman(&fixture("pg-app"));
    in_podman(&fixture("postgres"));
    let s = Scenario::podman("podmanunhealthy");
    let out = s
        .build(Some(&app), &["compose.yml", "unhealthy.yml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "built beside an unhealthy database");
    let line = error_line(&err);
    assert!(
        line.contains("service app depends on db: dependency db is unhealthy"),
        "{line}"
    );
    s.assert_no_leftovers("the failure");
    assert_eq!(podman_slim_containers(&app), "", "probe containers left");
}
