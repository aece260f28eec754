//! Issue #4: the same image and probes give the same layer, byte for byte.
use slim_tests::*;

#[test]
fn two_builds_give_the_same_layer_digest() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("cli");
    let (t1, t2) = (Tag::new("det1"), Tag::new("det2"));
    let (d1, d2) = (TempDir::new("det1"), TempDir::new("det2"));
    let r1 = build(&image, &t1, &d1, &["--continue-after", "exit"]);
    let r2 = build(&image, &t2, &d2, &["--continue-after", "exit"]);
    assert_eq!(r1["layer"]["digest"], r2["layer"]["digest"]);
    assert!(r1["layer"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        inspect(&t1.0, "{{json .RootFS.Layers}}"),
        inspect(&t2.0, "{{json .RootFS.Layers}}")
    );
    assert_eq!(
        inspect(&t1.0, "{{.Id}}"),
        inspect(&t2.0, "{{.Id}}"),
        "same config too"
    );
}

#[test]
fn the_export_stream_gives_the_same_layer_as_the_layer_store() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let (t1, t2) = (Tag::new("inplace"), Tag::new("export"));
    let (d1, d2) = (TempDir::new("inplace"), TempDir::new("export"));
    let r1 = build(&image, &t1, &d1, &["--read-layers", "in-place"]);
    let r2 = build(&image, &t2, &d2, &["--read-layers", "export"]);
    assert_eq!(
        r1["layer"]["digest"], r2["layer"]["digest"],
        "the two ways of reading the image differ"
    );
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("slim-layers-"))
        .count();
    assert_eq!(leftovers, 0, "unpacked layers left in the temp dir");
}
