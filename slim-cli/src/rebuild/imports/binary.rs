//! Static executables (Go with CGO off, musl or `-static` C): they load no
//! library, so no library-triggered keep-rule fires for them, and what they
//! read on an unprobed path is named only inside them. This resolver reads
//! a kept static ELF executable for the absolute paths of the image it
//! names (Go's time package names `/usr/share/zoneinfo/`, crypto/x509 the
//! CA bundles, net `/etc/nsswitch.conf` and `/etc/hosts`, an app its own
//! data files) and keeps them, with the binary as `from`: kept by name,
//! they are evidence for the keep-rules like a traced open.
//!
//! Compilers pack string literals back to back without separators, so a
//! path is found by walking the image from each `/`: a component is an
//! entry of the directory reached so far, matched whole or, where the next
//! literal follows without a separator, as the longest entry that is a
//! prefix of what follows.
use std::{
    collections::{BTreeSet, HashMap},
    io::Read,
};

use super::{is_dir, join, read, Imports, Resolver};
use crate::rebuild::{paths::find, rootfs::LayerStack};

/// Named paths below these are the kernel's, never the image's.
const NOT_IMAGE: [&str; 3] = ["/proc/", "/sys/", "/dev/"];

/// Paths this short (`/usr`, `/etc`) name no file an app reads.
const MIN_DEPTH: usize = 2;

const PT_INTERP: u32 = 3;

#[derive(Default)]
pub struct Binary {
    /// Directory entries, read once per build.
    listings: HashMap<String, BTreeSet<String>>,
}

/// Whether `head` (the first bytes of a file) is a 64-bit little-endian ELF
/// executable without a program interpreter: a static binary.
fn is_static_executable(head: &[u8]) -> bool {
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let e_type = u16_at(0x10);
    // ET_EXEC, or ET_DYN (static-pie) without PT_INTERP; shared libraries
    // are ET_DYN too, but have no entry point.
    let entry = u64::from_le_bytes(head[0x18..0x20].try_into().unwrap_or_default());
    if !(e_type == 2 || (e_type == 3 && entry != 0)) {
        return false;
    }
    let phoff = u64::from_le_bytes(head[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    if phentsize < 4 {
        return false;
    }
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let Some(p) = head.get(o..o + 4) else {
            return false; // headers beyond what was read: not a usual layout
        };
        if u32::from_le_bytes(p.try_into().unwrap_or_default()) == PT_INTERP {
            return false;
        }
    }
    e_type == 2 || phnum > 0
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-+@".contains(&b)
}

impl Binary {
    fn entries(&mut self, fs: &LayerStack, dir: &str) -> &BTreeSet<String> {
        self.listings
            .entry(dir.to_string())
            .or_insert_with(|| fs.read_dir(dir).into_iter().collect())
    }

    /// The image path that the bytes at the start of `b` (a `/`) name, if
    /// it is at least [`MIN_DEPTH`] components deep.
    fn walk(&mut self, fs: &LayerStack, b: &[u8]) -> Option<String> {
        let mut cur = String::from("/");
        let mut depth = 0;
        let mut pos = 1;
        loop {
            let end = pos + b[pos..].iter().take_while(|&&c| is_path_byte(c)).count();
            let comp = std::str::from_utf8(&b[pos..end]).ok()?;
            if comp.is_empty() || comp == "." || comp == ".." {
                break;
            }
            let entries = self.entries(fs, &cur);
            let name = if entries.contains(comp) {
                comp.to_string()
            } else {
                // The next literal may follow without a separator.
                // Or the literal ended at the last `/`.
                let best = entries
                    .iter()
                    .filter(|e| comp.starts_with(e.as_str()))
                    .max_by_key(|e| e.len());
                match best {
                    Some(b) => b.clone(),
                    None => break,
                }
            };
            let whole = name.len() == comp.len();
            cur = join(&cur, &name);
            depth += 1;
            if !whole || b.get(end) != Some(&b'/') || !is_dir(fs, &cur) {
                break;
            }
            pos = end + 1;
        }
        (depth >= MIN_DEPTH).then_some(cur)
    }
}

/// The first bytes of the file at image path `path`.
fn head(fs: &LayerStack, path: &str) -> Option<Vec<u8>> {
    let found = find(fs, path)?;
    let mut buf = Vec::with_capacity(4096);
    // Confined beneath its layer, and only a regular file: never a FIFO.
    fs.open_file(&found)
        .ok()?
        .0
        .take(4096)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

impl Resolver for Binary {
    fn language(&self) -> &'static str {
        "binary"
    }

    /// Executables rarely have a dot in their name; libraries, scripts and
    /// data usually do. The ELF header decides.
    fn wants(&self, path: &str) -> bool {
        !path.rsplit('/').next().unwrap_or(path).contains('.')
    }

    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports {
        let mut out = Imports::default();
        if !head(fs, path).is_some_and(|h| is_static_executable(&h)) {
            return out;
        }
        let Some(bytes) = read(fs, path) else {
            return out;
        };
        let mut found = BTreeSet::new();
        for (i, _) in bytes.iter().enumerate().filter(|(_, &c)| c == b'/') {
            if let Some(p) = self.walk(fs, &bytes[i..]) {
                found.insert(p);
            }
        }
        out.kept = found
            .into_iter()
            .filter(|p| p != path && !NOT_IMAGE.iter().any(|n| p.starts_with(n)))
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        // A minimal ELF64 header: ET_EXEC, one PT_LOAD, then with PT_INTERP.
        let mut h = vec![0u8; 0x78];
        h[..6].copy_from_slice(b"\x7fELF\x02\x01");
        h[0x10] = 2;
        h[0x18] = 1; // entry
        h[0x20] = 0x40; // phoff
        h[0x36] = 0x38; // phentsize
        h[0x38] = 1; // phnum
        h[0x40] = 1; // PT_LOAD
        assert!(is_static_executable(&h));
        h[0x40] = 3;
        assert!(!is_static_executable(&h), "PT_INTERP: dynamic");
        assert!(!is_static_executable(b"#!/bin/sh\n"));
    }

    #[test]
    fn packed_literals_name_image_paths() {
        let (_t, fs) = tree(&[
            ("/usr/share/zoneinfo/Australia/Sydney", "TZif"),
            ("/etc/ssl/certs/ca-certificates.crt", "pem"),
            ("/etc/hosts", "127.0.0.1 localhost"),
            ("/var/lib/go-svc/quotes.txt", "q"),
        ]);
        let mut b = Binary::default();
        let blob = b"\x00/usr/share/zoneinfo/37252902984619140625Egyptian/usr/share/lib/zoneinfo/\
            /etc/ssl/certs/ca-certificates.crt/etc/pki/tls/certs/ca-bundle.crt\
            /etc/hostslocalhost/var/lib/go-svc/quotes.txtnet/http.(*conn)/etc/x";
        let mut found = BTreeSet::new();
        for i in 0..blob.len() {
            if blob[i] == b'/' {
                if let Some(p) = b.walk(&fs, &blob[i..]) {
                    found.insert(p);
                }
            }
        }
        let found: Vec<&str> = found.iter().map(String::as_str).collect();
        assert_eq!(
            found,
            [
                "/etc/hosts",
                "/etc/ssl/certs/ca-certificates.crt",
                "/usr/share",
                "/usr/share/zoneinfo",
                "/var/lib/go-svc/quotes.txt",
            ]
        );
    }
}
