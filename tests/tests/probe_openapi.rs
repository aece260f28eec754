//! Issue #18: an API described by the OpenAPI document it serves, slimmed
//! with `--openapi /openapi.json` alone (no other probe): one probe per
//! operation, and every operation works on the slim image under its
//! profile.
use slim_tests::{probes::*, *};

#[test]
fn every_operation_of_the_served_document_is_probed_and_works_when_slim() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-api");
    let dir = TempDir::new("openapi");
    let tag = Tag::new("openapi");
    let r = build(&image, &tag, &dir, &["--openapi", "/openapi.json"]);

    let probes = r["probes"].as_array().unwrap();
    let targets: Vec<&str> = probes
        .iter()
        .map(|p| p["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "GET /v1/pets?limit=5",
            "POST /v1/pets",
            "GET /v1/pets/1",
            "GET /v1/digest?algo=sha256&text=slim"
        ],
        "no GET / beside the document's operations"
    );
    assert!(
        probes
            .iter()
            .all(|p| p["origin"] == "openapi" && p["ok"] == true),
        "{probes:?}"
    );
    assert_eq!(probes[1]["code"], 201);
    assert_eq!(probes[1]["expected"], "status 201|422");

    let (c, port) = serve(&tag.0, 8000, &["--security-opt".into(), seccomp_opt(&dir)]);
    let base = format!("http://127.0.0.1:{port}");
    wait_answer(&format!("{base}/v1/pets"));
    let (code, body) = request(&format!("{base}/v1/pets?limit=5"), "GET", &[], None);
    assert_eq!(code, 200, "{body}\n{}", c.logs());
    let (code, body) = request(
        &format!("{base}/v1/pets"),
        "POST",
        &["Content-Type: application/json"],
        Some(r#"{"name": "felix", "tag": "cat"}"#),
    );
    assert_eq!(code, 201, "{body}\n{}", c.logs());
    let (code, body) = request(&format!("{base}/v1/pets/1"), "GET", &[], None);
    assert_eq!(code, 200, "{body}");
    let (code, body) = request(
        &format!("{base}/v1/digest?algo=sha256&text=slim"),
        "GET",
        &[],
        None,
    );
    assert_eq!(code, 200, "{body}\n{}", c.logs());
    // sha256("slim")
    assert!(
        body.contains("ebe4136fc8889cbf55609976f5426b499cf40683b2d1117f4ef9e1ecb6993a5a"),
        "{body}"
    );
}
