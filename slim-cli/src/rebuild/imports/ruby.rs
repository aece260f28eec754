//! Ruby: `require`, `require_relative`, `load` and `autoload` of kept `.rb`
//! files, parsed with lib-ruby-parser (MRI's grammar), with names that are
//! literals, locals assigned only literals (`lib = 'digest/sha2'; require
//! lib`), or `File.expand_path('x', __FILE__)`/`File.join(__dir__, 'x')`.
//! Names resolve through the interpreter's load path as the image lays it
//! out (site, vendor and rubylibdir with their arch directories, where C
//! extensions are `.so` files), then the `lib` and extension directories of
//! the gems in the image's gem paths (with each kept gem's specification,
//! which RubyGems reads to activate it), and an app's Bundler setup
//! (Gemfile, Gemfile.lock, .bundle/config, vendor/bundle).
use std::collections::HashMap;

use lib_ruby_parser::{traverse::visitor::Visitor, Node, Parser, ParserOptions};

use super::{dirs::expand, is_dir, is_file, join, parent, read, Imports, Resolver};
use crate::rebuild::rootfs::LayerStack;

/// The load path of Debian's, the official images' and source-built Rubies,
/// in the interpreter's order (`[0-9]*` is a version directory).
const LOAD_PATH: &[&str] = &[
    "/usr/local/lib/site_ruby/[0-9]*",
    "/usr/local/lib/*-linux*/site_ruby",
    "/usr/local/lib/site_ruby",
    "/usr/lib/ruby/vendor_ruby/[0-9]*",
    "/usr/lib/*-linux*/ruby/vendor_ruby/[0-9]*",
    "/usr/lib/ruby/vendor_ruby",
    "/usr/lib/ruby/[0-9]*",
    "/usr/lib/*-linux*/ruby/[0-9]*",
    "/usr/local/lib/ruby/site_ruby/[0-9]*",
    "/usr/local/lib/ruby/site_ruby/[0-9]*/*-linux*",
    "/usr/local/lib/ruby/site_ruby",
    "/usr/local/lib/ruby/vendor_ruby/[0-9]*",
    "/usr/local/lib/ruby/vendor_ruby/[0-9]*/*-linux*",
    "/usr/local/lib/ruby/vendor_ruby",
    "/usr/local/lib/ruby/[0-9]*",
    "/usr/local/lib/ruby/[0-9]*/*-linux*",
];

/// Gem paths (`Gem.path`): each holds `gems/NAME-VERSION/`,
/// `specifications/NAME-VERSION.gemspec` and `extensions/`.
const GEM_PATHS: &[&str] = &[
    "/var/lib/gems/[0-9]*",
    "/usr/local/lib/ruby/gems/[0-9]*",
    "/usr/lib/ruby/gems/[0-9]*",
    "/usr/lib/*-linux*/ruby/gems/[0-9]*",
    "/usr/share/rubygems-integration/[0-9]*",
    "/usr/share/rubygems-integration/all",
    "/usr/lib/*-linux*/rubygems-integration/[0-9]*",
    "/usr/local/bundle",
    "/root/.local/share/gem/ruby/[0-9]*",
];

/// Features the interpreter provides without a file.
const BUILTIN: &[&str] = &[
    "enumerator",
    "thread",
    "fiber",
    "rational",
    "complex",
    "ruby2_keywords",
    "java",
    "jruby",
];

/// Bundler's files in an app's directory, read at start-up.
const BUNDLER_FILES: [&str; 4] = ["Gemfile", "Gemfile.lock", "gems.rb", ".bundle/config"];

/// A directory to search and, for a gem, its specification.
#[derive(Clone, Debug)]
struct Root {
    dir: String,
    spec: Option<String>,
}

#[derive(Default)]
pub struct Ruby {
    /// The load path then every gem's directories, found on first use.
    roots: Option<Vec<Root>>,
    /// Per app directory (where a Gemfile is): its vendored gems.
    bundles: HashMap<String, Vec<Root>>,
    /// Directory entries, read once: most names are looked for in many
    /// roots before one has them.
    listings: HashMap<String, std::collections::HashSet<String>>,
}

/// How a name was loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Require,
    Relative,
    Load,
}

/// The names one file loads, as written (or already absolute).
#[derive(Default)]
struct Collect {
    file: String,
    found: Vec<(How, String)>,
    /// Locals assigned string literals anywhere in the file.
    locals: HashMap<String, Vec<String>>,
    /// `require some_local`, resolved once every assignment is seen.
    pending: Vec<(How, String)>,
}

fn text(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => s.value.to_string().ok(),
        _ => None,
    }
}

fn is_dir_call(node: &Node) -> bool {
    matches!(node, Node::Send(s) if s.recv.is_none() && s.method_name == "__dir__")
}

impl Collect {
    /// What `node` names when it is a literal or a path built from one and
    /// the file's own location.
    fn name(&self, node: &Node) -> Option<String> {
        if let Some(t) = text(node) {
            return Some(t);
        }
        let Node::Send(s) = node else { return None };
        let on_file = matches!(s.recv.as_deref(), Some(Node::Const(c)) if c.name == "File" && c.scope.is_none());
        if !on_file {
            return None;
        }
        match (s.method_name.as_str(), s.args.as_slice()) {
            // expand_path('../x', __FILE__) is relative to the file itself.
            ("expand_path", [rel, Node::File(_)]) => Some(join(&self.file, &text(rel)?)),
            ("expand_path", [rel, base]) if is_dir_call(base) => {
                Some(join(parent(&self.file), &text(rel)?))
            }
            ("join", [base, rest @ ..]) if is_dir_call(base) && !rest.is_empty() => {
                let parts: Option<Vec<String>> = rest.iter().map(text).collect();
                Some(join(parent(&self.file), &parts?.join("/")))
            }
            _ => None,
        }
    }
}

impl Visitor for Collect {
    fn on_lvasgn(&mut self, node: &lib_ruby_parser::nodes::Lvasgn) {
        if let Some(t) = node.value.as_deref().and_then(text) {
            self.locals.entry(node.name.clone()).or_default().push(t);
        }
        lib_ruby_parser::traverse::visitor::visit_lvasgn(self, node);
    }

    fn on_send(&mut self, node: &lib_ruby_parser::nodes::Send) {
        let how = match node.method_name.as_str() {
            "require" => Some((How::Require, 0)),
            "require_relative" => Some((How::Relative, 0)),
            "load" => Some((How::Load, 0)),
            "autoload" => Some((How::Require, 1)),
            _ => None,
        };
        // `require` is Kernel's (bare or Kernel.require); `autoload` may be
        // called on any module.
        let kernel = node.recv.is_none()
            || matches!(node.recv.as_deref(), Some(Node::Const(c)) if c.name == "Kernel")
            || node.method_name == "autoload";
        if let (Some((how, at)), true) = (how, kernel) {
            match node.args.get(at) {
                Some(Node::Lvar(v)) => self.pending.push((how, v.name.clone())),
                Some(arg) => {
                    if let Some(n) = self.name(arg) {
                        self.found.push((how, n));
                    }
                }
                None => {}
            }
        }
        lib_ruby_parser::traverse::visitor::visit_send(self, node);
    }
}

/// The names `source` (the file at `path`) loads.
fn parse_requires(source: Vec<u8>, path: &str) -> Vec<(How, String)> {
    let options = ParserOptions {
        buffer_name: path.to_string(),
        record_tokens: false,
        ..Default::default()
    };
    let result = Parser::new(source, options).do_parse();
    let mut c = Collect {
        file: path.to_string(),
        ..Default::default()
    };
    if let Some(ast) = result.ast {
        c.visit(&ast);
    }
    let pending = std::mem::take(&mut c.pending);
    for (how, var) in pending {
        for v in c.locals.get(&var).cloned().unwrap_or_default() {
            c.found.push((how, v));
        }
    }
    c.found
}

/// The search roots of one gem path: every gem's `lib` and extension
/// directories, each with its specification.
fn gem_roots(fs: &LayerStack, gem_path: &str) -> Vec<Root> {
    let mut out = Vec::new();
    let spec = |name: &str| {
        ["specifications", "specifications/default"]
            .iter()
            .map(|d| join(gem_path, &format!("{d}/{name}.gemspec")))
            .find(|p| is_file(fs, p))
    };
    for name in fs.read_dir(&join(gem_path, "gems")) {
        let lib = join(gem_path, &format!("gems/{name}/lib"));
        if is_dir(fs, &lib) {
            out.push(Root {
                dir: lib,
                spec: spec(&name),
            });
        }
    }
    // extensions/PLATFORM/ABI/NAME-VERSION/ holds a gem's compiled .so files.
    for dir in expand(fs, &join(gem_path, "extensions/*/*/*")) {
        let name = dir.rsplit('/').next().unwrap_or_default().to_string();
        out.push(Root {
            dir,
            spec: spec(&name),
        });
    }
    out
}

/// The file `base` names: itself, or with `.rb` or `.so`.
fn candidates(base: &str, how: How) -> Vec<String> {
    if how == How::Load || base.ends_with(".rb") || base.ends_with(".so") {
        return vec![base.to_string()];
    }
    vec![format!("{base}.rb"), format!("{base}.so")]
}

impl Ruby {
    /// Whether `path` is a file, asking its directory's listing first.
    fn has_file(&mut self, fs: &LayerStack, path: &str) -> bool {
        let (dir, name) = (parent(path), path.rsplit('/').next().unwrap_or_default());
        let listed = self
            .listings
            .entry(dir.to_string())
            .or_insert_with(|| {
                crate::rebuild::paths::resolve_path(fs, dir)
                    .map(|real| fs.read_dir(&real).into_iter().collect())
                    .unwrap_or_default()
            })
            .contains(name);
        listed && is_file(fs, path)
    }

    fn roots(&mut self, fs: &LayerStack) -> Vec<Root> {
        if self.roots.is_none() {
            let mut roots: Vec<Root> = LOAD_PATH
                .iter()
                .flat_map(|p| expand(fs, p))
                .map(|dir| Root { dir, spec: None })
                .collect();
            for gp in GEM_PATHS.iter().flat_map(|p| expand(fs, p)) {
                roots.extend(gem_roots(fs, &gp));
            }
            self.roots = Some(roots);
        }
        self.roots.clone().unwrap_or_default()
    }

    /// The Bundler app directory above `file` (where its Gemfile is): its
    /// files to keep and its vendored gems' roots.
    fn bundle(&mut self, fs: &LayerStack, file: &str) -> Option<(String, Vec<Root>)> {
        let mut dir = parent(file).to_string();
        loop {
            if ["Gemfile", "gems.rb"]
                .iter()
                .any(|g| is_file(fs, &join(&dir, g)))
            {
                break;
            }
            if dir == "/" {
                return None;
            }
            dir = parent(&dir).to_string();
        }
        let roots = self
            .bundles
            .entry(dir.clone())
            .or_insert_with(|| {
                expand(fs, &join(&dir, "vendor/bundle/ruby/[0-9]*"))
                    .iter()
                    .flat_map(|gp| gem_roots(fs, gp))
                    .collect()
            })
            .clone();
        Some((dir, roots))
    }
}

/// The C strings of `bytes` that look like Ruby feature names with a
/// directory (`psych/syntax_error`): what a C extension may `rb_require`.
fn feature_strings(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|s| s.len() > 2 && s.len() < 128 && s.contains(&b'/'))
        .filter(|s| {
            s.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_/-".contains(&b))
                && !s.starts_with(b"/")
                && !s.ends_with(b"/")
        })
        .filter_map(|s| std::str::from_utf8(s).ok().map(str::to_string))
        .collect()
}

impl Ruby {
    /// What a C extension of the load path requires from C (psych.so
    /// requires `psych/syntax_error` in its Init function): its C strings
    /// that name features of the load path. Other strings are ignored.
    fn extension_requires(&mut self, fs: &LayerStack, path: &str) -> Imports {
        let mut out = Imports::default();
        let roots = self.roots(fs);
        if !roots
            .iter()
            .any(|r| path.starts_with(&format!("{}/", r.dir)))
        {
            return out;
        }
        let Some(bytes) = read(fs, path) else {
            return out;
        };
        for name in feature_strings(&bytes) {
            let hit = roots.iter().find_map(|r| {
                let f = join(&r.dir, &format!("{name}.rb"));
                self.has_file(fs, &f).then_some(f)
            });
            out.kept.extend(hit);
        }
        out.sorted()
    }
}

impl Resolver for Ruby {
    fn language(&self) -> &'static str {
        "ruby"
    }

    fn wants(&self, path: &str) -> bool {
        path.ends_with(".rb") || path.ends_with(".so")
    }

    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports {
        let mut out = Imports::default();
        if path.ends_with(".so") {
            return self.extension_requires(fs, path);
        }
        let Some(source) = read(fs, path) else {
            return out;
        };
        let requires = parse_requires(source, path);
        if requires.is_empty() {
            return out;
        }
        let mut roots = Vec::new();
        if let Some((app, vendored)) = self.bundle(fs, path) {
            for f in BUNDLER_FILES {
                let p = join(&app, f);
                if is_file(fs, &p) {
                    out.kept.push(p);
                }
            }
            roots.extend(vendored);
        }
        roots.extend(self.roots(fs));
        for (how, name) in requires {
            let here = parent(path);
            let direct: Option<String> = if name.starts_with('/') {
                Some(name.clone())
            } else if how == How::Relative || name.starts_with("./") || name.starts_with("../") {
                Some(join(here, &name))
            } else {
                None
            };
            let hit = match direct {
                Some(base) => candidates(&base, how)
                    .into_iter()
                    .find(|c| self.has_file(fs, c))
                    .map(|c| (c, None)),
                None => roots.iter().find_map(|r| {
                    candidates(&join(&r.dir, &name), how)
                        .into_iter()
                        .find(|c| self.has_file(fs, c))
                        .map(|c| (c, r.spec.clone()))
                }),
            };
            match hit {
                Some((file, spec)) => {
                    out.kept.push(file);
                    out.kept.extend(spec);
                }
                None if BUILTIN.contains(&name.trim_end_matches(".so")) => {}
                None => out.missing.push(name),
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
    fn requires_of_every_kind_are_found() {
        let src = r#"
            require 'json'
            require_relative "lib/app"
            Kernel.require 'set'
            autoload :Yaml, 'yaml'
            def lazy
              lib = 'digest/sha2'
              require lib
            end
            require File.expand_path('../helper', __FILE__)
            require File.join(__dir__, 'sub', 'x')
            load 'tasks.rake'
            require name_from_elsewhere
            obj.require 'not_kernel'
        "#;
        let mut got = parse_requires(src.as_bytes().to_vec(), "/srv/app/app.rb");
        got.sort_by(|a, b| a.1.cmp(&b.1));
        let names: Vec<&str> = got.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "/srv/app/helper",
                "/srv/app/sub/x",
                "digest/sha2",
                "json",
                "lib/app",
                "set",
                "tasks.rake",
                "yaml"
            ]
        );
    }

    #[test]
    fn names_resolve_through_the_load_path_gems_and_bundler() {
        let (_t, fs) = tree(&[
            (
                "/srv/app/app.rb",
                "require 'digest'\nrequire 'zlib'\nrequire 'rack'\nrequire 'vendored'\n\
                 require_relative 'lib/greeting'\nrequire 'nope/missing'\nrequire 'thread'\n",
            ),
            ("/srv/app/lib/greeting.rb", ""),
            ("/srv/app/Gemfile", "gem 'vendored'\n"),
            ("/srv/app/Gemfile.lock", "GEM\n"),
            (
                "/srv/app/vendor/bundle/ruby/3.1.0/gems/vendored-1.0/lib/vendored.rb",
                "",
            ),
            ("/usr/lib/ruby/3.1.0/digest.rb", "require 'digest.so'\n"),
            ("/usr/lib/x86_64-linux-gnu/ruby/3.1.0/digest.so", ""),
            ("/usr/lib/x86_64-linux-gnu/ruby/3.1.0/zlib.so", ""),
            ("/var/lib/gems/3.1.0/gems/rack-3.0/lib/rack.rb", ""),
            (
                "/var/lib/gems/3.1.0/specifications/rack-3.0.gemspec",
                "Gem::Specification.new",
            ),
        ]);
        let mut r = Ruby::default();
        let got = r.imports(&fs, "/srv/app/app.rb");
        assert_eq!(
            got.kept,
            [
                "/srv/app/Gemfile",
                "/srv/app/Gemfile.lock",
                "/srv/app/lib/greeting.rb",
                "/srv/app/vendor/bundle/ruby/3.1.0/gems/vendored-1.0/lib/vendored.rb",
                "/usr/lib/ruby/3.1.0/digest.rb",
                "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/zlib.so",
                "/var/lib/gems/3.1.0/gems/rack-3.0/lib/rack.rb",
                "/var/lib/gems/3.1.0/specifications/rack-3.0.gemspec",
            ]
        );
        assert_eq!(got.missing, ["nope/missing"]);
        // The extension a library requires by its full name.
        let got = r.imports(&fs, "/usr/lib/ruby/3.1.0/digest.rb");
        assert_eq!(got.kept, ["/usr/lib/x86_64-linux-gnu/ruby/3.1.0/digest.so"]);
    }

    #[test]
    fn c_extensions_bring_the_features_they_require_from_c() {
        let (_t, fs) = tree(&[
            (
                "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/psych.so",
                "\x7fELF\0psych/syntax_error\0Psych\0usr/lib/nope\0/abs/path\0",
            ),
            ("/usr/lib/ruby/3.1.0/psych/syntax_error.rb", ""),
            ("/opt/other/x.so", "psych/syntax_error\0"),
        ]);
        let mut r = Ruby::default();
        let got = r.imports(&fs, "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/psych.so");
        assert_eq!(got.kept, ["/usr/lib/ruby/3.1.0/psych/syntax_error.rb"]);
        assert!(got.missing.is_empty());
        assert!(
            r.imports(&fs, "/opt/other/x.so").kept.is_empty(),
            "not Ruby's"
        );
    }

    #[test]
    fn unparsable_files_import_nothing() {
        assert!(parse_requires(b"def (((".to_vec(), "/x.rb").is_empty());
    }
}
