//! The entry points the fuzz targets (fuzz/) drive, and the regression
//! inputs they found replayed through the same functions by `cargo test`:
//! the docker-archive reader, the OCI layout reader, the layer unpacker and
//! the manifest and config parsers, on bytes from nowhere. Each must return
//! (an error is fine) without panicking, hanging or allocating without
//! bound; limits are small so a run stays fast.
use std::{io::Read, path::Path};

use crate::{
    archive::{self, BlobRef},
    limits::Limits,
    unpack::{self, Budget},
};

/// Limits small enough for a fuzzer's many runs.
pub fn limits() -> Limits {
    Limits {
        metadata_bytes: 1 << 20,
        layer_bytes: 16 << 20,
        image_bytes: 32 << 20,
        layer_ratio: 100,
        layer_entries: 10_000,
        header_bytes: 64 << 10,
        read_bytes: 1 << 20,
    }
}

/// `data` as a docker-archive: indexed, its manifest and config read, each
/// layer listed as xray lists it.
pub fn docker_archive(data: &[u8]) {
    let Ok(t) = tempfile::tempdir() else { return };
    let p = t.path().join("a.tar");
    if std::fs::write(&p, data).is_err() {
        return;
    }
    let l = limits();
    let Ok(a) = archive::read_within(&p, &l) else {
        return;
    };
    let _ = crate::meta::ImageMeta::from_config_json(&a.config, 0);
    let budget = Budget::new(l);
    for blob in a.layers.iter().take(4) {
        let _ = list(blob, &crate::sha256(b""), &budget);
    }
}

/// Lists a layer's entries within the budget, to the end of its stream.
fn list(blob: &BlobRef, diff_id: &str, budget: &Budget) -> anyhow::Result<()> {
    let mut layer = unpack::layer_reader(blob, diff_id, budget)?;
    {
        let mut it = layer.archive.entries()?;
        let mut tally = crate::tarx::Tally::layer(&budget.limits);
        while let Some(mut e) =
            crate::tarx::next(&mut it, &layer.meter, &budget.limits, &mut tally)?
        {
            std::io::copy(&mut e, &mut std::io::sink())?;
        }
    }
    layer.finish(budget)
}

/// `data` as a tar of a layout: `index.json` and `oci-layout` as named,
/// every other member stored under its own digest (so descriptors can
/// name it), then read as a layout.
pub fn oci_layout(data: &[u8]) {
    let Ok(t) = tempfile::tempdir() else { return };
    let dir = t.path();
    if std::fs::create_dir_all(dir.join("blobs/sha256")).is_err() {
        return;
    }
    let mut ar = tar::Archive::new(data);
    let Ok(entries) = ar.entries() else { return };
    for e in entries.take(64) {
        let Ok(mut e) = e else { break };
        let name = e.path_bytes().into_owned();
        let mut body = Vec::new();
        if e.by_ref().take(1 << 20).read_to_end(&mut body).is_err() {
            break;
        }
        let to = match name.as_slice() {
            b"index.json" | b"oci-layout" => dir.join(String::from_utf8_lossy(&name).as_ref()),
            _ => dir
                .join("blobs/sha256")
                .join(crate::digest::hex(&crate::sha256(&body))),
        };
        let _ = std::fs::write(to, &body);
    }
    read_layout(dir);
}

fn read_layout(dir: &Path) {
    let l = limits();
    let Ok(layout) = crate::layout::read_within(dir, None, &l) else {
        return;
    };
    if let Ok(meta) = crate::meta::ImageMeta::from_config_json(&layout.config, 0) {
        let budget = Budget::new(l);
        for (blob, diff_id) in layout.layers.iter().zip(meta.diff_ids()).take(4) {
            let _ = list(blob, diff_id, &budget);
        }
    }
}

/// `data` as a layer blob (gzip or plain tar), unpacked into a temporary
/// directory; its diff ID is its own digest, so a plain tar goes through.
pub fn layer(data: &[u8]) {
    let Ok(t) = tempfile::tempdir() else { return };
    let p = t.path().join("layer");
    if std::fs::write(&p, data).is_err() {
        return;
    }
    let Ok(blob) = BlobRef::file(p) else { return };
    let budget = Budget::new(limits());
    let _ = unpack::unpack_layer(&blob, &crate::sha256(data), &t.path().join("fs"), &budget);
}

/// `data` as an image config, an OCI manifest and an OCI index.
pub fn metadata(data: &[u8]) {
    if let Ok(m) = crate::meta::ImageMeta::from_config_json(data, 0) {
        let _ = m.tcp_ports();
        let _ = m.runtime();
    }
    let _ = serde_json::from_slice::<oci_spec::image::ImageManifest>(data);
    let _ = serde_json::from_slice::<oci_spec::image::ImageIndex>(data);
}

/// A fuzz target: bytes in, nothing out but not panicking.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay of regression inputs.
pub const TARGETS: &[(&str, Target)] = &[
    ("docker_archive", docker_archive),
    ("oci_layout", oci_layout),
    ("layer", layer),
    ("metadata", metadata),
];

#[cfg(test)]
mod tests {
    /// Each input under fuzz/regressions/TARGET/ (crashes the fuzzer found,
    /// fixed since) and fuzz/corpus/TARGET/ (the seeds) still runs through.
    #[test]
    fn fuzz_regressions_and_seeds_replay() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut ran = 0;
        for (name, run) in super::TARGETS {
            for kind in ["regressions", "corpus"] {
                let Ok(dir) = std::fs::read_dir(root.join(kind).join(name)) else {
                    continue;
                };
                for e in dir.flatten() {
                    let data = std::fs::read(e.path()).unwrap();
                    run(&data);
                    ran += 1;
                }
            }
        }
        assert!(ran > 0, "no seeds under {}", root.display());
    }
}
