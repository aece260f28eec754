//! The layer cache: each layer unpacked once into a directory named by its
//! diff ID (the digest of its uncompressed tar), so a second run of an image
//! from a registry, an archive or a layout reads nothing again; registry
//! blobs are kept too, by their digest. A layer is unpacked into a
//! temporary directory, checked against its diff ID to its last byte, and
//! only then renamed into place: a crash or a wrong blob never leaves a
//! directory that looks done. The cache holds what images hold, so it is
//! root's only (0700): nothing in it is reachable by another local user.
use std::{
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use super::unpack::{unpack_layer, Budget, Unpacked};
use crate::image::{archive::BlobRef, digest::checked_hex};

pub struct Cache {
    root: PathBuf,
}

/// One layer in the cache: its tree and what is kept beside it.
pub struct CachedLayer {
    pub dir: PathBuf,
    pub unpacked: Unpacked,
}

/// The unpacked layers (each `HEX/fs` with `HEX/special.json`); `layers/`
/// held the older form, without the records.
const UNPACKED: &str = "unpacked";
const SPECIAL: &str = "special.json";

/// slim's cache directory: SLIM_CACHE, else /var/cache/slim. It holds
/// the layers and blobs (here) and parse results (`imports::parse_cache`).
pub fn root() -> PathBuf {
    std::env::var_os("SLIM_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/slim"))
}

/// Makes `dir` (and its parents) 0700 when it is made here.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl Cache {
    /// The layer cache in [`root`].
    pub fn open() -> Result<Self> {
        let root = root();
        let failed = || {
            format!(
                "cannot create the layer cache {} (set SLIM_CACHE to a writable directory)",
                root.display()
            )
        };
        private_dir(&root).with_context(failed)?;
        // A cache made by an older slim was 0755.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
            .with_context(failed)?;
        for sub in [UNPACKED, "blobs/sha256"] {
            private_dir(&root.join(sub)).with_context(failed)?;
        }
        Ok(Self { root })
    }

    /// Where registry blobs are kept.
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    /// The layer with `diff_id`, unpacked from `blob` (a tar,
    /// gzip-compressed or not) unless it already is.
    pub fn layer(&self, blob: &BlobRef, diff_id: &str, budget: &Budget) -> Result<CachedLayer> {
        let dir = self.root.join(UNPACKED).join(checked_hex(diff_id)?);
        if let Some(done) = read_done(&dir) {
            return Ok(done);
        }
        let tmp = tempfile::Builder::new()
            .prefix(".unpacking-")
            .tempdir_in(self.root.join(UNPACKED))
            .context("cannot create a directory in the layer cache")?;
        let unpacked = unpack_layer(blob, diff_id, &tmp.path().join("fs"), budget)?;
        std::fs::write(tmp.path().join(SPECIAL), serde_json::to_vec(&unpacked)?)
            .context("cannot write to the layer cache")?;
        match std::fs::rename(tmp.path(), &dir) {
            Ok(()) => {
                // Renamed: nothing left for the guard to remove.
                let _ = tmp.keep();
            }
            // Another run unpacked it meanwhile: theirs is as good.
            Err(_) if read_done(&dir).is_some() => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot store {}", dir.display()));
            }
        }
        read_done(&dir).with_context(|| format!("cannot read {} back", dir.display()))
    }
}

/// A layer the cache holds complete.
fn read_done(dir: &Path) -> Option<CachedLayer> {
    let fs = dir.join("fs");
    if !std::fs::symlink_metadata(&fs).ok()?.is_dir() {
        return None;
    }
    let unpacked = serde_json::from_slice(&std::fs::read(dir.join(SPECIAL)).ok()?).ok()?;
    Some(CachedLayer { dir: fs, unpacked })
}
