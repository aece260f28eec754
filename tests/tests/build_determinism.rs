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
