//! docker-archive, the tarball `docker save` writes and `docker load` and
//! `podman load` read: manifest.json naming a config and layer tarballs.
//! Written here from blobs read one at a time; read by indexing the
//! tarball's members once, so a layer is read in place, never copied out.
use std::{
    collections::HashMap,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::{
    confined,
    digest::{checked_hex, hex, sha256, Expect, Verify},
    limits::{self, Limits},
    tarx::{self, Tally, Trip},
};

/// A byte range of a file: a blob in a layout or cache (the whole file) or
/// a member of an archive; read, when its digest is known, through a check
/// of that digest and size.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    /// Opened beneath this directory (an OCI layout's), `path` relative to
    /// it: no symlink in the layout is followed.
    pub root: Option<PathBuf>,
    /// What the bytes must be (a layout's or a registry's descriptor).
    pub expect: Option<Expect>,
}

impl BlobRef {
    /// A whole regular file slim itself chose (its cache, its output).
    pub fn file(path: PathBuf) -> Result<Self> {
        let len = std::fs::metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        Ok(Self {
            path,
            offset: 0,
            len,
            root: None,
            expect: None,
        })
    }

    /// Blob `rel` of the directory `root`, which must be a regular file
    /// (not a symlink) of `expect`'s size.
    pub fn beneath(root: &Path, rel: PathBuf, expect: Expect) -> Result<Self> {
        let (_, len) =
            confined::open_regular(confined::open_root(root)?, &rel).with_context(|| {
                format!(
                    "{}: blob {} is missing, a symlink or not a regular file",
                    root.display(),
                    expect.digest
                )
            })?;
        if let Some(size) = expect.size.filter(|s| *s != len) {
            bail!(
                "{}: blob {} is {len} bytes, not the {size} its descriptor says",
                root.display(),
                expect.digest
            );
        }
        Ok(Self {
            path: rel,
            offset: 0,
            len,
            root: Some(root.to_path_buf()),
            expect: Some(expect),
        })
    }

    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        let ctx = || format!("cannot open {}", self.path.display());
        let mut f = match &self.root {
            Some(root) => {
                confined::open_regular(confined::open_root(root).with_context(ctx)?, &self.path)
                    .with_context(ctx)?
                    .0
            }
            None => std::fs::File::open(&self.path).with_context(ctx)?,
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let r = std::io::BufReader::with_capacity(1 << 20, f.take(self.len));
        Ok(match &self.expect {
            Some(e) => Box::new(Verify::new(r, e.clone())),
            None => Box::new(r),
        })
    }

    /// The whole blob, refused past `limit` bytes (metadata: manifests,
    /// configs), never allocated from the size a header claims.
    pub fn read_all(&self, limit: u64) -> Result<Vec<u8>> {
        Ok(confined::read_bounded(
            self.open()?,
            self.len,
            limit,
            &self.path.display().to_string(),
            limits::METADATA_VAR,
        )?)
    }
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, data)?;
    Ok(())
}

/// Writes a docker-archive of `config` and `layers` (bottom first) to
/// `out`; `tags` go in RepoTags (none: the engine keeps it by ID only).
pub fn write(out: impl Write, tags: &[String], config: &[u8], layers: &[BlobRef]) -> Result<()> {
    let config_name = format!("{}.json", hex(&sha256(config)));
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(tags) },
        "Layers": names,
    }]);
    let mut tar = tar::Builder::new(out);
    append(&mut tar, &config_name, config.len() as u64, config)?;
    for (name, blob) in names.iter().zip(layers) {
        append(&mut tar, name, blob.len, blob.open()?)?;
    }
    let manifest = serde_json::to_vec(&manifest)?;
    append(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    tar.into_inner()?.flush()?;
    Ok(())
}

/// A docker-archive on disk: its config and its layers as ranges of the file.
pub struct Archive {
    pub config: Vec<u8>,
    /// Bottom first.
    pub layers: Vec<BlobRef>,
    pub tags: Vec<String>,
}

/// Indexes `path` and reads its first image.
pub fn read(path: &Path) -> Result<Archive> {
    read_within(path, &Limits::from_env()?)
}

/// [`read`], within `limits`.
pub fn read_within(path: &Path, limits: &Limits) -> Result<Archive> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the docker-archive {}", path.display()))?;
    let file_len = file.metadata()?.len();
    let what = format!("the docker-archive {}", path.display());
    let trip = std::sync::Arc::new(Trip::default());
    let (mut ar, meter) = tarx::archive(std::io::BufReader::new(file), limits, &what, trip.clone());
    let mut members: HashMap<String, (u64, u64)> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let norm = |p: &Path| p.to_string_lossy().trim_start_matches("./").to_string();
    // Seeking past members: a member claiming a terabyte is not read.
    let mut entries = ar
        .entries_with_seek()
        .map_err(|e| trip.explain(e, &format!("{what} is not a tar archive")))?;
    let mut tally = Tally::archive(limits);
    while let Some(e) = tarx::next(&mut entries, &meter, limits, &mut tally)? {
        let name = norm(&e.path()?);
        match e.header().entry_type() {
            // `docker save` links a layer that two images share.
            tar::EntryType::Symlink => {
                if let Some(target) = e.link_name()? {
                    let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                    let joined = normalize(&base.join(target));
                    links.insert(name, joined);
                }
            }
            // Only plain members are blobs: a sparse member's bytes are not
            // where its header says.
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (offset, len) = (e.raw_file_position(), e.size());
                if offset.checked_add(len).is_none_or(|end| end > file_len) {
                    bail!(
                        "{what}: member {name} claims {len} bytes, past the end of the file (truncated or crafted)"
                    );
                }
                members.insert(name, (offset, len));
            }
            _ => {}
        }
    }
    let blob = |name: &str| -> Result<BlobRef> {
        let mut name = name.trim_start_matches("./").to_string();
        for _ in 0..8 {
            match links.get(&name) {
                Some(t) => name = t.clone(),
                None => break,
            }
        }
        let &(offset, len) = members
            .get(&name)
            .with_context(|| format!("{} has no member {name}", path.display()))?;
        Ok(BlobRef {
            path: path.to_path_buf(),
            offset,
            len,
            root: None,
            expect: None,
        })
    };
    let meta = limits.metadata_bytes;
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob("manifest.json")?.read_all(meta)?)
            .with_context(|| format!("the manifest.json of {} is not JSON", path.display()))?;
    let Some(image) = manifest.get(0) else {
        bail!("{} holds no image", path.display());
    };
    let config_name = image["Config"]
        .as_str()
        .context("manifest.json names no Config")?;
    let config = blob(config_name)?.read_all(meta)?;
    // `HEX.json` (docker save) or `blobs/sha256/HEX` (OCI-style) names the
    // config by its digest: it must be that digest.
    let named = config_name
        .trim_start_matches("./")
        .trim_start_matches("blobs/sha256/")
        .trim_end_matches(".json");
    let named = format!("sha256:{named}");
    if checked_hex(&named).is_ok() && sha256(&config) != named {
        bail!(
            "{}: config {config_name} does not match its digest (read {}): the archive is corrupt or was altered",
            path.display(),
            sha256(&config)
        );
    }
    let layers = image["Layers"]
        .as_array()
        .context("manifest.json lists no Layers")?
        .iter()
        .map(|l| blob(l.as_str().context("a layer name is not a string")?))
        .collect::<Result<Vec<_>>>()?;
    let tags = image["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    Ok(Archive {
        config,
        layers,
        tags,
    })
}

/// `a/../b` -> `b`, without touching the filesystem.
fn normalize(p: &Path) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.to_str().unwrap_or_default().split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_written_reads_back_with_layers_in_place() {
        let t = tempfile::tempdir().unwrap();
        let l1 = t.path().join("l1");
        let l2 = t.path().join("l2");
        std::fs::write(&l1, b"first layer").unwrap();
        std::fs::write(&l2, b"second").unwrap();
        let layers = [BlobRef::file(l1).unwrap(), BlobRef::file(l2).unwrap()];
        let m = 1 << 20;
        let path = t.path().join("a.tar");
        write(
            std::fs::File::create(&path).unwrap(),
            &["app:1".into()],
            b"{}",
            &layers,
        )
        .unwrap();
        let a = read(&path).unwrap();
        assert_eq!(a.config, b"{}");
        assert_eq!(a.tags, ["app:1"]);
        assert_eq!(a.layers[0].read_all(m).unwrap(), b"first layer");
        assert_eq!(a.layers[1].read_all(m).unwrap(), b"second");
    }

    #[test]
    fn not_an_archive_is_one_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.tar");
        std::fs::write(&p, b"not a tar at all, just text that is long enough").unwrap();
        let e = read(&p).err().unwrap();
        assert!(format!("{e:#}").contains("x.tar"), "{e:#}");
    }

    #[test]
    fn links_resolve_relative_to_their_member() {
        assert_eq!(
            normalize(Path::new("abc/../def/layer.tar")),
            "def/layer.tar"
        );
    }
}
