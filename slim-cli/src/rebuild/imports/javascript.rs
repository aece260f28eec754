//! Node.js: `require("x")`, static `import`, `export ... from` and dynamic
//! `import("x")` with literal specifiers in kept `.js`/`.mjs`/`.cjs` files,
//! parsed with oxc and resolved with Node's algorithm: relative files with
//! their extensions and `index` files, `node_modules` directories up the
//! tree and the global ones, `package.json` `main` and `exports` (every
//! condition: what `import` and `require` may pick). The `package.json` of
//! every package on the way is kept; native `.node` addons are ELF files,
//! so the closure brings their libraries.
//!
//! What code loads by a computed name (`require(engine)`: view engines,
//! database drivers, plugins) is among what its package declares: once per
//! package (the nearest `package.json` above a kept file, the app's or a
//! dependency's own), its `dependencies`, `optionalDependencies` and
//! `peerDependencies` are resolved from its directory as Node would and
//! their entry files kept, and so is every runtime package of its lock
//! file's `packages` map (npm 7+; `dev` entries are not). Each kept entry
//! is parsed in turn, so a dependency brings its own closure and its own
//! declared dependencies.

use std::collections::{HashMap, HashSet};

use oxc_allocator::Allocator;
use oxc_ast::ast::{Argument, CallExpression, Expression, ImportExpression};
use oxc_ast_visit::Visit;
use oxc_span::SourceType;
use serde_json::Value;

use super::{declared_missing, is_dir, is_file, join, parent, read, read_text, Imports, Resolver};
use crate::rebuild::rootfs::LayerStack;

/// Modules built into Node (`node:` prefixed or bare).
const BUILTIN: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
    "test",
];

/// Global module directories (Debian's Node searches these after
/// node_modules; /usr/local/lib/node_modules is npm's global prefix).
const GLOBAL_DIRS: [&str; 5] = [
    "/usr/local/lib/node_modules",
    "/usr/share/nodejs",
    "/usr/lib/nodejs",
    "/usr/lib/x86_64-linux-gnu/nodejs",
    "/usr/lib/aarch64-linux-gnu/nodejs",
];

const EXTENSIONS: [&str; 6] = ["", ".js", ".json", ".node", ".mjs", ".cjs"];

/// The `package.json` fields that name packages its code may load at run
/// time, and whether one that is not installed is reported (optional and
/// peer dependencies are often absent by design). `devDependencies` is not
/// among them.
const DECLARED: &[(&str, bool)] = &[
    ("dependencies", true),
    ("optionalDependencies", false),
    ("peerDependencies", false),
];

/// Lock files with a `packages` map of what npm installed (keys are paths
/// relative to the project: `node_modules/a/node_modules/b`), in the order
/// npm prefers them; the first one present is read.
const LOCK_FILES: &[&str] = &[
    "npm-shrinkwrap.json",
    "package-lock.json",
    "node_modules/.package-lock.json",
];

/// Flags of a lock entry whose package may be absent by design (not
/// reported when it is).
const LOCK_MAY_BE_ABSENT: &[&str] = &["optional", "devOptional", "peer"];

#[derive(Default)]
pub struct JavaScript {
    /// Per directory: the directory of the nearest `package.json` at or
    /// above it.
    roots: HashMap<String, Option<String>>,
    /// Packages whose declared dependencies were kept.
    declared: HashSet<String>,
}

/// Literal module specifiers of one file.
#[derive(Default)]
struct Collect {
    found: Vec<String>,
}

impl<'a> Visit<'a> for Collect {
    fn visit_import_declaration(&mut self, it: &oxc_ast::ast::ImportDeclaration<'a>) {
        self.found.push(it.source.value.to_string());
    }

    fn visit_export_all_declaration(&mut self, it: &oxc_ast::ast::ExportAllDeclaration<'a>) {
        self.found.push(it.source.value.to_string());
    }

    fn visit_export_from_declaration(&mut self, it: &oxc_ast::ast::ExportFromDeclaration<'a>) {
        self.found.push(it.source.value.to_string());
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        if let Expression::StringLiteral(s) = &it.source {
            self.found.push(s.value.to_string());
        }
        oxc_ast_visit::walk::walk_import_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(id) = &it.callee {
            if id.name == "require" {
                if let Some(Argument::StringLiteral(s)) = it.arguments.first() {
                    self.found.push(s.value.to_string());
                }
            }
        }
        oxc_ast_visit::walk::walk_call_expression(self, it);
    }
}

/// The literal specifiers `source` imports or requires.
pub fn parse_specifiers(source: &str, path: &str) -> Vec<String> {
    let allocator = Allocator::default();
    // A .js file may be a CommonJS script or an ES module: parse as a
    // module, and as a script when that fails (`with`, octal literals).
    let module = SourceType::from_path(path)
        .unwrap_or_default()
        .with_module(true);
    let mut ret = oxc_parser::Parser::new(&allocator, source, module).parse();
    if ret.panicked || ret.diagnostics.has_errors() {
        let script = SourceType::cjs();
        let again = oxc_parser::Parser::new(&allocator, source, script).parse();
        if !again.panicked {
            ret = again;
        }
    }
    let mut c = Collect::default();
    c.visit_program(&ret.program);
    c.found
}

fn read_json(fs: &LayerStack, path: &str) -> Option<Value> {
    serde_json::from_slice(&read(fs, path)?).ok()
}

/// Every target string in an `exports` value (all conditions).
fn targets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| targets(x, out)),
        Value::Object(m) => m.values().for_each(|x| targets(x, out)),
        _ => {}
    }
}

/// The `exports` targets for `subpath` ("." or "./x").
fn export_targets(exports: &Value, subpath: &str) -> Vec<String> {
    let mut out = Vec::new();
    let keyed = exports
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k.starts_with('.')));
    if !keyed {
        if subpath == "." {
            targets(exports, &mut out);
        }
        return out;
    }
    let map = exports.as_object().unwrap();
    if let Some(v) = map.get(subpath) {
        targets(v, &mut out);
        return out;
    }
    // Subpath patterns: "./features/*": "./src/features/*.js".
    for (key, v) in map {
        let Some((pre, post)) = key.split_once('*') else {
            continue;
        };
        if let Some(mid) = subpath.strip_prefix(pre).and_then(|r| r.strip_suffix(post)) {
            let mut t = Vec::new();
            targets(v, &mut t);
            out.extend(t.into_iter().map(|t| t.replace('*', mid)));
        }
    }
    out
}

impl JavaScript {
    fn load_file(fs: &LayerStack, x: &str) -> Option<String> {
        EXTENSIONS
            .iter()
            .map(|e| format!("{x}{e}"))
            .find(|p| is_file(fs, p))
    }

    fn load_dir(fs: &LayerStack, x: &str, kept: &mut Vec<String>) -> Option<String> {
        let pj = join(x, "package.json");
        if let Some(pkg) = read_json(fs, &pj) {
            kept.push(pj);
            if let Some(main) = pkg.get("main").and_then(Value::as_str) {
                let m = join(x, main);
                if let Some(f) = Self::load_file(fs, &m).or_else(|| Self::load_index(fs, &m)) {
                    return Some(f);
                }
            }
        }
        Self::load_index(fs, x)
    }

    fn load_index(fs: &LayerStack, x: &str) -> Option<String> {
        [
            "index.js",
            "index.json",
            "index.node",
            "index.mjs",
            "index.cjs",
        ]
        .iter()
        .map(|i| join(x, i))
        .find(|p| is_file(fs, p))
    }

    fn load_path(fs: &LayerStack, x: &str, kept: &mut Vec<String>) -> Option<String> {
        Self::load_file(fs, x).or_else(|| {
            if is_dir(fs, x) {
                Self::load_dir(fs, x, kept)
            } else {
                None
            }
        })
    }

    /// The package name of a bare specifier (`@s/p` or `p`) and its subpath.
    fn split_specifier(spec: &str) -> (String, Option<&str>) {
        let mut parts = spec.splitn(if spec.starts_with('@') { 3 } else { 2 }, '/');
        let name = if spec.starts_with('@') {
            format!(
                "{}/{}",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("")
            )
        } else {
            parts.next().unwrap_or("").to_string()
        };
        (name, parts.next())
    }

    /// The directory of package `name` as Node finds it from directory
    /// `from`: `node_modules` up the tree, then the global directories.
    fn find_package(fs: &LayerStack, from: &str, name: &str) -> Option<String> {
        let mut dirs = Vec::new();
        let mut d = from.to_string();
        loop {
            if !d.ends_with("/node_modules") {
                dirs.push(join(&d, "node_modules"));
            }
            if d == "/" {
                break;
            }
            d = parent(&d).to_string();
        }
        dirs.extend(GLOBAL_DIRS.iter().map(|s| s.to_string()));
        dirs.into_iter()
            .map(|nm| join(&nm, name))
            .find(|pkg| is_dir(fs, pkg))
    }

    /// The files subpath `sub` of the package in `pkg` loads (its entry
    /// points when `sub` is None), with its `package.json`.
    fn package_entry(
        fs: &LayerStack,
        pkg: &str,
        sub: Option<&str>,
        kept: &mut Vec<String>,
    ) -> Vec<String> {
        let pj = join(pkg, "package.json");
        let manifest = read_json(fs, &pj);
        if manifest.is_some() {
            kept.push(pj);
        }
        if let Some(exports) = manifest.as_ref().and_then(|m| m.get("exports")) {
            let subpath = sub.map_or(".".to_string(), |s| format!("./{s}"));
            let found: Vec<String> = export_targets(exports, &subpath)
                .iter()
                .map(|t| join(pkg, t))
                .filter(|p| is_file(fs, p))
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        let target = match sub {
            Some(s) => join(pkg, s),
            None => pkg.to_string(),
        };
        Self::load_path(fs, &target, kept).into_iter().collect()
    }

    /// A bare specifier `pkg/sub` from directory `from`.
    fn load_package(
        fs: &LayerStack,
        from: &str,
        spec: &str,
        kept: &mut Vec<String>,
    ) -> Vec<String> {
        let (name, sub) = Self::split_specifier(spec);
        match Self::find_package(fs, from, &name) {
            Some(pkg) => Self::package_entry(fs, &pkg, sub, kept),
            None => Vec::new(),
        }
    }

    /// The directory of the nearest `package.json` at or above `dir`.
    fn package_root(&mut self, fs: &LayerStack, dir: &str) -> Option<String> {
        let mut chain = Vec::new();
        let mut d = dir.to_string();
        let found = loop {
            if let Some(r) = self.roots.get(&d) {
                break r.clone();
            }
            chain.push(d.clone());
            if is_file(fs, &join(&d, "package.json")) {
                break Some(d.clone());
            }
            if d == "/" {
                break None;
            }
            d = parent(&d).to_string();
        };
        for c in chain {
            self.roots.insert(c, found.clone());
        }
        found
    }

    /// What the package in `root` declares it loads at run time: its
    /// manifest's dependencies, resolved from `root`, and the runtime
    /// packages of its lock file, each with its entry files.
    fn keep_declared(fs: &LayerStack, root: &str, out: &mut Imports) {
        let pj = join(root, "package.json");
        let Some(manifest) = read_json(fs, &pj) else {
            return;
        };
        out.kept.push(pj.clone());
        for (field, report) in DECLARED {
            let names = manifest.get(*field).and_then(Value::as_object);
            for name in names.into_iter().flat_map(|m| m.keys()) {
                match Self::find_package(fs, root, name) {
                    Some(pkg) => {
                        let entry = Self::package_entry(fs, &pkg, None, &mut out.kept);
                        out.kept.extend(entry);
                    }
                    None if *report => out.missing.push(declared_missing(name, &pj)),
                    None => {}
                }
            }
        }
        let Some((lock_path, lock)) = LOCK_FILES
            .iter()
            .map(|f| join(root, f))
            .find_map(|f| read_json(fs, &f).map(|l| (f, l)))
        else {
            return;
        };
        out.kept.push(lock_path.clone());
        let flag = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool) == Some(true);
        for (key, entry) in lock
            .get("packages")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if key.is_empty() || flag(entry, "dev") {
                continue;
            }
            // A workspace member or `file:` install: the link names its target.
            let dir = match entry.get("resolved").and_then(Value::as_str) {
                Some(target) if flag(entry, "link") => join(root, target),
                _ => join(root, key),
            };
            if is_dir(fs, &dir) {
                let found = Self::package_entry(fs, &dir, None, &mut out.kept);
                out.kept.extend(found);
            } else if !LOCK_MAY_BE_ABSENT.iter().any(|f| flag(entry, f)) {
                let name = key
                    .rsplit_once("node_modules/")
                    .map_or(key.as_str(), |k| k.1);
                out.missing.push(declared_missing(name, &lock_path));
            }
        }
    }
}

impl Resolver for JavaScript {
    fn language(&self) -> &'static str {
        "javascript"
    }

    fn wants(&self, path: &str) -> bool {
        path.ends_with(".js") || path.ends_with(".mjs") || path.ends_with(".cjs")
    }

    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports {
        let mut out = Imports::default();
        let Some(source) = read_text(fs, path) else {
            return out;
        };
        let here = parent(path);
        if let Some(root) = self.package_root(fs, here) {
            if self.declared.insert(root.clone()) {
                Self::keep_declared(fs, &root, &mut out);
            }
        }
        for spec in parse_specifiers(&source, path) {
            let bare = spec.strip_prefix("node:").unwrap_or(&spec);
            let top = bare.split('/').next().unwrap_or(bare);
            if spec.starts_with("node:") || BUILTIN.contains(&top) {
                continue;
            }
            let found: Vec<String> = if spec.starts_with("./")
                || spec.starts_with("../")
                || spec.starts_with('/')
                || spec == "."
                || spec == ".."
            {
                let target = if spec.starts_with('/') {
                    spec.clone()
                } else {
                    join(here, &spec)
                };
                Self::load_path(fs, &target, &mut out.kept)
                    .into_iter()
                    .collect()
            } else {
                Self::load_package(fs, here, &spec, &mut out.kept)
            };
            if found.is_empty() {
                out.missing.push(spec);
            }
            out.kept.extend(found);
        }
        out.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    #[test]
    fn finds_literal_specifiers_in_cjs_and_esm() {
        let cjs = "const a = require('./a');\nfunction f() { return require(\"lazy\"); }\nrequire(name);\n";
        assert_eq!(parse_specifiers(cjs, "x.js"), ["./a", "lazy"]);
        let esm = "import x from './x.mjs';\nexport * from 'y';\nexport { z } from './z';\nconst m = await import('./dyn');\nimport(variable);\n";
        let got = parse_specifiers(esm, "x.mjs");
        for want in ["./x.mjs", "y", "./z", "./dyn"] {
            assert!(got.contains(&want.to_string()), "{want}: {got:?}");
        }
        // Sloppy-mode scripts that are no modules still parse.
        let sloppy = "with (o) { require('./w'); }\n";
        assert_eq!(parse_specifiers(sloppy, "s.js"), ["./w"]);
    }

    #[test]
    fn resolves_like_node() {
        let (_t, fs) = tree(&[
            ("/app/server.js", "require('./lib'); require('./util'); require('dep'); require('@s/p/feature'); require('fs'); require('node:path'); import('gone');"),
            ("/app/lib/index.js", ""),
            ("/app/util.js", ""),
            ("/app/node_modules/dep/package.json", r#"{"main": "dist/main"}"#),
            ("/app/node_modules/dep/dist/main.js", ""),
            ("/node_modules/@s/p/package.json", r#"{"exports": {".": {"import": "./esm/i.mjs", "require": "./cjs/i.js"}, "./*": "./src/*.js"}}"#),
            ("/node_modules/@s/p/src/feature.js", ""),
            ("/usr/share/nodejs/glob/package.json", r#"{"exports": "./glob.js"}"#),
            ("/usr/share/nodejs/glob/glob.js", ""),
            ("/app/addon.js", "require('./build/native'); require('glob');"),
            ("/app/build/native.node", "\x7fELF"),
        ]);
        let mut js = JavaScript::default();
        let got = js.imports(&fs, "/app/server.js");
        for want in [
            "/app/lib/index.js",
            "/app/util.js",
            "/app/node_modules/dep/package.json",
            "/app/node_modules/dep/dist/main.js",
            "/node_modules/@s/p/package.json",
            "/node_modules/@s/p/src/feature.js",
        ] {
            assert!(
                got.kept.contains(&want.to_string()),
                "{want}: {:?}",
                got.kept
            );
        }
        assert_eq!(got.missing, ["gone"], "builtins are not missing");
        let addon = js.imports(&fs, "/app/addon.js");
        assert!(addon.kept.contains(&"/app/build/native.node".to_string()));
        assert!(
            addon
                .kept
                .contains(&"/usr/share/nodejs/glob/glob.js".to_string()),
            "{:?}",
            addon.kept
        );
    }

    #[test]
    fn declared_dependencies_are_kept_with_their_own() {
        let (_t, fs) = tree(&[
            // The app loads its engine by a computed name only.
            (
                "/srv/app/server.js",
                "const e = require(process.env.ENGINE || 'engine');",
            ),
            (
                "/srv/app/package.json",
                r#"{"dependencies": {"engine": "1", "gone": "1", "@s/driver": "2"},
                    "optionalDependencies": {"fsevents": "2"},
                    "devDependencies": {"devtool": "1"}}"#,
            ),
            (
                "/srv/app/package-lock.json",
                r#"{"lockfileVersion": 3, "packages": {
                    "": {"name": "app"},
                    "node_modules/engine": {"version": "1.0.0"},
                    "node_modules/engine/node_modules/words": {"version": "2.0.0"},
                    "node_modules/devtool": {"version": "1.0.0", "dev": true},
                    "node_modules/lockonly": {"version": "1.0.0"},
                    "node_modules/fsevents": {"version": "2.0.0", "optional": true}}}"#,
            ),
            (
                "/srv/app/node_modules/engine/package.json",
                r#"{"main": "lib/engine.js", "dependencies": {"words": "2"}}"#,
            ),
            (
                "/srv/app/node_modules/engine/lib/engine.js",
                "module.exports = require(['wo', 'rds'].join(''));",
            ),
            // Nested: engine's own version of words, and the app's.
            (
                "/srv/app/node_modules/engine/node_modules/words/index.js",
                "",
            ),
            ("/srv/app/node_modules/words/index.js", ""),
            ("/srv/app/node_modules/devtool/index.js", ""),
            ("/srv/app/node_modules/unlisted/index.js", ""),
            // Hoisted above the app, as workspaces install.
            (
                "/srv/node_modules/@s/driver/package.json",
                r#"{"exports": {".": "./d.js"}}"#,
            ),
            ("/srv/node_modules/@s/driver/d.js", ""),
        ]);
        let mut js = JavaScript::default();
        let got = js.imports(&fs, "/srv/app/server.js");
        for want in [
            "/srv/app/package.json",
            "/srv/app/package-lock.json",
            "/srv/app/node_modules/engine/package.json",
            "/srv/app/node_modules/engine/lib/engine.js",
            "/srv/node_modules/@s/driver/d.js",
            // the lock's own runtime entry
            "/srv/app/node_modules/engine/node_modules/words/index.js",
        ] {
            assert!(
                got.kept.contains(&want.to_string()),
                "{want}: {:?}",
                got.kept
            );
        }
        for not in ["/devtool/", "/unlisted/", "/srv/app/node_modules/words/"] {
            assert!(
                !got.kept.iter().any(|k| k.contains(not)),
                "{not}: {:?}",
                got.kept
            );
        }
        assert_eq!(
            got.missing,
            [
                "declared dependency gone (/srv/app/package.json)",
                "declared dependency lockonly (/srv/app/package-lock.json)",
            ],
            "an absent optional dependency is not reported"
        );
        // The dependency's own declared dependency resolves to its nested copy.
        let got = js.imports(&fs, "/srv/app/node_modules/engine/lib/engine.js");
        assert!(got
            .kept
            .contains(&"/srv/app/node_modules/engine/node_modules/words/index.js".to_string()));
        assert!(!got
            .kept
            .iter()
            .any(|k| k.starts_with("/srv/app/node_modules/words/")));
        // Once per package.
        let again = js.imports(&fs, "/srv/app/server.js");
        assert!(!again.kept.contains(&"/srv/app/package.json".to_string()));
    }

    #[test]
    fn exports_conditions_and_patterns() {
        let e: Value = serde_json::from_str(
            r#"{".": {"node": {"import": "./a.mjs", "require": "./a.cjs"}, "default": "./a.js"}, "./sub/*": "./lib/*.js"}"#,
        )
        .unwrap();
        let mut all = export_targets(&e, ".");
        all.sort();
        assert_eq!(all, ["./a.cjs", "./a.js", "./a.mjs"], "every condition");
        assert_eq!(export_targets(&e, "./sub/x"), ["./lib/x.js"]);
        assert!(export_targets(&e, "./other").is_empty());
        assert_eq!(
            export_targets(&Value::String("./m.js".into()), "."),
            ["./m.js"]
        );
    }
}
