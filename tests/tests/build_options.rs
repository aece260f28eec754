//! Issue #4: --include-shell, --include-path, --exclude (with a warning for
//! a used path), and --output oci:DIR.
use std::process::Command;

use slim_tests::*;

#[test]
fn includes_excludes_and_an_oci_layout() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let tag = Tag::new("opts");
    let dir = TempDir::new("opts");
    let oci = TempDir::new("opts-oci");
    let out_arg = format!("oci:{}", oci.0.display());
    let r = build(
        &image,
        &tag,
        &dir,
        &[
            "--include-shell",
            "--include-path",
            "/usr/share/doc/nginx-common",
            "--exclude",
            "/etc/nginx/mime.types",
            "--output",
            &out_arg,
        ],
    );
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("/etc/nginx/mime.types"),
        "no warning for an excluded used file: {warnings}"
    );
    let ls = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            &tag.0,
            "-c",
            "ls /usr/share/doc/nginx-common && ls /etc/nginx",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    assert!(text.contains("copyright"), "{text}");
    assert!(!text.contains("mime.types"), "{text}");
    let index = read_json(&oci.0.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = oci
        .0
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let manifest = read_json(&blob);
    assert_eq!(manifest["layers"][0]["digest"], r["layer"]["digest"]);
    assert!(oci.0.join("oci-layout").exists());
}
