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

/// The hex part of `sha256:HEX`.
pub fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
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
}
