//! Parse results kept between builds, by content digest: the next build of
//! an image on the same base parses none of the files it parsed before.
//! An entry is the SHA-256 of (language, context, the file's bytes), where
//! the context is whatever else the parse depends on (Ruby resolves
//! `__FILE__` against the file's own path), stored as JSON under
//! `SLIM_CACHE/parsed/BUILD/LANG/`. BUILD names this slim executable
//! (version, size, modification time), so a rebuilt parser never reads
//! another build's results; other builds' directories are removed when the
//! cache opens. A missing, unreadable or stale entry is parsed again and
//! rewritten (atomically: a crash leaves no half entry); a failure to write
//! one costs only the next build's time.
use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};

use crate::image::source::cache;

/// How many files were parsed, and how many of those came from the cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ParseCounts {
    pub files: usize,
    pub from_cache: usize,
}

pub struct ParseCache {
    dir: PathBuf,
    files: AtomicUsize,
    from_cache: AtomicUsize,
}

/// The directory name of this build of slim.
fn build_id() -> String {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{}-{}.{}", m.size(), m.mtime(), m.mtime_nsec()))
        .unwrap_or_else(|_| "unknown".into());
    format!("{}-{exe}", env!("CARGO_PKG_VERSION"))
}

impl ParseCache {
    /// The cache in slim's cache directory (SLIM_CACHE, else
    /// /var/cache/slim), or none when it cannot be made (builds then parse
    /// everything, as before).
    pub fn open() -> Option<Self> {
        let root = cache::root().join("parsed");
        let id = build_id();
        if let Err(e) = cache::private_dir(&root.join(&id)) {
            tracing::warn!(dir = %root.display(), error = %e, "cannot create the parse cache; parsing every file");
            return None;
        }
        for old in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            if old.file_name() != id.as_str() {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
        Some(Self::in_dir(root.join(id)))
    }

    /// A cache in `dir` (which must exist).
    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_path_buf(),
            files: AtomicUsize::new(0),
            from_cache: AtomicUsize::new(0),
        }
    }

    pub fn counts(&self) -> ParseCounts {
        ParseCounts {
            files: self.files.load(Ordering::Relaxed),
            from_cache: self.from_cache.load(Ordering::Relaxed),
        }
    }

    /// What `parse` gives for `bytes` (in `language`, with `context`): the
    /// cached result when there is one, else `parse()`'s, then kept.
    pub fn get_or<T: Serialize + DeserializeOwned>(
        &self,
        language: &str,
        context: &str,
        bytes: &[u8],
        parse: impl FnOnce() -> T,
    ) -> T {
        self.files.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        for part in [language.as_bytes(), context.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(bytes);
        let hex = format!("{:x}", h.finalize());
        let dir = self.dir.join(language).join(&hex[..2]);
        let path = dir.join(&hex);
        if let Some(hit) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            self.from_cache.fetch_add(1, Ordering::Relaxed);
            return hit;
        }
        let value = parse();
        if let Err(e) = write_entry(&dir, &path, &value) {
            tracing::debug!(entry = %path.display(), error = %e, "cannot write a parse cache entry");
        }
        value
    }
}

fn write_entry(dir: &Path, path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    cache::private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, value)?;
    tmp.persist(path)?;
    Ok(())
}

/// `parse()`, through `cache` when there is one.
pub fn cached<T: Serialize + DeserializeOwned>(
    cache: Option<&ParseCache>,
    language: &str,
    context: &str,
    bytes: &[u8],
    parse: impl FnOnce() -> T,
) -> T {
    match cache {
        Some(c) => c.get_or(language, context, bytes, parse),
        None => parse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_parse_of_the_same_bytes_comes_from_the_cache() {
        let t = tempfile::tempdir().unwrap();
        let cache = ParseCache::in_dir(t.path());
        let runs = std::cell::Cell::new(0);
        let parse = |src: &[u8], context: &str| {
            cache.get_or("python", context, src, || {
                runs.set(runs.get() + 1);
                vec![String::from_utf8_lossy(src).into_owned()]
            })
        };
        assert_eq!(parse(b"import os", "a"), ["import os"]);
        assert_eq!(parse(b"import os", "a"), ["import os"]);
        assert_eq!(runs.get(), 1, "the second came from the cache");
        // Other bytes, or the same bytes in another context, parse again.
        parse(b"import sys", "a");
        parse(b"import os", "b");
        assert_eq!(runs.get(), 3);
        assert_eq!(
            cache.counts(),
            ParseCounts {
                files: 4,
                from_cache: 1
            }
        );
    }

    #[test]
    fn an_unreadable_entry_is_parsed_again_and_rewritten() {
        let t = tempfile::tempdir().unwrap();
        let cache = ParseCache::in_dir(t.path());
        let first: Vec<u32> = cache.get_or("ruby", "", b"x", || vec![1]);
        assert_eq!(first, [1]);
        // Corrupt every entry.
        for e in walk(t.path()) {
            std::fs::write(e, b"{not json").unwrap();
        }
        let again: Vec<u32> = cache.get_or("ruby", "", b"x", || vec![2]);
        assert_eq!(again, [2]);
        let third: Vec<u32> = cache.get_or("ruby", "", b"x", || vec![3]);
        assert_eq!(third, [2], "the rewritten entry is read");
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }
}
