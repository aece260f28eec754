//! OCI image layouts (a directory with oci-layout, index.json and
//! blobs/sha256/...): read, picking an image by its ref name, and written,
//! atomically, for a one-layer image.
use std::{collections::HashMap, io::Write, path::Path};

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::{
    Descriptor, DescriptorBuilder, Digest, ImageIndex, ImageIndexBuilder, ImageManifest,
    ImageManifestBuilder, MediaType,
};

use crate::{
    archive::BlobRef,
    digest::{checked_hex, hex, sha256, Expect},
    limits::Limits,
    platform::{self, Platform},
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
fn blob(dir: &Path, d: &Descriptor) -> Result<BlobRef> {
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
fn json_blob(dir: &Path, d: &Descriptor, limits: &Limits) -> Result<Vec<u8>> {
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
    read_platform(dir, tag, None, limits)
}

/// [`read`]: of an image index, the manifest of `platform` (this
/// machine's when `None`); a single-platform image whatever `platform`
/// says (the caller checks its config's platform).
pub fn read_platform(
    dir: &Path,
    tag: Option<&str>,
    platform: Option<&Platform>,
    limits: &Limits,
) -> Result<Layout> {
    let desc = match manifests(dir, tag, limits)? {
        Manifests::One(desc) => *desc,
        Manifests::Index(entries) => {
            let native = Platform::native();
            let entries: Vec<_> = entries
                .into_iter()
                .map(|d| (d.platform().as_ref().map(Platform::from), d))
                .collect();
            let what = format!("the OCI layout {}", dir.display());
            platform::choose(platform.unwrap_or(&native), &entries, &what)?.clone()
        }
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

/// The platforms of the image `tag` names, in its index's order; `None`
/// for a single-platform image.
pub fn platforms(dir: &Path, tag: Option<&str>, limits: &Limits) -> Result<Option<Vec<Platform>>> {
    Ok(match manifests(dir, tag, limits)? {
        Manifests::One(_) => None,
        Manifests::Index(entries) => {
            let all: Vec<Platform> = entries
                .iter()
                .filter_map(|d| d.platform().as_ref().map(Platform::from))
                .collect();
            Some(platform::listed(&all))
        }
    })
}

/// What a name leads to: one image manifest, or the entries of an index.
enum Manifests {
    One(Box<Descriptor>),
    Index(Vec<Descriptor>),
}

/// How deep indexes may nest (an index.json entry naming an index naming
/// an index...).
const MAX_NESTING: usize = 4;

fn manifests(dir: &Path, tag: Option<&str>, limits: &Limits) -> Result<Manifests> {
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
    let name_of = |d: &Descriptor| {
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
        // index.json itself as the image index: unnamed entries, each with
        // a platform (as some tools write a multi-platform layout).
        (many, None)
            if many
                .iter()
                .all(|d| name_of(d).is_none() && d.platform().is_some()) =>
        {
            return expand(dir, many.iter().map(|d| (*d).clone()).collect(), limits, 0);
        }
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
    if *desc.media_type() == MediaType::ImageIndex {
        return expand(dir, nested_index(dir, &desc, limits)?, limits, 1);
    }
    Ok(Manifests::One(Box::new(desc)))
}

fn nested_index(dir: &Path, desc: &Descriptor, limits: &Limits) -> Result<Vec<Descriptor>> {
    let nested: ImageIndex = serde_json::from_slice(&json_blob(dir, desc, limits)?)
        .map_err(|e| anyhow!("cannot read an image index in {}: {e}", dir.display()))?;
    Ok(nested.manifests().clone())
}

/// An index's entries, those that are indexes themselves replaced by their
/// own entries (up to [`MAX_NESTING`] deep).
fn expand(
    dir: &Path,
    entries: Vec<Descriptor>,
    limits: &Limits,
    depth: usize,
) -> Result<Manifests> {
    let mut out = Vec::new();
    for d in entries {
        if *d.media_type() != MediaType::ImageIndex {
            out.push(d);
            continue;
        }
        if depth >= MAX_NESTING {
            bail!(
                "the OCI layout {} nests image indexes more than {MAX_NESTING} deep",
                dir.display()
            );
        }
        match expand(dir, nested_index(dir, &d, limits)?, limits, depth + 1)? {
            Manifests::Index(more) => out.extend(more),
            Manifests::One(one) => out.push(*one),
        }
    }
    Ok(Manifests::Index(out))
}

/// Writes a one-layer image layout to `dir`. Built in a temporary directory
/// beside `dir` and renamed into place, so a failure (a full disk) never
/// leaves a layout whose blobs do not match their digests; an existing
/// layout at `dir` is replaced.
pub fn write(dir: &Path, tag: &str, config: &[u8], layer: &BlobRef, diff_id: &str) -> Result<()> {
    write_atomically(dir, |tmp| fill(tmp, tag, config, layer, diff_id))
}

/// Writes a layout to `dir` with `fill`, in a temporary directory beside
/// it that is renamed into place once complete (an existing layout at
/// `dir` is replaced): a failure leaves nothing half-written.
pub fn write_atomically(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
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
    fill(tmp.path()).with_context(|| format!("cannot write the OCI layout {}", dir.display()))?;
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

    /// A layout whose `latest` is an index of one image per platform (each
    /// config names its architecture), nested `nesting` indexes deep; or,
    /// with `nesting` 0, index.json itself as the index.
    fn multi(dir: &Path, platforms: &[(&str, &str, Option<&str>)], nesting: usize) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let put = |data: &[u8]| {
            let d = sha256(data);
            std::fs::write(blobs.join(hex(&d)), data).unwrap();
            (d, data.len())
        };
        let mut entries = Vec::new();
        for (os, arch, variant) in platforms {
            let layer = format!("layer of {arch}");
            let (layer_d, _) = put(layer.as_bytes());
            let config = serde_json::json!({"architecture": arch, "os": os,
                "rootfs": {"type": "layers", "diff_ids": [layer_d]}});
            let config = serde_json::to_vec(&config).unwrap();
            put(&config);
            let manifest = manifest_json(&config, layer.len() as u64, &layer_d).unwrap();
            let (d, size) = put(&manifest);
            let mut platform = serde_json::json!({"os": os, "architecture": arch});
            if let Some(v) = variant {
                platform["variant"] = (*v).into();
            }
            entries.push(
                serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d, "size": size, "platform": platform}),
            );
        }
        // An attestation entry, as buildx adds.
        entries.push(
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "0".repeat(64)), "size": 2,
            "platform": {"os": "unknown", "architecture": "unknown"}}),
        );
        let mut top = entries;
        for _ in 0..nesting {
            let index = serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": top});
            let (d, size) = put(&serde_json::to_vec(&index).unwrap());
            top = vec![
                serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": d, "size": size}),
            ];
        }
        if nesting > 0 {
            top[0]["annotations"] = serde_json::json!({REF_NAME: "latest"});
        }
        let index = serde_json::json!({"schemaVersion": 2, "manifests": top});
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    }

    fn arch_of(l: &Layout) -> String {
        let v: serde_json::Value = serde_json::from_slice(&l.config).unwrap();
        v["architecture"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_platform_is_picked_from_nested_indexes() {
        let limits = Limits::from_env().unwrap();
        let two = [("linux", "amd64", None), ("linux", "arm64", Some("v8"))];
        for nesting in [0, 1, 2] {
            let t = tempfile::tempdir().unwrap();
            multi(t.path(), &two, nesting);
            let tag = (nesting > 0).then_some("latest");
            let arm: Platform = "linux/arm64".parse().unwrap();
            let l = read_platform(t.path(), tag, Some(&arm), &limits).unwrap();
            assert_eq!(arch_of(&l), "arm64", "nesting {nesting}");
            let amd: Platform = "linux/amd64".parse().unwrap();
            let l = read_platform(t.path(), tag, Some(&amd), &limits).unwrap();
            assert_eq!(arch_of(&l), "amd64", "nesting {nesting}");
            let listed = platforms(t.path(), tag, &limits).unwrap().unwrap();
            let listed: Vec<String> = listed.iter().map(|p| p.to_string()).collect();
            assert_eq!(
                listed,
                ["linux/amd64", "linux/arm64/v8"],
                "attestations are not platforms"
            );
            let riscv: Platform = "linux/riscv64".parse().unwrap();
            let e = read_platform(t.path(), tag, Some(&riscv), &limits)
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.ends_with("has no linux/riscv64 image; its index lists linux/amd64, linux/arm64/v8: pick one with --platform"),
                "{e}"
            );
        }
    }

    #[test]
    fn without_a_platform_an_index_gives_this_machines() {
        let limits = Limits::from_env().unwrap();
        let t = tempfile::tempdir().unwrap();
        let native = Platform::native();
        multi(
            t.path(),
            &[
                ("linux", "s390x", None),
                ("linux", &native.architecture, None),
            ],
            1,
        );
        assert_eq!(
            arch_of(&read_within(t.path(), None, &limits).unwrap()),
            native.architecture
        );
    }

    #[test]
    fn a_single_platform_layout_lists_no_platforms() {
        let t = tempfile::tempdir().unwrap();
        let layer_path = t.path().join("layer");
        std::fs::write(&layer_path, b"tar bytes").unwrap();
        let layer = BlobRef::file(layer_path).unwrap();
        let dir = t.path().join("out");
        write(&dir, "v1", b"{}", &layer, &sha256(b"tar bytes")).unwrap();
        let limits = Limits::from_env().unwrap();
        assert_eq!(platforms(&dir, None, &limits).unwrap(), None);
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert!(
            read_platform(&dir, None, Some(&arm), &limits).is_ok(),
            "the caller checks the config"
        );
    }

    #[test]
    fn indexes_nested_past_the_limit_are_refused() {
        let t = tempfile::tempdir().unwrap();
        multi(t.path(), &[("linux", "amd64", None)], MAX_NESTING + 2);
        let e = read_within(t.path(), None, &Limits::from_env().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nests image indexes more than"), "{e}");
    }
}
