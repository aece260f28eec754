//! The fallback way to read an image: the engine's export stream (what
//! `docker save` writes), unpacked layer by layer into a temporary directory
//! that is removed with the [`LayerStack`]. Used where the layer store cannot
//! be read in place (another storage driver, a daemon on another host); it
//! costs a full read of the image.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::rootfs::LayerStack;

pub async fn unpack_exported(docker: &Docker, image: &str) -> Result<LayerStack> {
    let tmp = tempfile::Builder::new()
        .prefix("slim-layers-")
        .tempdir()
        .context("cannot create a temporary directory for the image's layers")?;
    let saved = tmp.path().join("image.tar");
    let mut file = tokio::fs::File::create(&saved).await?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.with_context(|| format!("cannot export {image} from the Docker daemon"))?;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    drop(file);
    let root = tmp.path().to_path_buf();
    let layers = tokio::task::spawn_blocking(move || unpack(&root, &saved)).await??;
    Ok(LayerStack::unpacked(layers, tmp))
}

/// Unpacks one layer into `dir`, so the minimal layer is the same whichever
/// way the image was read. The tar crate writes FIFOs and device nodes as
/// empty regular files, so those are made here with mknod; and creating a
/// directory's children changes its mtime after the unpacker set it, so
/// directory mtimes are set again once everything is in place.
fn unpack_layer<R: std::io::Read>(ar: &mut tar::Archive<R>, dir: &Path) -> Result<()> {
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

/// Unpacks `saved` (a docker-archive) and each of its layers; returns the
/// layer directories top first.
fn unpack(root: &Path, saved: &Path) -> Result<Vec<PathBuf>> {
    let archive_dir = root.join("archive");
    tar::Archive::new(std::fs::File::open(saved)?)
        .unpack(&archive_dir)
        .context("cannot unpack the exported image")?;
    std::fs::remove_file(saved)?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive_dir.join("manifest.json"))?)
            .context("the exported image has no readable manifest.json")?;
    let Some(layers) = manifest[0]["Layers"].as_array() else {
        bail!("the exported image's manifest lists no layers");
    };
    let mut dirs = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let name = layer.as_str().context("a layer name is not a string")?;
        let dir = root.join("layers").join(i.to_string());
        let mut ar = tar::Archive::new(std::fs::File::open(archive_dir.join(name))?);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_unpack_xattrs(true);
        ar.set_preserve_mtime(true);
        unpack_layer(&mut ar, &dir).with_context(|| format!("cannot unpack layer {name}"))?;
        dirs.push(dir);
    }
    std::fs::remove_dir_all(&archive_dir)?;
    dirs.reverse();
    Ok(dirs)
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
