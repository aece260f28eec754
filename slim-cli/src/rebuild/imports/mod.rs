//! Language-aware closure: static analysis of the code the container ran
//! says what it can still load on a path the probe did not take. Each
//! language is one [`Resolver`]: given a kept file and the image, it returns
//! the image paths that file can import. `closure` keeps them (with the
//! importing file as `from`) and feeds them back, to a fixpoint.
//!
//! Adding a language is one more module implementing [`Resolver`]
//! and one line in [`all`].
mod binary;
mod dirs;
mod javascript;
pub mod parse_cache;
mod perl;
mod php;
mod php_syntax;
mod python;
mod python_dist;
mod python_scan;
mod ruby;

use std::sync::Arc;

use parse_cache::ParseCache;

use super::{
    paths::{find, join, parent},
    rootfs::LayerStack,
};

// Image file helpers the resolvers share; paths go through symlinks.

fn is_dir(fs: &LayerStack, path: &str) -> bool {
    find(fs, path).is_some_and(|f| f.meta.is_dir())
}

fn is_file(fs: &LayerStack, path: &str) -> bool {
    find(fs, path).is_some_and(|f| f.meta.is_file())
}

fn read(fs: &LayerStack, path: &str) -> Option<Vec<u8>> {
    // Regular files only, and bounded (SLIM_MAX_READ_BYTES).
    fs.read_file(&find(fs, path)?).ok()
}

fn read_text(fs: &LayerStack, path: &str) -> Option<String> {
    read(fs, path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// How a dependency an app declares but the image lacks is recorded among
/// the unresolved imports: `declared dependency NAME (FILE)`, FILE being
/// the manifest or lock file that declares it.
fn declared_missing(name: &str, by: &str) -> String {
    format!("{DECLARED_MISSING}{name} ({by})")
}

/// The start of an unresolved import that is a declared dependency the
/// image lacks (after the importing file's `FILE: `).
pub const DECLARED_MISSING: &str = "declared dependency ";

/// Whether an unresolved import (`FILE: WHAT`) is a declared dependency.
pub fn is_declared_missing(unresolved: &str) -> bool {
    unresolved
        .split_once(": ")
        .is_some_and(|(_, what)| what.starts_with(DECLARED_MISSING))
}

/// What one file imports, resolved in the image.
#[derive(Debug, Default)]
pub struct Imports {
    /// Image paths to keep (modules, packages, native extensions, metadata).
    pub kept: Vec<String>,
    /// Imported names no file of the image provides (recorded, not fatal:
    /// optional imports in `try` blocks are common).
    pub missing: Vec<String>,
    /// Imports deliberately not followed (a resolver's documented policy,
    /// such as Python's standard library tooling imported in functions).
    pub not_followed: Vec<String>,
}

impl Imports {
    /// Each path and name once, sorted.
    pub fn sorted(mut self) -> Self {
        self.kept.sort();
        self.kept.dedup();
        self.missing.sort();
        self.missing.dedup();
        self.not_followed.sort();
        self.not_followed.dedup();
        self
    }
}

pub trait Resolver: Send {
    /// The language's name, as in `import:python` in the report.
    fn language(&self) -> &'static str;
    /// Whether `path` (a kept regular file) is source of this language.
    fn wants(&self, path: &str) -> bool;
    /// What `path` imports. Unreadable or unparsable files import nothing.
    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports;
    /// Whether this language decides what `path`, an entry of a directory
    /// the program listed, is for: a module or package in its search path,
    /// which the program loads by name (and a load would be in the trace,
    /// or this resolver keeps it). Such an entry that nothing else keeps is
    /// left out rather than kept whole: an import of it fails as it should,
    /// where an empty placeholder would import as an empty module.
    fn decides_entry(&mut self, _fs: &LayerStack, _path: &str) -> bool {
        false
    }
}

/// Every language resolver slim has; those whose parsing costs most keep
/// their results in `cache`.
pub fn all(cache: Option<Arc<ParseCache>>) -> Vec<Box<dyn Resolver>> {
    vec![
        Box::new(python::Python::with_cache(cache.clone())),
        Box::new(javascript::JavaScript::default()),
        Box::new(ruby::Ruby::with_cache(cache)),
        Box::new(perl::Perl::default()),
        Box::new(php::Php::default()),
        Box::new(binary::Binary::default()),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::LayerStack;

    /// A one-layer image holding `files` (path, text).
    pub fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, LayerStack) {
        let t = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let host = t.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::fs::write(host, text).unwrap();
        }
        let fs = LayerStack::new(vec![t.path().to_path_buf()]);
        (t, fs)
    }
}
