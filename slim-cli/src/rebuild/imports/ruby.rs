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
//!
//! What an app requires by a computed name (plugins, drivers, adapters) is
//! among the gems it declares: once per app (the nearest directory above a
//! kept file with a Gemfile or Gemfile.lock), the runtime gems of its
//! Gemfile.lock (every spec reachable from its DEPENDENCIES, less the gems
//! its Gemfile puts only in development or test groups; without a lock,
//! the Gemfile's gems outside those groups) are resolved in
//! its vendor/bundle and the gem paths and each gem's entry file (`NAME.rb`
//! or `NAME` with `-` as `/`, as Bundler.require loads it; else every
//! top-level file of its `lib`) kept with its specification, and parsed in
//! turn.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use lib_ruby_parser::{traverse::visitor::Visitor, Node, Parser, ParserOptions};
use serde::{Deserialize, Serialize};

use super::{
    declared_missing,
    dirs::expand,
    is_dir, is_file, join, parent,
    parse_cache::{self, ParseCache},
    read, read_text, Imports, Resolver,
};
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
const BUNDLER_FILES: [&str; 5] = [
    "Gemfile",
    "Gemfile.lock",
    "gems.rb",
    "gems.locked",
    ".bundle/config",
];

/// The files that make a directory a Bundler app.
const APP_MARKERS: [&str; 4] = ["Gemfile", "gems.rb", "Gemfile.lock", "gems.locked"];

/// Bundler's lock files and the Gemfiles they lock, in Bundler's order.
const LOCKS: [(&str, &str); 2] = [("Gemfile.lock", "Gemfile"), ("gems.locked", "gems.rb")];

/// Gemfile groups that production installs leave out.
const DEV_GROUPS: &[&str] = &["development", "test"];

/// Ruby's own tooling: consoles, documentation, debuggers, test
/// frameworks, build tools, Bundler's CLI and RubyGems' installer and
/// fetcher machinery (what `gem install` runs; loading an installed gem
/// uses none of it). Ruby's library loads them lazily, inside the methods
/// that start them or by `autoload` (rubygems' `use_gemdeps` requires
/// bundler, test-unit's failure hook requires debug, irb's completion
/// requires rdoc, rubygems autoloads Gem::Installer); such a load is not
/// followed (a service that uses a tool requires it in its own code, which
/// is followed). Each skipped edge is listed in the report.
const TOOLING: &[&str] = &[
    "bundler",
    "irb",
    "rdoc",
    "ri",
    "debug",
    "test/unit",
    "test-unit",
    "minitest",
    "power_assert",
    "rake",
    "reline",
    "readline",
    "rbs",
    "typeprof",
    "rubygems/commands",
    "rubygems/command",
    "rubygems/command_manager",
    "rubygems/installer",
    "rubygems/dependency_installer",
    "rubygems/uninstaller",
    "rubygems/request_set",
    "rubygems/resolver",
    "rubygems/source",
    "rubygems/source_list",
    "rubygems/spec_fetcher",
    "rubygems/remote_fetcher",
    "rubygems/package",
    "rubygems/security",
];

/// Ruby's own prefixes: the gems under them are its default and bundled
/// gems, as opposed to the gems an app installs (/var/lib/gems,
/// /usr/local/bundle, vendor/bundle).
const RUBY_PREFIXES: &[&str] = &["/usr/lib/ruby/", "/usr/local/lib/ruby/"];

/// Whether `name`, loaded lazily by Ruby's own library, is tooling (the
/// name or a feature below it: `rdoc/markup`; an absolute name counts from
/// its load-path directory, with or without `.rb`).
fn is_tooling(name: &str, roots: &[Root]) -> bool {
    let feature = roots
        .iter()
        .filter(|r| r.gem.is_none())
        .find_map(|r| name.strip_prefix(&format!("{}/", r.dir)))
        .unwrap_or(name);
    let name = feature.strip_suffix(".rb").unwrap_or(feature);
    TOOLING.iter().any(|t| {
        name == *t
            || name
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Whether `path` is part of Ruby's own library: in a directory of the
/// load path other than a site directory (which holds what the image's
/// owner added), or in a gem under Ruby's own prefixes.
fn in_own_library(path: &str, roots: &[Root]) -> bool {
    roots
        .iter()
        .filter(|r| !r.dir.contains("/site_ruby"))
        .filter(|r| r.gem.is_none() || RUBY_PREFIXES.iter().any(|p| r.dir.starts_with(p)))
        .any(|r| path.starts_with(&format!("{}/", r.dir)))
}

/// A directory to search and, for a gem, its specification.
#[derive(Clone, Debug)]
struct Root {
    dir: String,
    spec: Option<String>,
    /// For a gem's directory: the gem's `NAME-VERSION[-PLATFORM]`.
    gem: Option<String>,
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
    /// Per directory: the app directory at or above it, if any.
    apps: HashMap<String, Option<String>>,
    /// App directories whose declared gems were kept.
    declared: HashSet<String>,
    /// Parse results of earlier builds.
    cache: Option<Arc<ParseCache>>,
}

impl Ruby {
    pub fn with_cache(cache: Option<Arc<ParseCache>>) -> Self {
        Self {
            cache,
            ..Self::default()
        }
    }
}

/// How a name was loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum How {
    Require,
    Relative,
    Load,
}

/// One load a file makes: how, the name as written (or already
/// absolute), and whether it is lazy (inside a method body, or an
/// `autoload`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Load {
    how: How,
    name: String,
    lazy: bool,
}

/// The names one file loads.
#[derive(Default)]
struct Collect {
    file: String,
    found: Vec<Load>,
    /// Locals assigned string literals anywhere in the file.
    locals: HashMap<String, Vec<String>>,
    /// `require some_local` (and whether lazy), resolved once every
    /// assignment is seen.
    pending: Vec<(How, String, bool)>,
    /// How many `def`s enclose the node being visited.
    methods: usize,
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
    fn on_def(&mut self, node: &lib_ruby_parser::nodes::Def) {
        self.methods += 1;
        lib_ruby_parser::traverse::visitor::visit_def(self, node);
        self.methods -= 1;
    }

    fn on_defs(&mut self, node: &lib_ruby_parser::nodes::Defs) {
        self.methods += 1;
        lib_ruby_parser::traverse::visitor::visit_defs(self, node);
        self.methods -= 1;
    }

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
            let lazy = self.methods > 0 || node.method_name == "autoload";
            match node.args.get(at) {
                Some(Node::Lvar(v)) => self.pending.push((how, v.name.clone(), lazy)),
                Some(arg) => {
                    if let Some(name) = self.name(arg) {
                        self.found.push(Load { how, name, lazy });
                    }
                }
                None => {}
            }
        }
        lib_ruby_parser::traverse::visitor::visit_send(self, node);
    }
}

/// The names `source` (the file at `path`) loads.
fn parse_requires(source: Vec<u8>, path: &str) -> Vec<Load> {
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
    for (how, var, lazy) in pending {
        for name in c.locals.get(&var).cloned().unwrap_or_default() {
            c.found.push(Load { how, name, lazy });
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
                gem: Some(name),
            });
        }
    }
    // extensions/PLATFORM/ABI/NAME-VERSION/ holds a gem's compiled .so files.
    for dir in expand(fs, &join(gem_path, "extensions/*/*/*")) {
        let name = dir.rsplit('/').next().unwrap_or_default().to_string();
        out.push(Root {
            dir,
            spec: spec(&name),
            gem: Some(name),
        });
    }
    out
}

/// Whether `dir` is a gem as installed in a gem path
/// (`GEM_PATH/gems/NAME-VERSION`, with `GEM_PATH/specifications` beside).
fn is_installed_gem(fs: &LayerStack, dir: &str) -> bool {
    let gems = parent(dir);
    gems.ends_with("/gems") && is_dir(fs, &join(parent(gems), "specifications"))
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
                .map(|dir| Root {
                    dir,
                    spec: None,
                    gem: None,
                })
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
        let mut chain = Vec::new();
        let mut d = parent(file).to_string();
        let found = loop {
            if let Some(app) = self.apps.get(&d) {
                break app.clone();
            }
            chain.push(d.clone());
            // An installed gem's own Gemfile is for developing that gem:
            // its files belong to whichever app required them.
            if is_installed_gem(fs, &d) {
                break None;
            }
            if APP_MARKERS.iter().any(|g| is_file(fs, &join(&d, g))) {
                break Some(d.clone());
            }
            if d == "/" {
                break None;
            }
            d = parent(&d).to_string();
        };
        for c in chain {
            self.apps.insert(c, found.clone());
        }
        let dir = found?;
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

/// What a Gemfile.lock says: each locked gem's version and runtime
/// dependencies (its `specs:` entries, from every source section), and
/// the gems the Gemfile asked for (DEPENDENCIES).
#[derive(Debug, Default)]
struct Lock {
    specs: BTreeMap<String, (String, Vec<String>)>,
    dependencies: Vec<String>,
}

/// Reads a Gemfile.lock: sections start in column 0; in a source section
/// (`GEM`, `PATH`, `GIT`) `specs:` lists a gem at four spaces (`name
/// (version[-platform])`) and its dependencies at six; DEPENDENCIES lists
/// names at two (`name (>= 1)`, `name!` for a path or git source).
fn parse_lock(text: &str) -> Lock {
    let mut lock = Lock::default();
    let mut section = "";
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') {
            section = line.trim();
            current = None;
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let item = line.trim();
        let name = item
            .split([' ', '('])
            .next()
            .unwrap_or("")
            .trim_end_matches('!')
            .to_string();
        if name.is_empty() {
            continue;
        }
        match (section, indent) {
            ("DEPENDENCIES", 2) => lock.dependencies.push(name),
            ("GEM" | "PATH" | "GIT", 4) => {
                let version = item
                    .split_once('(')
                    .map(|(_, v)| v.trim_end_matches(')').to_string())
                    .unwrap_or_default();
                lock.specs.insert(name.clone(), (version, Vec::new()));
                current = Some(name);
            }
            ("GEM" | "PATH" | "GIT", 6) => {
                if let Some(spec) = current.as_ref().and_then(|c| lock.specs.get_mut(c)) {
                    spec.1.push(name);
                }
            }
            _ => {}
        }
    }
    lock
}

/// The gems a Gemfile names, split into those of development or test
/// groups only and the rest.
#[derive(Default)]
struct Gemfile {
    /// Nesting of `group` blocks: whether each is development-only.
    dev_block: Vec<bool>,
    dev: BTreeSet<String>,
    runtime: BTreeSet<String>,
}

/// The symbol or string names in a `group` argument list or option value.
fn group_names(nodes: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Node::Sym(s) => out.extend(s.name.to_string().ok()),
            Node::Str(s) => out.extend(s.value.to_string().ok()),
            Node::Array(a) => out.extend(group_names(&a.elements)),
            _ => {}
        }
    }
    out
}

fn all_dev(groups: &[String]) -> bool {
    !groups.is_empty() && groups.iter().all(|g| DEV_GROUPS.contains(&g.as_str()))
}

impl Visitor for Gemfile {
    fn on_block(&mut self, node: &lib_ruby_parser::nodes::Block) {
        let dev = match node.call.as_ref() {
            Node::Send(s) if s.recv.is_none() && s.method_name == "group" => {
                all_dev(&group_names(&s.args))
            }
            _ => false,
        };
        self.dev_block.push(dev);
        lib_ruby_parser::traverse::visitor::visit_block(self, node);
        self.dev_block.pop();
    }

    fn on_send(&mut self, node: &lib_ruby_parser::nodes::Send) {
        if node.recv.is_none() && node.method_name == "gem" {
            if let Some(name) = node.args.first().and_then(text) {
                let mut dev = self.dev_block.iter().any(|d| *d);
                for arg in &node.args[1..] {
                    let pairs = match arg {
                        Node::Kwargs(k) => &k.pairs,
                        Node::Hash(h) => &h.pairs,
                        _ => continue,
                    };
                    for pair in pairs {
                        let Node::Pair(p) = pair else { continue };
                        let key = match p.key.as_ref() {
                            Node::Sym(s) => s.name.to_string().ok(),
                            _ => None,
                        };
                        if matches!(key.as_deref(), Some("group" | "groups")) {
                            dev |= all_dev(&group_names(std::slice::from_ref(p.value.as_ref())));
                        }
                    }
                }
                if dev {
                    self.dev.insert(name);
                } else {
                    self.runtime.insert(name);
                }
            }
        }
        lib_ruby_parser::traverse::visitor::visit_send(self, node);
    }
}

/// The gems `gemfile` (Ruby source) names outside development and test
/// groups, and those it names only there.
fn gemfile_gems(gemfile: Vec<u8>) -> (BTreeSet<String>, BTreeSet<String>) {
    let result = Parser::new(gemfile, ParserOptions::default()).do_parse();
    let mut g = Gemfile::default();
    if let Some(ast) = result.ast {
        g.visit(&ast);
    }
    let dev = g.dev.difference(&g.runtime).cloned().collect();
    (g.runtime, dev)
}

/// Whether `dir` (`NAME-VERSION[-PLATFORM]`) is gem `name` at `version`
/// (any platform), or at any version when the lock gives none.
fn is_gem_dir(dir: &str, name: &str, version: &str) -> bool {
    let Some(v) = dir.strip_prefix(name).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    if version.is_empty() {
        return v.starts_with(|c: char| c.is_ascii_digit());
    }
    v == version || v.strip_prefix(version).is_some_and(|p| p.starts_with('-'))
}

/// The runtime gems of a lock: every spec reachable from its DEPENDENCIES
/// but the development-only ones (all specs when it lists none).
fn runtime_gems(lock: &Lock, dev: &BTreeSet<String>) -> BTreeSet<String> {
    let mut todo: Vec<String> = if lock.dependencies.is_empty() {
        lock.specs.keys().cloned().collect()
    } else {
        lock.dependencies
            .iter()
            .filter(|d| !dev.contains(*d))
            .cloned()
            .collect()
    };
    let mut out = BTreeSet::new();
    while let Some(g) = todo.pop() {
        if out.insert(g.clone()) {
            todo.extend(lock.specs.get(&g).into_iter().flat_map(|s| s.1.clone()));
        }
    }
    // Bundler is the tool, not one of the app's gems.
    out.remove("bundler");
    out
}

impl Ruby {
    /// The runtime gems of the app in `app` (its Gemfile.lock), each found
    /// in `roots` (vendor/bundle first, then the gem paths, then the load
    /// path for distribution-packaged gems) with its entry files.
    fn keep_declared(&mut self, fs: &LayerStack, app: &str, roots: &[Root], out: &mut Imports) {
        // The lock when there is one, else the Gemfile's own runtime gems
        // (any version: Bundler resolves them at start-up).
        let Some((lock_path, gemfile)) = LOCKS
            .iter()
            .map(|(l, g)| (join(app, l), join(app, g)))
            .find(|(l, g)| is_file(fs, l) || is_file(fs, g))
        else {
            return;
        };
        let (named, dev) = read(fs, &gemfile).map(gemfile_gems).unwrap_or_default();
        let (lock, declared, by) = match read_text(fs, &lock_path) {
            Some(text) => {
                let lock = parse_lock(&text);
                let gems = runtime_gems(&lock, &dev);
                (lock, gems, lock_path)
            }
            None => (Lock::default(), named, gemfile),
        };
        for name in declared {
            let version = lock.specs.get(&name).map(|s| s.0.as_str()).unwrap_or("");
            let entries = [
                format!("{name}.rb"),
                format!("{}.rb", name.replace('-', "/")),
            ];
            // The gem's own directories: this version (any platform), else any.
            let mine: Vec<&Root> = roots
                .iter()
                .filter(|r| {
                    r.gem
                        .as_deref()
                        .is_some_and(|g| is_gem_dir(g, &name, version))
                })
                .collect();
            let mut found: Vec<String> = mine
                .iter()
                .flat_map(|r| entries.iter().map(|e| join(&r.dir, e)))
                .filter(|f| self.has_file(fs, f))
                .collect();
            if found.is_empty() {
                // No entry by its name: each top-level file may be one.
                for r in mine.iter().filter(|r| r.dir.ends_with("/lib")) {
                    let mut names = fs.read_dir(&r.dir);
                    names.sort();
                    found.extend(
                        names
                            .into_iter()
                            .filter(|n| n.ends_with(".rb"))
                            .map(|n| join(&r.dir, &n)),
                    );
                }
            }
            if mine.is_empty() {
                // Packaged by the distribution: its files are on the load path.
                found.extend(roots.iter().filter(|r| r.gem.is_none()).find_map(|r| {
                    entries
                        .iter()
                        .map(|e| join(&r.dir, e))
                        .find(|f| self.has_file(fs, f))
                }));
            }
            if mine.is_empty() && found.is_empty() {
                out.missing.push(declared_missing(&name, &by));
                continue;
            }
            out.kept.extend(mine.iter().filter_map(|r| r.spec.clone()));
            out.kept.extend(found);
        }
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
        // The parse depends on the path too (`__FILE__`, `__dir__`).
        let requires = parse_cache::cached(self.cache.as_deref(), "ruby", path, &source, || {
            parse_requires(source.clone(), path)
        });
        let bundle = self.bundle(fs, path);
        if let Some((app, vendored)) = &bundle {
            if self.declared.insert(app.clone()) {
                for f in BUNDLER_FILES {
                    let p = join(app, f);
                    if is_file(fs, &p) {
                        out.kept.push(p);
                    }
                }
                let mut roots = vendored.clone();
                roots.extend(self.roots(fs));
                self.keep_declared(fs, app, &roots, &mut out);
            }
        }
        if requires.is_empty() {
            return out.sorted();
        }
        let mut roots = bundle.map(|b| b.1).unwrap_or_default();
        roots.extend(self.roots(fs));
        let own = in_own_library(path, &roots);
        for Load { how, name, lazy } in requires {
            let here = parent(path);
            if own && lazy && how != How::Load {
                let absolute = match how {
                    How::Relative => join(here, &name),
                    _ => name.clone(),
                };
                if is_tooling(&absolute, &roots) {
                    out.not_followed.push(name);
                    continue;
                }
            }
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
        got.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = got.iter().map(|l| l.name.as_str()).collect();
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
    fn gemfile_lock_runtime_gems_are_kept_with_their_dependencies() {
        let gems = "/var/lib/gems/3.1.0";
        let (_t, fs) = tree(&[
            // The app requires its plugin by a computed name only.
            ("/opt/shop/app.rb", "require ENV.fetch('PLUGIN', 'shop_plugin')\n"),
            (
                "/opt/shop/Gemfile",
                "gem 'shop_plugin'\ngem 'rack-session'\ngem 'gone'\n\
                 group :development, :test do\n  gem 'rspec'\nend\n\
                 gem 'pry', group: :development\ngem 'both', groups: [:test, :production]\n",
            ),
            (
                "/opt/shop/Gemfile.lock",
                "GEM\n  remote: x\n  specs:\n    both (1.0)\n    gone (2.0)\n    \
                 pry (0.14.2)\n    rack-session (2.0.0)\n    rspec (3.12.0)\n    \
                 shop_plugin (1.2)\n      shop_data (~> 1.0)\n    shop_data (1.0.1-x86_64-linux)\n    \
                 unused (9.9)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  both\n  gone\n  pry\n  \
                 rack-session\n  rspec (~> 3)\n  shop_plugin!\n\nBUNDLED WITH\n   2.3.26\n",
            ),
            (&format!("{gems}/gems/shop_plugin-1.2/lib/shop_plugin.rb"), "x = 1\n"),
            (&format!("{gems}/gems/shop_plugin-1.1/lib/shop_plugin.rb"), ""),
            (&format!("{gems}/specifications/shop_plugin-1.2.gemspec"), ""),
            // A platform gem without a file of its name: its top-level files.
            (&format!("{gems}/gems/shop_data-1.0.1-x86_64-linux/lib/data_a.rb"), ""),
            (&format!("{gems}/gems/shop_data-1.0.1-x86_64-linux/lib/data_b.rb"), ""),
            (&format!("{gems}/gems/rack-session-2.0.0/lib/rack/session.rb"), ""),
            (&format!("{gems}/gems/rspec-3.12.0/lib/rspec.rb"), ""),
            (&format!("{gems}/gems/pry-0.14.2/lib/pry.rb"), ""),
            (&format!("{gems}/gems/unused-9.9/lib/unused.rb"), ""),
            // Packaged by the distribution: on the load path.
            ("/usr/lib/ruby/vendor_ruby/both.rb", ""),
        ]);
        let mut r = Ruby::default();
        let got = r.imports(&fs, "/opt/shop/app.rb");
        assert_eq!(
            got.kept,
            [
                "/opt/shop/Gemfile".to_string(),
                "/opt/shop/Gemfile.lock".into(),
                "/usr/lib/ruby/vendor_ruby/both.rb".into(),
                format!("{gems}/gems/rack-session-2.0.0/lib/rack/session.rb"),
                format!("{gems}/gems/shop_data-1.0.1-x86_64-linux/lib/data_a.rb"),
                format!("{gems}/gems/shop_data-1.0.1-x86_64-linux/lib/data_b.rb"),
                format!("{gems}/gems/shop_plugin-1.2/lib/shop_plugin.rb"),
                format!("{gems}/specifications/shop_plugin-1.2.gemspec"),
            ]
        );
        assert_eq!(
            got.missing,
            ["declared dependency gone (/opt/shop/Gemfile.lock)"]
        );
        // Once per app.
        assert!(r.imports(&fs, "/opt/shop/app.rb").kept.is_empty());
    }

    #[test]
    fn without_a_lock_the_gemfiles_runtime_gems_are_kept() {
        let gems = "/usr/local/bundle";
        let (_t, fs) = tree(&[
            ("/app/main.rb", "x = 1\n"),
            (
                "/app/Gemfile",
                "gem 'sinatra'\ngem 'nowhere'\ngroup :test do\n  gem 'rspec'\nend\n",
            ),
            (&format!("{gems}/gems/sinatra-4.0/lib/sinatra.rb"), ""),
            (&format!("{gems}/gems/rspec-3.12.0/lib/rspec.rb"), ""),
        ]);
        let got = Ruby::default().imports(&fs, "/app/main.rb");
        assert_eq!(
            got.kept,
            [
                "/app/Gemfile",
                "/usr/local/bundle/gems/sinatra-4.0/lib/sinatra.rb"
            ]
        );
        assert_eq!(got.missing, ["declared dependency nowhere (/app/Gemfile)"]);
    }

    #[test]
    fn tooling_required_in_a_method_of_rubys_library_is_not_followed() {
        let lib = "/usr/lib/ruby/3.1.0";
        let (_t, fs) = tree(&[
            (
                "/usr/lib/ruby/vendor_ruby/rubygems.rb",
                "require 'rbconfig'\ndef self.use_gemdeps\n  require 'bundler'\nend\n\
                 def self.install\n  require_relative 'rubygems/installer'\nend\n\
                 module Gem\n  autoload :Installer, File.expand_path('rubygems/installer', __dir__)\n\
                 autoload :Version, File.expand_path('rubygems/version', __dir__)\nend\n",
            ),
            (
                "/usr/lib/ruby/3.1.0/cgi.rb",
                // At the top, a tool is followed even in Ruby's library.
                "require 'irb'\nclass C\n  def self.d; require 'rdoc/markup'; require 'set'; end\nend\n",
            ),
            // An app's method requiring a tool means the app uses it.
            ("/srv/app/app.rb", "def console\n  require 'irb'\nend\n"),
            ("/usr/lib/ruby/3.1.0/rbconfig.rb", ""),
            ("/usr/lib/ruby/vendor_ruby/rubygems/installer.rb", ""),
            ("/usr/lib/ruby/vendor_ruby/rubygems/version.rb", ""),
            ("/usr/lib/ruby/3.1.0/bundler.rb", ""),
            ("/usr/lib/ruby/3.1.0/irb.rb", ""),
            ("/usr/lib/ruby/3.1.0/rdoc/markup.rb", ""),
            ("/usr/lib/ruby/3.1.0/set.rb", ""),
        ]);
        let mut r = Ruby::default();
        let got = r.imports(&fs, "/usr/lib/ruby/vendor_ruby/rubygems.rb");
        assert_eq!(
            got.kept,
            [
                format!("{lib}/rbconfig.rb"),
                "/usr/lib/ruby/vendor_ruby/rubygems/version.rb".into()
            ]
        );
        assert_eq!(
            got.not_followed,
            [
                "/usr/lib/ruby/vendor_ruby/rubygems/installer",
                "bundler",
                "rubygems/installer"
            ]
        );
        let got = r.imports(&fs, "/usr/lib/ruby/3.1.0/cgi.rb");
        assert_eq!(got.kept, [format!("{lib}/irb.rb"), format!("{lib}/set.rb")]);
        assert_eq!(got.not_followed, ["rdoc/markup"]);
        let got = r.imports(&fs, "/srv/app/app.rb");
        assert_eq!(got.kept, [format!("{lib}/irb.rb")]);
        assert!(got.not_followed.is_empty());
        let roots = r.roots(&fs);
        assert!(is_tooling("test/unit", &roots) && is_tooling("reline/unicode", &roots));
        assert!(is_tooling(
            "/usr/lib/ruby/vendor_ruby/rubygems/installer",
            &roots
        ));
        assert!(!is_tooling(
            "/usr/lib/ruby/vendor_ruby/rubygems/specification",
            &roots
        ));
        for not in ["debugger", "rakefile", "test", "rubygems"] {
            assert!(!is_tooling(not, &roots), "{not}");
        }
    }

    #[test]
    fn an_installed_gems_own_gemfile_is_not_an_app() {
        let gems = "/usr/lib/ruby/gems/3.1.0";
        let (_t, fs) = tree(&[
            // net-ftp ships the Gemfile its developers test with.
            (
                "/usr/lib/ruby/gems/3.1.0/gems/net-ftp-0.1.3/lib/net/ftp.rb",
                "require 'socket'\n",
            ),
            (
                "/usr/lib/ruby/gems/3.1.0/gems/net-ftp-0.1.3/Gemfile",
                "gem 'test-unit'\n",
            ),
            (
                "/usr/lib/ruby/gems/3.1.0/specifications/net-ftp-0.1.3.gemspec",
                "",
            ),
            (
                "/usr/lib/ruby/gems/3.1.0/gems/test-unit-3.5.3/lib/test-unit.rb",
                "",
            ),
            ("/usr/lib/x86_64-linux-gnu/ruby/3.1.0/socket.so", ""),
        ]);
        let got =
            Ruby::default().imports(&fs, &format!("{gems}/gems/net-ftp-0.1.3/lib/net/ftp.rb"));
        assert_eq!(got.kept, ["/usr/lib/x86_64-linux-gnu/ruby/3.1.0/socket.so"]);
        assert!(got.missing.is_empty(), "{:?}", got.missing);
    }

    #[test]
    fn gem_directories_match_name_version_and_platform() {
        assert!(is_gem_dir("rack-3.0.1", "rack", "3.0.1"));
        assert!(is_gem_dir(
            "nokogiri-1.15.0-x86_64-linux",
            "nokogiri",
            "1.15.0"
        ));
        assert!(!is_gem_dir("rack-session-2.0", "rack", ""));
        assert!(is_gem_dir("rack-2.2", "rack", ""));
        assert!(!is_gem_dir("rack-3.0.10", "rack", "3.0.1"));
    }

    #[test]
    fn lock_files_parse() {
        let lock = parse_lock(
            "GIT\n  remote: x\n  specs:\n    g (0.1)\n\nGEM\n  specs:\n    a (1.0)\n      b (>= 2)\n      c\n    b (2.1-java)\n\nDEPENDENCIES\n  a (~> 1)\n  g!\n",
        );
        assert_eq!(lock.dependencies, ["a", "g"]);
        assert_eq!(
            lock.specs["a"],
            ("1.0".to_string(), vec!["b".to_string(), "c".to_string()])
        );
        assert_eq!(lock.specs["b"].0, "2.1-java");
        assert_eq!(lock.specs["g"].0, "0.1");
    }

    #[test]
    fn unparsable_files_import_nothing() {
        assert!(parse_requires(b"def (((".to_vec(), "/x.rb").is_empty());
    }
}
