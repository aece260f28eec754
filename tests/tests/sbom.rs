//! Issue #13 (2): SBOMs of the slim image in CycloneDX 1.5 and SPDX 2.3,
//! checked by the formats' own validators (cyclonedx-python-lib's strict
//! JSON schema validation, the SPDX tools' validator). A package whose
//! files were all removed is absent from both and listed as removed in
//! the report; a Node package the app imports is an npm component.
use std::process::Command;

use serde_json::Value;
use slim_tests::*;

/// Validates with the format's own tool (installed by scripts/setup.sh).
fn validate(path: &std::path::Path, format: &str) {
    let out = match format {
        "cyclonedx" => Command::new("python3")
            .args([
                "-c",
                "import sys\n\
                 from cyclonedx.validation.json import JsonStrictValidator\n\
                 from cyclonedx.schema import SchemaVersion\n\
                 e = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
                 sys.exit(str(e) if e else 0)",
            ])
            .arg(path)
            .output(),
        _ => Command::new("python3")
            .args(["-m", "spdx_tools.spdx.clitools.pyspdxtools", "-i"])
            .arg(path)
            .output(),
    }
    .expect("the SBOM validators (scripts/setup.sh installs them)");
    assert!(
        out.status.success(),
        "{} does not validate as {format}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cdx_names(v: &Value) -> Vec<String> {
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn both_formats_validate_and_leave_out_removed_packages() {
    if !e2e_ready() {
        return;
    }
    let tag = Tag::new("sbom");
    let dir = TempDir::new("sbom");
    let r = build(
        &fixture("nginx"),
        &tag,
        &dir,
        &["--sbom", "cyclonedx", "--sbom", "spdx"],
    );
    let cdx_path = dir.0.join("sbom.cdx.json");
    let spdx_path = dir.0.join("sbom.spdx.json");
    validate(&cdx_path, "cyclonedx");
    validate(&spdx_path, "spdx");

    let removed: Vec<&str> = r["packages"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // nginx runs no shell and no apt: every file of both is gone.
    for gone in ["bash", "apt"] {
        assert!(
            removed.contains(&gone),
            "{gone} should be removed: {removed:?}"
        );
    }
    let cdx = read_json(&cdx_path);
    let names = cdx_names(&cdx);
    for gone in ["bash", "apt"] {
        assert!(
            !names.iter().any(|n| n == gone),
            "{gone} is in the CycloneDX SBOM"
        );
    }
    for carried in ["nginx", "libc6"] {
        assert!(
            names.iter().any(|n| n == carried),
            "{carried} missing: {names:?}"
        );
    }
    let nginx = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nginx")
        .unwrap();
    assert!(
        nginx["purl"]
            .as_str()
            .unwrap()
            .starts_with("pkg:deb/debian/nginx@"),
        "{nginx}"
    );
    assert!(nginx["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(names.iter().any(|n| n.ends_with("(application files)")));
    assert_eq!(
        r["packages"]["carried"].as_u64().unwrap() as usize + removed.len(),
        r["packages"]["source"].as_u64().unwrap() as usize
    );

    let spdx = read_json(&spdx_path);
    let spdx_names: Vec<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(spdx_names.contains(&"nginx"));
    for gone in ["bash", "apt"] {
        assert!(!spdx_names.contains(&gone), "{gone} is in the SPDX SBOM");
    }

    // xray's SBOM is of the whole image: bash and apt are there.
    let xdir = TempDir::new("sbom-xray");
    let out = slim(&[
        "xray",
        &fixture("nginx"),
        "--sbom",
        "cyclonedx",
        "--sbom-dir",
        &xdir.0.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xpath = xdir.0.join("sbom.cdx.json");
    validate(&xpath, "cyclonedx");
    let all = cdx_names(&read_json(&xpath));
    assert!(all.iter().any(|n| n == "bash") && all.iter().any(|n| n == "apt"));
}

#[test]
fn an_imported_node_package_is_an_npm_component() {
    if !e2e_ready() {
        return;
    }
    let tag = Tag::new("sbom-node");
    let dir = TempDir::new("sbom-node");
    build(&fixture("node-svc"), &tag, &dir, &["--sbom", "cyclonedx"]);
    let path = dir.0.join("sbom.cdx.json");
    validate(&path, "cyclonedx");
    let cdx = read_json(&path);
    let semver = cdx["components"].as_array().unwrap().iter().find(|c| {
        c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:npm/semver@"))
    });
    assert!(
        semver.is_some(),
        "no npm semver component: {:?}",
        cdx_names(&cdx)
    );
}
