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
        .push(sha256(layer).into());
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
    let layer = tar(&[
        E::dir("dev/"),
        E::device(T::Block, "dev/sdx", (8, 0)),
        E::dir("usr/"),
        E::dir("usr/local/"),
        E::dir("usr/local/bin/"),
        cap,
        E::new(T::Fifo, "usr/local/bin/pipe"),
        E::symlink("hostdir", canary.path().to_str().unwrap()),
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
    assert_eq!(canary.snapshot(), before, "the canary changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.max_rss_mb < 200.0, "peak RSS {:.1} MB", run.max_rss_mb);
    let powers = powers_in(&cache.0);
    assert!(powers.is_empty(), "{powers:?}");
    // The slim image carries what the image said, as it said it.
    let saved = work.0.join("slim.tar");
    run_ok("docker", &["save", "-o", saved.to_str().unwrap(), &tag.0]);
    let mut found = (false, false, false);
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
                p => assert!(!p.starts_with("hostdir/"), "a host file in the image: {p}"),
            }
        }
    }
    assert_eq!(found, (true, true, true), "the slim layer lacks entries");
    let _ = Command::new("docker").args(["rmi", "-f", &tag.0]).output();
}
