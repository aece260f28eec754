//! Issue #11 (3): slim's memory does not grow with what it keeps. The layer
//! goes to a file through a hashing writer and streams into the engine; it
//! used to be held about three times over (4.4 GB RSS for a 1.5 GB file).
//! tests/bench/big_images.sh measures 1.5 GB and 50,000 files.
use std::process::Command;

use slim_tests::*;

#[test]
fn a_large_file_does_not_grow_memory() {
    if !e2e_ready() {
        return;
    }
    const MB: u64 = 1 << 20;
    let image = derive_after(
        &fixture("cli"),
        "big-src",
        "head -c 400M /dev/zero > /big",
        &[r#"ENTRYPOINT ["sh", "-c", "wc -c < /big"]"#],
    );
    let tag = Tag::new("big");
    let dir = TempDir::new("big");
    let oci = dir.0.join("oci");
    let output = format!("oci:{}", oci.display());
    let r = build(
        &image.0,
        &tag,
        &dir,
        &["--keep", "minimal", "--output", &output],
    );
    let rss = r["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("peak RSS {} MB for a 400 MB file", rss / MB);
    assert!(rss > 0 && rss < 150 * MB, "peak RSS {rss} bytes");
    let out = Command::new("docker")
        .args(["run", "--rm", &tag.0])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (400 * MB).to_string()
    );
    // The OCI layout's layer blob is the layer: same digest, same size.
    let digest = r["layer"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let blob = oci.join("blobs/sha256").join(digest);
    assert_eq!(
        std::fs::metadata(&blob).unwrap().len(),
        r["layer"]["size_bytes"].as_u64().unwrap()
    );
}
