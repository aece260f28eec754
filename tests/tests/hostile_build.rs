//! Issue #19, through the rebuilder: `slim build` of a docker-archive (the
//! `cli` fixture plus one hostile layer that Docker accepts) whose layer
//! holds a FIFO the build keeps (the ELF closure reads the head of every
//! kept file: a FIFO would block it), a block device 8,0 with mode 0666, a setuid-root file with a file capability and
//! a symlink to a host directory. The build must not hang or touch the
//! host (a canary tree is unchanged), the cache must hold nothing with
//! power, and the slim image must carry the FIFO, the device, the setuid mode and the
//! capability as the image gave them.
use std::{process::Command, time::Duration};

use slim_tests::{hostile::*, *};
use tar::EntryType as T;

/// `docker save`'s archive of `image` with `layer` added on top.
fn with_layer(image: &str, layer: &[u8], out: &std::path::Path, work: &std::path::Path) {
    with_blob(image, layer, &sha256(layer), out, work)
}

/// [`with_layer`] for a layer blob (gzip, say) whose diff ID is `diff_id`.
fn with_blob(
    image: &str,
    layer: &[u8],
    diff_id: &str,
    out: &std::path::Path,
    work: &std::path::Path,
) {
    let base = work.join("base.tar");
    run_ok("docker", &["save", "-o", base.to_str().unwrap(), image]);
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&base).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != T::Regular {
            continue;
        }
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut b).unwrap();
        members.push((name, b));
    }
    let get = |n: &str| members.iter().find(|(m, _)| m == n).map(|(_, b)| b.clone());
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&get("manifest.json").unwrap()).unwrap();
    let cname = manifest[0]["Config"].as_str().unwrap().to_string();
    let mut config: serde_json::Value = serde_json::from_slice(&get(&cname).unwrap()).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(diff_id.into());
    if let Some(h) = config["history"].as_array_mut() {
        h.push(serde_json::json!({"created_by": "hostile layer"}));
    }
    let config = serde_json::to_vec(&config).unwrap();
    let new_cname = format!("{}.json", &sha256(&config)[7..]);
    manifest[0]["Config"] = new_cname.clone().into();
    manifest[0]["Layers"]
        .as_array_mut()
        .unwrap()
        .push("hostile/layer.tar".into());
    manifest[0]["RepoTags"] = serde_json::Value::Null;
    let mut entries: Vec<E> = members
        .iter()
        .filter(|(n, _)| n != "manifest.json" && *n != cname)
        .map(|(n, b)| E::file(n, b))
        .collect();
    entries.push(E::file(&new_cname, &config));
    entries.push(E::file("hostile/layer.tar", layer));
    entries.push(E::file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    std::fs::write(out, tar(&entries)).unwrap();
}

#[test]
fn hostile_layer_through_slim_build() {
    if !e2e_ready() {
        return;
    }
    let canary = Canary::new();
    let before = canary.snapshot();
    let work = TempDir::new("hostile-build");
    let cache = TempDir::new("hostile-build-cache");
    let mut cap = E::file("usr/local/bin/suidx", "#!/bin/sh\nexit 0\n").mode(0o4755);
    let mut v = vec![0u8; 20];
    v[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    v[4..8].copy_from_slice(&(1u32 << 13).to_le_bytes());
    cap.pax = vec![("SCHILY.xattr.security.capability".into(), v.clone())];
    let mut zeros = vec![0u8; 8 << 20];
    zeros.extend_from_slice(b"tail");
    let layer = tar(&[
        E::dir("dev/"),
        E::device(T::Block, "dev/sdx", (8, 0)),
        E::dir("usr/"),
        E::dir("usr/local/"),
        E::dir("usr/local/bin/"),
        cap,
        E::new(T::Fifo, "usr/local/bin/pipe"),
        E::symlink("hostdir", canary.path().to_str().unwrap()),
        E::dir("usr/local/share/"),
        // Zeros: holes in the cache, written in full into the slim layer.
        E::file("usr/local/share/zeros", &zeros),
    ]);
    let archive = work.0.join("image.tar");
    with_layer(&fixture("cli"), &layer, &archive, &work.0);
    let tag = Tag::new("hostile");
    let image = format!("docker-archive:{}", archive.display());
    let artifacts = work.0.join("out");
    let run = run_measured(
        &[
            "build",
            &image,
            "--tag",
            &tag.0,
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--continue-after",
            "exit",
            "--include-path",
            "/dev/sdx",
            "--include-path",
            "/usr/local/bin/suidx",
            "--include-path",
            "/usr/local/bin/pipe",
            "--include-path",
            "/usr/local/share/zeros",
        ],
        &[("SLIM_CACHE", cache.0.to_str().unwrap())],
        Duration::from_secs(180),
    );
    eprintln!(
        "hostile build: rc {} in {:.1} s, peak RSS {:.1} MB; stderr: {}",
        run.code,
        run.secs,
        run.max_rss_mb,
        run.stderr.trim()
    );
    run.assert_contained("hostile build", &canary, &before);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let powers = powers_in(&cache.0);
    assert!(powers.is_empty(), "{powers:?}");
    // The slim image carries what the image said, as it said it.
    let saved = work.0.join("slim.tar");
    run_ok("docker", &["save", "-o", saved.to_str().unwrap(), &tag.0]);
    let mut found = (false, false, false, false);
    let mut outer = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    for m in outer.entries().unwrap() {
        let m = m.unwrap();
        let name = m.path().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with("layer.tar") || name.starts_with("blobs/")) || m.size() < 1024 {
            continue;
        }
        let mut inner = tar::Archive::new(m);
        let Ok(entries) = inner.entries() else {
            continue;
        };
        for e in entries {
            let Ok(mut e) = e else { break };
            let h = e.header().clone();
            match e.path().unwrap().to_str().unwrap() {
                "dev/sdx" => {
                    assert_eq!(h.entry_type(), T::Block);
                    assert_eq!(h.device_major().unwrap(), Some(8));
                    assert_eq!(h.mode().unwrap(), 0o666);
                    found.0 = true;
                }
                "usr/local/bin/suidx" => {
                    assert_eq!(h.mode().unwrap(), 0o4755);
                    let caps: Vec<Vec<u8>> = e
                        .pax_extensions()
                        .unwrap()
                        .into_iter()
                        .flatten()
                        .flatten()
                        .filter(|x| x.key() == Ok("SCHILY.xattr.security.capability"))
                        .map(|x| x.value_bytes().to_vec())
                        .collect();
                    assert_eq!(caps, [v.clone()]);
                    found.1 = true;
                }
                "usr/local/bin/pipe" => {
                    assert_eq!(h.entry_type(), T::Fifo);
                    found.2 = true;
                }
                "usr/local/share/zeros" => {
                    assert_eq!(h.entry_type(), T::Regular);
                    let mut b = Vec::new();
                    std::io::Read::read_to_end(&mut e, &mut b).unwrap();
                    assert!(b == zeros, "the zeros came back as {} other bytes", b.len());
                    found.3 = true;
                }
                p => assert!(!p.starts_with("hostdir/"), "a host file in the image: {p}"),
            }
        }
    }
    assert_eq!(
        found,
        (true, true, true, true),
        "the slim layer lacks entries"
    );
    let _ = Command::new("docker").args(["rmi", "-f", &tag.0]).output();
}

/// `slim build` of the `cli` fixture plus the layer `blob` (diff ID
/// `diff_id`), keeping `keep`, with `env`: it must refuse with exit 1 and
/// one line holding each of `want`, leave the canary as it was, stay under
/// 200 MB of RSS and leave no big file in the cache or the temporary
/// directory it was given.
fn refused_build(
    name: &str,
    blob: &[u8],
    diff_id: &str,
    keep: &str,
    env: &[(&str, &str)],
    want: &[&str],
) {
    if !e2e_ready() {
        return;
    }
    let canary = Canary::new();
    let before = canary.snapshot();
    let work = TempDir::new("hostile-build");
    let cache = TempDir::new("hostile-build-cache");
    let tmp = TempDir::new("hostile-build-tmp");
    let archive = work.0.join("image.tar");
    with_blob(&fixture("cli"), blob, diff_id, &archive, &work.0);
    let tag = Tag::new("hostile");
    let image = format!("docker-archive:{}", archive.display());
    let artifacts = work.0.join("out");
    let mut all_env = vec![
        ("SLIM_CACHE", cache.0.to_str().unwrap()),
        ("TMPDIR", tmp.0.to_str().unwrap()),
    ];
    all_env.extend_from_slice(env);
    let run = run_measured(
        &[
            "build",
            &image,
            "--tag",
            &tag.0,
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--continue-after",
            "exit",
            "--include-path",
            keep,
        ],
        &all_env,
        Duration::from_secs(180),
    );
    eprintln!(
        "{name}: rc {} in {:.1} s, peak RSS {:.1} MB, cache {} kB, tmp {} kB; stderr: {}",
        run.code,
        run.secs,
        run.max_rss_mb,
        disk_usage(&cache.0) / 1024,
        disk_usage(&tmp.0) / 1024,
        run.stderr.trim()
    );
    run.assert_contained(name, &canary, &before);
    // Progress lines, then one error line, the last.
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("slim: error:"))
        .collect();
    assert_eq!(run.code, 1, "{name}: {}", run.stderr);
    assert_eq!(errors.len(), 1, "{name}: not one error: {}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().last(), Some(errors[0]));
    for w in want {
        assert!(
            errors[0].contains(w),
            "{name}: expected {w:?} in {:?}",
            errors[0]
        );
    }
    // The base image's layer is unpacked (about 120 MB); nothing more.
    assert!(
        disk_usage(&cache.0) < 256 << 20,
        "{name}: the cache grew by {} bytes",
        disk_usage(&cache.0)
    );
    assert!(
        disk_usage(&tmp.0) < 1 << 20,
        "{name}: {} bytes left in TMPDIR",
        disk_usage(&tmp.0)
    );
    assert!(
        powers_in(&cache.0).is_empty(),
        "{name}: {:?}",
        powers_in(&cache.0)
    );
    let _ = Command::new("docker").args(["rmi", "-f", &tag.0]).output();
}

/// Issue #19: a sparse file of 1 TiB in a source image is refused before
/// it costs anything: its size counts in full against SLIM_MAX_LAYER_BYTES,
/// and the layers are checked before the engine is given them (Docker
/// 20.10 reads such an entry for minutes, then times out).
#[test]
fn sparse_terabyte_file_through_slim_build() {
    let mut layer = tar(&[E::dir("zz/")]);
    layer.truncate(layer.len() - 1024);
    layer.extend(sparse("zz/big", 1 << 40, (1 << 40) - 512, b"tail"));
    let layer = end(layer);
    refused_build(
        "sparse_terabyte_file_through_slim_build",
        &layer,
        &sha256(&layer),
        "/zz/big",
        &[],
        &["SLIM_MAX_LAYER_BYTES"],
    );
}

/// Issue #19: zeros that unpack to holes but would be written in full
/// into the slim layer count in full against SLIM_MAX_LAYER_BYTES there:
/// the writer refuses before a byte is written and says why. The base
/// layer (about 120 MB) and the hostile one (127 MiB of zeros, gzipped)
/// each fit in 128 MiB; the slim layer (the zeros and the kept files of
/// the base) does not.
#[test]
fn sparse_file_past_the_limit_of_the_slim_layer() {
    let mut zeros = vec![0u8; 127 << 20];
    zeros.extend_from_slice(b"tail");
    let layer = tar(&[E::dir("zz/"), E::file("zz/big", &zeros)]);
    drop(zeros);
    refused_build(
        "sparse_file_past_the_limit_of_the_slim_layer",
        &gzip(&layer),
        &sha256(&layer),
        "/zz/big",
        &[
            ("SLIM_MAX_LAYER_BYTES", "128MiB"),
            ("SLIM_MAX_LAYER_RATIO", "10000"),
        ],
        &["SLIM_MAX_LAYER_BYTES", "/zz/big is a sparse file"],
    );
}
