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
        name_bytes: 4 << 20,
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
/// name it), then read as a layout. In a member, `@dK` and `@sK` stand for
/// the digest (`sha256:...`) and the size of member K (from 0, the tar's
/// order), filled in from the last member to the first: a mutated blob is
/// still found by the descriptors that name it, so the fuzzer reaches the
/// manifest, the config and the layers, not only the digest checks.
pub fn oci_layout(data: &[u8]) {
    let Ok(t) = tempfile::tempdir() else { return };
    if write_layout(data, t.path()).is_some() {
        read_layout(t.path());
    }
}

/// The layout `data` describes, written into `dir`.
fn write_layout(data: &[u8], dir: &Path) -> Option<()> {
    std::fs::create_dir_all(dir.join("blobs/sha256")).ok()?;
    let mut members: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(data);
    for e in ar.entries().ok()?.take(10) {
        let Ok(mut e) = e else { break };
        let name = e.path_bytes().into_owned();
        let mut body = Vec::new();
        if e.by_ref().take(1 << 20).read_to_end(&mut body).is_err() {
            break;
        }
        members.push((name, body));
    }
    let mut filled: Vec<Option<(String, usize)>> = vec![None; members.len()];
    for i in (0..members.len()).rev() {
        let body = fill_in(&members[i].1, &filled);
        filled[i] = Some((crate::sha256(&body), body.len()));
        members[i].1 = body;
    }
    for (name, body) in &members {
        let to = match name.as_slice() {
            b"index.json" | b"oci-layout" => dir.join(String::from_utf8_lossy(name).as_ref()),
            _ => dir
                .join("blobs/sha256")
                .join(crate::digest::hex(&crate::sha256(body))),
        };
        let _ = std::fs::write(to, body);
    }
    Some(())
}

/// `body` with `@dK` and `@sK` replaced by member K's digest and size,
/// where known.
fn fill_in(body: &[u8], filled: &[Option<(String, usize)>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if let [b'@', kind @ (b'd' | b's'), k @ b'0'..=b'9', ..] = body[i..] {
            if let Some(Some((digest, size))) = filled.get(usize::from(k - b'0')) {
                match kind {
                    b'd' => out.extend_from_slice(digest.as_bytes()),
                    _ => out.extend_from_slice(size.to_string().as_bytes()),
                }
                i += 3;
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
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
    /// The seed with placeholders is a whole layout once filled in: the
    /// index, manifest, config and both layers (plain and gzip) read and
    /// verify, so mutations start from an image that goes all the way.
    #[test]
    fn placeholders_make_a_layout_that_reads_through() {
        let seed = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus/oci_layout/seed-layout-placeholders.tar"),
        )
        .unwrap();
        let t = tempfile::tempdir().unwrap();
        super::write_layout(&seed, t.path()).unwrap();
        let l = super::limits();
        let layout = crate::layout::read_within(t.path(), Some("v1"), &l).unwrap();
        let meta = crate::meta::ImageMeta::from_config_json(&layout.config, 0).unwrap();
        assert_eq!(meta.tcp_ports(), [80]);
        assert_eq!(layout.layers.len(), 2);
        let budget = super::Budget::new(l);
        for (blob, diff_id) in layout.layers.iter().zip(meta.diff_ids()) {
            super::list(blob, diff_id, &budget).unwrap();
        }
    }

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
                    // What the fuzz targets' allocator stops (fuzz/src/lib.rs).
                    let largest = crate::test_alloc::largest_in(|| run(&data));
                    assert!(
                        largest <= 8 << 20,
                        "{}: one allocation of {largest} bytes",
                        e.path().display()
                    );
                    ran += 1;
                }
            }
        }
        assert!(ran > 0, "no seeds under {}", root.display());
    }
}
