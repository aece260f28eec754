//! Issue #21, delivery to a registry: with a registry `--output`, the
//! profile is pushed as an OCI artifact whose subject is the slim image's
//! manifest (config media type application/vnd.cncf.seccomp-profile.config
//! .v1+json, the profile as its one layer). Debian's docker-registry 2.8 has
//! no referrers API, so it is listed under the referrers tag
//! `sha256-<hex>`; pulled back, it is DIR/seccomp.json byte for byte.
use std::process::Command;

use serde_json::Value;
use slim_tests::*;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// GET `url` with `accept`: (status, Docker-Content-Digest, body).
fn get(url: &str, accept: &str) -> (u16, String, Vec<u8>) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-D",
            "/dev/stderr",
            "-H",
            &format!("Accept: {accept}"),
            url,
        ])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stderr).to_string();
    let status = headers
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer from {url}: {headers}"));
    let digest = headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("docker-content-digest:")
                .map(|d| d.trim().to_string())
        })
        .unwrap_or_default();
    (status, digest, out.stdout)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[test]
fn the_profile_is_a_referrer_of_the_pushed_image() {
    if !e2e_ready() {
        return;
    }
    let registry = Registry::start();
    let tag = Tag::new("seccomp-referrer");
    let dir = TempDir::new("seccomp-referrer");
    let output = format!("docker://{}/seccomp-ref:slim", registry.host);
    build(
        &fixture("nginx"),
        &tag,
        &dir,
        &[
            "--http-probe",
            "GET /",
            "--output",
            &output,
            "--tls-verify=false",
        ],
    );
    let base = format!("http://{}/v2/seccomp-ref", registry.host);
    let (code, subject, _) = get(&format!("{base}/manifests/slim"), MANIFEST);
    assert_eq!(code, 200, "the slim image's manifest");
    assert!(subject.starts_with("sha256:"), "{subject:?}");

    // distribution 2.8: no referrers API, so the tag schema.
    let (code, _, _) = get(&format!("{base}/referrers/{subject}"), INDEX);
    assert_eq!(
        code, 404,
        "docker-registry 2.8 has grown a referrers API: test it"
    );
    let fallback = subject.replacen(':', "-", 1);
    let (code, _, body) = get(&format!("{base}/manifests/{fallback}"), INDEX);
    assert_eq!(code, 200, "the referrers tag {fallback}");
    let index = json(&body);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    let kind = "application/vnd.cncf.seccomp-profile.config.v1+json";
    assert_eq!(entries[0]["artifactType"], kind);

    let digest = entries[0]["digest"].as_str().unwrap();
    let (code, _, body) = get(&format!("{base}/manifests/{digest}"), MANIFEST);
    assert_eq!(code, 200);
    let artifact = json(&body);
    assert_eq!(artifact["config"]["mediaType"], kind);
    assert_eq!(artifact["subject"]["digest"], subject.as_str());
    let layers = artifact["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{artifact}");
    let blob = layers[0]["digest"].as_str().unwrap();
    let (code, _, pulled) = get(&format!("{base}/blobs/{blob}"), "*/*");
    assert_eq!(code, 200);
    let written = std::fs::read(dir.0.join("seccomp.json")).unwrap();
    assert!(
        pulled == written,
        "the pulled profile differs from DIR/seccomp.json"
    );
}
