//! Issue #9: a user's --rules file keeps what the probe never touched, in
//! both modes, and the report names the rule; `slim rules` lists built-in
//! and user rules and rejects a bad file with one line.
use slim_tests::*;

#[test]
fn a_user_rule_keeps_its_paths_and_is_named() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("user-rules");
    let rules = dir.0.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"keep-release\"\nwhy = \"our support script reads it\"\nwhen.image = [\"workdir\"]\nkeep.paths = [\"/etc/os-release\"]\nkeep.trees = [\"/usr/share/doc/base-files\"]\n",
    )
    .unwrap();
    let r = rules.to_str().unwrap();
    let listed = slim(&["rules", "--rules", r]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success());
    for name in ["keep-release", "time-zones", "user-database", "jvm-home"] {
        assert!(text.contains(name), "{name} not listed:\n{text}");
    }
    std::fs::write(
        dir.0.join("bad.toml"),
        "[[rule]]\nname = \"x\"\nwhy = \"y\"\nkeep.paths = [\"/a\"]\n",
    )
    .unwrap();
    let bad = slim(&["rules", "--rules", dir.0.join("bad.toml").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("has no trigger"), "{err}");

    // The cli fixture has WORKDIR /tmp; its job never reads os-release.
    for mode in ["minimal", "safe"] {
        let tag = Tag::new(&format!("user-rules-{mode}"));
        let out = TempDir::new(&format!("user-rules-{mode}"));
        let report = build(&fixture("cli"), &tag, &out, &["--rules", r, "--keep", mode]);
        let k = kept(&report, "/usr/share/doc/base-files/copyright").expect("tree kept");
        assert_eq!(k["rule"], "keep-release", "{mode}");
        assert!(
            kept(&report, "/usr/lib/os-release").is_some(),
            "{mode}: symlink target kept"
        );
    }
}
