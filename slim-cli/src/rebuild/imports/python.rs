//! Python: every `import` and `from ... import` of a kept `.py` file,
//! wherever it stands (functions, `try`/`except ImportError`, `if
//! TYPE_CHECKING:`), found by a token scanner (`python_scan`; files it
//! cannot vouch for go to rustpython-parser) and resolved against the
//! interpreter's module search path as the image has it: the stdlib
//! directories, lib-dynload, site- and dist-packages, `.pth` entries, and
//! the importing script's own directory. A resolved module brings its
//! package's `__init__.py` files and the `*.dist-info`/`*.egg-info`
//! metadata of its distribution (`importlib.metadata` reads it at run
//! time), not its `__pycache__` entry (a cache: the source compiles on
//! first import).
//!
//! What code imports by a computed name (`importlib.import_module(name)`:
//! plugins, drivers, backends) is among what its distribution declares:
//! once per installed distribution a kept file belongs to (its RECORD
//! lists the file, or its top_level.txt names the file's package), its
//! runtime requirements (`python_dist`) are found among the installed
//! distributions of the search path and their top-level modules and
//! packages kept with their metadata, each parsed in turn (its own imports
//! and declared requirements). The same holds for a program outside the
//! search path with a `requirements.txt` or a `pyproject.toml` beside it
//! or above it.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rustpython_ast::{self as ast, Visitor};

use super::{
    declared_missing, is_dir, is_file, join, parent,
    parse_cache::{self, ParseCache},
    python_dist::{self, Site},
    read_text, Imports, Resolver,
};
use crate::rebuild::{paths::resolve_path, rootfs::LayerStack};

/// Prefixes under which Python installations keep `pythonX.Y` and
/// `python3` directories.
const PREFIXES: [&str; 4] = ["/usr/lib", "/usr/local/lib", "/opt/conda/lib", "/usr/lib64"];

/// The standard library's tooling for people rather than services: help()
/// (pydoc), self-tests (doctest, unittest, test.support), the debugger,
/// the interactive prompt's line editing, GUIs, packaging bootstraps. The
/// standard library imports them inside functions (site's `help()`, the
/// `_test()` helpers, multiprocessing's test hooks, cmd's readline), and
/// following those doubled a small service's import closure. Such an
/// import, from a function body of a standard library module, is not
/// followed (and is listed in the report); one at module level, or any in
/// the app's own code or its site-packages, is.
const TOOLING: &[&str] = &[
    "pydoc",
    "pydoc_data",
    "doctest",
    "unittest",
    "test",
    "pdb",
    "bdb",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "lib2to3",
    "rlcompleter",
    "readline",
    "ensurepip",
    "venv",
];

/// Whether `path` is a module of an interpreter's own standard library
/// (`PREFIX/python3.N/`, not its site- or dist-packages).
fn in_stdlib(path: &str) -> bool {
    PREFIXES.iter().any(|prefix| {
        let Some(rest) = path
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("/python3."))
        else {
            return false;
        };
        let Some((version, inner)) = rest.split_once('/') else {
            return false;
        };
        version.bytes().all(|b| b.is_ascii_digit())
            && !version.is_empty()
            && !inner.starts_with("site-packages/")
            && !inner.starts_with("dist-packages/")
    })
}

/// Modules compiled into CPython itself (`sys.builtin_module_names` of
/// Debian's 3.11, plus names of other platforms stdlib code tries):
/// never files, never missing.
const BUILTIN: &[&str] = &[
    "_abc",
    "_ast",
    "_codecs",
    "_collections",
    "_functools",
    "_imp",
    "_io",
    "_locale",
    "_operator",
    "_signal",
    "_sre",
    "_stat",
    "_string",
    "_symtable",
    "_thread",
    "_tokenize",
    "_tracemalloc",
    "_typing",
    "_warnings",
    "_weakref",
    "atexit",
    "builtins",
    "errno",
    "faulthandler",
    "gc",
    "itertools",
    "marshal",
    "posix",
    "pwd",
    "sys",
    "time",
    "xxsubtype",
    "_frozen_importlib",
    "_frozen_importlib_external",
    "_winapi",
    "nt",
    "msvcrt",
    "winreg",
    "_overlapped",
    "winsound",
    "_scproxy",
    "_bisect",
    "_blake2",
    "_contextvars",
    "_datetime",
    "_elementtree",
    "_heapq",
    "_md5",
    "_pickle",
    "_posixsubprocess",
    "_random",
    "_sha1",
    "_sha256",
    "_sha3",
    "_sha512",
    "_socket",
    "_statistics",
    "_struct",
    "array",
    "binascii",
    "cmath",
    "fcntl",
    "grp",
    "math",
    "select",
    "syslog",
    "unicodedata",
    "zlib",
    "_json",
    "_csv",
    "_asyncio",
    "_queue",
    "_opcode",
    "_uuid",
    "_zoneinfo",
    "_typing",
    "_multibytecodec",
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_iso2022",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    "_bz2",
    "_lzma",
    "_ctypes",
    "_decimal",
    "_hashlib",
    "_ssl",
    "_sqlite3",
    "_curses",
    "_curses_panel",
    "_dbm",
    "_gdbm",
    "_lsprof",
    "_multiprocessing",
    "_posixshmem",
    "mmap",
    "readline",
    "resource",
    "termios",
    "_crypt",
    "audioop",
    "nis",
    "ossaudiodev",
    "spwd",
    "_testcapi",
];

#[derive(Default)]
pub struct Python {
    /// The search path, found on first use.
    search: Option<Vec<String>>,
    /// Per site directory: its installed distributions.
    sites: HashMap<String, Arc<Site>>,
    /// Distributions (metadata directories) and project files whose
    /// declared requirements were kept.
    declared: HashSet<String>,
    /// Directory listings, read once.
    listings: HashMap<String, std::sync::Arc<Listing>>,
    /// Parse results of earlier builds.
    cache: Option<Arc<ParseCache>>,
}

impl Python {
    pub fn with_cache(cache: Option<Arc<ParseCache>>) -> Self {
        Self {
            cache,
            ..Self::default()
        }
    }
}

/// One directory's entries, split into directories and the rest.
#[derive(Default)]
struct Listing {
    dirs: BTreeSet<String>,
    files: BTreeSet<String>,
}

/// One import statement: (level, module, names), `import a.b` is (0,
/// "a.b", []); and whether it stands in a function body.
pub type Placed = ((u32, String, Vec<String>), bool);

/// The import statements of one module.
#[derive(Default)]
struct Collect {
    found: Vec<Placed>,
    /// How many function bodies the visitor is in.
    functions: usize,
}

impl Visitor for Collect {
    fn visit_stmt_function_def(&mut self, node: ast::StmtFunctionDef) {
        self.functions += 1;
        self.generic_visit_stmt_function_def(node);
        self.functions -= 1;
    }

    fn visit_stmt_async_function_def(&mut self, node: ast::StmtAsyncFunctionDef) {
        self.functions += 1;
        self.generic_visit_stmt_async_function_def(node);
        self.functions -= 1;
    }

    fn visit_stmt_import(&mut self, node: ast::StmtImport) {
        for a in node.names {
            self.found.push((
                (0, a.name.as_str().to_string(), Vec::new()),
                self.functions > 0,
            ));
        }
    }

    fn visit_stmt_import_from(&mut self, node: ast::StmtImportFrom) {
        let level = node.level.map_or(0, |l| l.to_u32());
        let module = node
            .module
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let names = node
            .names
            .into_iter()
            .map(|a| a.name.as_str().to_string())
            .collect();
        self.found
            .push(((level, module, names), self.functions > 0));
    }
}

/// The import statements of `source` (none when it does not parse): from
/// the token scanner, or, where it cannot vouch for a file, the parser.
///
/// With `main` false, what stands under a top-level `if __name__ ==
/// "__main__":` is left out: that runs only when the file is the program
/// (`python3 file.py`), not when it is imported. Standard library modules
/// keep their self-tests there (doctest, unittest, pdb, argparse).
pub fn parse_imports(source: &str, path: &str, main: bool) -> Vec<Placed> {
    match super::python_scan::scan(source) {
        Some(found) => {
            let mut placed: Vec<Placed> = found.imports.into_iter().map(|i| (i, false)).collect();
            for i in found.in_functions {
                placed[i].1 = true;
            }
            if main {
                placed.extend(found.main_only.into_iter().map(|i| (i, false)));
            }
            placed
        }
        None => parse_with_parser(source, path, main),
    }
}

/// Whether `stmt` is `if __name__ == "__main__":` (either way round).
fn is_main_guard(stmt: &ast::Stmt) -> bool {
    let ast::Stmt::If(s) = stmt else { return false };
    let ast::Expr::Compare(c) = s.test.as_ref() else {
        return false;
    };
    let (Some(right), [ast::CmpOp::Eq]) = (c.comparators.first(), c.ops.as_slice()) else {
        return false;
    };
    let is_name = |e: &ast::Expr| matches!(e, ast::Expr::Name(n) if n.id.as_str() == "__name__");
    let is_main = |e: &ast::Expr| matches!(e, ast::Expr::Constant(k) if matches!(&k.value, ast::Constant::Str(s) if s == "__main__"));
    (is_name(&c.left) && is_main(right)) || (is_main(&c.left) && is_name(right))
}

/// The import statements of `source`, from rustpython-parser's syntax tree.
pub(super) fn parse_with_parser(source: &str, path: &str, main: bool) -> Vec<Placed> {
    let Ok(module) = rustpython_parser::parse(source, rustpython_parser::Mode::Module, path) else {
        return Vec::new();
    };
    let mut c = Collect::default();
    if let ast::Mod::Module(m) = module {
        for stmt in m.body {
            if main || !is_main_guard(&stmt) {
                c.visit_stmt(stmt);
            }
        }
    }
    c.found
}

impl Python {
    /// The module search path of the image's interpreters.
    fn search(&mut self, fs: &LayerStack) -> &[String] {
        if self.search.is_none() {
            let mut dirs = Vec::new();
            for prefix in PREFIXES {
                for name in fs.read_dir(prefix) {
                    if !name.starts_with("python3") {
                        continue;
                    }
                    let lib = join(prefix, &name);
                    if !is_dir(fs, &lib) {
                        continue;
                    }
                    for sub in ["", "lib-dynload", "site-packages", "dist-packages"] {
                        let d = if sub.is_empty() {
                            lib.clone()
                        } else {
                            join(&lib, sub)
                        };
                        if is_dir(fs, &d) {
                            dirs.push(d);
                        }
                    }
                }
            }
            // .pth files add directories, one per line (`import` lines run code).
            let mut extra = Vec::new();
            for d in &dirs {
                for name in fs.read_dir(d).into_iter().filter(|n| n.ends_with(".pth")) {
                    for line in read_text(fs, &join(d, &name)).unwrap_or_default().lines() {
                        let line = line.trim();
                        if line.is_empty() || line.starts_with('#') || line.starts_with("import") {
                            continue;
                        }
                        let p = if line.starts_with('/') {
                            line.to_string()
                        } else {
                            join(d, line)
                        };
                        if is_dir(fs, &p) {
                            extra.push(p);
                        }
                    }
                }
            }
            dirs.extend(extra);
            self.search = Some(dirs);
        }
        self.search.as_deref().unwrap_or_default()
    }

    /// The names in `dir` and which of them are directories, read once.
    fn listing(&mut self, fs: &LayerStack, dir: &str) -> std::sync::Arc<Listing> {
        if let Some(l) = self.listings.get(dir) {
            return l.clone();
        }
        let mut l = Listing::default();
        if let Some(real) = resolve_path(fs, dir) {
            for name in fs.read_dir(&real) {
                let path = join(&real, &name);
                match fs.lookup(&path) {
                    Some(f) if f.meta.is_dir() => {
                        l.dirs.insert(name);
                    }
                    Some(f) if f.meta.file_type().is_symlink() => {
                        if is_dir(fs, &path) {
                            l.dirs.insert(name);
                        } else {
                            l.files.insert(name);
                        }
                    }
                    Some(_) => {
                        l.files.insert(name);
                    }
                    None => {}
                }
            }
        }
        let l = std::sync::Arc::new(l);
        self.listings.insert(dir.to_string(), l.clone());
        l
    }

    /// The file or directory of module `name` directly in `dir`.
    fn find_in(&mut self, fs: &LayerStack, dir: &str, name: &str) -> Option<String> {
        let here = self.listing(fs, dir);
        if here.dirs.contains(name) {
            let pkg = join(dir, name);
            let inside = self.listing(fs, &pkg);
            return Some(if inside.files.contains("__init__.py") {
                join(&pkg, "__init__.py")
            } else {
                pkg
            });
        }
        let py = format!("{name}.py");
        if here.files.contains(&py) {
            return Some(join(dir, &py));
        }
        // Native extensions: name.cpython-311-x86_64-linux-gnu.so, name.abi3.so, name.so.
        let prefix = format!("{name}.");
        here.files
            .iter()
            .find(|n| n.starts_with(&prefix) && n.ends_with(".so"))
            .map(|n| join(dir, n))
    }

    /// The directory a resolved module lives in as a package (for its submodules).
    fn package_dir(found: &str) -> &str {
        found.strip_suffix("/__init__.py").unwrap_or(found)
    }

    /// Resolves dotted `module` from the roots; returns every file of the
    /// chain (`a/__init__.py`, `a/b/__init__.py`, `a/b/c.py`) and the root
    /// it was found in, or None.
    fn resolve(
        &mut self,
        fs: &LayerStack,
        roots: &[String],
        module: &str,
    ) -> Option<(Vec<String>, String)> {
        let mut parts = module.split('.');
        let first = parts.next()?;
        for root in roots {
            let Some(mut cur) = self.find_in(fs, root, first) else {
                continue;
            };
            let mut chain = vec![cur.clone()];
            let mut ok = true;
            for part in parts.clone() {
                let pkg = Self::package_dir(&cur).to_string();
                match self.find_in(fs, &pkg, part) {
                    Some(next) => {
                        chain.push(next.clone());
                        cur = next;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return Some((chain, root.clone()));
            }
            return None; // the first root that has the top-level name wins
        }
        None
    }

    /// The distributions of site directory `site`, read once.
    fn site(&mut self, fs: &LayerStack, site: &str) -> Arc<Site> {
        self.sites
            .entry(site.to_string())
            .or_insert_with(|| Arc::new(Site::read(fs, site)))
            .clone()
    }

    /// Every file of a metadata directory (or the single-file egg-info).
    fn metadata_files(fs: &LayerStack, dir: &str) -> Vec<String> {
        if is_dir(fs, dir) {
            fs.read_dir(dir)
                .into_iter()
                .map(|n| join(dir, &n))
                .collect()
        } else {
            vec![dir.to_string()]
        }
    }

    /// Metadata directories (every file in them) of the distribution that
    /// provides top-level `name` in site directory `site`.
    fn metadata(&mut self, fs: &LayerStack, site: &str, name: &str) -> Vec<String> {
        if !site.ends_with("-packages") {
            return Vec::new();
        }
        let s = self.site(fs, site);
        s.by_top
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|&i| Self::metadata_files(fs, &s.dists[i].dir))
            .collect()
    }

    /// The `X.Y` version of the image's interpreter (from its stdlib
    /// directory), for environment markers.
    fn python_version(&mut self, fs: &LayerStack) -> Option<String> {
        self.search(fs).iter().find_map(|d| {
            d.split('/')
                .find_map(|c| c.strip_prefix("python"))
                .filter(|v| v.contains('.'))
                .map(str::to_string)
        })
    }

    /// Keeps what requirement `name` names: the installed distribution of
    /// that name on the search path, its metadata and its top-level
    /// modules and packages; or records it as missing (declared by `by`).
    fn keep_requirement(&mut self, fs: &LayerStack, name: &str, by: &str, out: &mut Imports) {
        let want = python_dist::normalize(name);
        let sites: Vec<String> = self
            .search(fs)
            .iter()
            .filter(|d| d.ends_with("-packages"))
            .cloned()
            .collect();
        for site in sites {
            let s = self.site(fs, &site);
            let Some(&i) = s.by_name.get(&want) else {
                continue;
            };
            let dist = &s.dists[i];
            out.kept.extend(Self::metadata_files(fs, &dist.dir));
            for top in &dist.tops {
                if let Some((chain, _)) = self.resolve(fs, std::slice::from_ref(&site), top) {
                    out.kept.extend(chain);
                }
            }
            return;
        }
        out.missing.push(declared_missing(name, by));
    }

    /// The requirements of the distribution `path` (a file of site
    /// directory `site`) belongs to, once per distribution.
    fn keep_declared(&mut self, fs: &LayerStack, site: &str, path: &str, out: &mut Imports) {
        let Some(rel) = path.strip_prefix(&format!("{site}/")) else {
            return;
        };
        let s = self.site(fs, site);
        let python = self.python_version(fs);
        for i in s.owners(rel) {
            let dist = &s.dists[i];
            if !self.declared.insert(dist.dir.clone()) {
                continue;
            }
            out.kept.extend(Self::metadata_files(fs, &dist.dir));
            let by = python_dist::metadata_file(fs, &dist.dir);
            for req in python_dist::requirements(fs, &dist.dir, python.as_deref()) {
                self.keep_requirement(fs, &req.name, &by, out);
            }
        }
    }

    /// The requirements of the project a program outside the search path
    /// belongs to: the nearest `requirements.txt` or `pyproject.toml`
    /// (`[project] dependencies`) at or above its directory, once.
    fn keep_project(&mut self, fs: &LayerStack, dir: &str, out: &mut Imports) {
        let python = self.python_version(fs);
        let mut d = dir.to_string();
        loop {
            for file in PROJECT_FILES {
                let f = join(&d, file);
                let Some(text) = read_text(fs, &f) else {
                    continue;
                };
                if !self.declared.insert(f.clone()) {
                    return;
                }
                let lines: Vec<String> = if file.ends_with(".toml") {
                    toml::from_str::<toml::Value>(&text)
                        .ok()
                        .and_then(|v| v.get("project")?.get("dependencies")?.as_array().cloned())
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                } else {
                    // Options (`-r`, `-e`, `--index-url`) and URLs are not names.
                    text.lines()
                        .map(|l| l.split(" #").next().unwrap_or("").trim().to_string())
                        .filter(|l| {
                            !l.is_empty() && !l.starts_with(['#', '-']) && !l.contains("://")
                        })
                        .collect()
                };
                for req in lines
                    .iter()
                    .filter_map(|l| python_dist::requirement(l, python.as_deref()))
                {
                    self.keep_requirement(fs, &req.name, &f, out);
                }
                return;
            }
            if d == "/" {
                return;
            }
            d = parent(&d).to_string();
        }
    }
}

/// Files beside a program that list what it needs installed, in the
/// order they are looked for.
const PROJECT_FILES: [&str; 2] = ["requirements.txt", "pyproject.toml"];

impl Resolver for Python {
    fn language(&self) -> &'static str {
        "python"
    }

    fn wants(&self, path: &str) -> bool {
        path.ends_with(".py") || (path.ends_with(".pyc") && path.contains("/__pycache__/"))
    }

    fn decides_entry(&mut self, fs: &LayerStack, path: &str) -> bool {
        // Modules, extensions, their caches and packages (directories);
        // data files beside them (templates, certificates) stay.
        let dir = parent(path);
        let module = [".py", ".pyc", ".so"].iter().any(|e| path.ends_with(e))
            || path.ends_with("/__pycache__")
            || is_dir(fs, path);
        module
            && self
                .search(fs)
                .iter()
                .any(|s| dir == s || dir.starts_with(&format!("{s}/")))
    }

    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports {
        let mut out = Imports::default();
        // A cached module: its source is what it imports from.
        if path.ends_with(".pyc") {
            let dir = parent(parent(path));
            let file = &path[path.rfind('/').map_or(0, |i| i + 1)..];
            let stem = file.split('.').next().unwrap_or(file);
            let src = join(dir, &format!("{stem}.py"));
            if is_file(fs, &src) {
                out.kept.push(src);
            }
            return out;
        }
        // No `__pycache__` entries: a module the program loaded had its
        // cache opened (so kept by the trace); for one it may import later,
        // the cache only saves compiling its source on first import.
        let Some(source) = read_text(fs, path) else {
            return out;
        };
        let here = parent(path).to_string();
        let mut roots: Vec<String> = self.search(fs).to_vec();
        // A script outside the search path runs with its own directory first.
        if !roots.iter().any(|r| path.starts_with(&format!("{r}/"))) {
            roots.insert(0, here.clone());
        }
        // A module of the search path is imported; a script outside it
        // is the program (its `__main__` block runs).
        let site = self
            .search(fs)
            .iter()
            .filter(|r| r.ends_with("-packages") && path.starts_with(&format!("{r}/")))
            .max_by_key(|r| r.len())
            .cloned();
        let main = !self
            .search(fs)
            .iter()
            .any(|r| path.starts_with(&format!("{r}/")));
        match site {
            Some(site) => self.keep_declared(fs, &site, path, &mut out),
            None if main => self.keep_project(fs, &here, &mut out),
            None => {}
        }
        let stdlib = in_stdlib(path);
        let context = if main { "main" } else { "module" };
        let placed = parse_cache::cached(
            self.cache.as_deref(),
            "python",
            context,
            source.as_bytes(),
            || parse_imports(&source, path, main),
        );
        for ((level, module, names), in_function) in placed {
            let top = module.split('.').next().unwrap_or(&module);
            if stdlib && in_function && level == 0 && TOOLING.contains(&top) {
                out.not_followed.push(module);
                continue;
            }
            let (base_roots, prefix) = if level > 0 {
                let mut base = here.clone();
                for _ in 1..level {
                    base = parent(&base).to_string();
                }
                (vec![base], module.clone())
            } else {
                (roots.clone(), module.clone())
            };
            if prefix.is_empty() {
                // `from . import a, b`: each name is a module of the package.
                for n in &names {
                    if let Some((chain, _)) = self.resolve(fs, &base_roots, n) {
                        out.kept.extend(chain);
                    }
                }
                continue;
            }
            let top = prefix.split('.').next().unwrap_or(&prefix);
            match self.resolve(fs, &base_roots, &prefix) {
                Some((chain, root)) => {
                    let pkg = Self::package_dir(chain.last().unwrap()).to_string();
                    out.kept.extend(chain);
                    // `from pkg import name`: name may be a submodule.
                    for n in names.iter().filter(|n| *n != "*") {
                        if let Some(sub) = self.find_in(fs, &pkg, n) {
                            out.kept.push(sub);
                        }
                    }
                    if level == 0 {
                        out.kept.extend(self.metadata(fs, &root, top));
                    }
                }
                None if level == 0 && BUILTIN.contains(&top) => {}
                None => out.missing.push(if level > 0 {
                    format!("{}{prefix}", ".".repeat(level as usize))
                } else {
                    prefix
                }),
            }
        }
        out.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    #[test]
    fn finds_imports_anywhere_in_the_module() {
        let src = "import os, a.b as c\nfrom x import y\n\ndef f():\n    import lazy\n\ntry:\n    import fast\nexcept ImportError:\n    fast = None\nif TYPE_CHECKING:\n    from typing_only import T\nclass K:\n    def m(self):\n        from . import sib\n        from ..up import z\n";
        let found: Vec<(u32, String)> = parse_imports(src, "m.py", true)
            .into_iter()
            .map(|((l, m, _), _)| (l, m))
            .collect();
        for want in ["os", "a.b", "x", "lazy", "fast", "typing_only"] {
            assert!(found.contains(&(0, want.to_string())), "{want}: {found:?}");
        }
        assert!(found.contains(&(1, String::new())));
        assert!(found.contains(&(2, "up".to_string())));
        assert!(
            parse_imports("def (:", "bad.py", true).is_empty(),
            "unparsable imports nothing"
        );
    }

    /// Tooling that the standard library imports inside a function is not
    /// followed (and is said); the same import at module level, in the
    /// app's code or in site-packages is, and so is any other module.
    #[test]
    fn stdlib_tooling_imported_in_functions_is_not_followed() {
        let lib = "/usr/lib/python3.11";
        let site = format!("{lib}/site-packages");
        let (_t, fs) = tree(&[
            (&format!("{lib}/difflib.py"), "import heapq\ndef _test():\n    import doctest, difflib\n    doctest.testmod(difflib)\n"),
            (&format!("{lib}/cgitb.py"), "import pydoc\n"),
            (&format!("{lib}/heapq.py"), ""),
            (&format!("{lib}/doctest.py"), ""),
            (&format!("{lib}/pydoc.py"), ""),
            (&format!("{lib}/unittest/__init__.py"), ""),
            (&format!("{site}/plugin.py"), "def run():\n    import unittest\n"),
            ("/srv/app/app.py", "def debug():\n    import pdb\n    from unittest import mock\n"),
            (&format!("{lib}/pdb.py"), ""),
        ]);
        let mut py = Python::default();
        let difflib = py.imports(&fs, &format!("{lib}/difflib.py"));
        assert_eq!(
            difflib.kept,
            [format!("{lib}/difflib.py"), format!("{lib}/heapq.py")]
        );
        assert_eq!(difflib.not_followed, ["doctest"]);
        let cgitb = py.imports(&fs, &format!("{lib}/cgitb.py"));
        assert_eq!(cgitb.kept, [format!("{lib}/pydoc.py")], "module level");
        let plugin = py.imports(&fs, &format!("{site}/plugin.py"));
        assert_eq!(plugin.kept, [format!("{lib}/unittest/__init__.py")]);
        let app = py.imports(&fs, "/srv/app/app.py");
        assert!(
            app.kept.contains(&format!("{lib}/pdb.py")),
            "{:?}",
            app.kept
        );
        assert!(app.not_followed.is_empty());
        assert!(in_stdlib("/usr/local/lib/python3.12/json/__init__.py"));
        assert!(!in_stdlib("/usr/lib/python3/dist-packages/x.py"));
        assert!(!in_stdlib("/usr/lib/python3.11/dist-packages/x.py"));
    }

    #[test]
    fn resolves_stdlib_packages_extensions_relative_and_metadata() {
        let lib = "/usr/lib/python3.11";
        let site = "/usr/lib/python3/dist-packages";
        let (_t, fs) = tree(&[
            (&format!("{lib}/csv.py"), "import re\nif __name__ == '__main__':\n    import doctest\n"),
            (&format!("{lib}/doctest.py"), ""),
            (&format!("{lib}/re/__init__.py"), "from . import _parser\n"),
            (&format!("{lib}/re/_parser.py"), ""),
            (&format!("{lib}/__pycache__/csv.cpython-311.pyc"), ""),
            (&format!("{lib}/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so"), ""),
            (&format!("{lib}/sqlite3/__init__.py"), "from sqlite3.dbapi2 import *\n"),
            (&format!("{lib}/sqlite3/dbapi2.py"), "from _sqlite3 import *\n"),
            (&format!("{site}/requests/__init__.py"), ""),
            (&format!("{site}/requests-2.28.1.egg-info/top_level.txt"), "requests\n"),
            (&format!("{site}/requests-2.28.1.egg-info/PKG-INFO"), ""),
            (&format!("{site}/nspkg/part/mod.py"), ""),
            ("/srv/app/app.py", "import helpers, csv\nimport requests\nimport nspkg.part.mod\nimport nothere.sub\nimport sys\n\ndef f():\n    import sqlite3\nif __name__ == '__main__':\n    import doctest\n"),
            ("/srv/app/helpers.py", ""),
        ]);
        let mut py = Python::default();
        let got = py.imports(&fs, "/srv/app/app.py");
        for want in [
            "/srv/app/helpers.py".to_string(),
            format!("{lib}/csv.py"),
            format!("{lib}/sqlite3/__init__.py"),
            format!("{site}/requests/__init__.py"),
            format!("{site}/requests-2.28.1.egg-info/PKG-INFO"),
            format!("{site}/nspkg/part/mod.py"),
        ] {
            assert!(got.kept.contains(&want), "{want} not in {:?}", got.kept);
        }
        assert_eq!(got.missing, ["nothere.sub"], "sys is built in");
        let csv = py.imports(&fs, &format!("{lib}/csv.py"));
        assert!(csv.kept.contains(&format!("{lib}/re/__init__.py")));
        assert!(
            !csv.kept.contains(&format!("{lib}/doctest.py")),
            "a library's __main__ block runs only when it is the program"
        );
        assert!(
            got.kept.contains(&format!("{lib}/doctest.py")),
            "the program's does"
        );
        assert!(
            !csv.kept.iter().any(|k| k.contains("__pycache__")),
            "caches of modules not loaded are not kept: {:?}",
            csv.kept
        );
        let re = py.imports(&fs, &format!("{lib}/re/__init__.py"));
        assert_eq!(re.kept, [format!("{lib}/re/_parser.py")], "relative import");
        let dbapi = py.imports(&fs, &format!("{lib}/sqlite3/dbapi2.py"));
        assert_eq!(
            dbapi.kept,
            [format!(
                "{lib}/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so"
            )],
            "native extension"
        );
    }

    #[test]
    fn an_installed_apps_declared_requirements_are_kept() {
        let site = "/usr/local/lib/python3.11/dist-packages";
        let app = format!("{site}/greet_app-1.0.dist-info");
        let (_t, fs) = tree(&[
            ("/usr/lib/python3.11/os.py", ""),
            ("/usr/lib/python3.11/importlib/__init__.py", ""),
            (
                &format!("{site}/greet_app/__main__.py"),
                "import importlib, os\nm = importlib.import_module(os.environ['P'])\n",
            ),
            (&format!("{site}/greet_app/__init__.py"), ""),
            (
                &format!("{app}/METADATA"),
                "Metadata-Version: 2.1\nName: greet-app\nVersion: 1.0\n\
                 Requires-Dist: Greet.Plugin (>=1.0)\nRequires-Dist: greet-missing\n\
                 Requires-Dist: greet-windows ; sys_platform == \"win32\"\n\
                 Requires-Dist: greet-old ; python_version < \"3.8\"\n\
                 Provides-Extra: fancy\nRequires-Dist: greet-fancy ; extra == 'fancy'\n\
                 \nRequires-Dist: in-the-description\n",
            ),
            (
                &format!("{app}/RECORD"),
                "greet_app/__init__.py,,\ngreet_app/__main__.py,,\ngreet_app-1.0.dist-info/METADATA,,\n",
            ),
            // The dependency: its name differs from its package's.
            (&format!("{site}/greet_plugin-1.0.dist-info/METADATA"), "Name: Greet.Plugin\n"),
            (&format!("{site}/greet_plugin-1.0.dist-info/top_level.txt"), "plugin_pkg\nplugin_mod\n"),
            (&format!("{site}/plugin_pkg/__init__.py"), "from . import words\n"),
            (&format!("{site}/plugin_pkg/words.py"), ""),
            (&format!("{site}/plugin_mod.py"), ""),
            // Installed, but only an extra (or nothing) names them.
            (&format!("{site}/greet_fancy-1.0.dist-info/METADATA"), "Name: greet-fancy\n"),
            (&format!("{site}/greet_fancy/__init__.py"), ""),
            (&format!("{site}/greet_windows-1.0.dist-info/METADATA"), ""),
            (&format!("{site}/greet_windows/__init__.py"), ""),
            (&format!("{site}/greet_unused-1.0.dist-info/METADATA"), ""),
            (&format!("{site}/greet_unused/__init__.py"), ""),
            // A program beside its requirements.txt.
            ("/srv/tool/run.py", "print(1)\n"),
            (
                "/srv/tool/requirements.txt",
                "# pinned\n-r base.txt\ngreet_plugin==1.0  # the plugin\nnot-installed>=2\nwinonly; os_name == 'nt'\n",
            ),
        ]);
        let mut py = Python::default();
        let got = py.imports(&fs, &format!("{site}/greet_app/__main__.py"));
        for want in [
            format!("{app}/METADATA"),
            format!("{site}/greet_plugin-1.0.dist-info/METADATA"),
            format!("{site}/plugin_pkg/__init__.py"),
            format!("{site}/plugin_mod.py"),
        ] {
            assert!(got.kept.contains(&want), "{want} not in {:#?}", got.kept);
        }
        for not in [
            "greet_fancy",
            "greet_windows",
            "greet_unused",
            "plugin_pkg/words.py",
        ] {
            assert!(
                !got.kept.iter().any(|k| k.contains(not)),
                "{not}: {:#?}",
                got.kept
            );
        }
        assert_eq!(
            got.missing,
            [format!(
                "declared dependency greet-missing ({app}/METADATA)"
            )]
        );
        // The plugin's own closure follows from its kept files.
        let words = py.imports(&fs, &format!("{site}/plugin_pkg/__init__.py"));
        assert!(words.kept.contains(&format!("{site}/plugin_pkg/words.py")));
        // Once per distribution.
        let again = py.imports(&fs, &format!("{site}/greet_app/__init__.py"));
        assert!(
            again.kept.is_empty() && again.missing.is_empty(),
            "{again:?}"
        );
        // A program's requirements.txt.
        let tool = py.imports(&fs, "/srv/tool/run.py");
        assert!(tool
            .kept
            .contains(&format!("{site}/plugin_pkg/__init__.py")));
        assert_eq!(
            tool.missing,
            ["declared dependency not-installed (/srv/tool/requirements.txt)"]
        );
    }

    #[test]
    fn a_pyc_leads_to_its_source() {
        let (_t, fs) = tree(&[
            ("/app/m.py", ""),
            ("/app/__pycache__/m.cpython-311.pyc", ""),
        ]);
        let got = Python::default().imports(&fs, "/app/__pycache__/m.cpython-311.pyc");
        assert_eq!(got.kept, ["/app/m.py"]);
    }
}
