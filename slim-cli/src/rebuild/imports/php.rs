//! PHP: what kept `.php` files include, what Composer's autoloader can load
//! for them, and the extensions the interpreter's ini files load.
//!
//! Sources are parsed with tree-sitter-php (`php_syntax`). From each file:
//! - `require`, `require_once`, `include` and `include_once` whose path is
//!   a literal, `__DIR__`, `__FILE__` or `dirname(...)` of those, a local
//!   variable assigned such a value, or a concatenation of them. A
//!   relative path is looked for beside the including file, then in the
//!   include path as Debian and the official images set it
//!   (`/usr/share/php`, `/usr/local/lib/php`).
//! - The class names it mentions (`use` imports, `new X`, `X::m()`, type
//!   hints, `extends`: every identifier, resolved against the namespace
//!   and its `use` aliases), and string literals that look like namespaced
//!   class names (`'Acme\\Plugins\\' . $name`).
//!
//! When a file belongs to a Composer project (an ancestor directory holds
//! `vendor/composer/`), those names are resolved through Composer's own
//! maps, read from the image: `autoload_psr4.php`, `autoload_namespaces.php`
//! (PSR-0), `autoload_classmap.php` and `autoload_files.php`, with
//! `installed.json` for where each package is and whether it is a dev
//! package. Kept then, once per project: composer.json and composer.lock,
//! `vendor/autoload.php` and all of `vendor/composer/`, the `files`
//! autoloads, the root package's own autoload directories, every package
//! a name resolves into, and every runtime package `composer.lock`
//! declares (`packages`, not `packages-dev`): what the app loads by
//! computed class names (plugins, drivers, controllers) is among them.
//! Each kept file is parsed in turn (its own closure).
//!
//! The interpreter (`php8.2`, `php-fpm8.2`, Apache's `libphp8.2.so`) loads
//! every extension its ini files name at start-up: a kept interpreter
//! brings the `php.ini` and `conf.d/*.ini` of each SAPI directory and the
//! extension objects their `extension=`/`zend_extension=` lines name (the
//! closure brings the objects' libraries).
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::{
    declared_missing,
    dirs::expand,
    is_dir, is_file, join, parent,
    php_syntax::{returned_map, scan},
    read, read_text, Imports, Resolver,
};
use crate::rebuild::rootfs::LayerStack;

/// Directories of ini files, one per SAPI (`cli`, `fpm`, `apache2`), as
/// Debian (`/etc/php/8.2/cli`) and the official images lay them out.
const INI_DIRS: &[&str] = &["/etc/php/[0-9]*/*", "/usr/local/etc/php"];

/// Extension directories when no ini file sets `extension_dir`.
const EXTENSION_DIRS: &[&str] = &["/usr/lib/php/[0-9]*", "/usr/local/lib/php/extensions/*"];

/// The include path's directories (besides `.`), as compiled in by Debian
/// and by the official images.
const INCLUDE_PATH: &[&str] = &["/usr/share/php", "/usr/local/lib/php"];

/// The array a Composer-generated map file returns (none if unreadable).
fn composer_map(fs: &LayerStack, path: &str) -> Vec<(String, Vec<String>)> {
    read(fs, path).map_or_else(Vec::new, |b| returned_map(&b, path))
}

/// One installed package of a Composer project.
#[derive(Debug, Clone)]
struct Package {
    name: String,
    dir: String,
    dev: bool,
}

/// A Composer project, read once: its maps and packages.
#[derive(Debug, Default)]
struct Project {
    root: String,
    vendor: String,
    /// PSR-4 prefixes (longest first) and PSR-0 prefixes, with their dirs.
    psr4: Vec<(String, Vec<String>)>,
    psr0: Vec<(String, Vec<String>)>,
    classmap: HashMap<String, String>,
    /// Files the autoloader includes on every request.
    files: Vec<String>,
    packages: Vec<Package>,
    /// Names of the runtime packages the project declares.
    runtime: BTreeSet<String>,
    /// The root package's own autoload directories.
    own_dirs: Vec<String>,
}

impl Project {
    fn read(fs: &LayerStack, root: &str, vendor: &str) -> Self {
        let composer = join(vendor, "composer");
        let mut p = Project {
            root: root.to_string(),
            vendor: vendor.to_string(),
            ..Default::default()
        };
        p.psr4 = composer_map(fs, &join(&composer, "autoload_psr4.php"));
        p.psr4.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        p.psr0 = composer_map(fs, &join(&composer, "autoload_namespaces.php"));
        p.psr0.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        p.classmap = composer_map(fs, &join(&composer, "autoload_classmap.php"))
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.into_iter().next()?)))
            .collect();
        p.files = composer_map(fs, &join(&composer, "autoload_files.php"))
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect();
        // installed.json: Composer 2's {"packages": [..], "dev-package-names"}
        // or Composer 1's plain list.
        let installed: Option<Value> = read(fs, &join(&composer, "installed.json"))
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (list, dev_names): (Vec<Value>, HashSet<String>) = match installed {
            Some(Value::Array(a)) => (a, HashSet::new()),
            Some(Value::Object(o)) => (
                o.get("packages")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                o.get("dev-package-names")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => (Vec::new(), HashSet::new()),
        };
        for pkg in list {
            let Some(name) = pkg.get("name").and_then(Value::as_str) else {
                continue;
            };
            let dir = match pkg.get("install-path").and_then(Value::as_str) {
                Some(rel) => join(&composer, rel),
                None => join(vendor, name),
            };
            p.packages.push(Package {
                name: name.to_string(),
                dev: dev_names.contains(name),
                dir,
            });
        }
        let json = |f: &str| -> Option<Value> {
            read(fs, &join(root, f)).and_then(|b| serde_json::from_slice(&b).ok())
        };
        match json("composer.lock") {
            Some(lock) => {
                p.runtime = lock
                    .get("packages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("name")?.as_str().map(str::to_string))
                    .collect();
            }
            // No lock file: what installed.json does not mark as dev.
            None => {
                p.runtime = p
                    .packages
                    .iter()
                    .filter(|k| !k.dev)
                    .map(|k| k.name.clone())
                    .collect()
            }
        }
        // The root package's own autoload directories (psr-4, psr-0, classmap).
        if let Some(autoload) = json("composer.json").and_then(|c| c.get("autoload").cloned()) {
            let mut dirs = Vec::new();
            for kind in ["psr-4", "psr-0"] {
                for v in autoload
                    .get(kind)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    match v.1 {
                        Value::String(s) => dirs.push(s.clone()),
                        Value::Array(a) => {
                            dirs.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)))
                        }
                        _ => {}
                    }
                }
            }
            for v in autoload
                .get("classmap")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                dirs.extend(v.as_str().map(str::to_string));
            }
            p.own_dirs = dirs.iter().map(|d| join(root, d)).collect();
        }
        p
    }

    /// The file the autoloader would include for class `name`.
    fn class_file(&self, fs: &LayerStack, name: &str) -> Option<String> {
        if let Some(f) = self.classmap.get(&name.to_ascii_lowercase()) {
            return Some(f.clone());
        }
        let rel = name.replace('\\', "/");
        for (prefix, dirs) in &self.psr4 {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let rest = rest.replace('\\', "/");
            if let Some(f) = dirs
                .iter()
                .map(|d| join(d, &format!("{rest}.php")))
                .find(|f| is_file(fs, f))
            {
                return Some(f);
            }
        }
        for (prefix, dirs) in &self.psr0 {
            if !name.starts_with(prefix.as_str()) {
                continue;
            }
            // PSR-0: `_` in the class's own name is a directory separator.
            let (ns, class) = rel.rsplit_once('/').unwrap_or(("", &rel));
            let file = if ns.is_empty() {
                format!("{}.php", class.replace('_', "/"))
            } else {
                format!("{ns}/{}.php", class.replace('_', "/"))
            };
            if let Some(f) = dirs.iter().map(|d| join(d, &file)).find(|f| is_file(fs, f)) {
                return Some(f);
            }
        }
        None
    }

    /// The directories of the PSR-4/PSR-0 prefixes that `s` (a namespaced
    /// string, perhaps a prefix of a computed class name) falls under.
    fn prefix_dirs(&self, s: &str) -> Vec<String> {
        self.psr4
            .iter()
            .chain(&self.psr0)
            .filter(|(p, _)| !p.is_empty() && (s.starts_with(p.as_str()) || p.starts_with(s)))
            .flat_map(|(_, d)| d.clone())
            .collect()
    }

    /// The package that holds `path`.
    fn package_of(&self, path: &str) -> Option<&Package> {
        self.packages
            .iter()
            .filter(|p| path.starts_with(&format!("{}/", p.dir)))
            .max_by_key(|p| p.dir.len())
    }
}

/// Every file below `dir` (symlinks included, not followed).
fn files_below(fs: &LayerStack, dir: &str, out: &mut Vec<String>) {
    let mut stack = vec![dir.to_string()];
    while let Some(d) = stack.pop() {
        for name in fs.read_dir(&d) {
            let p = join(&d, &name);
            match fs.lookup(&p) {
                Some(f) if f.meta.is_dir() => stack.push(p),
                Some(_) => out.push(p),
                None => {}
            }
        }
    }
}

/// Whether the file is a PHP interpreter: the CLI, FPM, CGI, or Apache's
/// module.
fn is_interpreter(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let version = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '.');
    if let Some(v) = name
        .strip_prefix("libphp")
        .and_then(|n| n.strip_suffix(".so"))
    {
        return version(v);
    }
    ["php-fpm", "php-cgi", "phpdbg", "php"]
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(version))
}

/// `key = value` settings of an ini file (quotes removed), in order.
fn ini_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with([';', '#', '[']))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.split(';').next().unwrap_or(v).trim();
            (
                k.trim().to_string(),
                v.trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect()
}

#[derive(Default)]
pub struct Php {
    /// Per directory: the Composer project root above it, if any.
    roots: HashMap<String, Option<(String, String)>>,
    projects: HashMap<String, Project>,
    /// Projects whose own files were kept already.
    emitted: HashSet<String>,
    /// Package directories kept whole already.
    packages: HashSet<String>,
    /// Whether the ini files and extensions were kept already.
    interpreter_done: bool,
}

impl Php {
    /// The Composer project (root, vendor dir) `file` belongs to: the
    /// nearest ancestor whose vendor directory holds `composer/`.
    fn project_root(&mut self, fs: &LayerStack, file: &str) -> Option<(String, String)> {
        let mut chain = Vec::new();
        let mut dir = parent(file).to_string();
        let found = loop {
            if let Some(r) = self.roots.get(&dir) {
                break r.clone();
            }
            chain.push(dir.clone());
            let vendor_dir = read(fs, &join(&dir, "composer.json"))
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|c| {
                    c.pointer("/config/vendor-dir")?
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "vendor".into());
            let vendor = join(&dir, &vendor_dir);
            if is_dir(fs, &join(&vendor, "composer")) {
                break Some((dir.clone(), vendor));
            }
            if dir == "/" {
                break None;
            }
            dir = parent(&dir).to_string();
        };
        for d in chain {
            self.roots.insert(d, found.clone());
        }
        found
    }

    /// Keeps `dir` whole (once).
    fn keep_package(&mut self, fs: &LayerStack, dir: &str, out: &mut Imports) {
        if self.packages.insert(dir.to_string()) {
            files_below(fs, dir, &mut out.kept);
        }
    }

    /// What the project keeps the first time one of its files is kept.
    fn project_files(&mut self, fs: &LayerStack, root: &str, out: &mut Imports) {
        if !self.emitted.insert(root.to_string()) {
            return;
        }
        let p = &self.projects[root];
        for f in ["composer.json", "composer.lock"] {
            let f = join(&p.root, f);
            if is_file(fs, &f) {
                out.kept.push(f);
            }
        }
        out.kept.push(join(&p.vendor, "autoload.php"));
        out.kept.extend(p.files.iter().cloned());
        let mut dirs: Vec<String> = vec![join(&p.vendor, "composer")];
        dirs.extend(p.own_dirs.iter().cloned());
        let lock = join(&p.root, "composer.lock");
        for name in &p.runtime {
            let dir = match p.packages.iter().find(|k| &k.name == name) {
                Some(k) => k.dir.clone(),
                None => join(&p.vendor, name),
            };
            if !is_dir(fs, &dir) {
                // Declared (by the lock, or installed.json without one) but absent.
                let by = if is_file(fs, &lock) {
                    lock.clone()
                } else {
                    join(&p.vendor, "composer/installed.json")
                };
                out.missing.push(declared_missing(name, &by));
            }
            dirs.push(dir);
        }
        for d in dirs {
            if is_dir(fs, &d) {
                self.keep_package(fs, &d, out);
            } else if is_file(fs, &d) {
                out.kept.push(d);
            }
        }
    }

    /// The ini files of every SAPI and the extensions they load.
    fn interpreter(&mut self, fs: &LayerStack) -> Imports {
        let mut out = Imports::default();
        if std::mem::replace(&mut self.interpreter_done, true) {
            return out;
        }
        let mut inis = Vec::new();
        for dir in INI_DIRS.iter().flat_map(|p| expand(fs, p)) {
            let ini = join(&dir, "php.ini");
            if is_file(fs, &ini) {
                inis.push(ini);
            }
            let confd = join(&dir, "conf.d");
            let mut names = fs.read_dir(&confd);
            names.sort();
            inis.extend(
                names
                    .into_iter()
                    .filter(|n| n.ends_with(".ini"))
                    .map(|n| join(&confd, &n)),
            );
        }
        let mut ext_dir = None;
        let mut extensions = Vec::new();
        for ini in &inis {
            for (k, v) in ini_settings(&read_text(fs, ini).unwrap_or_default()) {
                match k.as_str() {
                    "extension_dir" => ext_dir = Some(v),
                    "extension" | "zend_extension" => extensions.push(v),
                    _ => {}
                }
            }
        }
        let dirs: Vec<String> = match ext_dir {
            Some(d) => vec![d],
            None => EXTENSION_DIRS.iter().flat_map(|p| expand(fs, p)).collect(),
        };
        for ext in extensions {
            let file = if ext.contains('.') {
                ext.clone()
            } else {
                format!("{ext}.so")
            };
            let hit = if file.starts_with('/') {
                is_file(fs, &file).then_some(file)
            } else {
                dirs.iter().map(|d| join(d, &file)).find(|f| is_file(fs, f))
            };
            match hit {
                Some(f) => out.kept.push(f),
                None => out.missing.push(format!("extension {ext}")),
            }
        }
        out.kept.extend(inis);
        out.sorted()
    }
}

impl Resolver for Php {
    fn language(&self) -> &'static str {
        "php"
    }

    fn wants(&self, path: &str) -> bool {
        path.ends_with(".php")
            || path.ends_with(".inc")
            || path.ends_with(".phtml")
            || is_interpreter(path)
    }

    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports {
        if is_interpreter(path) {
            return self.interpreter(fs);
        }
        let mut out = Imports::default();
        let Some(source) = read(fs, path) else {
            return out;
        };
        let found = scan(&source, path);
        let here = parent(path).to_string();
        for inc in found.includes {
            let candidates: Vec<String> = if inc.starts_with('/') {
                vec![crate::rebuild::paths::normalize(&inc)]
            } else {
                std::iter::once(here.as_str())
                    .chain(INCLUDE_PATH.iter().copied())
                    .map(|d| join(d, &inc))
                    .collect()
            };
            match candidates.into_iter().find(|c| is_file(fs, c)) {
                Some(f) => out.kept.push(f),
                None => out.missing.push(inc),
            }
        }
        if let Some((root, vendor)) = self.project_root(fs, path) {
            if !self.projects.contains_key(&root) {
                let p = Project::read(fs, &root, &vendor);
                self.projects.insert(root.clone(), p);
            }
            self.project_files(fs, &root, &mut out);
            // Composer's own files name every package, dev ones too.
            if path.starts_with(&format!("{vendor}/composer/")) {
                return out.sorted();
            }
            let p = &self.projects[&root];
            let mut whole = Vec::new();
            for name in &found.names {
                if let Some(f) = p.class_file(fs, name) {
                    if let Some(pkg) = p.package_of(&f) {
                        whole.push(pkg.dir.clone());
                    }
                    out.kept.push(f);
                }
            }
            for s in &found.strings {
                // A prefix's directory is inside its package: keep the package.
                whole.extend(
                    p.prefix_dirs(s)
                        .into_iter()
                        .map(|d| p.package_of(&format!("{d}/x")).map_or(d, |k| k.dir.clone())),
                );
            }
            for dir in whole {
                if is_dir(fs, &dir) {
                    self.keep_package(fs, &dir, &mut out);
                }
            }
        }
        out.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    /// A Composer project as `composer install` lays it out.
    fn project() -> (tempfile::TempDir, LayerStack) {
        tree(&[
            (
                "/srv/www/public/index.php",
                "<?php\nrequire __DIR__ . '/../vendor/autoload.php';\nuse Acme\\Greeter\\Greeter;\n\
                 function later() { require __DIR__ . '/../handlers/time.php'; }\n\
                 $p = 'Acme\\\\Plugins\\\\' . $x; new $p;\n",
            ),
            (
                "/srv/www/handlers/time.php",
                "<?php\nnamespace App;\necho Format::x(), \\LegacyTool::v();\nrequire 'missing.php';\n",
            ),
            ("/srv/www/src/Format.php", "<?php namespace App; class Format {}"),
            (
                "/srv/www/composer.json",
                r#"{"autoload": {"psr-4": {"App\\": "src/"}}}"#,
            ),
            (
                "/srv/www/composer.lock",
                r#"{"packages": [{"name": "acme/clock"}, {"name": "acme/gone"}], "packages-dev": [{"name": "acme/devtools"}]}"#,
            ),
            (
                "/srv/www/vendor/autoload.php",
                "<?php\nrequire_once __DIR__ . '/composer/autoload_real.php';\n",
            ),
            ("/srv/www/vendor/composer/autoload_real.php", "<?php\n"),
            (
                "/srv/www/vendor/composer/autoload_static.php",
                "<?php\nnamespace Composer\\Autoload;\nclass S { public static $p = array(\n\
                 'Acme\\\\Dev\\\\' => array(0 => __DIR__ . '/..' . '/acme/devtools/src'),\n); }\n",
            ),
            (
                "/srv/www/vendor/composer/autoload_psr4.php",
                "<?php\n$vendorDir = dirname(__DIR__);\n$baseDir = dirname($vendorDir);\nreturn array(\n\
                 'App\\\\' => array($baseDir . '/src'),\n\
                 'Acme\\\\Plugins\\\\' => array($vendorDir . '/acme/plugins/src'),\n\
                 'Acme\\\\Greeter\\\\' => array($vendorDir . '/acme/greeter/src'),\n\
                 'Acme\\\\Dev\\\\' => array($vendorDir . '/acme/devtools/src'),\n);\n",
            ),
            (
                "/srv/www/vendor/composer/autoload_classmap.php",
                "<?php\n$vendorDir = dirname(__DIR__);\nreturn array(\n\
                 'LegacyTool' => $vendorDir . '/acme/legacy/lib/LegacyTool.php',\n);\n",
            ),
            (
                "/srv/www/vendor/composer/autoload_files.php",
                "<?php\n$vendorDir = dirname(__DIR__);\nreturn array(\n\
                 'abc' => $vendorDir . '/acme/greeter/src/functions.php',\n);\n",
            ),
            (
                "/srv/www/vendor/composer/installed.json",
                r#"{"packages": [
                    {"name": "acme/greeter", "install-path": "../acme/greeter"},
                    {"name": "acme/plugins", "install-path": "../acme/plugins"},
                    {"name": "acme/clock", "install-path": "../acme/clock"},
                    {"name": "acme/legacy", "install-path": "../acme/legacy"},
                    {"name": "acme/devtools", "install-path": "../acme/devtools"}
                ], "dev": true, "dev-package-names": ["acme/devtools"]}"#,
            ),
            ("/srv/www/vendor/acme/greeter/src/Greeter.php", "<?php"),
            ("/srv/www/vendor/acme/greeter/src/functions.php", "<?php"),
            ("/srv/www/vendor/acme/greeter/composer.json", "{}"),
            ("/srv/www/vendor/acme/plugins/src/UpperPlugin.php", "<?php"),
            ("/srv/www/vendor/acme/clock/src/Clock.php", "<?php"),
            ("/srv/www/vendor/acme/legacy/lib/LegacyTool.php", "<?php"),
            ("/srv/www/vendor/acme/devtools/src/Tool.php", "<?php"),
            ("/usr/share/php/missing-not.php", "<?php"),
        ])
    }

    #[test]
    fn composer_projects_keep_named_and_declared_packages() {
        let (_t, fs) = project();
        let mut php = Php::default();
        let got = php.imports(&fs, "/srv/www/public/index.php");
        let v = "/srv/www/vendor";
        for want in [
            "/srv/www/vendor/autoload.php".to_string(),
            "/srv/www/composer.json".into(),
            "/srv/www/composer.lock".into(),
            "/srv/www/handlers/time.php".into(),
            "/srv/www/src/Format.php".into(),
            format!("{v}/composer/autoload_psr4.php"),
            format!("{v}/composer/installed.json"),
            // named by a use statement, with its package
            format!("{v}/acme/greeter/src/Greeter.php"),
            format!("{v}/acme/greeter/composer.json"),
            // the files autoload
            format!("{v}/acme/greeter/src/functions.php"),
            // a computed class name under a PSR-4 prefix
            format!("{v}/acme/plugins/src/UpperPlugin.php"),
            // declared in composer.lock, named nowhere
            format!("{v}/acme/clock/src/Clock.php"),
        ] {
            assert!(got.kept.contains(&want), "{want} not in {:#?}", got.kept);
        }
        for not in ["/acme/devtools/", "/acme/legacy/"] {
            assert!(
                !got.kept.iter().any(|k| k.contains(not)),
                "{not} kept: {:#?}",
                got.kept
            );
        }
        assert_eq!(
            got.missing,
            ["declared dependency acme/gone (/srv/www/composer.lock)"]
        );
        // Composer's generated maps name the dev packages too.
        let got = php.imports(&fs, "/srv/www/vendor/composer/autoload_static.php");
        assert!(
            !got.kept.iter().any(|k| k.contains("/acme/devtools/")),
            "{:?}",
            got.kept
        );
        // The handler: a root class and a classmap class; its missing include.
        let got = php.imports(&fs, "/srv/www/handlers/time.php");
        assert!(
            got.kept
                .contains(&format!("{v}/acme/legacy/lib/LegacyTool.php")),
            "{:?}",
            got.kept
        );
        assert!(
            !got.kept.contains(&"/srv/www/composer.json".to_string()),
            "once per project"
        );
        assert_eq!(got.missing, ["missing.php"]);
    }

    #[test]
    fn the_interpreter_brings_its_ini_files_and_extensions() {
        let (_t, fs) = tree(&[
            ("/usr/bin/php8.2", "\x7fELF"),
            (
                "/etc/php/8.2/cli/php.ini",
                "[PHP]\n;extension=nope\nmemory_limit = 128M\n",
            ),
            (
                "/etc/php/8.2/mods-available/intl.ini",
                "extension=intl.so\n",
            ),
            ("/etc/php/8.2/cli/conf.d/20-intl.ini", "extension=intl.so\n"),
            (
                "/etc/php/8.2/apache2/conf.d/20-mbstring.ini",
                "extension = \"mbstring\" ; comment\n",
            ),
            (
                "/etc/php/8.2/fpm/conf.d/10-opcache.ini",
                "zend_extension=opcache.so\nextension=gone\n",
            ),
            ("/usr/lib/php/20220829/intl.so", ""),
            ("/usr/lib/php/20220829/mbstring.so", ""),
            ("/usr/lib/php/20220829/opcache.so", ""),
            ("/usr/lib/php/20220829/unused.so", ""),
        ]);
        let mut php = Php::default();
        assert!(php.wants("/usr/bin/php8.2") && php.wants("/usr/lib/apache2/modules/libphp8.2.so"));
        assert!(!php.wants("/usr/bin/phpize") && !php.wants("/usr/lib/libphpx.so"));
        let got = php.imports(&fs, "/usr/bin/php8.2");
        assert_eq!(
            got.kept,
            [
                "/etc/php/8.2/apache2/conf.d/20-mbstring.ini",
                "/etc/php/8.2/cli/conf.d/20-intl.ini",
                "/etc/php/8.2/cli/php.ini",
                "/etc/php/8.2/fpm/conf.d/10-opcache.ini",
                "/usr/lib/php/20220829/intl.so",
                "/usr/lib/php/20220829/mbstring.so",
                "/usr/lib/php/20220829/opcache.so",
            ]
        );
        assert_eq!(got.missing, ["extension gone"]);
        assert!(php.imports(&fs, "/usr/bin/php8.2").kept.is_empty(), "once");
    }
}
