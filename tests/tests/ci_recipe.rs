//! Issue #13 (5): the CI recipe (docs/ci/recipe.sh, which the GitHub
//! Actions workflow and the GitLab job in docs/ci run) end to end: build an
//! app image, xray it with dive's gates, slim it with verification, size
//! and growth gates and both SBOMs; a second run gates against the first
//! run's report.
use std::process::Command;

use slim_tests::*;

#[test]
fn the_recipe_builds_slims_gates_and_keeps_its_artifacts() {
    if !e2e_ready() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let ctx = TempDir::new("recipe-ctx");
    std::fs::write(ctx.0.join("hello.html"), "<p>hello from the recipe</p>\n").unwrap();
    std::fs::write(
        ctx.0.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY hello.html /var/www/html/hello.html\n",
            fixture("nginx")
        ),
    )
    .unwrap();
    let image = Tag::new("recipe");
    let slimmed = Tag(format!("{}-slim", image.0));
    let run = |out: &std::path::Path, baseline: Option<&std::path::Path>| {
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("docs/ci/recipe.sh"))
            .arg(&ctx.0)
            .arg(&image.0)
            .arg(out)
            .env("SLIM", slim_bin());
        if let Some(b) = baseline {
            cmd.arg(b);
        }
        cmd.output().unwrap()
    };

    let first = TempDir::new("recipe-1");
    let out = run(&first.0, None);
    assert!(
        out.status.success(),
        "recipe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), slimmed.0);
    for artifact in [
        "report.json",
        "seccomp.json",
        "seccomp-audit.json",
        "sbom.cdx.json",
        "sbom.spdx.json",
        "xray.json",
    ] {
        let v = read_json(&first.0.join(artifact));
        assert!(v.is_object(), "{artifact}");
    }
    let report = read_json(&first.0.join("report.json"));
    check_report_schema(&report);
    assert!(report["verify"].as_array().is_some_and(|v| !v.is_empty()));
    let xray = read_json(&first.0.join("xray.json"));
    assert!(xray["ci"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] != "fail"));

    // The second run gates against the first run's report.
    let second = TempDir::new("recipe-2");
    let out = run(&second.0, Some(&first.0.join("report.json")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gates = read_json(&second.0.join("report.json"))["gates"].clone();
    let names: Vec<&str> = gates
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["max-size", "min-reduction", "max-growth"]);

    // The slim image serves the app's page.
    let c = Container::run(&["-p", "127.0.0.1::80", &slimmed.0]);
    let (code, _) = http_get(c.port(80), "/");
    assert_eq!(code, 200, "{}", c.logs());
}
