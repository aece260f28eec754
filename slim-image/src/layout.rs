//! OCI image layouts (a directory with oci-layout, index.json and
//! blobs/sha256/...): read, picking an image by its ref name, and written,
//! atomically, for a one-layer image.
use std::{collections::HashMap, io::Write, path::Path};

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::{
    Arch, DescriptorBuilder, Digest, ImageIndex, ImageIndexBuilder, ImageManifest,
    ImageManifestBuilder, MediaType, Os,
};

use crate::{
    archive::BlobRef,
    digest::{checked_hex, hex, sha256, Expect},
    limits::Limits,
};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An image read from a layout: its config and its layer blobs.
pub struct Layout {
    pub config: Vec<u8>,
    /// Bottom first.
    pub layers: Vec<BlobRef>,
}

/// The blob a descriptor names, checked: a sha256 digest, a regular file
/// beneath the layout (no symlink on the way), of the descriptor's size;
/// its bytes are checked against the digest as they are read.
fn blob(dir: &Path, d: &oci_spec::image::Descriptor) -> Result<BlobRef> {
    let digest = d.digest().to_string();
    let hex = checked_hex(&digest).with_context(|| format!("the OCI layout {}", dir.display()))?;
    BlobRef::beneath(
        dir,
        Path::new("blobs/sha256").join(hex),
        Expect {
            digest: digest.clone(),
            size: Some(d.size()),
        },
    )
}

/// A small JSON blob (index, manifest, config), read whole and verified.
fn json_blob(dir: &Path, d: &oci_spec::image::Descriptor, limits: &Limits) -> Result<Vec<u8>> {
    blob(dir, d)?
        .read_all(limits.metadata_bytes)
        .with_context(|| format!("the OCI layout {}", dir.display()))
}

/// Reads the image `tag` names (its ref name), or the only one there is.
pub fn read(dir: &Path, tag: Option<&str>) -> Result<Layout> {
    read_within(dir, tag, &Limits::from_env()?)
}

/// [`read`], within `limits`.
pub fn read_within(dir: &Path, tag: Option<&str>, limits: &Limits) -> Result<Layout> {
    let raw = crate::confined::read_regular(
        crate::confined::open_root(dir)
            .with_context(|| format!("{} is not an OCI image layout", dir.display()))?,
        Path::new("index.json"),
        limits.metadata_bytes,
        crate::limits::METADATA_VAR,
    )
    .with_context(|| format!("{} is not an OCI image layout", dir.display()))?;
    let index: ImageIndex = serde_json::from_slice(&raw)
        .map_err(|e| anyhow!("{} is not an OCI image layout: {e}", dir.display()))?;
    let name_of = |d: &oci_spec::image::Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME).cloned())
    };
    let candidates: Vec<_> = index
        .manifests()
        .iter()
        .filter(|d| tag.is_none() || name_of(d).as_deref() == tag)
        .collect();
    let desc = match (candidates.as_slice(), tag) {
        ([one], _) => (*one).clone(),
        ([], Some(t)) => bail!("the OCI layout {} has no image named {t}", dir.display()),
        ([], None) => bail!("the OCI layout {} holds no image", dir.display()),
        (many, _) => {
            let names: Vec<String> = many.iter().filter_map(|d| name_of(d)).collect();
            bail!(
                "the OCI layout {} holds {} images; name one as oci:{}:NAME (names: {})",
                dir.display(),
                many.len(),
                dir.display(),
                names.join(", ")
            )
        }
    };
    let desc = if *desc.media_type() == MediaType::ImageIndex {
        // A multi-platform image: this machine's platform.
        let nested: ImageIndex = serde_json::from_slice(&json_blob(dir, &desc, limits)?)
            .map_err(|e| anyhow!("cannot read an image index in {}: {e}", dir.display()))?;
        nested
            .manifests()
            .iter()
            .find(|d| {
                d.platform()
                    .as_ref()
                    .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == Arch::default())
            })
            .cloned()
            .with_context(|| {
                format!(
                    "the image in {} has no manifest for linux/{}",
                    dir.display(),
                    Arch::default()
                )
            })?
    } else {
        desc
    };
    let manifest: ImageManifest = serde_json::from_slice(&json_blob(dir, &desc, limits)?)
        .map_err(|e| anyhow!("cannot read the image manifest in {}: {e}", dir.display()))?;
    let config = json_blob(dir, manifest.config(), limits)?;
    let layers = manifest
        .layers()
        .iter()
        .map(|l| blob(dir, l))
        .collect::<Result<Vec<_>>>()?;
    Ok(Layout { config, layers })
}

/// Writes a one-layer image layout to `dir`. Built in a temporary directory
/// beside `dir` and renamed into place, so a failure (a full disk) never
/// leaves a layout whose blobs do not match their digests; an existing
/// layout at `dir` is replaced.
pub fn write(dir: &Path, tag: &str, config: &[u8], layer: &BlobRef, diff_id: &str) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".slim-oci-")
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    fill(tmp.path(), tag, config, layer, diff_id)
        .with_context(|| format!("cannot write the OCI layout {}", dir.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    Ok(())
}

/// The manifest of a one-layer image: `config` and an uncompressed layer
/// whose digest is its diff ID.
pub fn manifest_json(config: &[u8], layer_len: u64, diff_id: &str) -> Result<Vec<u8>> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(
            DescriptorBuilder::default()
                .media_type(MediaType::ImageConfig)
                .digest(digest(&sha256(config))?)
                .size(config.len() as u64)
                .build()?,
        )
        .layers(vec![DescriptorBuilder::default()
            .media_type(MediaType::ImageLayer)
            .digest(digest(diff_id)?)
            .size(layer_len)
            .build()?])
        .build()?;
    Ok(serde_json::to_vec(&manifest)?)
}

fn digest(d: &str) -> Result<Digest> {
    d.parse().map_err(|e| anyhow!("bad digest {d}: {e}"))
}

fn fill(dir: &Path, tag: &str, config: &[u8], layer: &BlobRef, diff_id: &str) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    let put = |data: &[u8]| -> Result<String> {
        let d = sha256(data);
        std::fs::write(blobs.join(hex(&d)), data)?;
        Ok(d)
    };
    put(config)?;
    std::io::copy(
        &mut layer.open()?,
        &mut std::fs::File::create(blobs.join(hex(diff_id)))?,
    )?;
    let manifest_bytes = manifest_json(config, layer.len, diff_id)?;
    let manifest_d = put(&manifest_bytes)?;
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(digest(&manifest_d)?)
            .size(manifest_bytes.len() as u64)
            .annotations(HashMap::from([(REF_NAME.to_string(), tag.to_string())]))
            .build()?])
        .build()?;
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    let mut f = std::fs::File::create(dir.join("oci-layout"))?;
    f.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_written_reads_back_by_name() {
        let t = tempfile::tempdir().unwrap();
        let layer_path = t.path().join("layer");
        std::fs::write(&layer_path, b"tar bytes").unwrap();
        let layer = BlobRef::file(layer_path).unwrap();
        let dir = t.path().join("out");
        write(&dir, "v1", b"{\"a\":1}", &layer, &sha256(b"tar bytes")).unwrap();
        let l = read(&dir, Some("v1")).unwrap();
        assert_eq!(l.config, b"{\"a\":1}");
        assert_eq!(l.layers[0].read_all(1 << 20).unwrap(), b"tar bytes");
        assert!(read(&dir, None).is_ok(), "the only image needs no name");
        let e = read(&dir, Some("v2")).err().unwrap().to_string();
        assert!(e.contains("no image named v2"), "{e}");
    }
}
