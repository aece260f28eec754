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

use super::digest::{hex, sha256};

/// A byte range of a file: a blob in a layout or cache (the whole file) or
/// a member of an archive.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl BlobRef {
    pub fn file(path: PathBuf) -> Result<Self> {
        let len = std::fs::metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        Ok(Self {
            path,
            offset: 0,
            len,
        })
    }

    pub fn open(&self) -> Result<impl Read> {
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        f.seek(SeekFrom::Start(self.offset))?;
        Ok(std::io::BufReader::with_capacity(1 << 20, f.take(self.len)))
    }

    pub fn read_all(&self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len as usize);
        self.open()?.read_to_end(&mut v)?;
        Ok(v)
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
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the docker-archive {}", path.display()))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(file));
    let mut members: HashMap<String, (u64, u64)> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let norm = |p: &Path| p.to_string_lossy().trim_start_matches("./").to_string();
    for entry in ar
        .entries()
        .with_context(|| format!("{} is not a tar archive", path.display()))?
    {
        let e =
            entry.with_context(|| format!("{} is not a readable tar archive", path.display()))?;
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
            _ => {
                members.insert(name, (e.raw_file_position(), e.size()));
            }
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
        })
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob("manifest.json")?.read_all()?)
            .with_context(|| format!("the manifest.json of {} is not JSON", path.display()))?;
    let Some(image) = manifest.get(0) else {
        bail!("{} holds no image", path.display());
    };
    let config = blob(
        image["Config"]
            .as_str()
            .context("manifest.json names no Config")?,
    )?
    .read_all()?;
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
        assert_eq!(a.layers[0].read_all().unwrap(), b"first layer");
        assert_eq!(a.layers[1].read_all().unwrap(), b"second");
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
