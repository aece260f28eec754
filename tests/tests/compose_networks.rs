//! Issue #17: the probed compose service joins every network it lists,
//! with its aliases on each. In tests/fixtures/compose/networks.yml the
//! app lists `front` first and finds Redis (as `cache`) only on `back`: a
//! probe container on its first network alone exits at start. Its config
//! file is a compose bind mount: used during the probe, not in the slim
//! image. The slim image, verified in the same surroundings, then serves
//! under its own profile beside a Redis the test starts.
use slim_tests::{compose::*, run_env::*, *};

#[test]
fn the_service_joins_all_its_networks() {
    if !e2e_ready() {
        return;
    }
    let s = Scenario::new("networks");
    let out = s
        .build(None, &["networks.yml"])
        .env("GREETER_IMAGE", fixture("redis-greeter"))
        .env("REDIS_IMAGE", fixture("redis"))
        .args([
            "--host-exec",
            "curl -fs http://$SLIM_HOST:$SLIM_PORT_8080/ | grep -q 'Hallo, compose #'",
            "--verify",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "slim build failed:\n{err}");
    s.assert_no_leftovers("the build");

    let r = read_json(&s.dir.0.join("report.json"));
    check_report_schema(&r);
    let nets = r["run"]["networks"].as_array().unwrap();
    let names: Vec<&str> = nets.iter().map(|n| n["name"].as_str().unwrap()).collect();
    let project = &s.project.0;
    assert!(
        names.len() == 2
            && names[0].ends_with(&format!("{project}_front"))
            && names[1].ends_with(&format!("{project}_back")),
        "both networks, in the file's order: {names:?}"
    );
    assert_eq!(nets[0]["aliases"], serde_json::json!(["app", "web"]));
    assert_eq!(nets[1]["aliases"], serde_json::json!(["app"]));
    assert_eq!(r["run"]["network"], names[0], "network is the first");
    assert!(
        !lists(&r["compose"]["ignored"], "services.app.networks.back"),
        "{}",
        r["compose"]
    );
    assert_eq!(r["verify"][0]["code"], 200, "--verify on both networks too");

    // The compose bind mount: used, and left out of the slim image.
    let conf = "/etc/greeter/greeter.conf";
    assert!(file(&r, conf).is_some(), "the app read its config");
    assert!(
        lists(&r["run"]["mounts"][0]["files"], conf),
        "{}",
        r["run"]["mounts"]
    );
    assert!(kept(&r, conf).is_none(), "{conf} selected");
    assert!(
        !image_paths(&s.tag.0).iter().any(|p| p == conf),
        "{conf} is in the slim image"
    );

    // The slim image beside a Redis of the test's, under its profile; the
    // image's own config is not there, so the app greets the world.
    let (_, net, redis) = greeter_beside_redis("compose-networks");
    let c = run_greeter("docker", &net, "cache", "Hallo", &s.dir, &s.tag.0);
    assert_greets(&c, "Hallo", 1);
    drop(c);
    drop(redis);
}
