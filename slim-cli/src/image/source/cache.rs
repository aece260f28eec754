//! The layer cache: each layer unpacked once into a directory named by its
//! diff ID (the digest of its uncompressed tar), so a second run of an image
//! from a registry, an archive or a layout reads nothing again; registry
//! blobs are kept too, by their digest. A layer is unpacked into a
//! temporary directory, checked against its diff ID, and renamed into
//! place: a crash or a wrong blob never leaves a directory that looks done.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::unpack::unpack_layer;
use crate::image::{
    archive::BlobRef,
    digest::{hex, Hashing},
};

pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// SLIM_CACHE, else /var/cache/slim.
    pub fn open() -> Result<Self> {
        let root = std::env::var_os("SLIM_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/slim"));
        for sub in ["layers", "blobs/sha256"] {
            std::fs::create_dir_all(root.join(sub)).with_context(|| {
                format!(
                    "cannot create the layer cache {} (set SLIM_CACHE to a writable directory)",
                    root.display()
                )
            })?;
        }
        Ok(Self { root })
    }

    /// Where registry blobs are kept.
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    /// The directory of the layer with `diff_id`, unpacked from `blob` (a
    /// tar, gzip-compressed or not) unless it already is.
    pub fn layer(&self, blob: &BlobRef, diff_id: &str) -> Result<PathBuf> {
        let dir = self.root.join("layers").join(hex(diff_id));
        if dir.is_dir() {
            return Ok(dir);
        }
        let tmp = tempfile::Builder::new()
            .prefix(".unpacking-")
            .tempdir_in(self.root.join("layers"))
            .context("cannot create a directory in the layer cache")?;
        let reader = super::unpack::layer_reader(blob, diff_id)?;
        let mut ar = tar::Archive::new(Hashing::new(reader));
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_unpack_xattrs(true);
        ar.set_preserve_mtime(true);
        let out = tmp.path().join("fs");
        unpack_layer(&mut ar, &out).with_context(|| format!("cannot unpack layer {diff_id}"))?;
        // The tar's end-of-archive blocks count in its digest.
        let mut rest = ar.into_inner();
        std::io::copy(&mut rest, &mut std::io::sink())?;
        let (_, digest, _) = rest.finish();
        if digest != diff_id {
            bail!(
                "a layer's content does not match its diff ID (expected {diff_id}, read {digest}): the image is corrupt"
            );
        }
        match std::fs::rename(&out, &dir) {
            Ok(()) => {}
            // Another run unpacked it meanwhile: theirs is as good.
            Err(_) if dir.is_dir() => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot store {}", dir.display()));
            }
        }
        Ok(dir)
    }
}
