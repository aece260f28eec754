//! Issue #18: a JSON API that needs a bearer token, slimmed from a probe
//! file with a POST body and headers (and an HTTPS request to its
//! self-signed port); the slim image serves the same requests under its
//! seccomp profile, and --verify replays them.
use slim_tests::{probes::*, *};

const PROBES: &str = r#"
version: 1
probes:
  - name: create an item
    http:
      method: POST
      path: /api/items
      port: 8000
      headers: {Authorization: "Bearer s3cret", X-Request-Id: "r-1"}
      json: {"name": "widget", "tags": [1, 2]}
      expect: {status: [200, 201], json: {path: /name, equals: widget}}
  - http: {path: /health, port: 8443, scheme: https, expect: "2xx", repeat: 2}
  - http: {path: /api/items/nope, headers: {Authorization: "Bearer s3cret"}, expect: 404}
  - exec: "test -f /srv/api/openapi.json"
  - host-exec: 'test -n "$SLIM_PORT_8000"'
    expect_exit: 0
  - wait: 0.2
"#;

#[test]
fn a_probe_file_with_a_token_and_a_body_makes_a_working_slim_api() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-api");
    let dir = TempDir::new("probe-file-api");
    let file = dir.0.join("probes.yaml");
    std::fs::write(&file, PROBES).unwrap();
    let tag = Tag::new("probe-file-api");
    let r = build(
        &image,
        &tag,
        &dir,
        &["--probe-file", file.to_str().unwrap(), "--verify"],
    );

    let probes = r["probes"].as_array().unwrap();
    // 1 POST, 2 HTTPS GETs, 1 GET, exec, host-exec, wait; the default GET / is replaced.
    assert_eq!(probes.len(), 7, "{probes:?}");
    assert!(
        probes
            .iter()
            .all(|p| p["ok"] == true && p["origin"] == "file"),
        "{probes:?}"
    );
    let post = &probes[0];
    assert_eq!(post["code"], 201, "{post}");
    assert_eq!(post["entry"], 1);
    assert_eq!(post["name"], "create an item");
    let req = post["request"].as_str().unwrap();
    assert!(
        req.starts_with("POST http://:8000/api/items")
            && req.contains("Authorization")
            && req.contains("X-Request-Id")
            && req.contains("JSON body"),
        "{req}"
    );
    assert_eq!(
        probes[1]["body_sha256"], probes[2]["body_sha256"],
        "the same body twice"
    );
    assert_eq!(probes[3]["code"], 404);
    assert_eq!(probes[6]["kind"], "wait");
    let verified = r["verify"].as_array().expect("verify results");
    assert_eq!(verified.len(), 7);
    assert!(verified.iter().all(|p| p["ok"] == true), "{verified:?}");

    // The slim image, under its profile: the same requests work.
    let publish_tls = "127.0.0.1::8443".to_string();
    let (c, port) = serve(
        &tag.0,
        8000,
        &[
            "--security-opt".into(),
            seccomp_opt(&dir),
            "-p".into(),
            publish_tls,
        ],
    );
    let tls = c.port(8443);
    let base = format!("http://127.0.0.1:{port}");
    wait_answer(&format!("{base}/health"));
    let (code, body) = request(
        &format!("{base}/api/items"),
        "POST",
        &[
            "Authorization: Bearer s3cret",
            "X-Request-Id: r-2",
            "Content-Type: application/json",
        ],
        Some(r#"{"name": "gadget"}"#),
    );
    assert_eq!(code, 201, "{body}\n{}", c.logs());
    assert!(body.contains(r#""name": "gadget""#), "{body}");
    let (code, _) = request(&format!("{base}/api/items"), "POST", &[], Some("{}"));
    assert_eq!(code, 401, "no token, no item");
    let (code, body) = request(&format!("https://127.0.0.1:{tls}/health"), "GET", &[], None);
    assert_eq!(code, 200, "HTTPS on the slim image: {body}\n{}", c.logs());
}
