//! The image's filesystem as the engine stores it: a stack of layer
//! directories (overlay2's `diff` dirs), read in place so the cost grows with
//! what is kept, not with the image. Whiteouts (a 0/0 character device) hide
//! a lower path; an opaque directory (`trusted.overlay.opaque=y`) hides
//! everything below it in lower layers.
//!
//! Every operation on a layer's content goes through a directory fd opened
//! beneath the layer's root (openat2, RESOLVE_BENEATH, no symlinks; see
//! slim-image's `confined`), one component at a time: a name from the image
//! is never resolved on the host, whatever symlinks the layer holds.
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet, HashMap},
    fs::{File, Metadata},
    os::{
        fd::{AsFd, AsRawFd, OwnedFd},
        unix::fs::{FileTypeExt, MetadataExt},
    },
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use rustix::fs::{AtFlags, Mode, OFlags};

use crate::image::{
    confined,
    limits::{self, Limits},
    source::unpack::Special,
};

/// One path found in the stack: where it lives on the host (for messages
/// and records), its metadata, and how to reach it again confined.
#[derive(Debug, Clone)]
pub struct Found {
    pub host: PathBuf,
    pub meta: Metadata,
    /// The index of its layer, and its path beneath that layer's root.
    layer: usize,
    rel: PathBuf,
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
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

pub struct LayerStack {
    /// Layer directories, top (newest) first.
    layers: Vec<PathBuf>,
    /// Each layer's root, opened once (none: it could not be opened, and
    /// the layer reads as empty, with a warning).
    roots: Vec<Option<OwnedFd>>,
    whiteouts: Whiteouts,
    /// What unpacking kept aside (devices, FIFOs, setuid, xattrs), by host
    /// path.
    specials: HashMap<PathBuf, Special>,
    /// The most of one file [`LayerStack::read_file`] reads.
    read_limit: u64,
    /// What lookups found so far.
    memo: RefCell<Memo>,
}

/// Lookups already answered, by path relative to the root.
#[derive(Default)]
struct Memo {
    found: HashMap<String, Option<Found>>,
    dirs: HashMap<String, Option<Vec<usize>>>,
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// `dir` as a path that resolves to it through slim's own descriptor, for
/// the calls that take no fd (xattrs of an O_PATH fd).
fn fd_path(dir: impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()))
}

/// Whether the directory open as `dir` carries overlay's opaque mark.
fn is_opaque(dir: impl AsFd) -> bool {
    let mut v = [0u8; 8];
    matches!(rustix::fs::getxattr(fd_path(dir), OPAQUE_XATTR, &mut v), Ok(n) if v[..n] == *b"y")
}

/// The components of an absolute image path (no `.`/`..` handling here:
/// callers pass resolved paths; a `..` finds nothing).
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// A directory of a layer, opened to look beneath it (`list`: and to read
/// its entries).
fn open_dir(dir: impl AsFd, name: &Path, list: bool) -> std::io::Result<OwnedFd> {
    let how = if list { OFlags::RDONLY } else { OFlags::PATH };
    confined::open_beneath(dir, name, how | OFlags::DIRECTORY, Mode::empty())
}

/// Whether `name` exists in `dir`, not following it.
fn exists_in(dir: impl AsFd, name: &str) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

impl LayerStack {
    pub fn new(layers: Vec<PathBuf>) -> Self {
        let roots = layers
            .iter()
            .map(|l| {
                confined::open_root(l)
                    .inspect_err(|e| {
                        tracing::warn!(layer = %l.display(), error = %e, "cannot open a layer directory; it reads as empty");
                    })
                    .ok()
            })
            .collect();
        Self {
            layers,
            roots,
            whiteouts: Whiteouts::Overlay,
            specials: HashMap::new(),
            read_limit: Limits::from_env().unwrap_or_default().read_bytes,
            memo: RefCell::default(),
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

    fn root(&self, found: &Found) -> std::io::Result<&OwnedFd> {
        self.roots
            .get(found.layer)
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                std::io::Error::other(format!("{} is in no layer", found.host.display()))
            })
    }

    /// The directory holding `found`, opened beneath its layer, and its
    /// name there (none: `found` is the layer's root).
    fn parent(&self, found: &Found) -> std::io::Result<(OwnedFd, Option<PathBuf>)> {
        let root = self.root(found)?;
        let dir = confined::open_beneath(
            root,
            found.rel.parent().unwrap_or(Path::new("")),
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        Ok((dir, found.rel.file_name().map(PathBuf::from)))
    }

    /// Opens `found` for reading, confined beneath its layer directory, if
    /// it is a regular file of the image (not a FIFO, a device or its
    /// stand-in). Returns the file and its size.
    pub fn open_file(&self, found: &Found) -> std::io::Result<(File, u64)> {
        if self.special(found).is_some_and(|s| s.kind.is_some()) {
            return Err(std::io::Error::other("not a regular file"));
        }
        confined::open_regular(self.root(found)?, &found.rel)
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
        let (dir, name) = self.parent(found)?;
        let target = rustix::fs::readlinkat(&dir, name.unwrap_or_default(), Vec::new())?;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
            target.as_bytes(),
        )))
    }

    /// The extended attributes of `found` (file capabilities, user.*), as
    /// sorted PAX records; `trusted.*` is the storage driver's own
    /// bookkeeping (overlay's opaque and redirect marks), never the
    /// image's. Read through its directory's fd (the `/proc/self/fd` link
    /// is slim's own, the last name is not followed), so nothing is opened:
    /// not a FIFO, not a device.
    pub fn xattrs(&self, found: &Found) -> Vec<(String, Vec<u8>)> {
        let Ok((dir, name)) = self.parent(found) else {
            return Vec::new();
        };
        let mut at = fd_path(&dir);
        at.extend(name);
        let Ok(names) = xattr::list(&at) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<u8>)> = names
            .filter_map(|n| n.into_string().ok())
            .filter(|n| !n.starts_with("trusted."))
            .filter_map(|n| {
                let v = xattr::get(&at, &n).ok().flatten()?;
                Some((format!("SCHILY.xattr.{n}"), v))
            })
            .collect();
        out.sort();
        out
    }

    /// Whether directory `dir` (open beneath a layer) hides lower layers.
    fn opaque(&self, dir: impl AsFd) -> bool {
        match self.whiteouts {
            Whiteouts::Overlay => is_opaque(dir),
            Whiteouts::Aufs => exists_in(dir, WH_OPAQUE),
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
    /// Each directory on the way is resolved once over the layers (see
    /// [`LayerStack::dir_layers`]) and each answer is remembered: the
    /// closure asks for the same paths and siblings again and again, and the
    /// layers do not change while slim reads them.
    pub fn lookup(&self, path: &str) -> Option<Found> {
        let comps = components(path);
        if comps.contains(&"..") {
            return None;
        }
        let Some((last, dirs)) = comps.split_last() else {
            return self.lookup_root();
        };
        let key = comps.join("/");
        if let Some(hit) = self.memo.borrow().found.get(&key) {
            return hit.clone();
        }
        let found = self.lookup_in(&dirs.join("/"), last, &key);
        self.memo.borrow_mut().found.insert(key, found.clone());
        found
    }

    /// `/` itself: the top layer's root.
    fn lookup_root(&self) -> Option<Found> {
        let (i, (layer, root)) = self
            .layers
            .iter()
            .zip(&self.roots)
            .enumerate()
            .find(|(_, (_, r))| r.is_some())?;
        let dir = open_dir(root.as_ref()?, Path::new(""), false).ok()?;
        Some(Found {
            host: layer.clone(),
            meta: File::from(dir).metadata().ok()?,
            layer: i,
            rel: PathBuf::new(),
        })
    }

    /// `name` in directory `parent` (a relative path, "" for the root),
    /// `rel` being the two joined.
    fn lookup_in(&self, parent: &str, name: &str, rel: &str) -> Option<Found> {
        let rel_path = Path::new(rel);
        for i in self.dir_layers(parent)? {
            let root = self.roots[i].as_ref()?;
            if self.whiteouts == Whiteouts::Aufs && self.aufs_whiteout(root, parent, name) {
                return None;
            }
            let meta = confined::open_beneath(
                root,
                rel_path,
                OFlags::PATH | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .and_then(|fd| File::from(fd).metadata());
            match meta {
                Ok(meta) if self.whiteouts == Whiteouts::Overlay && is_whiteout(&meta) => {
                    return None
                }
                Ok(meta) => {
                    return Some(Found {
                        host: self.layers[i].join(rel_path),
                        meta,
                        layer: i,
                        rel: rel_path.to_path_buf(),
                    })
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// Whether layer `root` deletes `parent/name` with a `.wh.` file.
    fn aufs_whiteout(&self, root: &OwnedFd, parent: &str, name: &str) -> bool {
        let wh = Path::new(parent).join(format!("{WH_PREFIX}{name}"));
        confined::open_beneath(root, &wh, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty()).is_ok()
    }

    /// The layers (top first) in which directory `dir` (relative, "" for
    /// the root) is a real directory that the merged view shows: down to
    /// the first layer where it is opaque, and none at all when a higher
    /// layer deletes it or has something else there. None: no such
    /// directory. Computed from its parent's answer, once per directory.
    fn dir_layers(&self, dir: &str) -> Option<Vec<usize>> {
        if let Some(hit) = self.memo.borrow().dirs.get(dir) {
            return hit.clone();
        }
        let layers = match dir.rsplit_once('/') {
            _ if dir.is_empty() => Some(
                (0..self.layers.len())
                    .filter(|&i| self.roots[i].is_some())
                    .collect(),
            ),
            split => {
                let (parent, name) = split.unwrap_or(("", dir));
                self.dir_layers(parent)
                    .and_then(|above| self.dir_in(&above, parent, name, dir))
            }
        };
        self.memo
            .borrow_mut()
            .dirs
            .insert(dir.to_string(), layers.clone());
        layers
    }

    /// [`LayerStack::dir_layers`] of `dir` = `parent/name`, given its
    /// parent's layers.
    fn dir_in(&self, above: &[usize], parent: &str, name: &str, dir: &str) -> Option<Vec<usize>> {
        let mut layers = Vec::new();
        for &i in above {
            let root = self.roots[i].as_ref()?;
            // A whiteout or anything but a directory here hides the path
            // in every lower layer.
            if self.whiteouts == Whiteouts::Aufs && self.aufs_whiteout(root, parent, name) {
                break;
            }
            match open_dir(root, Path::new(dir), false) {
                Ok(fd) => {
                    layers.push(i);
                    if self.opaque(&fd) {
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(_) => break,
            }
        }
        (!layers.is_empty()).then_some(layers)
    }

    /// The names in directory `path`, merged over the layers.
    pub fn read_dir(&self, path: &str) -> Vec<String> {
        let comps = components(path);
        let mut seen = BTreeSet::new();
        let mut names = BTreeSet::new();
        if comps.contains(&"..") {
            return Vec::new();
        }
        let rel: PathBuf = comps.iter().collect();
        for root in self.roots.iter().flatten() {
            // Opened beneath the layer: a symlink on the way is not followed.
            let Ok(fd) = open_dir(root, &rel, true) else {
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
                let Ok(st) = rustix::fs::statat(&fd, e.file_name(), AtFlags::SYMLINK_NOFOLLOW)
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
            if self.opaque(&fd) {
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

    /// Issue #19: a layer's symlinks (absolute, climbing) and a `..` in a
    /// path never lead a lookup, a read, a listing or an xattr read to the
    /// host; the symlink itself is found as a symlink.
    #[test]
    fn nothing_in_a_layer_resolves_on_the_host() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().join("host");
        fs::create_dir_all(host.join("dir")).unwrap();
        fs::write(host.join("secret"), "host").unwrap();
        let l = t.path().join("l");
        fs::create_dir_all(l.join("etc")).unwrap();
        std::os::unix::fs::symlink(&host, l.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../host", l.join("etc/up")).unwrap();
        std::os::unix::fs::symlink(host.join("secret"), l.join("etc/shadow")).unwrap();
        for s in [
            LayerStack::new(vec![l.clone()]),
            LayerStack::tarballs(vec![l.clone()]),
        ] {
            for p in [
                "/abs/secret",
                "/abs/dir",
                "/etc/up/secret",
                "/../host/secret",
                "/etc/../../host/secret",
            ] {
                assert!(s.lookup(p).is_none(), "{p}");
                assert!(s.read_dir(p).is_empty(), "{p}");
            }
            let link = s.lookup("/etc/shadow").unwrap();
            assert!(link.meta.file_type().is_symlink());
            assert!(s.read_file(&link).is_err(), "read through a symlink");
            assert_eq!(s.read_link(&link).unwrap(), host.join("secret"));
            assert!(s.xattrs(&link).is_empty());
            assert!(s.lookup("/abs").unwrap().meta.file_type().is_symlink());
        }
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

    /// A directory an upper layer replaced by a file hides the lower
    /// layer's tree; a directory missing from the upper layer is read
    /// from below; a lower file under a directory present in both layers
    /// is found; and asking again gives the same answers (lookups are
    /// remembered per path and per directory).
    #[test]
    fn replaced_and_merged_directories() {
        let t = tempfile::tempdir().unwrap();
        let (top, low) = two_layers(t.path());
        fs::create_dir_all(low.join("srv/app/lib")).unwrap();
        fs::write(low.join("srv/app/lib/mod.py"), "x").unwrap();
        fs::write(top.join("srv"), "now a file").unwrap();
        fs::create_dir_all(low.join("var/lib/deep")).unwrap();
        fs::write(low.join("var/lib/deep/data"), "x").unwrap();
        let s = LayerStack::new(vec![top, low]);
        for _ in 0..2 {
            assert!(s.lookup("/srv").unwrap().meta.is_file());
            assert!(s.lookup("/srv/app/lib/mod.py").is_none());
            assert!(s.lookup("/srv/app").is_none());
            let deep = s.lookup("/var/lib/deep/data").unwrap();
            assert!(deep.host.ends_with("low/var/lib/deep/data"));
            assert_eq!(s.read_file(&deep).unwrap(), b"x");
            assert!(s
                .lookup("/etc/gone")
                .unwrap()
                .host
                .ends_with("low/etc/gone"));
            assert!(s.lookup("/var/lib/deep/missing").is_none());
        }
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
