//! Writes the minimal image's single layer: a tar of the kept paths in sorted
//! order with the image's own metadata (mode, owner, mtime, hard links,
//! file capabilities), and nothing that varies between runs, so the same
//! image and trace give the same bytes and the same digest.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    io::Write,
    os::unix::fs::{FileTypeExt, MetadataExt},
};

use anyhow::{bail, Context, Result};
use tar::{Builder, EntryType, Header};

#[cfg(test)]
use super::closure::Reason;
use super::rootfs::LayerStack;
use crate::image::{
    limits::{self, Limits},
    source::unpack::SpecialKind,
};

/// What the layer holds, for the report.
#[derive(Debug, Default)]
pub struct LayerStats {
    pub entries: usize,
    pub file_bytes: u64,
    /// Files written empty (entries of listed directories, minimal mode).
    pub placeholders: usize,
}

#[cfg(test)]
const CAPABILITY_XATTR: &str = "security.capability";

/// Whether a file's blocks cover much less than its size: holes.
fn is_sparse(meta: &std::fs::Metadata) -> bool {
    meta.blocks().saturating_mul(512) < meta.len() / 2
}

/// Refuses, before a byte is written, a layer whose files would add up to
/// more than `limit` (SLIM_MAX_LAYER_BYTES). Files are written in full: a
/// sparse file's holes become zeros, because the engines do not take
/// sparse layer entries (Docker 20.10 refuses a GNU sparse entry, "unhandled
/// tar header type 83", and loads a PAX 1.0 sparse one dense but then cannot
/// `docker save` it). Each kept sparse file is named in a warning.
fn check_size<V>(
    fs: &LayerStack,
    kept: &BTreeMap<String, V>,
    placeholders: &BTreeSet<String>,
    limit: u64,
) -> Result<()> {
    let mut total = 0u64;
    let mut links = HashSet::new();
    for path in kept.keys() {
        let Some(f) = fs.lookup(path) else { continue };
        let m = &f.meta;
        if !m.is_file()
            || placeholders.contains(path)
            || fs.special(&f).is_some_and(|s| s.kind.is_some())
            || (m.nlink() > 1 && !links.insert((m.dev(), m.ino())))
        {
            continue;
        }
        let sparse = is_sparse(m);
        if sparse {
            tracing::warn!(
                path = %path,
                size = %limits::human(m.len()),
                on_disk = %limits::human(m.blocks().saturating_mul(512)),
                "a sparse file is kept: the slim layer holds it in full"
            );
        }
        total = total.saturating_add(m.len());
        if total > limit {
            let why = if sparse {
                format!(
                    " ({path} is a sparse file of {}, which the layer must hold in full)",
                    limits::human(m.len())
                )
            } else {
                String::new()
            };
            bail!(
                "the slim layer's files would add up to more than {}{why} (raise {} if the image is trusted)",
                limits::human(limit),
                limits::LAYER_VAR
            );
        }
    }
    Ok(())
}

/// Writes the tar of `kept` (image paths) to `out`.
/// Regular files in `placeholders` are written empty (same name, mode,
/// owner and time). The files must fit in SLIM_MAX_LAYER_BYTES.
pub fn write<W: Write, V>(
    fs: &LayerStack,
    kept: &BTreeMap<String, V>,
    placeholders: &BTreeSet<String>,
    out: W,
) -> Result<LayerStats> {
    write_within(fs, kept, placeholders, Limits::from_env()?.layer_bytes, out)
}

/// [`write`], the files within `limit` bytes.
pub fn write_within<W: Write, V>(
    fs: &LayerStack,
    kept: &BTreeMap<String, V>,
    placeholders: &BTreeSet<String>,
    limit: u64,
    out: W,
) -> Result<LayerStats> {
    check_size(fs, kept, placeholders, limit)?;
    let mut tar = Builder::new(out);
    tar.follow_symlinks(false);
    let mut stats = LayerStats::default();
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut wrote_tmp = false;
    for path in kept.keys() {
        let name = path.trim_start_matches('/');
        if name.is_empty() {
            continue;
        }
        let Some(found) = fs.lookup(path) else {
            continue;
        };
        let meta = &found.meta;
        // What unpacking kept aside is the image's truth: the device or
        // FIFO the placeholder stands for, the setuid mode, the xattrs.
        let special = fs.special(&found);
        let mut h = Header::new_gnu();
        match special {
            Some(s) => {
                h.set_uid(s.uid);
                h.set_gid(s.gid);
                h.set_mtime(s.mtime);
                h.set_mode(s.mode & 0o7777);
            }
            None => {
                h.set_uid(meta.uid() as u64);
                h.set_gid(meta.gid() as u64);
                h.set_mtime(meta.mtime().max(0) as u64);
                h.set_mode(meta.mode() & 0o7777);
            }
        }
        // /tmp is sticky and world-writable whatever the image says.
        if path == "/tmp" {
            wrote_tmp = true;
            h.set_mode(0o1777);
        }
        h.set_size(0);
        let attrs = match special {
            Some(s) => s
                .xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.clone()))
                .collect(),
            // slim's own unpacked copies carry none of the image's.
            None if fs.in_place() => fs.xattrs(&found),
            None => Vec::new(),
        };
        if !attrs.is_empty() {
            tar.append_pax_extensions(attrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let ft = meta.file_type();
        let ctx = || format!("cannot add {path} to the layer");
        let device = match special.and_then(|s| s.kind) {
            Some(SpecialKind::Fifo) => Some((EntryType::Fifo, 0)),
            Some(SpecialKind::Char) => Some((EntryType::Char, 0)),
            Some(SpecialKind::Block) => Some((EntryType::Block, 0)),
            None if ft.is_char_device() => Some((EntryType::Char, meta.rdev())),
            None if ft.is_block_device() => Some((EntryType::Block, meta.rdev())),
            None if ft.is_fifo() => Some((EntryType::Fifo, meta.rdev())),
            None => None,
        };
        if let Some((ty, rdev)) = device {
            h.set_entry_type(ty);
            let (major, minor) = match special {
                Some(s) => (s.major, s.minor),
                None => (libc::major(rdev), libc::minor(rdev)),
            };
            h.set_device_major(major)?;
            h.set_device_minor(minor)?;
            tar.append_data(&mut h, name, std::io::empty())
                .with_context(ctx)?;
        } else if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            tar.append_data(&mut h, format!("{name}/"), std::io::empty())
                .with_context(ctx)?;
        } else if ft.is_symlink() {
            let target = fs.read_link(&found).with_context(ctx)?;
            h.set_entry_type(EntryType::Symlink);
            tar.append_link(&mut h, name, target).with_context(ctx)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(EntryType::Link);
                    tar.append_link(&mut h, name, first).with_context(ctx)?;
                    stats.entries += 1;
                    continue;
                }
                links.insert(key, name.to_string());
            }
            h.set_entry_type(EntryType::Regular);
            if placeholders.contains(path) {
                tar.append_data(&mut h, name, std::io::empty())
                    .with_context(ctx)?;
                stats.placeholders += 1;
                stats.entries += 1;
                continue;
            }
            // Opened beneath its layer, and only if still a regular file;
            // the size is the open file's, so the tar matches what is read.
            let (file, size) = fs.open_file(&found).with_context(ctx)?;
            h.set_size(size);
            tar.append_data(&mut h, name, file).with_context(ctx)?;
            stats.file_bytes = stats
                .file_bytes
                .checked_add(size)
                .context("the layer's size passes 2^64 bytes")?;
        } else {
            continue; // sockets do not belong in images
        }
        stats.entries += 1;
    }
    // /tmp may be missing from the image: create it.
    if !wrote_tmp {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o1777);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, "tmp/", std::io::empty())?;
        stats.entries += 1;
    }
    tar.into_inner()?.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn sample() -> (tempfile::TempDir, LayerStack, BTreeMap<String, Reason>) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("l");
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/a"), "hello").unwrap();
        std::fs::hard_link(r.join("etc/a"), r.join("etc/b")).unwrap();
        symlink("a", r.join("etc/c")).unwrap();
        let kept = ["/etc", "/etc/a", "/etc/b", "/etc/c"]
            .iter()
            .map(|p| (p.to_string(), Reason::Touched))
            .collect();
        (t, LayerStack::new(vec![r]), kept)
    }

    #[test]
    fn file_capabilities_travel_as_pax_xattrs() {
        let (t, fs, kept) = sample();
        // VFS_CAP_REVISION_2, effective, cap_net_raw (13) permitted.
        let mut cap = vec![0u8; 20];
        cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
        cap[4..8].copy_from_slice(&(1u32 << 13).to_le_bytes());
        if xattr::set(t.path().join("l/etc/a"), CAPABILITY_XATTR, &cap).is_err() {
            eprintln!("skipping: cannot set security.capability here (needs root)");
            return;
        }
        let mut out = Vec::new();
        write(&fs, &kept, &BTreeSet::new(), &mut out).unwrap();
        let mut ar = tar::Archive::new(out.as_slice());
        let mut found = None;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("etc/a") {
                for ext in e.pax_extensions().unwrap().unwrap() {
                    let ext = ext.unwrap();
                    if ext.key().unwrap() == "SCHILY.xattr.security.capability" {
                        found = Some(ext.value_bytes().to_vec());
                    }
                }
            }
        }
        assert_eq!(found, Some(cap));
    }

    #[test]
    fn records_of_unpacking_become_the_original_entries() {
        use crate::image::source::unpack::{Special, SpecialKind};
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("l");
        std::fs::create_dir_all(r.join("dev")).unwrap();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        // What the unpacker leaves: an empty stand-in, a stripped mode.
        std::fs::write(r.join("dev/sda"), "").unwrap();
        std::fs::write(r.join("bin/su"), "su").unwrap();
        let special = |kind, mode, major, minor, xattrs| Special {
            kind,
            mode,
            uid: 0,
            gid: 6,
            mtime: 7,
            major,
            minor,
            xattrs,
        };
        let cap = vec![("security.capability".to_string(), vec![1u8, 2, 3])];
        let records = BTreeMap::from([
            (
                "dev/sda".to_string(),
                special(Some(SpecialKind::Block), 0o660, 8, 0, vec![]),
            ),
            ("bin/su".to_string(), special(None, 0o4755, 0, 0, cap)),
        ]);
        let fs = LayerStack::unpacked(vec![(r, records)]);
        let kept: BTreeMap<String, Reason> = ["/dev", "/dev/sda", "/bin", "/bin/su"]
            .iter()
            .map(|p| (p.to_string(), Reason::Touched))
            .collect();
        let mut out = Vec::new();
        write(&fs, &kept, &BTreeSet::new(), &mut out).unwrap();
        let mut ar = tar::Archive::new(out.as_slice());
        let mut seen = 0;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            match e.path().unwrap().to_str().unwrap() {
                "dev/sda" => {
                    assert_eq!(h.entry_type(), EntryType::Block);
                    assert_eq!(h.device_major().unwrap(), Some(8));
                    assert_eq!(h.mode().unwrap(), 0o660);
                    assert_eq!(h.gid().unwrap(), 6);
                    seen += 1;
                }
                "bin/su" => {
                    assert_eq!(h.mode().unwrap(), 0o4755);
                    let caps: Vec<_> = e
                        .pax_extensions()
                        .unwrap()
                        .unwrap()
                        .map(|x| x.unwrap().key().unwrap().to_string())
                        .collect();
                    assert_eq!(caps, ["SCHILY.xattr.security.capability"]);
                    seen += 1;
                }
                _ => {}
            }
        }
        assert_eq!(seen, 2);
    }

    /// Issue #19: a kept sparse file is written in full, so the layer's
    /// bound is checked first, on the files' full sizes: refused with the
    /// limit's variable, before anything is written.
    #[test]
    fn a_sparse_giant_is_refused_before_writing() {
        let (t, fs, mut kept) = sample();
        let big = std::fs::File::create(t.path().join("l/etc/big")).unwrap();
        big.set_len(1 << 40).unwrap();
        kept.insert("/etc/big".into(), Reason::Touched);
        let mut out = Vec::new();
        let e = write_within(&fs, &kept, &BTreeSet::new(), 1 << 30, &mut out).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("SLIM_MAX_LAYER_BYTES") && e.contains("/etc/big is a sparse file"),
            "{e}"
        );
        assert!(out.is_empty(), "{} bytes written", out.len());
        // As a placeholder it costs nothing.
        let empty = BTreeSet::from(["/etc/big".to_string()]);
        write_within(&fs, &kept, &empty, 1 << 30, &mut out).unwrap();
    }

    #[test]
    fn same_input_same_bytes_sorted_with_links() {
        let (_t, fs, kept) = sample();
        let mut one = Vec::new();
        let mut two = Vec::new();
        write(&fs, &kept, &BTreeSet::new(), &mut one).unwrap();
        write(&fs, &kept, &BTreeSet::new(), &mut two).unwrap();
        assert_eq!(one, two);
        let mut ar = tar::Archive::new(one.as_slice());
        let entries: Vec<(String, EntryType)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("etc/".into(), EntryType::Directory),
                ("etc/a".into(), EntryType::Regular),
                ("etc/b".into(), EntryType::Link),
                ("etc/c".into(), EntryType::Symlink),
                ("tmp/".into(), EntryType::Directory),
            ]
        );
    }
}
