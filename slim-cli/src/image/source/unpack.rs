//! Unpacking a layer tarball into a directory, the same whichever way the
//! image arrived (an engine's export, an archive, a layout, a registry), so
//! the minimal layer is the same too.
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::image::archive::BlobRef;

/// The layer tar in `blob`, decompressed (gzip) when it is compressed.
pub fn layer_reader(blob: &BlobRef, diff_id: &str) -> Result<Box<dyn std::io::Read>> {
    use std::io::BufRead;
    let mut input = std::io::BufReader::with_capacity(1 << 20, blob.open()?);
    let head = input.fill_buf()?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(input)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => bail!(
            "layer {diff_id} is zstd-compressed, which slim does not read yet; \
             convert the image with `skopeo copy --dest-compress-format gzip`"
        ),
        _ => Box::new(input),
    })
}

/// Unpacks one layer into `dir`, so the minimal layer is the same whichever
/// way the image was read. The tar crate writes FIFOs and device nodes as
/// empty regular files, so those are made here with mknod; and creating a
/// directory's children changes its mtime after the unpacker set it, so
/// directory mtimes are set again once everything is in place.
pub fn unpack_layer<R: std::io::Read>(ar: &mut tar::Archive<R>, dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::create_dir_all(dir)?;
    let mut dir_mtimes = Vec::new();
    for entry in ar.entries()? {
        let mut entry = entry?;
        let h = entry.header();
        if h.entry_type() == tar::EntryType::Directory {
            dir_mtimes.push((dir.join(entry.path()?), h.mtime()?));
        }
        let kind = match h.entry_type() {
            tar::EntryType::Fifo => libc::S_IFIFO,
            tar::EntryType::Char => libc::S_IFCHR,
            tar::EntryType::Block => libc::S_IFBLK,
            _ => {
                entry.unpack_in(dir)?;
                continue;
            }
        };
        let rel = entry.path()?.into_owned();
        if rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        }) {
            bail!("layer entry {} escapes the layer", rel.display());
        }
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_file(&path);
        let mode = h.mode()? & 0o7777;
        let dev = libc::makedev(
            h.device_major()?.unwrap_or(0),
            h.device_minor()?.unwrap_or(0),
        );
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: a NUL-terminated path; mknod has no other preconditions.
        if unsafe { libc::mknod(c.as_ptr(), kind | mode, dev) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot create {}", path.display()));
        }
        // SAFETY: as above.
        unsafe { libc::lchown(c.as_ptr(), h.uid()? as u32, h.gid()? as u32) };
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        let mtime = filetime::FileTime::from_unix_time(h.mtime()? as i64, 0);
        filetime::set_symlink_file_times(&path, mtime, mtime)?;
    }
    for (path, mtime) in dir_mtimes {
        let mtime = filetime::FileTime::from_unix_time(mtime as i64, 0);
        filetime::set_symlink_file_times(&path, mtime, mtime)
            .with_context(|| format!("cannot set the mtime of {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn directory_mtimes_survive_unpacking_their_children() {
        let t = tempfile::tempdir().unwrap();
        let layer = t.path().join("layer.tar");
        {
            let mut b = tar::Builder::new(std::fs::File::create(&layer).unwrap());
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_mtime(1_000_000);
            h.set_size(0);
            b.append_data(&mut h, "./etc/", std::io::empty()).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(2_000_000);
            h.set_size(1);
            b.append_data(&mut h, "./etc/x", &b"x"[..]).unwrap();
            b.finish().unwrap();
        }
        let out = t.path().join("out");
        let mut ar = tar::Archive::new(std::fs::File::open(&layer).unwrap());
        ar.set_preserve_mtime(true);
        unpack_layer(&mut ar, &out).unwrap();
        assert_eq!(
            std::fs::metadata(out.join("etc")).unwrap().mtime(),
            1_000_000
        );
        assert_eq!(
            std::fs::metadata(out.join("etc/x")).unwrap().mtime(),
            2_000_000
        );
    }
}
