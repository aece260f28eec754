//! Reading a layer tarball, and unpacking it into a directory, the same
//! whichever way the image arrived (an engine's export, an archive, a
//! layout, a registry), so the minimal layer is the same too.
//!
//! A layer is untrusted: every file is created through a directory fd with
//! openat2 (RESOLVE_BENEATH, no symlinks, no magic links), so no entry can
//! reach outside the directory, whatever its name or the symlinks before
//! it. What would give power on the host is not made: FIFOs and devices
//! become empty placeholder files, setuid and setgid bits are dropped, and
//! extended attributes (file capabilities among them) are not set; all of
//! it is kept as [`Special`] records beside the tree, and the layer writer
//! puts it back into the tar it writes. Zero runs are left as holes, so a
//! sparse file stays sparse.
use std::{
    collections::BTreeMap,
    ffi::OsStr,
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    os::{
        fd::OwnedFd,
        unix::{ffi::OsStrExt, fs::DirBuilderExt},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::{anyhow, bail, Context, Result};
use rustix::{
    fs::{self as rfs, AtFlags, Mode, OFlags, Timespec, Timestamps},
    io::Errno,
};
use serde::{Deserialize, Serialize};

use crate::{
    archive::BlobRef,
    confined::{self, open_beneath},
    digest::Hashing,
    limits::{self, Limits},
    tarx::{self, Bounded, Meter, Metered, Tally, Trip},
};

/// What a layer holds that is not made on the host as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Special {
    /// A FIFO or device (the file on disk is an empty placeholder); none:
    /// the file is what it is, with `mode` or `xattrs` that differ.
    pub kind: Option<SpecialKind>,
    /// The mode the image gives (setuid and setgid included).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub major: u32,
    pub minor: u32,
    /// Extended attributes (`security.capability`, `user.*`), by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialKind {
    Fifo,
    Char,
    Block,
}

/// An image's reading budget: what its layers may add up to.
pub struct Budget {
    pub limits: Limits,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            used: AtomicU64::new(0),
        }
    }

    pub fn from_env() -> Result<Self> {
        Ok(Self::new(Limits::from_env()?))
    }
}

/// A layer's tar over its blob: decompressed, bounded, hashed, metered.
pub type LayerTar = tar::Archive<Metered<Hashing<Bounded<Box<dyn Read + Send>>>>>;

/// The tar stream of one layer: decompressed, bounded, hashed.
pub struct LayerReader {
    pub archive: LayerTar,
    pub meter: Arc<Meter>,
    pub trip: Arc<Trip>,
    diff_id: String,
}

/// Opens the layer in `blob` whose diff ID is `diff_id` (gzip-compressed
/// or not) within `budget`.
pub fn layer_reader(blob: &BlobRef, diff_id: &str, budget: &Budget) -> Result<LayerReader> {
    use std::io::BufRead;
    let what = format!("layer {diff_id}");
    let mut input = std::io::BufReader::with_capacity(1 << 20, blob.open()?);
    let head = input
        .fill_buf()
        .with_context(|| format!("cannot read {what}"))?;
    let decoded: Box<dyn Read + Send> = match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(input)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => bail!(
            "{what} is zstd-compressed, which slim does not read yet; \
             convert the image with `skopeo copy --dest-compress-format gzip`"
        ),
        _ => Box::new(input),
    };
    let l = &budget.limits;
    let image_left = l
        .image_bytes
        .saturating_sub(budget.used.load(Ordering::Relaxed));
    let layer_max = l.layer_stream_bytes(blob.len);
    let why = if image_left < layer_max {
        format!(
            "the image's layers expand to more than {} (raise {} if the image is trusted)",
            limits::human(l.image_bytes),
            limits::IMAGE_VAR
        )
    } else if layer_max < l.layer_bytes {
        format!(
            "{what} expands to more than {}x its compressed size of {} (a compression bomb? raise {} if the image is trusted)",
            l.layer_ratio,
            limits::human(blob.len),
            limits::RATIO_VAR
        )
    } else {
        format!(
            "{what} expands to more than {} (raise {} if the image is trusted)",
            limits::human(l.layer_bytes),
            limits::LAYER_VAR
        )
    };
    let trip = Arc::new(Trip::default());
    let bounded = Bounded::new(decoded, layer_max.min(image_left), why, trip.clone());
    let (archive, meter) = tarx::archive(Hashing::new(bounded), l, &what, trip.clone());
    Ok(LayerReader {
        archive,
        meter,
        trip,
        diff_id: diff_id.to_string(),
    })
}

impl LayerReader {
    /// Reads the rest of the stream (the tar's end blocks, the gzip
    /// trailer, the blob's digest check) and checks the diff ID.
    pub fn finish(self, budget: &Budget) -> Result<()> {
        let what = format!("layer {}", self.diff_id);
        let mut rest = self.archive.into_inner();
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| {
            self.trip
                .explain(e, &format!("{what} does not end properly"))
        })?;
        let (_, digest, size) = rest.into_inner().finish();
        budget.used.fetch_add(size, Ordering::Relaxed);
        if digest != self.diff_id {
            bail!(
                "{what}: its content does not match its diff ID (read {digest}): the image is corrupt or was altered"
            );
        }
        Ok(())
    }
}

/// What unpacking a layer leaves beside its tree.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Unpacked {
    /// By path in the layer (`usr/bin/sudo`).
    pub specials: BTreeMap<String, Special>,
}

/// An entry's path as a relative path in the layer: `/`, `./` and `.`
/// dropped (`/etc/x` is `etc/x`, as containerd reads it); `..` refused.
/// `None`: the layer's root itself.
pub fn entry_path(raw: &[u8]) -> Result<Option<PathBuf>> {
    if raw.contains(&0) {
        bail!("a layer entry's name holds a NUL byte");
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => bail!(
                "layer entry {:?} climbs out of the layer with `..`: refused",
                String::from_utf8_lossy(raw)
            ),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(OsStr::from_bytes(&parts.join(&b'/')))))
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn io(e: Errno) -> std::io::Error {
    e.into()
}

struct Unpacker {
    root: OwnedFd,
    out: Unpacked,
    dirs: Vec<(PathBuf, u64)>,
}

impl Unpacker {
    /// The directory `parent` (relative), made if missing; never through
    /// a symlink or outside the root.
    fn parent(&self, entry: &Path, parent: &Path) -> Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        match open_beneath(&self.root, parent, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(under_non_dir(entry, e)),
        }
        let mut cur = open_beneath(&self.root, Path::new(""), flags, Mode::empty())?;
        for comp in parent.components() {
            let comp = Path::new(comp.as_os_str());
            cur = match open_beneath(&cur, comp, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rfs::mkdirat(&cur, comp, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(under_non_dir(entry, io(e))),
                    }
                    open_beneath(&cur, comp, flags, Mode::empty())
                        .map_err(|e| under_non_dir(entry, e))?
                }
                Err(e) => return Err(under_non_dir(entry, e)),
            };
        }
        Ok(cur)
    }

    /// Clears the way for a new `name` in `dir`: what was there goes,
    /// unless both are directories.
    fn clear(&mut self, dir: &OwnedFd, name: &Path, rel: &Path, is_dir: bool) -> Result<()> {
        self.out.specials.remove(rel.to_string_lossy().as_ref());
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io(e).into()),
        };
        let was_dir = rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory;
        if was_dir && is_dir {
            return Ok(());
        }
        let flags = if was_dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rfs::unlinkat(dir, name, flags)
            .map_err(io)
            .with_context(|| format!("cannot replace {} in the layer", rel.display()))
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let Some(rel) = entry_path(&e.path_bytes())? else {
            // The root's own metadata is the cache's, not the image's.
            return Ok(());
        };
        let h = e.header();
        let kind = h.entry_type();
        let mode = h.mode()? & 0o7777;
        // Empty owner and time fields are common; they mean 0.
        let (uid, gid, mtime) = (
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            h.mtime().unwrap_or(0),
        );
        let dev = (
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        );
        let (Ok(uid32), Ok(gid32)) = (u32::try_from(uid), u32::try_from(gid)) else {
            bail!("layer entry {} has an owner past 32 bits", rel.display());
        };
        let (uid32, gid32) = (
            Some(rfs::Uid::from_raw(uid32)),
            Some(rfs::Gid::from_raw(gid32)),
        );
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        xattrs.sort();
        let name = Path::new(rel.file_name().context("an entry without a name")?);
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let dir = self.parent(&rel, parent_rel)?;
        let special = |kind| Special {
            kind,
            mode,
            uid,
            gid,
            mtime,
            major: 0,
            minor: 0,
            xattrs: xattrs.clone(),
        };
        let powerful = mode & 0o6000 != 0 || !xattrs.is_empty();
        let key = rel.to_string_lossy().into_owned();
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                self.clear(&dir, name, &rel, true)?;
                match rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io(e)).context(format!("cannot create {key}")),
                }
                let fd = open_beneath(
                    &dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY,
                    Mode::empty(),
                )
                .map_err(|e| under_non_dir(&rel, e))?;
                rfs::fchown(&fd, uid32, gid32)?;
                rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o1777))?;
                if powerful {
                    self.out.specials.insert(key, special(None));
                }
                self.dirs.push((rel, mtime));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                self.clear(&dir, name, &rel, false)?;
                let fd = create_beneath(&dir, name)?;
                let mut f = File::from(fd);
                write_sparse(e, &mut f).with_context(|| format!("cannot write {key}"))?;
                rfs::fchown(&f, uid32, gid32)?;
                rfs::fchmod(&f, Mode::from_raw_mode(mode & 0o1777))?;
                rfs::futimens(&f, &timestamps(mtime))?;
                if powerful {
                    self.out.specials.insert(key, special(None));
                }
            }
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .context("a symlink without a target")?
                    .into_owned();
                self.clear(&dir, name, &rel, false)?;
                rfs::symlinkat(target.as_slice(), &dir, name)
                    .map_err(io)
                    .with_context(|| format!("cannot create {key}"))?;
                rfs::chownat(&dir, name, uid32, gid32, AtFlags::SYMLINK_NOFOLLOW)?;
                rfs::utimensat(&dir, name, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            T::Link => {
                let raw = e
                    .link_name_bytes()
                    .context("a hard link without a target")?
                    .into_owned();
                let Some(target) = entry_path(&raw)? else {
                    bail!("layer entry {key} is a hard link to the layer's root");
                };
                let src = open_beneath(&self.root, &target, OFlags::PATH, Mode::empty())
                    .with_context(|| {
                        format!(
                            "layer entry {key} links to {}, which is not in the layer",
                            target.display()
                        )
                    })?;
                self.clear(&dir, name, &rel, false)?;
                rfs::linkat(&src, "", &dir, name, AtFlags::EMPTY_PATH)
                    .map_err(io)
                    .with_context(|| format!("cannot create {key}"))?;
                if let Some(s) = self
                    .out
                    .specials
                    .get(target.to_string_lossy().as_ref())
                    .cloned()
                {
                    self.out.specials.insert(key, s);
                }
            }
            T::Fifo | T::Char | T::Block => {
                self.clear(&dir, name, &rel, false)?;
                let fd = create_beneath(&dir, name)?;
                rfs::futimens(&fd, &timestamps(mtime))?;
                let mut s = special(Some(match kind {
                    T::Fifo => SpecialKind::Fifo,
                    T::Char => SpecialKind::Char,
                    _ => SpecialKind::Block,
                }));
                (s.major, s.minor) = dev;
                self.out.specials.insert(key, s);
            }
            // Global headers, volume labels, GNU dumpdirs: nothing to make.
            _ => {}
        }
        Ok(())
    }
}

fn under_non_dir(entry: &Path, e: std::io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EXDEV) => anyhow!(
            "layer entry {} lies under a symlink or a file of the layer, not a directory: refused",
            entry.display()
        ),
        _ => anyhow::Error::from(e).context(format!("cannot unpack {}", entry.display())),
    }
}

const CHUNK: usize = 64 << 10;
/// Compared with memcmp, which is fast in a debug build too.
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// Copies an entry's data into `f`, leaving runs of zeros as holes.
fn write_sparse(r: &mut impl Read, f: &mut File) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            break;
        }
        if buf[..n] == ZEROS[..n] {
            f.seek(SeekFrom::Current(n as i64))?;
        } else {
            f.write_all(&buf[..n])?;
        }
        len += n as u64;
        if n < buf.len() {
            break;
        }
    }
    f.set_len(len)
}

/// Unpacks the layer `blob` (diff ID `diff_id`) into `dir`, which must not
/// exist; verified to its last byte before this returns.
pub fn unpack_layer(
    blob: &BlobRef,
    diff_id: &str,
    dir: &Path,
    budget: &Budget,
) -> Result<Unpacked> {
    let mut layer = layer_reader(blob, diff_id, budget)?;
    let out = unpack_stream(&mut layer, dir, &budget.limits)?;
    layer.finish(budget)?;
    Ok(out)
}

/// Unpacks the entries of `layer` into `dir` (created, 0700).
pub fn unpack_stream(layer: &mut LayerReader, dir: &Path, limits: &Limits) -> Result<Unpacked> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut u = Unpacker {
        root: confined::open_root(dir)?,
        out: Unpacked::default(),
        dirs: Vec::new(),
    };
    let mut tally = Tally::layer(limits);
    let what = format!("layer {}", layer.diff_id);
    let mut entries = layer
        .archive
        .entries()
        .map_err(|e| layer.trip.explain(e, &format!("{what} is not a tar")))?;
    while let Some(mut e) = tarx::next(&mut entries, &layer.meter, limits, &mut tally)? {
        if let Err(err) = u.entry(&mut e) {
            return Err(match layer.trip.get() {
                Some(why) => anyhow!("{why}"),
                None => err.context(format!("cannot unpack {what}")),
            });
        }
        // What the entry did not use (a directory's bogus data) is read
        // here, so the next header is found where it is.
        std::io::copy(&mut e, &mut std::io::sink())
            .map_err(|err| layer.trip.explain(err, &format!("{what} is truncated")))?;
    }
    // Creating a directory's children changes its mtime: set it last.
    for (rel, mtime) in u.dirs.iter().rev() {
        let fd = open_beneath(
            &u.root,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        rfs::futimens(&fd, &timestamps(*mtime))?;
    }
    Ok(u.out)
}

/// A new, empty, owner-only file `name` in `dir` (never an existing one).
fn create_beneath(
    dir: impl std::os::fd::AsFd,
    name: &Path,
) -> std::io::Result<std::os::fd::OwnedFd> {
    open_beneath(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(0o600),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn layer(
        build: impl FnOnce(&mut tar::Builder<Vec<u8>>),
    ) -> (tempfile::TempDir, BlobRef, String) {
        let t = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let bytes = b.into_inner().unwrap();
        let p = t.path().join("layer.tar");
        std::fs::write(&p, &bytes).unwrap();
        let d = crate::sha256(&bytes);
        (t, BlobRef::file(p).unwrap(), d)
    }

    fn header(ty: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(mtime);
        h
    }

    #[test]
    fn directory_mtimes_survive_unpacking_their_children() {
        let (t, blob, d) = layer(|b| {
            let mut h = header(tar::EntryType::Directory, 0o755, 0, 1_000_000);
            b.append_data(&mut h, "./etc/", std::io::empty()).unwrap();
            let mut h = header(tar::EntryType::Regular, 0o644, 1, 2_000_000);
            b.append_data(&mut h, "./etc/x", &b"x"[..]).unwrap();
        });
        let out = t.path().join("out");
        unpack_layer(&blob, &d, &out, &Budget::new(Limits::default())).unwrap();
        assert_eq!(
            std::fs::metadata(out.join("etc")).unwrap().mtime(),
            1_000_000
        );
        assert_eq!(
            std::fs::metadata(out.join("etc/x")).unwrap().mtime(),
            2_000_000
        );
    }

    #[test]
    fn entries_under_a_symlink_never_reach_its_target() {
        let host = tempfile::tempdir().unwrap();
        let target = host.path().to_str().unwrap().to_string();
        let (t, blob, d) = layer(|b| {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
            b.append_link(&mut h, "evil", &target).unwrap();
            let mut h = header(tar::EntryType::Fifo, 0o644, 0, 0);
            b.append_data(&mut h, "evil/victim", std::io::empty())
                .unwrap();
        });
        let out = t.path().join("out");
        let e = unpack_layer(&blob, &d, &out, &Budget::new(Limits::default())).unwrap_err();
        assert!(format!("{e:#}").contains("under a symlink"), "{e:#}");
        assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
    }

    #[test]
    fn devices_fifos_and_setuid_become_records() {
        let (t, blob, d) = layer(|b| {
            let mut h = header(tar::EntryType::Char, 0o666, 0, 5);
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            b.append_data(&mut h, "dev/null", std::io::empty()).unwrap();
            let mut h = header(tar::EntryType::Regular, 0o4755, 2, 5);
            b.append_data(&mut h, "bin/su", &b"su"[..]).unwrap();
        });
        let out = t.path().join("out");
        let u = unpack_layer(&blob, &d, &out, &Budget::new(Limits::default())).unwrap();
        let null = std::fs::symlink_metadata(out.join("dev/null")).unwrap();
        assert!(null.is_file() && null.len() == 0);
        assert_eq!(u.specials["dev/null"].kind, Some(SpecialKind::Char));
        assert_eq!(
            (u.specials["dev/null"].major, u.specials["dev/null"].minor),
            (1, 3)
        );
        let su = std::fs::metadata(out.join("bin/su")).unwrap();
        assert_eq!(su.mode() & 0o7777, 0o755);
        assert_eq!(u.specials["bin/su"].mode, 0o4755);
    }

    #[test]
    fn dot_dot_is_refused_and_absolute_names_stay_inside() {
        assert!(entry_path(b"../../x").is_err());
        assert!(entry_path(b"a/../../x").is_err());
        assert_eq!(entry_path(b"/etc/x").unwrap().unwrap(), Path::new("etc/x"));
        assert_eq!(entry_path(b"./").unwrap(), None);
    }

    #[test]
    fn zeros_stay_holes() {
        let (t, blob, d) = layer(|b| {
            let mut h = header(tar::EntryType::Regular, 0o644, 8 << 20, 0);
            b.append_data(&mut h, "zeros", std::io::repeat(0).take(8 << 20))
                .unwrap();
        });
        let out = t.path().join("out");
        unpack_layer(&blob, &d, &out, &Budget::new(Limits::default())).unwrap();
        let m = std::fs::metadata(out.join("zeros")).unwrap();
        assert_eq!(m.len(), 8 << 20);
        assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
    }

    #[test]
    fn a_wrong_diff_id_fails_after_the_last_byte() {
        let (t, blob, _) = layer(|b| {
            let mut h = header(tar::EntryType::Regular, 0o644, 1, 0);
            b.append_data(&mut h, "x", &b"x"[..]).unwrap();
        });
        let out = t.path().join("out");
        let e = unpack_layer(
            &blob,
            &crate::sha256(b"other"),
            &out,
            &Budget::new(Limits::default()),
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("does not match its diff ID"),
            "{e:#}"
        );
    }
}
