//! Issue #13 (1): `slim xray` on a multi-layer image built here with
//! deliberate waste: a 1,000,000-byte file written then deleted, and a file
//! written (3,000 bytes) then overwritten (5,000 bytes). dive's definitions
//! make the wasted bytes exactly 1,000,000 + 3,000 + 5,000; the figures are
//! the same from the engine, a docker-archive and an OCI layout, and the CI
//! rules gate with dive's names and exit 7.
use std::process::Command;

use serde_json::Value;
use slim_tests::*;

fn wasteful(ctx: &TempDir) -> Tag {
    let tag = Tag::new("xray");
    std::fs::write(
        ctx.0.join("Dockerfile"),
        format!(
            "FROM {}\n\
             RUN head -c 1000000 /dev/zero > /big && mkdir -p /opt && head -c 3000 /dev/zero > /opt/f\n\
             RUN rm /big && head -c 5000 /dev/zero > /opt/f\n",
            fixture("cli")
        ),
    )
    .unwrap();
    run_ok(
        "docker",
        &["build", "-q", "-t", &tag.0, &ctx.0.to_string_lossy()],
    );
    tag
}

fn xray_json(source: &str) -> Value {
    let out = slim(&["xray", source, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn wasted_bytes_are_exact_from_every_source_and_gate_ci() {
    if !e2e_ready() {
        return;
    }
    let ctx = TempDir::new("xray");
    let image = wasteful(&ctx);
    let archive = ctx.0.join("x.tar");
    run_ok(
        "docker",
        &["save", "-o", &archive.to_string_lossy(), &image.0],
    );
    let layout = format!("oci:{}:x", ctx.0.join("layout").display());
    run_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("docker-archive:{}", archive.display()),
            &layout,
        ],
    );

    let mut seen = Vec::new();
    for source in [
        image.0.clone(),
        format!("docker-archive:{}", archive.display()),
        layout,
    ] {
        let x = xray_json(&source);
        assert_eq!(x["wasted_bytes"], 1_008_000, "{source}");
        assert_eq!(x["user_size_bytes"], 1_008_000, "{source}");
        assert_eq!(x["user_wasted_percent"], 1.0, "{source}");
        let layers = x["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{source}");
        let counts = |l: &Value| {
            (
                l["added"].clone(),
                l["changed"].clone(),
                l["removed"].clone(),
            )
        };
        assert_eq!(
            counts(&layers[1]),
            (2.into(), 0.into(), 0.into()),
            "{source}"
        );
        assert_eq!(
            counts(&layers[2]),
            (0.into(), 1.into(), 1.into()),
            "{source}"
        );
        assert_eq!(layers[1]["size_bytes"], 1_003_000);
        assert_eq!(layers[2]["size_bytes"], 5_000);
        let waste: Vec<(String, u64)> = x["inefficiencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["path"].as_str().unwrap().to_string(),
                    w["bytes"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            waste,
            [
                ("/big".to_string(), 1_000_000),
                ("/opt/f".to_string(), 8_000)
            ]
        );
        // Efficiency: the smallest size of each path over all its sizes.
        let base = layers[0]["size_bytes"].as_u64().unwrap() as f64;
        let expected = (base + 3_000.0) / (base + 1_008_000.0);
        assert!(
            (x["efficiency"].as_f64().unwrap() - expected).abs() < 1e-9,
            "{source}"
        );
        seen.push(x["efficiency"].as_f64().unwrap());
    }
    // The instruction behind each layer, where the config records it.
    let x = xray_json(&image.0);
    assert!(
        x["layers"][2]["created_by"]
            .as_str()
            .unwrap()
            .contains("rm /big"),
        "{}",
        x["layers"][2]
    );

    // --ci with dive's rules: exit 7 with the rule that failed.
    let out = slim(&[
        "xray",
        &image.0,
        "--ci",
        "--highest-wasted-bytes",
        "1MB",
        "--highest-user-wasted-percent",
        "disabled",
    ]);
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim()
            .lines()
            .last()
            .unwrap()
            .contains("highestWastedBytes failed"),
        "{err}"
    );
    let out = slim(&[
        "xray",
        &image.0,
        "--ci",
        "--highest-wasted-bytes",
        "2MB",
        "--highest-user-wasted-percent",
        "disabled",
        "--lowest-efficiency",
        "0.5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A .dive-ci file in the working directory, with dive's spelling.
    std::fs::write(
        ctx.0.join(".dive-ci"),
        "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: disabled\n  highestUserWastedPercent: 0.5\n",
    )
    .unwrap();
    let out = Command::new(slim_bin())
        .current_dir(&ctx.0)
        .args(["xray", &image.0, "--ci"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("highestUserWastedPercent failed"));
}
