//! Issue #22: multi-platform images. The nginx-multiarch fixture (an OCI
//! layout of linux/amd64 and linux/arm64/v8 nginx from Debian's packages),
//! pushed to a real registry as an index, becomes a slim index in one
//! `slim build --all-platforms`; each platform's slim image serves (arm64
//! under qemu-user-static), the amd64 one under its profile; the foreign
//! profile is named in aarch64's syscalls and marked unverified; the trace
//! holds none of the emulator's own lookups.
use std::time::Instant;

use serde_json::Value;
use slim_tests::*;

/// The page of the fixture's platform on `/`, served by `c`.
fn serves(c: &Container, platform: &str) {
    let (code, body) = http_get(c.port(80), "/");
    assert_eq!(code, 200, "{}", c.logs());
    assert!(
        body.contains(&format!("slim fixture: nginx on {platform}")),
        "{platform}: {body}"
    );
}

/// `skopeo inspect ARGS` as JSON.
fn skopeo_json(args: &[&str]) -> Value {
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    serde_json::from_str(&run_ok("skopeo", &all)).unwrap()
}

/// The (os, architecture, variant) of each entry of an index.
fn platforms_of(index: &Value) -> Vec<(String, String, String)> {
    index["manifests"]
        .as_array()
        .expect("an image index")
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
            (s("os"), s("architecture"), s("variant"))
        })
        .collect()
}

fn both() -> Vec<(String, String, String)> {
    vec![
        ("linux".into(), "amd64".into(), String::new()),
        ("linux".into(), "arm64".into(), "v8".into()),
    ]
}

#[test]
fn all_platforms_of_a_registry_index_give_a_slim_index() {
    if !e2e_ready() {
        return;
    }
    let layout = fixture("nginx-multiarch");
    let registry = Registry::start();
    let source = format!("docker://{}/nginx-multi:1", registry.host);
    let slim_ref = format!("docker://{}/nginx-multi:1-slim", registry.host);
    run_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            "--all",
            "--dest-tls-verify=false",
            &layout,
            &source,
        ],
    );
    let dir = TempDir::new("platforms");
    let out = TempDir::new("platforms-oci");
    let out_layout = format!("oci:{}:slim", out.0.join("layout").display());
    let tag = Tag::new("multi");
    let arm_tag = Tag(format!("{}-linux-arm64", tag.0));
    let started = Instant::now();
    let run = slim(&[
        "build",
        &source,
        "--tls-verify=false",
        "--all-platforms",
        "--tag",
        &tag.0,
        "--artifacts",
        &dir.0.to_string_lossy(),
        "--output",
        &slim_ref,
        "--output",
        &out_layout,
        "--verify",
    ]);
    let total = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("UNVERIFIED"),
        "the summary says so: {stderr}"
    );

    let summary = read_json(&dir.0.join("platforms.json"));
    let times: Vec<String> = summary["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {} s", p["platform"], p["seconds"]))
        .collect();
    eprintln!(
        "time per platform: {} (whole build {total:.1} s)",
        times.join(", ")
    );
    assert_eq!(summary["platforms"][0]["platform"], "linux/amd64");
    assert_eq!(summary["platforms"][1]["platform"], "linux/arm64/v8");
    assert_eq!(summary["platforms"][1]["emulated"], true);

    // The registry's index lists both platforms; each manifest's config
    // names its own.
    let index = skopeo_json(&["--raw", "--tls-verify=false", &slim_ref]);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(platforms_of(&index), both());
    for (arch, variant) in [("amd64", ""), ("arm64", "v8")] {
        let mut args = vec!["--tls-verify=false", "--override-arch", arch];
        if !variant.is_empty() {
            args.extend(["--override-variant", variant]);
        }
        args.push(&slim_ref);
        let config = skopeo_json(&args);
        assert_eq!(config["Architecture"], arch, "{config}");
        assert_eq!(config["Os"], "linux");
        assert_eq!(config["Layers"].as_array().unwrap().len(), 1);
    }
    // So does the layout's.
    let layout_index = skopeo_json(&["--raw", &out_layout]);
    assert_eq!(platforms_of(&layout_index), both());

    // amd64: TAG, under its profile.
    let amd = dir.0.join("linux-amd64");
    let amd_report = read_json(&amd.join("report.json"));
    check_report_schema(&amd_report);
    assert_eq!(amd_report["platform"], "linux/amd64");
    assert!(amd_report.get("emulation").is_none());
    assert_eq!(amd_report["seccomp"]["arch"], "SCMP_ARCH_X86_64");
    let c = Container::run(&[
        "-p",
        "127.0.0.1::80",
        "--security-opt",
        &format!("seccomp={}", amd.join("seccomp.json").display()),
        &tag.0,
    ]);
    serves(&c, "linux/amd64");
    drop(c);

    // arm64: under emulation, with the host profile of what was seen.
    let arm = dir.0.join("linux-arm64");
    let r = read_json(&arm.join("report.json"));
    check_report_schema(&r);
    assert_eq!(r["platform"], "linux/arm64/v8");
    let e = &r["emulation"];
    assert!(e["filtered_paths"].as_u64().unwrap() >= 20, "{e}");
    let used = paths(&r);
    assert!(
        used.iter().all(|p| !p.starts_with("/etc/qemu-binfmt")),
        "the emulator's lookups: {used:?}"
    );
    for p in ["/lib/ld-linux-aarch64.so.1", "/usr/sbin/nginx"] {
        assert!(used.contains(&p.to_string()), "{p} in {used:?}");
    }
    assert!(
        kept(&r, "/usr/lib/aarch64-linux-gnu/libc.so.6").is_some(),
        "the arm64 closure"
    );
    assert_eq!(r["seccomp"]["arch"], "SCMP_ARCH_AARCH64");
    assert_eq!(r["seccomp"]["verified"], false);
    assert!(r["seccomp"]["unverified"]
        .as_str()
        .unwrap()
        .contains("emulat"));
    assert_eq!(r["outputs"][0], slim_ref.as_str(), "the index's outputs");
    let profile = read_json(&arm.join("seccomp.json"));
    assert_eq!(
        profile["architectures"],
        serde_json::json!(["SCMP_ARCH_AARCH64"])
    );
    // Every name is one libseccomp resolves on aarch64 (runc skips others).
    for name in r["seccomp"]["allowed"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let nr = run_ok("scmp_sys_resolver", &["-a", "aarch64", name]);
        assert!(nr.parse::<i64>().is_ok_and(|n| n >= 0), "{name}: {nr}");
    }
    let yaml = std::fs::read_to_string(arm.join("seccomp-profile.yaml")).unwrap();
    assert!(yaml.starts_with("# UNVERIFIED"), "{yaml}");
    let emulated = arm.join("seccomp-emulated.json");
    assert_eq!(
        read_json(&emulated)["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64"])
    );
    assert_eq!(inspect(&arm_tag.0, "{{.Architecture}}"), "arm64");
    let c = Container::run(&[
        "-p",
        "127.0.0.1::80",
        "--security-opt",
        &format!("seccomp={}", emulated.display()),
        &arm_tag.0,
    ]);
    serves(&c, "linux/arm64");
    drop(c);

    // The registry's arm64 slim image is the one that runs.
    let pulled = Tag::new("multi-pulled");
    run_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--override-arch",
            "arm64",
            "--override-variant",
            "v8",
            &slim_ref,
            &format!("docker-daemon:{}", pulled.0),
        ],
    );
    let c = Container::run(&["-p", "127.0.0.1::80", &pulled.0]);
    serves(&c, "linux/arm64");
}

#[test]
fn a_platform_the_index_lacks_is_one_line_naming_those_it_has() {
    if !e2e_ready() {
        return;
    }
    let layout = fixture("nginx-multiarch");
    let dir = TempDir::new("platforms-missing");
    let run = slim(&[
        "profile",
        &layout,
        "--platform",
        "linux/riscv64",
        "--artifacts",
        &dir.0.to_string_lossy(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.ends_with("has no linux/riscv64 image; its index lists linux/amd64, linux/arm64/v8: pick one with --platform"),
        "{stderr}"
    );
    // A single-platform image is not of another platform.
    let run = slim(&[
        "profile",
        &fixture("nginx"),
        "--platform",
        "linux/arm64",
        "--artifacts",
        &dir.0.to_string_lossy(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("is a linux/amd64 image, not linux/arm64"),
        "{stderr}"
    );
}

#[test]
fn a_single_platform_source_gives_todays_output() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("platforms-single");
    let r = profile(&fixture("nginx"), &dir, &["--all-platforms"]);
    assert!(r.get("platform").is_none(), "no platform field");
    assert!(r.get("emulation").is_none());
    assert!(r["seccomp"].get("verified").is_none());
    assert!(!dir.0.join("platforms.json").exists());
    assert!(
        !dir.0.join("linux-amd64").exists(),
        "artifacts in DIR, as before"
    );
    assert!(dir.0.join("seccomp.json").exists());
}
