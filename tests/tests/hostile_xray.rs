//! Issue #19: hostile docker-archives and OCI layouts, crafted here, read
//! by `slim xray --sbom cyclonedx` (which unpacks every layer into the
//! cache) with SLIM_CACHE in a scratch directory. Each case checks that a
//! canary tree outside the cache is unchanged (type, mode, owner, content,
//! mtime), that slim refuses with exit 1 and one line naming the problem
//! (or succeeds where the input is odd but benign), that its peak RSS stays
//! under 200 MB, that the cache grew little and holds nothing with power
//! (devices, FIFOs, setuid, capabilities) and is 0700.
use std::{path::Path, time::Duration};

use slim_tests::{
    fake_registry::{manifest, Body, FakeRegistry},
    hostile::*,
    TempDir,
};
use tar::EntryType as T;

enum Want {
    /// Exit 1, one line holding this.
    Refuse(&'static str),
    Succeed,
}

#[derive(Default)]
struct Case {
    env: Vec<(&'static str, String)>,
    /// xray without --sbom (the tar headers only).
    plain: bool,
    /// More arguments to xray.
    args: Vec<&'static str>,
}

fn case(name: &str, want: Want, make: impl FnOnce(&Path, &Path) -> String) {
    case_with(name, want, Case::default(), make)
}

fn case_with(name: &str, want: Want, c: Case, make: impl FnOnce(&Path, &Path) -> String) {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping {name}: needs root (devices, ownership)");
        return;
    }
    let canary = Canary::new();
    let before = canary.snapshot();
    let work = TempDir::new("hostile");
    let cache = TempDir::new("hostile-cache");
    let image = make(&work.0, canary.path());
    let sbom_dir = work.0.join("sbom");
    let mut args = vec!["xray", image.as_str()];
    let sbom = sbom_dir.to_str().unwrap();
    if !c.plain {
        args.extend(["--sbom", "cyclonedx", "--sbom-dir", sbom]);
    }
    args.extend(c.args.iter().copied());
    let cache_s = cache.0.to_str().unwrap().to_string();
    let mut env: Vec<(&str, &str)> = vec![("SLIM_CACHE", cache_s.as_str())];
    env.extend(c.env.iter().map(|(k, v)| (*k, v.as_str())));
    let run = run_measured(&args, &env, Duration::from_secs(120));
    eprintln!(
        "{name}: rc {} in {:.2} s, peak RSS {:.1} MB, cache {} kB; stderr: {}",
        run.code,
        run.secs,
        run.max_rss_mb,
        disk_usage(&cache.0) / 1024,
        run.stderr.trim()
    );
    run.assert_contained(name, &canary, &before);
    let grown = disk_usage(&cache.0);
    assert!(grown < 32 << 20, "{name}: the cache grew by {grown} bytes");
    let powers = powers_in(&cache.0);
    assert!(powers.is_empty(), "{name}: {powers:?}");
    let left: Vec<_> = std::fs::read_dir(cache.0.join("unpacked"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".unpacking-"))
        .collect();
    assert!(left.is_empty(), "{name}: unpacking left {left:?}");
    match want {
        Want::Refuse(what) => {
            let lines: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            assert_eq!(run.code, 1, "{name}: {}", run.stderr);
            assert_eq!(lines.len(), 1, "{name}: not one line: {}", run.stderr);
            assert!(
                lines[0].starts_with("slim: error: ") && lines[0].contains(what),
                "{name}: expected {what:?} in {:?}",
                lines[0]
            );
        }
        Want::Succeed => {
            assert_eq!(run.code, 0, "{name}: {}", run.stderr);
            if !c.plain {
                let sbom = std::fs::read_to_string(sbom_dir.join("sbom.cdx.json")).unwrap();
                assert!(
                    !sbom.contains("hostleak"),
                    "{name}: a host file reached the SBOM"
                );
            }
        }
    }
}

fn archive(work: &Path, layers: &[Layer]) -> String {
    let p = work.join("image.tar");
    docker_archive(&p, layers, None);
    format!("docker-archive:{}", p.display())
}

fn layout(work: &Path, layers: &[Layer]) -> (String, Oci) {
    let dir = work.join("layout");
    let o = oci_layout(&dir, layers, None);
    (format!("oci:{}", dir.display()), o)
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn base() -> Vec<E> {
    vec![
        E::dir("etc/"),
        E::file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
    ]
}

// 1. Entries under a symlink to a host directory.

#[test]
fn fifo_through_a_symlinked_parent() {
    case(
        "fifo_through_a_symlinked_parent",
        Want::Refuse("under a symlink"),
        |w, c| {
            archive(
                w,
                &[Layer::gz(tar(&[
                    E::symlink("evil", s(c)),
                    E::new(T::Fifo, "evil/victim"),
                ]))],
            )
        },
    );
}

#[test]
fn device_through_a_symlinked_parent() {
    case(
        "device_through_a_symlinked_parent",
        Want::Refuse("under a symlink"),
        |w, c| {
            archive(
                w,
                &[Layer::plain(tar(&[
                    E::symlink("evil", s(c)),
                    E::device(T::Char, "evil/newnull", (1, 3)),
                ]))],
            )
        },
    );
}

#[test]
fn file_and_dir_through_a_symlinked_parent() {
    case(
        "file_and_dir_through_a_symlinked_parent",
        Want::Refuse("under a symlink"),
        |w, c| {
            archive(
                w,
                &[Layer::plain(tar(&[
                    E::symlink("evil", s(c)),
                    E::dir("evil/sub/"),
                    E::file("evil/victim", "owned\n"),
                ]))],
            )
        },
    );
}

#[test]
fn relative_symlink_climbing_out() {
    case(
        "relative_symlink_climbing_out",
        Want::Refuse("under a symlink"),
        |w, c| {
            let up = "../".repeat(8);
            let target = format!("{up}{}", s(c).trim_start_matches('/'));
            archive(
                w,
                &[Layer::plain(tar(&[
                    E::symlink("up", target),
                    E::file("up/victim", "owned\n"),
                ]))],
            )
        },
    );
}

#[test]
fn wrong_diff_id_with_an_escape() {
    case(
        "wrong_diff_id_with_an_escape",
        Want::Refuse("layer"),
        |w, c| {
            let mut l = Layer::plain(tar(&[
                E::symlink("evil", s(c)),
                E::new(T::Fifo, "evil/victim"),
            ]));
            l.diff_id = sha256(b"something else");
            archive(w, &[l])
        },
    );
}

#[test]
fn hard_link_out_of_the_layer() {
    case(
        "hard_link_out_of_the_layer",
        Want::Refuse("`..`"),
        |w, c| {
            let target = format!("../../../../../../../..{}/victim", s(c));
            archive(w, &[Layer::plain(tar(&[E::hardlink("x", target)]))])
        },
    );
}

#[test]
fn hard_link_to_an_absolute_host_path() {
    case(
        "hard_link_to_an_absolute_host_path",
        Want::Refuse("not in the layer"),
        |w, c| {
            archive(
                w,
                &[Layer::plain(tar(&[E::hardlink(
                    "x",
                    format!("{}/victim", s(c)),
                )]))],
            )
        },
    );
}

#[test]
fn hard_link_through_a_symlink() {
    case(
        "hard_link_through_a_symlink",
        Want::Refuse("not in the layer"),
        |w, c| {
            archive(
                w,
                &[Layer::plain(tar(&[
                    E::symlink("evil", s(c)),
                    E::hardlink("x", "evil/victim"),
                ]))],
            )
        },
    );
}

// 2. Diff IDs that are not digests.

fn bad_diff_id(name: &str, id: &'static str) {
    case(name, Want::Refuse("not a"), |w, _| {
        let mut l = Layer::plain(tar(&base()));
        l.diff_id = id.to_string();
        archive(w, &[l])
    });
}

#[test]
fn diff_id_absolute_path() {
    bad_diff_id("diff_id_absolute_path", "/etc");
}

#[test]
fn diff_id_dot_dot() {
    bad_diff_id("diff_id_dot_dot", "sha256:../../x");
}

#[test]
fn diff_id_empty_hex() {
    bad_diff_id("diff_id_empty_hex", "sha256:");
}

#[test]
fn diff_id_other_algorithm() {
    case(
        "diff_id_other_algorithm",
        Want::Refuse("sha256 digests only"),
        |w, _| {
            let mut l = Layer::plain(tar(&base()));
            l.diff_id = format!("sha512:{}", "0".repeat(128));
            archive(w, &[l])
        },
    );
}

#[test]
fn layout_layer_digest_dot_dot() {
    case(
        "layout_layer_digest_dot_dot",
        Want::Refuse("layout"),
        |w, _| {
            let (img, o) = layout(w, &[Layer::gz(tar(&base()))]);
            let m = std::fs::read_to_string(&o.manifest).unwrap();
            let d = sha256(&std::fs::read(&o.layers[0]).unwrap());
            let m = m.replace(&d, "sha256:../../../../etc/passwd");
            // The index points at the manifest by digest: rewrite it too.
            let md = sha256(m.as_bytes());
            let dir = w.join("layout");
            std::fs::write(dir.join("blobs/sha256").join(&md[7..]), &m).unwrap();
            let idx = std::fs::read_to_string(dir.join("index.json")).unwrap();
            let old = format!(
                "sha256:{}",
                o.manifest.file_name().unwrap().to_str().unwrap()
            );
            let idx = idx.replace(&old, &md).replace(
                &format!("\"size\":{}", std::fs::read(&o.manifest).unwrap().len()),
                &format!("\"size\":{}", m.len()),
            );
            std::fs::write(dir.join("index.json"), idx).unwrap();
            img
        },
    );
}

// 3. Names that are absolute or climb.

#[test]
fn absolute_directory_names_stay_inside() {
    case(
        "absolute_directory_names_stay_inside",
        Want::Succeed,
        |w, c| {
            let mut e = base();
            e.push(E::dir(format!("{}/", s(c))));
            e.push(E::dir(format!("{}/sub/", s(c))));
            archive(w, &[Layer::plain(tar(&e))])
        },
    );
}

#[test]
fn dot_dot_directory_names() {
    case("dot_dot_directory_names", Want::Refuse("`..`"), |w, c| {
        archive(
            w,
            &[Layer::plain(tar(&[E::dir(format!(
                "../../../../../../..{}/",
                s(c)
            ))]))],
        )
    });
}

#[test]
fn dot_dot_file_names() {
    case("dot_dot_file_names", Want::Refuse("`..`"), |w, c| {
        archive(
            w,
            &[Layer::plain(tar(&[E::file(
                format!("a/../../../../../../../..{}/victim", s(c)),
                "owned",
            )]))],
        )
    });
}

// 4. Layout blobs that are not regular files of the layout.

#[test]
fn layout_layer_blob_is_a_symlink_to_the_host() {
    case(
        "layout_layer_blob_is_a_symlink_to_the_host",
        Want::Refuse("symlink"),
        |w, c| {
            // The layer the manifest names is a host tar, linked in.
            let host_tar = tar(&[E::file(
                "var/lib/dpkg/status",
                std::fs::read(c.join("status")).unwrap(),
            )]);
            let (img, o) = layout(w, &[Layer::plain(host_tar.clone())]);
            let outside = w.join("outside.tar");
            std::fs::write(&outside, &host_tar).unwrap();
            std::fs::remove_file(&o.layers[0]).unwrap();
            std::os::unix::fs::symlink(&outside, &o.layers[0]).unwrap();
            img
        },
    );
}

#[test]
fn layout_config_blob_is_a_symlink() {
    case(
        "layout_config_blob_is_a_symlink",
        Want::Refuse("symlink"),
        |w, _| {
            let (img, o) = layout(w, &[Layer::gz(tar(&base()))]);
            let outside = w.join("config.json");
            std::fs::copy(&o.config, &outside).unwrap();
            std::fs::remove_file(&o.config).unwrap();
            std::os::unix::fs::symlink(&outside, &o.config).unwrap();
            img
        },
    );
}

#[test]
fn layout_blobs_directory_is_a_symlink() {
    case(
        "layout_blobs_directory_is_a_symlink",
        Want::Refuse("symlink"),
        |w, _| {
            let (img, _) = layout(w, &[Layer::gz(tar(&base()))]);
            let dir = w.join("layout");
            std::fs::rename(dir.join("blobs"), w.join("real-blobs")).unwrap();
            std::os::unix::fs::symlink(w.join("real-blobs"), dir.join("blobs")).unwrap();
            img
        },
    );
}

#[test]
fn layout_layer_blob_is_a_fifo() {
    case(
        "layout_layer_blob_is_a_fifo",
        Want::Refuse("not a regular file"),
        |w, _| {
            let (img, o) = layout(w, &[Layer::gz(tar(&base()))]);
            std::fs::remove_file(&o.layers[0]).unwrap();
            let p = std::ffi::CString::new(o.layers[0].to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o644) }, 0);
            img
        },
    );
}

// 5. What would give power on the host: kept as records, never made.

#[test]
fn setuid_devices_and_capabilities_are_not_made() {
    case(
        "setuid_devices_and_capabilities_are_not_made",
        Want::Succeed,
        |w, _| {
            let mut e = base();
            e.push(E::dir("bin/"));
            e.push(E::file("bin/su", "#!/bin/sh\n").mode(0o4755));
            e.push(E::file("bin/wall", "#!/bin/sh\n").mode(0o2755));
            e.push(E::dir("dev/"));
            e.push(E::device(T::Block, "dev/sda", (8, 0)));
            e.push(E::device(T::Char, "dev/mem", (1, 1)));
            e.push(E::new(T::Fifo, "dev/initctl"));
            let mut cap = E::file("bin/ping", "ping");
            let mut v = vec![0u8; 20];
            v[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
            v[4..8].copy_from_slice(&(1u32 << 13).to_le_bytes());
            cap.pax = vec![("SCHILY.xattr.security.capability".into(), v)];
            e.push(cap);
            archive(w, &[Layer::gz(tar(&e))])
        },
    );
}

// 6. Archive members claiming sizes they do not have.

#[test]
fn archive_member_claiming_2_pow_63() {
    case(
        "archive_member_claiming_2_pow_63",
        Want::Refuse("docker-archive"),
        |w, _| {
            let p = w.join("image.tar");
            let mut t = sparse("manifest.json", 1 << 63, 0, b"[]");
            t = end(t);
            std::fs::write(&p, t).unwrap();
            format!("docker-archive:{}", p.display())
        },
    );
}

#[test]
fn archive_member_claiming_a_terabyte() {
    case(
        "archive_member_claiming_a_terabyte",
        Want::Refuse("docker-archive"),
        |w, _| {
            let p = w.join("image.tar");
            let mut e = E::file("manifest.json", "[]");
            e.claim = Some(1 << 40);
            let mut t = tar(&[e]);
            t.truncate(2048);
            std::fs::write(&p, t).unwrap();
            format!("docker-archive:{}", p.display())
        },
    );
}

#[test]
fn archive_manifest_past_the_metadata_limit() {
    case(
        "archive_manifest_past_the_metadata_limit",
        Want::Refuse("SLIM_MAX_METADATA_BYTES"),
        |w, _| {
            let p = w.join("image.tar");
            let big = format!("[{}]", " ".repeat(5 << 20));
            std::fs::write(&p, tar(&[E::file("manifest.json", big)])).unwrap();
            format!("docker-archive:{}", p.display())
        },
    );
}

// 7. Exhaustion.

#[test]
fn sparse_gigabyte_dpkg_status() {
    case("sparse_gigabyte_dpkg_status", Want::Succeed, |w, _| {
        let mut t = tar(&[E::dir("var/"), E::dir("var/lib/"), E::dir("var/lib/dpkg/")]);
        t.truncate(t.len() - 1024);
        t.extend(sparse(
            "var/lib/dpkg/status",
            1 << 30,
            (1 << 30) - 512,
            b"Package: x\n",
        ));
        archive(w, &[Layer::plain(end(t))])
    });
}

#[test]
fn sparse_terabyte_file() {
    case(
        "sparse_terabyte_file",
        Want::Refuse("SLIM_MAX_LAYER_BYTES"),
        |w, _| {
            archive(
                w,
                &[Layer::plain(end(sparse(
                    "big",
                    1 << 40,
                    (1 << 40) - 512,
                    b"x",
                )))],
            )
        },
    );
}

#[test]
fn long_gnu_name_claiming_512_mib() {
    case(
        "long_gnu_name_claiming_512_mib",
        Want::Refuse("SLIM_MAX_HEADER_BYTES"),
        |w, _| {
            let mut l = E::new(T::GNULongName, "././@LongLink");
            l.data = vec![b'a'; 4 << 20];
            l.claim = Some(512 << 20);
            let mut t = tar(&[l]);
            t.truncate(512 + (4 << 20));
            archive(w, &[Layer::gz(t)])
        },
    );
}

#[test]
fn huge_pax_header() {
    case(
        "huge_pax_header",
        Want::Refuse("SLIM_MAX_HEADER_BYTES"),
        |w, _| {
            let mut e = E::file("x", "x");
            e.pax = vec![("SCHILY.xattr.user.big".into(), vec![b'z'; 3 << 20])];
            archive(w, &[Layer::gz(tar(&[e]))])
        },
    );
}

#[test]
fn name_past_path_max() {
    case("name_past_path_max", Want::Refuse("PATH_MAX"), |w, _| {
        let mut l = E::new(T::GNULongName, "././@LongLink");
        l.data = [b"d/".repeat(2100), b"x\0".to_vec()].concat();
        let mut t = tar(&[l, E::file("short", "x")]);
        // The long name belongs to the entry after it.
        t.truncate(t.len() - 1024);
        archive(w, &[Layer::plain(end(t))])
    });
}

/// Names are what readers keep of entries (xray's analysis, the
/// unpacker's directory times): 18,000 directories with names near
/// PATH_MAX are 72 MB of names in a 1.5 MB layer, past the 64 MiB that
/// SLIM_MAX_NAME_BYTES allows (before it, xray took 416 MB of RSS on
/// 50,000 of them).
#[test]
fn a_flood_of_long_names() {
    case(
        "a_flood_of_long_names",
        Want::Refuse("SLIM_MAX_NAME_BYTES"),
        |w, _| {
            let mut b = tar::Builder::new(Vec::new());
            let mut dir = String::new();
            let add = |b: &mut tar::Builder<Vec<u8>>, name: &str| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(T::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            };
            for i in 0..19 {
                dir.push_str(&format!("{i:0>200}/"));
                add(&mut b, &dir);
            }
            for i in 0..18_000 {
                add(&mut b, &format!("{dir}{i:0>100}/"));
            }
            let t = b.into_inner().unwrap();
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut z, &t).unwrap();
            archive(
                w,
                &[Layer {
                    blob: z.finish().unwrap(),
                    diff_id: sha256(&t),
                }],
            )
        },
    );
}

#[test]
fn too_many_entries() {
    case_with(
        "too_many_entries",
        Want::Refuse("SLIM_MAX_LAYER_ENTRIES"),
        Case {
            env: vec![("SLIM_MAX_LAYER_ENTRIES", "1000".into())],
            ..Case::default()
        },
        |w, _| {
            let e: Vec<E> = (0..3000).map(|i| E::file(format!("f{i}"), "")).collect();
            archive(w, &[Layer::gz(tar(&e))])
        },
    );
}

#[test]
fn gzip_bomb() {
    case("gzip_bomb", Want::Refuse("compressed size"), |w, _| {
        // A file of 256 MiB of zeros, as concatenated gzip members of 1 MiB
        // each (a few hundred kB in all).
        let mut h = E::file("bomb", "");
        h.claim = Some(256 << 20);
        let t = tar(&[h]);
        let mut blob = gzip(&t[..512]);
        let member = gzip(&vec![0u8; 1 << 20]);
        for _ in 0..256 {
            blob.extend_from_slice(&member);
        }
        blob.extend(gzip(&[0u8; 1024]));
        let l = Layer {
            blob,
            diff_id: sha256(b"unknowable"),
        };
        archive(w, &[l])
    });
}

// 8. Sizes that wrap around 2^64.

#[test]
fn sizes_wrapping_around_2_pow_64() {
    case_with(
        "sizes_wrapping_around_2_pow_64",
        Want::Refuse("SLIM_MAX_LAYER_BYTES"),
        Case {
            plain: true,
            ..Case::default()
        },
        |w, _| {
            let mut t = sparse("a", 1 << 63, 0, b"x");
            t.extend(sparse("b", 1 << 63, 0, b"x"));
            t.extend(sparse("c", 1, 0, b"x"));
            archive(w, &[Layer::plain(end(t))])
        },
    );
}

// 9. Digests and ends of streams.

#[test]
fn plain_xray_checks_the_diff_id() {
    case_with(
        "plain_xray_checks_the_diff_id",
        Want::Refuse("does not match its diff ID"),
        Case {
            plain: true,
            ..Case::default()
        },
        |w, _| {
            let mut l = Layer::gz(tar(&base()));
            l.diff_id = sha256(b"not this layer");
            archive(w, &[l])
        },
    );
}

fn altered(name: &str, what: impl FnOnce(&Oci)) {
    let want = if name.ends_with("crc_broken") {
        "layer"
    } else {
        "blob"
    };
    case(name, Want::Refuse(want), |w, _| {
        let (img, o) = layout(w, &[Layer::gz(tar(&base()))]);
        what(&o);
        img
    });
}

fn flip_last_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let n = b.len() - 2;
    b[n] ^= 1;
    std::fs::write(p, b).unwrap();
}

#[test]
fn layout_config_altered() {
    altered("layout_config_altered", |o| {
        let c = std::fs::read_to_string(&o.config)
            .unwrap()
            .replace("true", "fals");
        std::fs::write(&o.config, c).unwrap();
    });
}

#[test]
fn layout_manifest_altered() {
    altered("layout_manifest_altered", |o| {
        let m = std::fs::read_to_string(&o.manifest)
            .unwrap()
            .replace("\"schemaVersion\":2", "\"schemaVersion\":3");
        std::fs::write(&o.manifest, m).unwrap();
    });
}

#[test]
fn layout_layer_altered() {
    // The gzip header's MTIME: still a valid stream of the same tar (the
    // diff ID holds), same size; only the blob's digest tells.
    altered("layout_layer_altered", |o| {
        let mut b = std::fs::read(&o.layers[0]).unwrap();
        b[4] ^= 1;
        std::fs::write(&o.layers[0], b).unwrap();
    });
}

#[test]
fn layout_layer_crc_broken() {
    altered("layout_layer_crc_broken", |o| flip_last_byte(&o.layers[0]));
}

#[test]
fn layout_descriptor_size_wrong() {
    case(
        "layout_descriptor_size_wrong",
        Want::Refuse("descriptor"),
        |w, _| {
            let l = Layer::gz(tar(&base()));
            let n = l.blob.len() as u64;
            let dir = w.join("layout");
            oci_layout(&dir, &[l], Some(vec![n + 100]));
            format!("oci:{}", dir.display())
        },
    );
}

#[test]
fn gzip_without_its_trailer() {
    case("gzip_without_its_trailer", Want::Refuse("layer"), |w, _| {
        let mut l = Layer::gz(tar(&base()));
        l.blob.truncate(l.blob.len() - 8);
        archive(w, &[l])
    });
}

#[test]
fn gzip_with_a_bad_crc() {
    case("gzip_with_a_bad_crc", Want::Refuse("layer"), |w, _| {
        let mut l = Layer::gz(tar(&base()));
        let n = l.blob.len() - 8;
        l.blob[n] ^= 0xff;
        archive(w, &[l])
    });
}

// 10. Files read as contents that are not regular files, or lead out.

#[test]
fn dpkg_status_is_a_fifo() {
    case("dpkg_status_is_a_fifo", Want::Succeed, |w, _| {
        let mut e = base();
        e.extend([E::dir("var/"), E::dir("var/lib/"), E::dir("var/lib/dpkg/")]);
        e.push(E::new(T::Fifo, "var/lib/dpkg/status"));
        archive(w, &[Layer::plain(tar(&e))])
    });
}

#[test]
fn dpkg_status_is_dev_zero() {
    case("dpkg_status_is_dev_zero", Want::Succeed, |w, _| {
        let mut e = base();
        e.extend([E::dir("var/"), E::dir("var/lib/"), E::dir("var/lib/dpkg/")]);
        e.push(E::device(T::Char, "var/lib/dpkg/status", (1, 5)));
        archive(w, &[Layer::plain(tar(&e))])
    });
}

#[test]
fn dpkg_status_symlinks_to_the_host() {
    case("dpkg_status_symlinks_to_the_host", Want::Succeed, |w, c| {
        let mut e = base();
        e.extend([E::dir("var/"), E::dir("var/lib/")]);
        e.push(E::symlink("var/lib/dpkg", format!("{}/var/lib/dpkg", s(c))));
        e.push(E::symlink("etc/os-release", format!("{}/status", s(c))));
        archive(w, &[Layer::plain(tar(&e))])
    });
}

#[test]
fn whiteout_symlink_to_the_host() {
    case("whiteout_symlink_to_the_host", Want::Succeed, |w, c| {
        let mut low = base();
        low.extend([E::dir("var/"), E::dir("var/lib/"), E::dir("var/lib/dpkg/")]);
        low.push(E::file(
            "var/lib/dpkg/status",
            "Package: real\nStatus: install ok installed\nVersion: 1\n\n",
        ));
        let up = vec![
            E::dir("var/"),
            E::dir("var/lib/"),
            E::symlink("var/lib/.wh.dpkg", s(c)),
        ];
        archive(w, &[Layer::plain(tar(&low)), Layer::plain(tar(&up))])
    });
}

// A benign image, for contrast: everything the checks look at, and success.

#[test]
fn benign_image_reads() {
    case("benign_image_reads", Want::Succeed, |w, _| {
        let mut e = base();
        e.extend([E::dir("var/"), E::dir("var/lib/"), E::dir("var/lib/dpkg/")]);
        e.push(E::file("var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\nArchitecture: amd64\n\n"));
        e.push(E::symlink("etc/alt", "/usr/bin/none"));
        layout(w, &[Layer::gz(tar(&e))]).0
    });
}

// 11. Registries (a crafted one: a real registry checks what it stores).
// Every blob is checked as it streams: past its descriptor's size the pull
// stops, so the registry cannot fill the disk, and nothing unverified
// reaches the cache; sizes are checked against the limits before a byte
// of a layer is pulled.

/// The benign image's layer and config, as a registry would serve them.
fn served() -> (Vec<u8>, Vec<u8>) {
    let layer = tar(&base());
    let config = config(&[sha256(&layer)]);
    (layer, config)
}

/// xray of the image `manifest` describes, from a registry serving
/// `blobs`; the registry may have sent at most `max_sent` bytes of blobs.
fn registry_case(
    name: &str,
    want: Want,
    manifest: Vec<u8>,
    blobs: Vec<(String, Body)>,
    max_sent: u64,
) {
    let reg = FakeRegistry::serve(manifest, blobs);
    let image = format!("docker://{}/hostile:v1", reg.host);
    let c = Case {
        args: vec!["--tls-verify=false"],
        ..Case::default()
    };
    case_with(name, want, c, |_, _| image.clone());
    assert!(
        reg.sent() <= max_sent,
        "{name}: the registry sent {} bytes",
        reg.sent()
    );
}

/// The image served as it is, with `layer_body` for its layer and the
/// descriptors' sizes given.
fn registry_with(
    name: &str,
    want: Want,
    layer_body: impl FnOnce(Vec<u8>) -> Body,
    sizes: (Option<i64>, Option<i64>),
    max_sent: u64,
) {
    let (layer, config) = served();
    let (cd, ld) = (sha256(&config), sha256(&layer));
    let m = manifest(
        (&cd, sizes.0.unwrap_or(config.len() as i64)),
        &[(&ld, sizes.1.unwrap_or(layer.len() as i64))],
    );
    let blobs = vec![(cd, Body::Bytes(config)), (ld, layer_body(layer))];
    registry_case(name, want, m, blobs, max_sent);
}

#[test]
fn registry_benign_image_reads() {
    registry_with(
        "registry_benign_image_reads",
        Want::Succeed,
        Body::Bytes,
        (None, None),
        u64::MAX,
    );
}

#[test]
fn registry_layer_longer_than_its_descriptor() {
    // The layer's bytes, then zeros without end and no Content-Length.
    registry_with(
        "registry_layer_longer_than_its_descriptor",
        Want::Refuse("sends more than the"),
        Body::Endless,
        (None, None),
        16 << 20,
    );
}

#[test]
fn registry_content_length_past_the_descriptor() {
    registry_with(
        "registry_content_length_past_the_descriptor",
        Want::Refuse("bytes, not the"),
        |l| Body::Claiming(l, 1 << 40),
        (None, None),
        16 << 20,
    );
}

#[test]
fn registry_layer_altered() {
    registry_with(
        "registry_layer_altered",
        Want::Refuse("does not match its digest"),
        |mut l| {
            l[10] ^= 1;
            Body::Bytes(l)
        },
        (None, None),
        16 << 20,
    );
}

#[test]
fn registry_layer_shorter_than_its_descriptor() {
    registry_with(
        "registry_layer_shorter_than_its_descriptor",
        Want::Refuse("bytes, not the"),
        |l| Body::Bytes(l[..l.len() / 2].to_vec()),
        (None, None),
        16 << 20,
    );
}

#[test]
fn registry_layer_size_past_the_limit() {
    // Refused from the manifest: no byte of the layer is asked for.
    let (_, config) = served();
    registry_with(
        "registry_layer_size_past_the_limit",
        Want::Refuse("SLIM_MAX_LAYER_BYTES"),
        Body::Endless,
        (None, Some(1 << 40)),
        config.len() as u64,
    );
}

#[test]
fn registry_layer_size_negative() {
    let (_, config) = served();
    registry_with(
        "registry_layer_size_negative",
        Want::Refuse("negative size"),
        Body::Endless,
        (None, Some(-1)),
        config.len() as u64,
    );
}

#[test]
fn registry_config_past_the_metadata_limit() {
    registry_with(
        "registry_config_past_the_metadata_limit",
        Want::Refuse("SLIM_MAX_METADATA_BYTES"),
        Body::Endless,
        (Some(64 << 20), None),
        0,
    );
}

#[test]
fn registry_config_altered() {
    let (layer, config) = served();
    let (cd, ld) = (sha256(&config), sha256(&layer));
    let m = manifest((&cd, config.len() as i64), &[(&ld, layer.len() as i64)]);
    let mut bad = config.clone();
    bad[2] ^= 1;
    registry_case(
        "registry_config_altered",
        Want::Refuse("does not match its digest"),
        m,
        vec![(cd, Body::Bytes(bad)), (ld, Body::Bytes(layer))],
        16 << 20,
    );
}

#[test]
fn registry_layers_past_the_image_limit() {
    // Eight layers claiming 10 GiB each: each within the layer limit, the
    // image past its own, refused before any is pulled.
    let (layer, config) = served();
    let (cd, ld) = (sha256(&config), sha256(&layer));
    let m = manifest((&cd, config.len() as i64), &[(ld.as_str(), 10 << 30); 8]);
    registry_case(
        "registry_layers_past_the_image_limit",
        Want::Refuse("SLIM_MAX_IMAGE_BYTES"),
        m,
        vec![
            (cd, Body::Bytes(config.clone())),
            (ld, Body::Endless(layer)),
        ],
        config.len() as u64,
    );
}
