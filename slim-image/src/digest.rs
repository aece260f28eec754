//! sha256 digests in the `sha256:HEX` form images use, computed on the way
//! through a writer or a reader so nothing is read twice.
use std::io::{Read, Write};

use sha2::{Digest as _, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    hex_digest(Sha256::digest(bytes).as_slice())
}

fn hex_digest(d: &[u8]) -> String {
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The hex part of `sha256:HEX`, for digests slim computed itself; one
/// from an image goes through [`checked_hex`] first.
pub fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The hex part of a digest from an image, once it is known to be one:
/// `sha256:` and 64 lowercase hex digits, nothing else (no `/`, no `..`),
/// so it can name a file. Other algorithms are refused, not guessed at.
pub fn checked_hex(digest: &str) -> anyhow::Result<&str> {
    let shown: String = digest.chars().take(80).collect();
    let Some((alg, hex)) = digest.split_once(':') else {
        anyhow::bail!("{shown:?} is not a digest (expected sha256:<64 hex digits>)");
    };
    if alg != "sha256" {
        anyhow::bail!("digest {shown:?} uses {alg:?}; slim reads sha256 digests only");
    }
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        anyhow::bail!("{shown:?} is not a sha256 digest (expected 64 lowercase hex digits)");
    }
    Ok(hex)
}

/// What a blob must be: its digest and, when known, its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub digest: String,
    pub size: Option<u64>,
}

/// A reader that checks, as the bytes stream, that they are the blob
/// `expect` names: more bytes than its size, or a different digest at the
/// end, is an error, so nothing unverified is taken for done.
pub struct Verify<R> {
    inner: Hashing<R>,
    expect: Expect,
    done: bool,
}

impl<R: Read> Verify<R> {
    pub fn new(inner: R, expect: Expect) -> Self {
        Self {
            inner: Hashing::new(inner),
            expect,
            done: false,
        }
    }
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if let Some(size) = self.expect.size {
            if self.inner.size > size {
                return Err(bad(format!(
                    "blob {} is larger than the {size} bytes its descriptor says",
                    self.expect.digest
                )));
            }
        }
        if n == 0 && !buf.is_empty() {
            self.done = true;
            let got = hex_digest(self.inner.hasher.clone().finalize().as_slice());
            if let Some(size) = self.expect.size.filter(|s| *s != self.inner.size) {
                return Err(bad(format!(
                    "blob {} is {} bytes, not the {size} its descriptor says",
                    self.expect.digest, self.inner.size
                )));
            }
            if got != self.expect.digest {
                return Err(bad(format!(
                    "blob {} does not match its digest (read {got}): the image is corrupt or was altered",
                    self.expect.digest
                )));
            }
        }
        Ok(n)
    }
}

/// A writer or reader that hashes and counts what passes through it.
pub struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    size: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The inner writer or reader, the digest and the byte count.
    pub fn finish(self) -> (T, String, u64) {
        (
            self.inner,
            hex_digest(self.hasher.finalize().as_slice()),
            self.size,
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_and_writing_hash_alike() {
        let data = b"layer bytes";
        let mut w = Hashing::new(Vec::new());
        w.write_all(data).unwrap();
        let (_, wd, ws) = w.finish();
        let mut r = Hashing::new(&data[..]);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        let (_, rd, rs) = r.finish();
        assert_eq!((wd.clone(), ws), (rd, rs));
        assert_eq!(wd, sha256(data));
        assert_eq!(hex(&wd).len(), 64);
    }

    #[test]
    fn only_sha256_hex_is_a_digest() {
        let good = sha256(b"x");
        assert_eq!(checked_hex(&good).unwrap(), hex(&good));
        for bad in [
            "sha256:",
            "sha256:../../x",
            "/abs/host/dir",
            "sha512:00",
            &good.to_uppercase(),
            &format!("{good}/.."),
        ] {
            assert!(checked_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verify_refuses_altered_and_resized_blobs() {
        let read = |data: &[u8], digest: String, size| {
            let mut v = Vec::new();
            Verify::new(data, Expect { digest, size }).read_to_end(&mut v)
        };
        assert!(read(b"abc", sha256(b"abc"), Some(3)).is_ok());
        assert!(read(b"abd", sha256(b"abc"), Some(3)).is_err());
        assert!(read(b"abc", sha256(b"abc"), Some(2)).is_err());
        assert!(read(b"abc", sha256(b"abc"), Some(4)).is_err());
    }
}
