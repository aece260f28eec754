//! Issue #17 (1): what is mounted is not the image, and env values are
//! secrets. A config file bind-mounted into the app is used during the
//! probe but is not in the slim image (the report lists it under its
//! mount); a secret passed with --env is in neither report.json nor the
//! slim image's config, which stays the source's except for the
//! --set-* edits asked for.
use slim_tests::{run_env::*, *};

#[test]
fn a_mounted_config_and_an_env_secret_stay_out_of_image_and_report() {
    if !e2e_ready() {
        return;
    }
    let (app, net, _redis) = greeter_beside_redis("greeter-secret");
    let conf_dir = TempDir::new("greeter-conf");
    let conf = conf_dir.0.join("greeter.conf");
    std::fs::write(&conf, "name = Mounted\n").unwrap();
    let secret = "tok-7f3a9c1e5b2d";
    let greeting = "Grüezi-secretly";
    let dir = TempDir::new("greeter-secret");
    let tag = Tag::new("greeter-secret");
    let r = build(
        &app,
        &tag,
        &dir,
        &[
            "--env",
            "REDIS_HOST=cache",
            "--env",
            &format!("GREETING={greeting}"),
            "--env",
            &format!("API_TOKEN={secret}"),
            "--network",
            &net.name,
            "--volume",
            &format!("{}:/etc/greeter/greeter.conf:ro", conf.display()),
            // Config edits of the slim image: only what they name changes.
            "--set-label",
            "org.example.team=greeters",
            "--set-expose",
            "9090",
            // The app read the mounted file: the probe sees its name served.
            "--host-exec",
            "curl -fs http://$SLIM_HOST:$SLIM_PORT_8080/ | grep -q Mounted",
        ],
    );
    let conf_path = "/etc/greeter/greeter.conf";
    assert!(
        file(&r, conf_path).is_some(),
        "the app opened the mounted file"
    );
    let mounts = &r["run"]["mounts"];
    assert_eq!(mounts[0]["type"], "bind");
    assert_eq!(mounts[0]["target"], conf_path);
    assert!(
        lists(&mounts[0]["files"], conf_path),
        "marked as from the mount: {mounts}"
    );
    assert!(kept(&r, conf_path).is_none(), "not selected");
    assert!(
        image_paths(&app).iter().any(|p| p == conf_path),
        "the source has its own {conf_path} (else this proves nothing)"
    );
    let inside = image_paths(&tag.0);
    assert!(
        !inside.iter().any(|p| p == conf_path),
        "{conf_path} is in the slim image"
    );
    assert!(inside.iter().any(|p| p == "/srv/app/app.py"), "the app is");

    let report = std::fs::read_to_string(dir.0.join("report.json")).unwrap();
    for value in [secret, greeting] {
        assert!(
            !report.contains(value),
            "report.json holds the value {value:?}"
        );
    }
    assert_eq!(
        r["run"]["env_names"],
        serde_json::json!(["API_TOKEN", "GREETING", "REDIS_HOST"])
    );
    let config = run_ok("docker", &["image", "inspect", &tag.0]);
    assert!(
        !config.contains(secret) && !config.contains(greeting),
        "{config}"
    );
    assert_eq!(
        inspect(&tag.0, "{{json .Config.Env}}"),
        inspect(&app, "{{json .Config.Env}}"),
        "the slim image keeps the source's env"
    );
    assert_eq!(
        inspect(&tag.0, "{{index .Config.Labels \"org.example.team\"}}"),
        "greeters"
    );
    assert_eq!(
        inspect(&tag.0, "{{json .Config.ExposedPorts}}"),
        r#"{"8080/tcp":{},"9090/tcp":{}}"#
    );
}
