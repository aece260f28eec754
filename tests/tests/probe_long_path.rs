//! Issue #20: a path longer than PATH_MAX, which the kernel refuses with
//! ENAMETOOLONG before any lookup, is a failed lookup in the trace, not a
//! lost event: the image still builds and serves.
use slim_tests::*;

#[test]
fn a_path_the_kernel_refuses_as_too_long_is_a_failed_lookup() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    let tag = Tag::new("long-path");
    let dir = TempDir::new("long-path");
    // cat opens a 5001-byte path; the kernel answers ENAMETOOLONG.
    let open_long = "p=$(head -c 5000 /dev/zero | tr '\\0' a); cat /$p 2>/dev/null; true";
    let r = build(&image, &tag, &dir, &["--exec", open_long]);
    assert_eq!(r["events"]["dropped"], 0, "{}", r["events"]);
    let long = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().is_some_and(|p| p.starts_with("/aaaa")))
        .unwrap_or_else(|| panic!("no record of the long path: {}", r["events"]));
    assert_eq!(long["ok"], false);
    assert!(lists(&long["errors"], "ENAMETOOLONG"), "{}", long["errors"]);
    let (c, _) = serve(&tag.0, 80, &[]);
    assert_serves_nginx(&c);
}
