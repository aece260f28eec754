//! Multi-platform slim images (issue #22): each platform's slim image (one
//! config, one uncompressed layer, its manifest) gathered into an OCI image
//! index, written to a layout or pushed to a registry.
use std::{collections::HashMap, path::Path};

use anyhow::{Context, Result};

use super::{
    archive::BlobRef,
    digest::{hex, sha256},
    layout,
    platform::Platform,
};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One platform's slim image.
pub struct PlatformImage {
    pub platform: Platform,
    pub config: Vec<u8>,
    /// The uncompressed layer: its digest is its diff ID.
    pub layer: BlobRef,
    pub diff_id: String,
    pub manifest: Vec<u8>,
    /// DIR/<os>-<arch>/seccomp.json, attached to a registry's manifest.
    pub seccomp: Option<Vec<u8>>,
}

impl PlatformImage {
    /// The image a platform's build wrote as a one-image layout at `dir`
    /// (slim's own output, so its blobs are read as plain files).
    pub fn from_layout(platform: Platform, dir: &Path, seccomp: Option<Vec<u8>>) -> Result<Self> {
        let l = layout::read(dir, None)?;
        let [layer] = l.layers.as_slice() else {
            anyhow::bail!("{} holds no one-layer slim image", dir.display());
        };
        let diff_id = layer
            .expect
            .as_ref()
            .map(|e| e.digest.clone())
            .context("a layout layer without a digest")?;
        let path = dir.join("blobs/sha256").join(hex(&diff_id));
        let layer = BlobRef::file(path)?;
        let manifest = layout::manifest_json(&l.config, layer.len, &diff_id)?;
        Ok(Self {
            platform,
            config: l.config,
            layer,
            diff_id,
            manifest,
            seccomp,
        })
    }

    pub fn manifest_digest(&self) -> String {
        sha256(&self.manifest)
    }
}

/// The index listing each image with its platform.
pub fn index_json(images: &[PlatformImage]) -> Result<Vec<u8>> {
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|i| {
            let mut platform = serde_json::json!({
                "architecture": i.platform.architecture,
                "os": i.platform.os,
            });
            if let Some(v) = &i.platform.variant {
                platform["variant"] = v.clone().into();
            }
            serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": i.manifest_digest(),
                "size": i.manifest.len(),
                "platform": platform,
            })
        })
        .collect();
    Ok(serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))?)
}

/// Writes an OCI layout at `dir` whose `tag` names the index of `images`;
/// built beside `dir` and renamed into place (an existing layout there is
/// replaced), as a one-platform layout is.
pub fn write_layout(dir: &Path, tag: &str, images: &[PlatformImage]) -> Result<()> {
    layout::write_atomically(dir, |tmp| fill(tmp, tag, images))
}

fn fill(dir: &Path, tag: &str, images: &[PlatformImage]) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let put = |data: &[u8]| -> Result<String> {
        let d = sha256(data);
        std::fs::write(blobs.join(hex(&d)), data)?;
        Ok(d)
    };
    for i in images {
        put(&i.config)?;
        put(&i.manifest)?;
        std::io::copy(
            &mut i.layer.open()?,
            &mut std::fs::File::create(blobs.join(hex(&i.diff_id)))?,
        )?;
    }
    let index = index_json(images)?;
    let index_digest = put(&index)?;
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_INDEX,
            "digest": index_digest,
            "size": index.len(),
            "annotations": HashMap::from([(REF_NAME, tag)]),
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&top)?)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(dir: &Path, platform: &str) -> PlatformImage {
        let layer_bytes = format!("layer of {platform}");
        let path = dir.join(platform.replace('/', "-"));
        std::fs::write(&path, &layer_bytes).unwrap();
        let diff_id = sha256(layer_bytes.as_bytes());
        let p: Platform = platform.parse().unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": p.architecture, "os": p.os,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]}}))
        .unwrap();
        let layer = BlobRef::file(path).unwrap();
        let manifest = layout::manifest_json(&config, layer.len, &diff_id).unwrap();
        PlatformImage {
            platform: p,
            config,
            layer,
            diff_id,
            manifest,
            seccomp: None,
        }
    }

    #[test]
    fn an_index_layout_reads_back_per_platform() {
        let t = tempfile::tempdir().unwrap();
        let images = [
            image(t.path(), "linux/amd64"),
            image(t.path(), "linux/arm64/v8"),
        ];
        let out = t.path().join("out");
        write_layout(&out, "slim", &images).unwrap();
        let limits = crate::image::limits::Limits::from_env().unwrap();
        let listed = layout::platforms(&out, Some("slim"), &limits)
            .unwrap()
            .unwrap();
        assert_eq!(
            listed,
            [images[0].platform.clone(), images[1].platform.clone()]
        );
        for i in &images {
            let l = layout::read_platform(&out, Some("slim"), Some(&i.platform), &limits).unwrap();
            assert_eq!(l.config, i.config);
            assert_eq!(
                l.layers[0].read_all(1 << 20).unwrap(),
                format!("layer of {}", i.platform).into_bytes()
            );
        }
        // Each platform's own layout, as its build writes it, reads back
        // as the same image.
        let one = t.path().join("one");
        layout::write(
            &one,
            "x",
            &images[1].config,
            &images[1].layer,
            &images[1].diff_id,
        )
        .unwrap();
        let again = PlatformImage::from_layout(images[1].platform.clone(), &one, None).unwrap();
        assert_eq!(again.manifest_digest(), images[1].manifest_digest());
    }
}
