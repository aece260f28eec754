//! Issue #11 (2): SIGKILL cannot be caught, so a killed run leaves its
//! container; the next run removes it and names it. (A file of its own:
//! any slim run in parallel would reap the leftover first.)
use slim_tests::*;

#[test]
fn the_next_run_reaps_what_a_killed_run_left() {
    if !e2e_ready() {
        return;
    }
    let own = derive(&fixture("nginx"), "sigkill-src", &["LABEL test=sigkill"]);
    let image = own.0.clone();
    let dir = TempDir::new("sigkill");
    let tag = Tag::new("sigkill");
    let mut child = start_slow_build(&image, &dir, &tag);
    let left = slim_containers(&image);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert_eq!(slim_containers(&image), left, "SIGKILL cannot clean up");
    let dir2 = TempDir::new("sigkill-next");
    let out = slim(&["profile", &image, "--artifacts", dir2.0.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("left by slim runs that died"), "{err}");
    assert!(slim_containers(&image).is_empty(), "leftover not reaped");
}
