//! Node.js: `require("x")`, static `import`, `export ... from` and dynamic
//! `import("x")` with literal specifiers in kept `.js`/`.mjs`/`.cjs` files,
//! parsed with oxc and resolved with Node's algorithm: relative files with
//! their extensions and `index` files, `node_modules` directories up the
//! tree and the global ones, `package.json` `main` and `exports` (every
//! condition: what `import` and `require` may pick). The `package.json` of
//! every package on the way is kept; native `.node` addons are ELF files,
//! so the closure brings their libraries.

use oxc_allocator::Allocator;
use oxc_ast::ast::{Argument, CallExpression, Expression, ImportExpression};
use oxc_ast_visit::Visit;
use oxc_span::SourceType;
use serde_json::Value;

use super::{is_dir, is_file, join, parent, read, read_text, Imports, Resolver};
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

#[derive(Default)]
pub struct JavaScript;

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

    /// A bare specifier `pkg/sub` from directory `from`.
    fn load_package(
        fs: &LayerStack,
        from: &str,
        spec: &str,
        kept: &mut Vec<String>,
    ) -> Vec<String> {
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
        let sub = parts.next();
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
        for nm in dirs {
            let pkg = join(&nm, &name);
            if !is_dir(fs, &pkg) {
                continue;
            }
            let pj = join(&pkg, "package.json");
            let manifest = read_json(fs, &pj);
            if manifest.is_some() {
                kept.push(pj);
            }
            if let Some(exports) = manifest.as_ref().and_then(|m| m.get("exports")) {
                let subpath = sub.map_or(".".to_string(), |s| format!("./{s}"));
                let found: Vec<String> = export_targets(exports, &subpath)
                    .iter()
                    .map(|t| join(&pkg, t))
                    .filter(|p| is_file(fs, p))
                    .collect();
                if !found.is_empty() {
                    return found;
                }
            }
            let target = match sub {
                Some(s) => join(&pkg, s),
                None => pkg.clone(),
            };
            return Self::load_path(fs, &target, kept).into_iter().collect();
        }
        Vec::new()
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
        let mut js = JavaScript;
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
