//! Issue #13 (3): CI gates, each with its own exit status and a one-line
//! reason; the image and the report stay so the pipeline can show why.
use std::process::Output;

use slim_tests::*;

fn build_raw(tag: &Tag, dir: &TempDir, extra: &[&str]) -> Output {
    let nginx = fixture("nginx");
    let d = dir.0.to_string_lossy().to_string();
    let mut args = vec!["build", nginx.as_str(), "--tag", &tag.0, "--artifacts", &d];
    args.extend_from_slice(extra);
    slim(&args)
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn each_gate_fails_with_its_own_exit_status() {
    if !e2e_ready() {
        return;
    }
    // Passing gates: exit 0, and the report says how each went.
    let tag = Tag::new("gates");
    let base = TempDir::new("gates-base");
    let out = build_raw(
        &tag,
        &base,
        &["--max-size", "50MB", "--min-reduction", "5x"],
    );
    assert!(out.status.success(), "{}", last_line(&out));
    let r = read_json(&base.0.join("report.json"));
    check_report_schema(&r);
    let gates = r["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert!(gates.iter().all(|g| g["passed"] == true), "{gates:?}");
    let size = r["result"]["size_bytes"].as_u64().unwrap();

    for (flags, code, says) in [
        (vec!["--max-size", "1MB"], 4, "gate max-size"),
        (vec!["--min-reduction", "99%"], 5, "gate min-reduction"),
    ] {
        let dir = TempDir::new("gates");
        let out = build_raw(&tag, &dir, &flags);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{flags:?}: {}",
            last_line(&out)
        );
        let line = last_line(&out);
        assert!(
            line.starts_with("slim: error: ") && line.contains(says),
            "{line}"
        );
        let r = read_json(&dir.0.join("report.json"));
        assert_eq!(r["gates"][0]["passed"], false);
        assert_eq!(
            inspect(&tag.0, "{{.Size}}").parse::<u64>().unwrap(),
            size,
            "the image stays"
        );
    }

    // Growth against the first run's report: keeping /usr/share whole grows it.
    let grown = Tag::new("gates-grown");
    let dir = TempDir::new("gates-growth");
    let baseline = base.0.join("report.json");
    let b = baseline.to_string_lossy().to_string();
    let out = build_raw(
        &grown,
        &dir,
        &[
            "--include-path",
            "/usr/share",
            "--baseline",
            &b,
            "--max-growth",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(6), "{}", last_line(&out));
    assert!(
        last_line(&out).contains("since the baseline"),
        "{}",
        last_line(&out)
    );
    // Within the allowed growth: the same build against itself passes.
    let out = build_raw(&tag, &dir, &["--baseline", &b, "--max-growth", "0"]);
    assert!(out.status.success(), "{}", last_line(&out));

    // A baseline that is not a build's report fails before any work.
    let bad = dir.0.join("not-a-report.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = build_raw(
        &tag,
        &dir,
        &["--baseline", &bad.to_string_lossy(), "--max-growth", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        last_line(&out).contains("records no slim image"),
        "{}",
        last_line(&out)
    );
}

#[test]
fn a_failed_verification_has_its_own_exit_status() {
    if !e2e_ready() {
        return;
    }
    // Without the page it serves, the slim nginx answers GET / differently.
    let tag = Tag::new("gates-verify");
    let dir = TempDir::new("gates-verify");
    let out = build_raw(
        &tag,
        &dir,
        &["--exclude", "/var/www/html/index.html", "--verify"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", last_line(&out));
    assert!(
        last_line(&out).contains("fails verification"),
        "{}",
        last_line(&out)
    );
}

#[test]
fn exit_statuses_are_listed_in_help() {
    let out = slim(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "3  --verify",
        "4  --max-size",
        "5  --min-reduction",
        "6  --max-growth",
        "7  xray --ci",
    ] {
        assert!(help.contains(line), "slim --help lacks {line:?}");
    }
}
