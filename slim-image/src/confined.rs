//! Filesystem operations confined by the kernel beneath a directory:
//! openat2 with RESOLVE_BENEATH, no symlinks and no magic links, so a path
//! that comes from an image (`../..`, `/etc`, a symlink planted by an
//! earlier entry) can never reach the host. Nothing here joins a path and
//! checks it afterwards.
use std::{
    fs::File,
    io::{self, Read},
    os::fd::{AsFd, OwnedFd},
    path::Path,
};

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};

/// No symlink anywhere, no magic link, nothing above the root.
pub const STRICT: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// A directory opened to resolve paths beneath it.
pub fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `rel` beneath `root` with `flags`; "" or "." is the root itself.
pub fn open_beneath(root: impl AsFd, rel: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    Ok(rfs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        mode,
        STRICT,
    )?)
}

/// Opens `rel` beneath `root` for reading if it is a regular file: never
/// blocks on a FIFO, never reads a device. Returns the file and its size.
pub fn open_regular(root: impl AsFd, rel: &Path) -> io::Result<(File, u64)> {
    let fd = open_beneath(
        root,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let st = rfs::fstat(&fd)?;
    if rfs::FileType::from_raw_mode(st.st_mode) != rfs::FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", rel.display()),
        ));
    }
    Ok((File::from(fd), st.st_size as u64))
}

/// The whole of a regular file beneath `root`, refused past `limit` bytes
/// (the limit's variable named in the error).
pub fn read_regular(root: impl AsFd, rel: &Path, limit: u64, var: &str) -> io::Result<Vec<u8>> {
    let (f, size) = open_regular(root, rel)?;
    read_bounded(f, size, limit, &rel.display().to_string(), var)
}

/// Reads `r` (which claims `size` bytes) whole, refusing more than `limit`:
/// nothing is allocated from a claimed size beyond the limit.
pub fn read_bounded(
    r: impl Read,
    size: u64,
    limit: u64,
    what: &str,
    var: &str,
) -> io::Result<Vec<u8>> {
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{what} is larger than the limit of {} (raise {var} if it is trusted)",
                crate::limits::human(limit)
            ),
        )
    };
    if size > limit {
        return Err(too_big());
    }
    let mut v = Vec::with_capacity(size as usize);
    r.take(limit + 1).read_to_end(&mut v)?;
    if v.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_escapes_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(t.path().join("outside"), "secret").unwrap();
        std::os::unix::fs::symlink("../outside", root.join("up")).unwrap();
        std::os::unix::fs::symlink(t.path().join("outside"), root.join("abs")).unwrap();
        std::fs::write(root.join("in"), "ok").unwrap();
        let fd = open_root(&root).unwrap();
        for bad in ["../outside", "up", "abs", "/etc/passwd"] {
            assert!(
                read_regular(&fd, Path::new(bad), 100, "X").is_err(),
                "{bad}"
            );
        }
        assert_eq!(read_regular(&fd, Path::new("in"), 100, "X").unwrap(), b"ok");
        let e = read_regular(&fd, Path::new("in"), 1, "X").unwrap_err();
        assert!(e.to_string().contains("raise X"), "{e}");
        let e = read_regular(&fd, Path::new("."), 100, "X").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
