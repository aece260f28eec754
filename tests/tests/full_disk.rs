//! Issue #11 (8): on a full disk slim fails naming the path, and leaves no
//! truncated report and no OCI layout whose blobs miss their digests.
use std::{path::Path, process::Command};

use slim_tests::*;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk(TempDir);

impl SmallDisk {
    fn new(name: &str, size: &str) -> Self {
        let dir = TempDir::new(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs on {}", dir.0.display());
        Self(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0 .0).status();
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_disk_names_the_path_and_leaves_no_partial_file() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    // Artifacts: room for the seccomp profiles, not for the report.
    let disk = SmallDisk::new("full-artifacts", "24k");
    let tag = Tag::new("full");
    let d = disk.0 .0.to_str().unwrap();
    let out = slim(&["build", &image, "--tag", &tag.0, "--artifacts", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("cannot write {d}/")), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let files = leftovers(&disk.0 .0);
    // The report of an earlier step may stay, whole; never a truncated one.
    let report = disk.0 .0.join("report.json");
    if report.exists() {
        let text = std::fs::read_to_string(&report).unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "truncated report"
        );
    }
    assert!(
        files.iter().all(|f| !f.starts_with(".slim-")),
        "temporary files left: {files:?}"
    );
    let img = Command::new("docker")
        .args(["image", "inspect", &tag.0])
        .output()
        .unwrap();
    assert!(!img.status.success(), "no image may be written");

    // An OCI layout on a full disk: an error naming it, and nothing half-written.
    let small = SmallDisk::new("full-oci", "64k");
    let artifacts = TempDir::new("full-oci-artifacts");
    let layout = small.0 .0.join("layout");
    let output = format!("oci:{}", layout.display());
    let out = slim(&[
        "build",
        &image,
        "--tag",
        &tag.0,
        "--artifacts",
        artifacts.0.to_str().unwrap(),
        "--output",
        &output,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&layout.display().to_string()), "{err}");
    assert_eq!(
        leftovers(&small.0 .0),
        Vec::<String>::new(),
        "partial layout left"
    );
}
