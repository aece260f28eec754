//! Issue #12: images in and out by transport. A three-layer image with a
//! whiteout, an opaque directory and an overwritten file gives the same slim
//! layer from the engine (in place and exported), a docker-archive, an OCI
//! layout and a real registry; the slim image written to every transport
//! loads back into the engine and serves.
use std::path::Path;

use slim_tests::*;

/// FROM the cli fixture, a layer that deletes /etc/issue (a whiteout) and
/// adds /data/old and /etc/app.conf, then a layer that replaces /data
/// wholesale (an opaque directory) and overwrites /etc/app.conf. The
/// entrypoint fails unless it sees exactly the top layer's view.
fn three_layers(ctx: &Path, tag: &Tag) {
    let check = "test \\\"$(cat /etc/app.conf)\\\" = v2 && test \\\"$(ls /data)\\\" = new && \
                 test ! -e /etc/issue && test ! -e /data/old && cat /data/new";
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\n\
             RUN rm /etc/issue && mkdir -p /data/old && echo old > /data/old/file && echo v1 > /etc/app.conf\n\
             RUN rm -rf /data && mkdir /data && echo new > /data/new && echo v2 > /etc/app.conf\n\
             ENTRYPOINT [\"sh\", \"-c\", \"{check}\"]\n",
            fixture("cli")
        ),
    )
    .unwrap();
    run_ok(
        "docker",
        &["build", "-q", "-t", &tag.0, &ctx.to_string_lossy()],
    );
    assert_eq!(
        inspect(&tag.0, "{{len .RootFS.Layers}}"),
        "3",
        "the test image must have three layers"
    );
}

#[test]
fn whiteouts_and_opaque_dirs_give_one_layer_from_every_source() {
    if !e2e_ready() {
        return;
    }
    let ctx = TempDir::new("three-ctx");
    let image = Tag::new("three-src");
    three_layers(&ctx.0, &image);

    let archive = ctx.0.join("three.tar");
    let archive_s = archive.to_string_lossy().to_string();
    run_ok("docker", &["save", "-o", &archive_s, &image.0]);
    let layout = format!("oci:{}:v1", ctx.0.join("layout").display());
    run_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("docker-archive:{archive_s}"),
            &layout,
        ],
    );
    let registry = Registry::start();
    let remote = format!("docker://{}/three:v1", registry.host);
    run_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("docker-archive:{archive_s}"),
            &remote,
        ],
    );
    let sources: [(&str, String, &[&str]); 5] = [
        (
            "engine in place",
            image.0.clone(),
            &["--read-layers", "in-place"],
        ),
        (
            "engine export",
            image.0.clone(),
            &["--read-layers", "export"],
        ),
        ("docker-archive", format!("docker-archive:{archive_s}"), &[]),
        ("oci layout", layout.clone(), &[]),
        ("registry", remote.clone(), &["--tls-verify=false"]),
    ];
    let mut digests = Vec::new();
    let mut source_ids = Vec::new();
    for (what, source, extra) in &sources {
        let tag = Tag::new("three-slim");
        let dir = TempDir::new("three");
        let mut args = vec![
            "--continue-after",
            "exit",
            "--include-path",
            "/data",
            "--include-path",
            "/etc",
        ];
        args.extend_from_slice(extra);
        let r = build(source, &tag, &dir, &args);
        assert_eq!(r["container"]["exit_code"], 0, "{what}: the probe run");
        assert_eq!(r["source"]["image"], source.as_str(), "{what}");
        for gone in ["/etc/issue", "/data/old", "/data/old/file"] {
            assert!(
                kept(&r, gone).is_none(),
                "{what}: {gone} is deleted in the image"
            );
        }
        assert!(kept(&r, "/data/new").is_some(), "{what}: /data/new");
        // The slim image shows the top layer's view too.
        let out = std::process::Command::new("docker")
            .args(["run", "--rm", &tag.0])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: the slim image fails: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "new");
        digests.push((what, r["layer"]["digest"].as_str().unwrap().to_string()));
        source_ids.push(r["source"]["id"].as_str().unwrap().to_string());
    }
    for (what, d) in &digests {
        assert_eq!(
            d, &digests[0].1,
            "{what} gives another layer than {}",
            digests[0].0
        );
    }
    // An image slim loaded to run a blob source (the layout's config is
    // skopeo's OCI rewrite, so its ID is new to the engine) is gone again.
    let own = inspect(&image.0, "{{.Id}}");
    let foreign: Vec<&String> = source_ids.iter().filter(|id| **id != own).collect();
    assert!(
        !foreign.is_empty(),
        "the layout's config should be new to the engine"
    );
    for id in foreign {
        let there = std::process::Command::new("docker")
            .args(["image", "inspect", id])
            .output()
            .unwrap();
        assert!(!there.status.success(), "slim left {id} in the engine");
    }
}

#[test]
fn the_slim_image_goes_to_every_transport_and_runs_from_each() {
    if !e2e_ready() {
        return;
    }
    let registry = Registry::start();
    let dir = TempDir::new("outputs");
    let tag = Tag::new("outputs");
    let layout = dir.0.join("layout");
    let archive = dir.0.join("out/slim.tar");
    let remote = format!("{}/slim/nginx:v1", registry.host);
    let also = Tag::new("outputs-also");
    let r = build(
        &fixture("nginx"),
        &tag,
        &dir,
        &[
            "--output",
            &format!("oci:{}:slim", layout.display()),
            "--output",
            &format!("docker-archive:{}", archive.display()),
            "--output",
            &format!("docker://{remote}"),
            "--output",
            &format!("docker-daemon:{}", also.0),
            "--tls-verify=false",
        ],
    );
    let id = r["result"]["id"].as_str().unwrap().to_string();
    assert_eq!(r["outputs"].as_array().unwrap().len(), 4);
    assert_eq!(inspect(&also.0, "{{.Id}}"), id, "docker-daemon: output");

    // Each copy, loaded back by the engine's own tools, is the same image
    // and serves.
    let from_archive = Tag::new("from-archive");
    let loaded = run_ok("docker", &["load", "-i", &archive.to_string_lossy()]);
    assert!(loaded.contains(&tag.0), "docker load: {loaded}");
    run_ok("docker", &["tag", &tag.0, &from_archive.0]);
    let from_layout = Tag::new("from-layout");
    run_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:slim", layout.display()),
            &format!("docker-daemon:{}", from_layout.0),
        ],
    );
    let from_registry = Tag(remote.clone());
    run_ok("docker", &["pull", "-q", &remote]);
    for image in [&from_archive.0, &from_layout.0, &from_registry.0] {
        let c = Container::run(&["-p", "127.0.0.1::80", image]);
        assert_serves_nginx(&c);
    }
    // The layer in each copy is the one the report names.
    let digest = r["layer"]["digest"].as_str().unwrap();
    assert_eq!(
        inspect(&from_layout.0, "{{index .RootFS.Layers 0}}"),
        digest
    );
    assert_eq!(
        inspect(&from_registry.0, "{{index .RootFS.Layers 0}}"),
        digest
    );

    // The layout written is a source slim reads, and the pushed image too.
    let again = Tag::new("outputs-again");
    let dir2 = TempDir::new("outputs-again");
    let r2 = build(
        &format!("docker://{remote}"),
        &again,
        &dir2,
        &["--tls-verify=false"],
    );
    assert_eq!(r2["container"]["stopped_by"], "slim");
    assert_eq!(r2["probes"][0]["code"], 200);
}

#[test]
fn a_missing_or_foreign_source_fails_with_one_line() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("bad-sources");
    for (source, says) in [
        ("oci:/nonexistent/layout", "not an OCI image layout"),
        (
            "docker-archive:/nonexistent.tar",
            "cannot open the docker-archive",
        ),
        ("containers-storage:/x/y", "unknown transport"),
    ] {
        let out = slim(&[
            "build",
            source,
            "--tag",
            "slim-test-never:1",
            "--artifacts",
            &dir.0.to_string_lossy(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{source}");
        // One line says it: slim's error, or clap's for a name it refuses.
        assert!(
            err.lines()
                .any(|l| l.contains("error: ") && l.contains(says)),
            "{source}: {err}"
        );
    }
    // A registry that does not answer.
    let out = slim(&[
        "profile",
        "docker://127.0.0.1:9/none:1",
        "--tls-verify=false",
        "--artifacts",
        &dir.0.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("cannot pull the manifest of 127.0.0.1:9/none:1"),
        "{err}"
    );
}

#[test]
fn a_registry_with_a_login_takes_the_docker_clis_credentials() {
    if !e2e_ready() {
        return;
    }
    let registry = Registry::with_login("alice", "s3cret");
    let dir = TempDir::new("login");
    let remote = format!("docker://{}/slim/nginx:login", registry.host);
    let push = |docker_config: &std::path::Path| {
        let tag = Tag::new("login");
        let out = std::process::Command::new(slim_bin())
            .env("DOCKER_CONFIG", docker_config)
            .args([
                "build",
                &fixture("nginx"),
                "--tag",
                &tag.0,
                "--artifacts",
                &dir.0.join("out").to_string_lossy(),
                "--output",
                &remote,
                "--tls-verify=false",
            ])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    // No credentials: refused, and the line says what to do.
    let empty = dir.0.join("no-login");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, err) = push(&empty);
    assert!(!ok, "an anonymous push must be refused");
    let last = err.trim().lines().last().unwrap();
    assert!(last.contains("docker login"), "{err}");

    // `docker login`'s record in config.json: pushed, and pulled back by
    // slim with the same credentials.
    let with = dir.0.join("login");
    std::fs::create_dir_all(&with).unwrap();
    let auth = run_ok("sh", &["-c", "printf alice:s3cret | base64"]);
    std::fs::write(
        with.join("config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            registry.host
        ),
    )
    .unwrap();
    let (ok, err) = push(&with);
    assert!(ok, "{err}");
    let out = std::process::Command::new(slim_bin())
        .env("DOCKER_CONFIG", &with)
        .args([
            "profile",
            &remote,
            "--tls-verify=false",
            "--artifacts",
            &dir.0.join("profiled").to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_json(&dir.0.join("profiled/report.json"));
    assert_eq!(r["probes"][0]["code"], 200);
}
