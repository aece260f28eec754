//! The image's filesystem as the engine stores it: a stack of layer
//! directories (overlay2's `diff` dirs), read in place so the cost grows with
//! what is kept, not with the image. Whiteouts (a 0/0 character device) hide
//! a lower path; an opaque directory (`trusted.overlay.opaque=y`) hides
//! everything below it in lower layers.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs::{File, Metadata},
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use rustix::fs::{Mode, OFlags};

use crate::image::{
    confined,
    limits::{self, Limits},
    source::unpack::Special,
};

/// One path found in the stack: where it lives on the host, and its metadata.
#[derive(Debug, Clone)]
pub struct Found {
    pub host: PathBuf,
    pub meta: Metadata,
}

/// How a layer directory marks deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// overlay2 on disk: 0/0 character devices, `trusted.overlay.opaque`.
    Overlay,
    /// Layer tarballs (`docker save`, OCI): `.wh.NAME` files, `.wh..wh..opq`.
    Aufs,
}

const WH_PREFIX: &str = ".wh.";
const WH_OPAQUE: &str = ".wh..wh..opq";

pub struct LayerStack {
    /// Layer directories, top (newest) first.
    layers: Vec<PathBuf>,
    whiteouts: Whiteouts,
    /// What unpacking kept aside (devices, FIFOs, setuid, xattrs), by host
    /// path.
    specials: HashMap<PathBuf, Special>,
    /// The most of one file [`LayerStack::read_file`] reads.
    read_limit: u64,
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// The components of an absolute image path (no `.`/`..` handling here:
/// callers pass resolved paths).
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

impl LayerStack {
    pub fn new(layers: Vec<PathBuf>) -> Self {
        Self {
            layers,
            whiteouts: Whiteouts::Overlay,
            specials: HashMap::new(),
            read_limit: Limits::from_env().unwrap_or_default().read_bytes,
        }
    }

    /// Layers unpacked from tarballs (top first), whose deletions are
    /// `.wh.` files.
    pub fn tarballs(layers: Vec<PathBuf>) -> Self {
        Self {
            whiteouts: Whiteouts::Aufs,
            ..Self::new(layers)
        }
    }

    /// Layers unpacked by slim (top first), each with its records of what
    /// was not made on the host as it is (keyed by path in the layer).
    pub fn unpacked(layers: Vec<(PathBuf, BTreeMap<String, Special>)>) -> Self {
        let mut specials = HashMap::new();
        for (dir, s) in &layers {
            specials.extend(s.iter().map(|(rel, s)| (dir.join(rel), s.clone())));
        }
        Self {
            specials,
            ..Self::tarballs(layers.into_iter().map(|(d, _)| d).collect())
        }
    }

    /// What the image says `found` is, where the file on the host is only
    /// its stand-in (a device, a FIFO, a setuid file, xattrs).
    pub fn special(&self, found: &Found) -> Option<&Special> {
        self.specials.get(&found.host)
    }

    /// Whether the layers are an engine's, read in place (their xattrs
    /// and devices are the image's own), not slim's unpacked copies.
    pub fn in_place(&self) -> bool {
        self.whiteouts == Whiteouts::Overlay
    }

    /// The layer directory `host` is in, and its path there.
    fn beneath<'a>(&'a self, host: &'a Path) -> std::io::Result<(&'a Path, &'a Path)> {
        self.layers
            .iter()
            .find_map(|l| Some((l.as_path(), host.strip_prefix(l).ok()?)))
            .ok_or_else(|| std::io::Error::other(format!("{} is in no layer", host.display())))
    }

    /// Opens `found` for reading, confined beneath its layer directory, if
    /// it is a regular file of the image (not a FIFO, a device or its
    /// stand-in). Returns the file and its size.
    pub fn open_file(&self, found: &Found) -> std::io::Result<(File, u64)> {
        if self.special(found).is_some_and(|s| s.kind.is_some()) {
            return Err(std::io::Error::other("not a regular file"));
        }
        let (layer, rel) = self.beneath(&found.host)?;
        confined::open_regular(confined::open_root(layer)?, rel)
    }

    /// The whole of regular file `found`, up to SLIM_MAX_READ_BYTES.
    pub fn read_file(&self, found: &Found) -> std::io::Result<Vec<u8>> {
        let (f, size) = self.open_file(found)?;
        confined::read_bounded(
            f,
            size,
            self.read_limit,
            &found.host.display().to_string(),
            limits::READ_VAR,
        )
    }

    /// The target of symlink `found`, read beneath its layer directory.
    pub fn read_link(&self, found: &Found) -> std::io::Result<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let (layer, rel) = self.beneath(&found.host)?;
        let dir = confined::open_beneath(
            confined::open_root(layer)?,
            rel.parent().unwrap_or(Path::new("")),
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        let name = rel.file_name().unwrap_or_default();
        let target = rustix::fs::readlinkat(&dir, name, Vec::new())?;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
            target.as_bytes(),
        )))
    }

    /// Whether `name` in host directory `dir` is deleted by this layer.
    fn whited_out(&self, dir: &Path, name: &str, meta: Option<&Metadata>) -> bool {
        match self.whiteouts {
            Whiteouts::Overlay => meta.is_some_and(is_whiteout),
            // lstat: a `.wh.` symlink is never followed to the host.
            Whiteouts::Aufs => {
                std::fs::symlink_metadata(dir.join(format!("{WH_PREFIX}{name}"))).is_ok()
            }
        }
    }

    fn opaque(&self, dir: &Path) -> bool {
        match self.whiteouts {
            Whiteouts::Overlay => is_opaque(dir),
            Whiteouts::Aufs => std::fs::symlink_metadata(dir.join(WH_OPAQUE)).is_ok(),
        }
    }

    /// The stack of an image on Docker's overlay2 or Podman's overlay
    /// driver, from `GraphDriver.Data`.
    pub fn from_overlay(upper: Option<&str>, lower: Option<&str>) -> Result<Self> {
        let mut layers: Vec<PathBuf> = Vec::new();
        layers.extend(upper.map(PathBuf::from));
        layers.extend(
            lower
                .into_iter()
                .flat_map(|l| l.split(':'))
                .map(PathBuf::from),
        );
        if layers.is_empty() {
            bail!("the image has no layer directories");
        }
        for l in &layers {
            if !l.is_dir() {
                bail!(
                    "layer directory {} is missing (is slim running as root on the engine's host?)",
                    l.display()
                );
            }
        }
        Ok(Self::new(layers))
    }

    /// Looks `path` up without following a final symlink; directories on the
    /// way must be real directories (callers resolve symlinks themselves).
    pub fn lookup(&self, path: &str) -> Option<Found> {
        let comps = components(path);
        for layer in &self.layers {
            let mut hidden_below = false;
            let mut dir = layer.clone();
            let mut present = true;
            for comp in comps.iter().take(comps.len().saturating_sub(1)) {
                let meta = std::fs::symlink_metadata(dir.join(comp)).ok();
                if self.whited_out(&dir, comp, meta.as_ref()) {
                    return None;
                }
                dir.push(comp);
                match meta {
                    None => {
                        present = false;
                        break;
                    }
                    Some(m) if !m.is_dir() => return None,
                    Some(_) => hidden_below |= self.opaque(&dir),
                }
            }
            if present {
                let Some(last) = comps.last() else {
                    return std::fs::symlink_metadata(layer).ok().map(|meta| Found {
                        host: layer.clone(),
                        meta,
                    });
                };
                let host = dir.join(last);
                let meta = std::fs::symlink_metadata(&host).ok();
                if self.whited_out(&dir, last, meta.as_ref()) {
                    return None;
                }
                if let Some(meta) = meta {
                    return Some(Found { host, meta });
                }
            }
            if hidden_below {
                return None;
            }
        }
        None
    }

    /// The names in directory `path`, merged over the layers.
    pub fn read_dir(&self, path: &str) -> Vec<String> {
        let comps = components(path);
        let mut seen = BTreeSet::new();
        let mut names = BTreeSet::new();
        for layer in &self.layers {
            let mut dir = layer.clone();
            dir.extend(&comps);
            // Opened beneath the layer: a symlink on the way is not followed.
            let rel: PathBuf = comps.iter().collect();
            let Ok(fd) = confined::open_root(layer).and_then(|root| {
                confined::open_beneath(
                    root,
                    &rel,
                    OFlags::RDONLY | OFlags::DIRECTORY,
                    Mode::empty(),
                )
            }) else {
                continue;
            };
            let Ok(entries) = rustix::fs::Dir::read_from(&fd) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name == "." || name == ".." {
                    continue;
                }
                if self.whiteouts == Whiteouts::Aufs {
                    if name == WH_OPAQUE {
                        continue;
                    }
                    if let Some(gone) = name.strip_prefix(WH_PREFIX) {
                        seen.insert(gone.to_string());
                        continue;
                    }
                }
                if !seen.insert(name.clone()) {
                    continue;
                }
                let Ok(st) =
                    rustix::fs::statat(&fd, e.file_name(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                else {
                    continue;
                };
                let whiteout = rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::CharacterDevice
                    && st.st_rdev == 0;
                if !whiteout {
                    names.insert(name);
                }
            }
            if self.opaque(&dir) {
                break;
            }
        }
        names.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A lower layer with /etc/gone, /etc/kept and /opt/old, and an upper
    /// one with /etc/kept and /opt/new; callers add the deletions.
    fn two_layers(t: &Path) -> (PathBuf, PathBuf) {
        let (top, low) = (t.join("top"), t.join("low"));
        for d in [&top, &low] {
            fs::create_dir_all(d.join("etc")).unwrap();
            fs::create_dir_all(d.join("opt")).unwrap();
        }
        fs::write(low.join("etc/gone"), "x").unwrap();
        fs::write(low.join("etc/kept"), "low").unwrap();
        fs::write(low.join("opt/old"), "x").unwrap();
        fs::write(top.join("etc/kept"), "top").unwrap();
        fs::write(top.join("opt/new"), "x").unwrap();
        (top, low)
    }

    #[test]
    fn aufs_whiteouts_from_layer_tarballs() {
        let t = tempfile::tempdir().unwrap();
        let (top, low) = two_layers(t.path());
        fs::write(top.join("etc/.wh.gone"), "").unwrap();
        fs::write(top.join("opt/.wh..wh..opq"), "").unwrap();
        let s = LayerStack::tarballs(vec![top, low]);
        assert!(s.lookup("/etc/gone").is_none());
        assert!(s.lookup("/etc/kept").is_some());
        assert!(s.lookup("/opt/old").is_none());
        assert!(s.lookup("/opt/new").is_some());
        assert_eq!(s.read_dir("/etc"), ["kept"]);
        assert_eq!(s.read_dir("/opt"), ["new"]);
    }

    /// Two layers: the top one deletes /etc/gone (whiteout) and replaces
    /// /opt wholesale (opaque) — the opaque xattr needs root, so that part
    /// is checked only when it can be set.
    fn stack() -> (tempfile::TempDir, LayerStack) {
        let t = tempfile::tempdir().unwrap();
        let (top, low) = two_layers(t.path());
        let wh = std::ffi::CString::new(top.join("etc/gone").to_str().unwrap()).unwrap();
        let can_whiteout = unsafe { libc::mknod(wh.as_ptr(), libc::S_IFCHR | 0o600, 0) } == 0;
        assert!(can_whiteout || unsafe { libc::geteuid() } != 0);
        let _ = xattr::set(top.join("opt"), "trusted.overlay.opaque", b"y");
        (t, LayerStack::new(vec![top, low]))
    }

    #[test]
    fn upper_layers_win() {
        let (_t, s) = stack();
        let f = s.lookup("/etc/kept").unwrap();
        assert_eq!(fs::read_to_string(f.host).unwrap(), "top");
        assert!(s.lookup("/etc/missing").is_none());
        assert!(s.lookup("/").unwrap().meta.is_dir());
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_layers() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: whiteouts and trusted xattrs need root");
            return;
        }
        let (_t, s) = stack();
        assert!(s.lookup("/etc/gone").is_none());
        assert!(s.lookup("/opt/old").is_none());
        assert!(s.lookup("/opt/new").is_some());
        assert_eq!(s.read_dir("/etc"), ["kept"]);
        assert_eq!(s.read_dir("/opt"), ["new"]);
    }
}
