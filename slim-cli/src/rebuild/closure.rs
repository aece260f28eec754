//! Decides what the minimal image holds: every path the container touched,
//! resolved inside the image's own filesystem, plus what those need (ELF
//! loaders and libraries, `#!` interpreters), plus what the keep-rules
//! (`rules`) and the language resolvers (`imports`) add, run together to a
//! fixpoint: a rule may keep a module whose imports fire another rule.
//! Each kept path records why it is kept and which rule brought it in.
use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::Arc,
};

use anyhow::{Context, Result};
use globset::GlobSet;
use serde::Serialize;

use super::{
    elf,
    imports::{self, Resolver},
    packages::{Manager, PackageDb},
    paths::{join, parent, resolve_path, walk, Step},
    rootfs::LayerStack,
    rules::{self, Compiled, Facts, KeepKind},
};

/// Why a path is in the minimal image (the first, strongest reason wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Touched,
    /// An entry of a directory the container listed (its name is visible).
    Listed,
    Include,
    Rule,
    /// A module that kept code imports (language closure).
    Import,
    ElfDependency,
    Interpreter,
    Symlink,
    Parent,
}

/// One kept path: why, and which keep-rule (or language resolver) brought
/// it in, directly or as a dependency of what that rule kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub reason: Reason,
    pub rule: Option<Arc<str>>,
    /// The file whose import brought it in (language closure).
    pub from: Option<Arc<str>>,
}

/// What to select from, besides the trace.
#[derive(Debug, Default)]
pub struct Request {
    /// Paths the container used (absolute, as it named them, and the files
    /// its opens reached through symlinks).
    pub touched: Vec<String>,
    /// The touched paths the container named itself: the evidence rules
    /// fire on (not where a symlink such as /etc/localtime led).
    pub named: Vec<String>,
    /// Directories whose entries it read (getdents64): their entries stay,
    /// subdirectories as empty directories, so a listing prints the same.
    pub listed: Vec<String>,
    /// Paths it executed.
    pub executed: Vec<String>,
    /// Paths it created or wrote (successfully).
    pub written: Vec<String>,
    /// The image's USER, WORKDIR, entrypoint+cmd, ENV and VOLUMEs.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub volumes: Vec<String>,
    pub include_paths: Vec<String>,
    pub include_bins: Vec<String>,
    pub include_shell: bool,
    pub excludes: Vec<String>,
    /// Paths it opened or executed (the lower bound's input).
    pub opened: Vec<String>,
    /// Write files that are only entries of a listed directory as empty
    /// placeholders (`--keep minimal`): a listing still shows every name
    /// and type, and no bytes are spent on contents nothing read.
    pub placeholders: bool,
}

/// What one rule (or resolver) added: paths and bytes of regular files
/// kept first by it, so none is counted twice.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RuleUse {
    pub paths: usize,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct Selection {
    pub kept: BTreeMap<String, Kept>,
    pub warnings: Vec<String>,
    /// Per rule (and `import:LANG`), what it added.
    pub rules: BTreeMap<String, RuleUse>,
    /// The package database the ownership rules read.
    pub packages: Option<Manager>,
    /// Imports no file of the image provides, per language: `file: module`.
    pub unresolved_imports: Vec<String>,
    /// Imports a resolver's policy did not follow: `file: module`.
    pub not_followed_imports: Vec<String>,
    /// Files the resolvers parsed, and how many of those the parse cache
    /// answered (set by the caller, which owns the cache).
    pub parsed: imports::parse_cache::ParseCounts,
    /// Syscalls fired rules add to the profile: name -> rule.
    pub syscalls: BTreeMap<String, String>,
    /// Regular files kept only because a listed directory holds them, to
    /// be written empty (`Request::placeholders`).
    pub placeholders: std::collections::BTreeSet<String>,
    /// Bytes of the files the container opened or executed, with their
    /// ELF closure: what no file-level selection can go below.
    pub lower_bound_bytes: u64,
    /// Entries of listed directories left out because a language resolver
    /// decides what they are for (`Resolver::decides_entry`).
    pub listed_dropped: usize,
}

const PATH_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];
/// Written paths that are caches a runtime rebuilds from the sources
/// beside them (Python's bytecode, which it writes on import where none
/// is up to date): they say nothing about where the app keeps its data,
/// and a pyc written under an unowned /usr/local made written-dirs keep
/// the whole installation.
const CACHE_WRITES: &[&str] = &["/__pycache__/"];
/// What --include-shell adds: a shell and the tools one reaches for first.
const SHELL_TOOLS: [&str; 12] = [
    "sh", "bash", "ls", "cat", "echo", "env", "ps", "grep", "mkdir", "rm", "cp", "mv",
];
/// Whether a glob character makes this path component a pattern.
fn is_pattern(component: &str) -> bool {
    component.contains(['*', '?', '[', '{'])
}

struct Closer<'a> {
    fs: &'a LayerStack,
    db: PackageDb,
    kept: BTreeMap<String, Kept>,
    /// Files whose ELF/`#!` dependencies are still to be read, with the
    /// rule that brought them in.
    queue: VecDeque<(String, Option<Arc<str>>)>,
    scanned: HashSet<String>,
    ld_cache: Option<HashMap<String, Vec<String>>>,
    /// The rule being applied: what is kept now is counted for it.
    current: Option<Arc<str>>,
    /// Paths rules and resolvers kept by name: evidence for other rules.
    evidence: Vec<String>,
    /// Directories already kept whole (symlink loops in trees end here).
    trees: HashSet<String>,
    /// Files the language resolvers still have to read.
    sources: VecDeque<String>,
    warnings: Vec<String>,
    syscalls: BTreeMap<String, String>,
    /// Paths kept only as the entry of a listed directory.
    listed_only: HashSet<String>,
    /// Imports the resolvers chose not to follow, `file: module`.
    not_followed: Vec<String>,
    /// What each scanned file loads (its `#!` or ELF interpreter and
    /// libraries, resolved): the lower bound follows these.
    deps: HashMap<String, Vec<String>>,
}

impl<'a> Closer<'a> {
    fn new(fs: &'a LayerStack, db: PackageDb) -> Self {
        Self {
            fs,
            db,
            kept: BTreeMap::new(),
            queue: VecDeque::new(),
            scanned: HashSet::new(),
            ld_cache: None,
            current: None,
            evidence: Vec::new(),
            trees: HashSet::new(),
            sources: VecDeque::new(),
            warnings: Vec::new(),
            syscalls: BTreeMap::new(),
            listed_only: HashSet::new(),
            not_followed: Vec::new(),
            deps: HashMap::new(),
        }
    }

    fn keep(&mut self, path: &str, reason: Reason) {
        if let Some(e) = self.kept.get_mut(path) {
            // A path kept on the way (a parent) and now named by a rule or
            // resolver (a static binary naming /usr/share/zoneinfo) becomes
            // evidence then.
            let named = |r: Reason| {
                matches!(
                    r,
                    Reason::Rule | Reason::Import | Reason::Include | Reason::ElfDependency
                )
            };
            if named(reason) && !named(e.reason) && !matches!(e.reason, Reason::Touched) {
                self.evidence.push(path.to_string());
            }
            e.reason = e.reason.min(reason);
            if reason != Reason::Listed {
                self.listed_only.remove(path);
            }
            return;
        }
        if reason == Reason::Listed {
            self.listed_only.insert(path.to_string());
        }
        self.kept.insert(
            path.to_string(),
            Kept {
                reason,
                rule: self.current.clone(),
                from: None,
            },
        );
        // What rules, imports and includes name, and the libraries those
        // load, is evidence for other rules (a resolved symlink target of
        // the trace is not: /etc/localtime is no request for every zone).
        if matches!(
            reason,
            Reason::Rule | Reason::Import | Reason::Include | Reason::ElfDependency
        ) {
            self.evidence.push(path.to_string());
        }
    }

    /// Resolves `path`, keeping each symlink and directory met, and the
    /// final path with `reason` (queued for its dependencies).
    fn resolve(&mut self, path: &str, reason: Reason) -> Option<String> {
        let (found, steps) = walk(self.fs, path);
        for s in steps {
            match s {
                Step::Symlink(p) => self.keep(&p, Reason::Symlink),
                Step::Dir(p) => self.keep(&p, Reason::Parent),
            }
        }
        let (found, what) = found?;
        self.keep(&found, reason);
        if what.meta.is_file() {
            self.enqueue(&found);
        }
        Some(found)
    }

    fn enqueue(&mut self, path: &str) {
        if self.scanned.insert(path.to_string()) {
            self.queue
                .push_back((path.to_string(), self.current.clone()));
            self.sources.push_back(path.to_string());
        }
    }

    fn exists(&self, path: &str) -> bool {
        resolve_path(self.fs, path).is_some()
    }

    fn find_in_path(&self, name: &str) -> Option<String> {
        if name.starts_with('/') {
            return Some(name.to_string());
        }
        PATH_DIRS
            .iter()
            .map(|d| join(d, name))
            .find(|p| self.exists(p))
    }

    fn ld_cache(&mut self) -> &HashMap<String, Vec<String>> {
        if self.ld_cache.is_none() {
            let map = resolve_path(self.fs, "/etc/ld.so.cache")
                .and_then(|p| self.fs.lookup(&p))
                .and_then(|f| self.fs.read_file(&f).ok())
                .map(|d| elf::parse_ld_so_cache(&d))
                .unwrap_or_default();
            self.ld_cache = Some(map);
        }
        self.ld_cache.as_ref().unwrap()
    }

    /// Where ld.so would find library `name` for an object with `search` dirs.
    fn find_library(&mut self, name: &str, search: &[String], machine: u16) -> Option<String> {
        if name.contains('/') {
            return self.exists(name).then(|| name.to_string());
        }
        let mut candidates: Vec<String> = search.iter().map(|d| join(d, name)).collect();
        candidates.extend(self.ld_cache().get(name).cloned().unwrap_or_default());
        candidates.extend(elf::default_dirs(machine).iter().map(|d| join(d, name)));
        candidates.into_iter().find(|c| self.exists(c))
    }

    /// Adds the interpreters and libraries of every queued file, to a fixpoint.
    fn close_dependencies(&mut self) -> Result<()> {
        while let Some((path, rule)) = self.queue.pop_front() {
            self.current = rule;
            let Some(found) = self.fs.lookup(&path) else {
                continue;
            };
            // Regular files only: a FIFO would block, a device never end.
            let Ok((mut file, _)) = self.fs.open_file(&found) else {
                continue;
            };
            let mut head = [0u8; 256];
            let n = {
                use std::io::Read;
                file.read(&mut head)
                    .with_context(|| format!("cannot read {path} from the image"))?
            };
            let head = &head[..n];
            if let Some(interp) = elf::shebang(head) {
                let loads = self.resolve(&interp, Reason::Interpreter);
                self.deps.insert(path, loads.into_iter().collect());
                continue;
            }
            if !head.starts_with(b"\x7fELF") {
                continue;
            }
            // Mapped, not read: a large ELF file costs no heap.
            // SAFETY: layer files are not modified while slim reads them
            // (the image is never written to); a torn read only makes the
            // parse fail, which skips the file.
            let map = unsafe { memmap2::Mmap::map(&file) }
                .with_context(|| format!("cannot read {path} from the image"))?;
            let Some(needs) = elf::needs(&path, &map) else {
                continue;
            };
            let mut loads = Vec::new();
            if let Some(interp) = &needs.interpreter {
                loads.extend(self.resolve(interp, Reason::Interpreter));
            }
            for lib in &needs.needed {
                if let Some(found) = self.find_library(lib, &needs.search, needs.machine) {
                    loads.extend(self.resolve(&found, Reason::ElfDependency));
                }
            }
            self.deps.insert(path, loads);
        }
        self.current = None;
        Ok(())
    }

    fn keep_entries(&mut self, dir: &str) {
        let Some(real) = self.resolve(dir, Reason::Touched) else {
            return;
        };
        for name in self.fs.read_dir(&real) {
            let child = join(&real, &name);
            if self.fs.lookup(&child).is_some() {
                // Kept whole, but its dependencies are not chased: a file
                // that was only listed was not loaded (had it been, its open
                // would be in the trace and it would be touched).
                self.keep(&child, Reason::Listed);
            }
        }
    }

    /// Keeps `path` and, for a directory, everything below it; symlinks in
    /// it are followed, so what they point to comes along. With `unowned`,
    /// only files no OS package owns; nothing matching `unless`.
    fn keep_tree(&mut self, path: &str, reason: Reason, unowned: bool, unless: Option<&GlobSet>) {
        let real = if unowned {
            resolve_path(self.fs, path)
        } else {
            self.resolve(path, reason)
        };
        if let Some(real) = real {
            self.keep_below(&real, reason, unowned, unless);
        }
    }

    /// The members of directory `dir` (a resolved path), recursively: each
    /// is a real path already, so it is kept as it is, not walked again.
    fn keep_below(&mut self, dir: &str, reason: Reason, unowned: bool, unless: Option<&GlobSet>) {
        let is_dir = self.fs.lookup(dir).is_some_and(|f| f.meta.is_dir());
        if !is_dir || !self.trees.insert(dir.to_string()) {
            return;
        }
        for name in self.fs.read_dir(dir) {
            let child = join(dir, &name);
            let Some(f) = self.fs.lookup(&child) else {
                continue;
            };
            if unless.is_some_and(|u| u.is_match(&child)) {
                continue;
            }
            if f.meta.is_dir() {
                if !unowned {
                    self.keep(&child, reason);
                }
                self.keep_below(&child, reason, unowned, unless);
            } else if unowned && self.db.owns(&child) {
                continue;
            } else if f.meta.file_type().is_symlink() {
                self.keep(&child, reason);
                if let Some(target) = self.resolve(&child, reason) {
                    self.keep_below(&target, reason, unowned, unless);
                }
            } else {
                if unowned {
                    // Its parents were not kept on the way down.
                    self.resolve(&child, reason);
                    continue;
                }
                self.keep(&child, reason);
                if f.meta.is_file() {
                    self.enqueue(&child);
                }
            }
        }
    }

    /// Every path of the image matching `pattern`, walking only below its
    /// literal prefix (and no deeper than it can match without `**`).
    fn glob_paths(&self, pattern: &str) -> Result<Vec<String>> {
        let matcher = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()?
            .compile_matcher();
        let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        let literal = comps.iter().take_while(|c| !is_pattern(c)).count();
        let root = format!("/{}", comps[..literal].join("/"));
        let max_depth = if pattern.contains("**") {
            usize::MAX
        } else {
            comps.len() - literal
        };
        let mut out = Vec::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            if depth >= max_depth {
                continue;
            }
            for name in self.fs.read_dir(&dir) {
                let child = join(&dir, &name);
                if matcher.is_match(&child) {
                    out.push(child.clone());
                }
                if self.fs.lookup(&child).is_some_and(|f| f.meta.is_dir()) {
                    stack.push((child, depth + 1));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Keeps what one expanded entry of a rule names.
    fn apply(&mut self, rule: &Compiled, kind: KeepKind, path: &str) -> Result<()> {
        if rule.excluded(path) {
            return Ok(());
        }
        match kind {
            KeepKind::Path => {
                self.resolve(path, Reason::Rule);
            }
            KeepKind::Tree => self.keep_tree(path, Reason::Rule, false, Some(rule.unless())),
            KeepKind::Unowned => self.keep_tree(path, Reason::Rule, true, Some(rule.unless())),
            KeepKind::Glob => {
                for p in self.glob_paths(path)? {
                    if !rule.excluded(&p) {
                        self.resolve(&p, Reason::Rule);
                    }
                }
            }
            KeepKind::Bin => match self.find_in_path(path) {
                Some(p) => {
                    self.resolve(&p, Reason::Rule);
                }
                None if rule.rule.source != "built-in" => self.warnings.push(format!(
                    "rule {}: program {path} is not in the image",
                    rule.rule.name
                )),
                None => {}
            },
        }
        Ok(())
    }

    fn fire(&mut self, rule: &Compiled, facts: &Facts, matched: Option<&str>) -> Result<()> {
        self.current = Some(Arc::from(rule.rule.name.as_str()));
        for s in &rule.rule.keep.syscalls {
            self.syscalls
                .entry(s.clone())
                .or_insert_with(|| rule.rule.name.clone());
        }
        let entries: Vec<(KeepKind, String)> = rule
            .rule
            .keep
            .entries()
            .map(|(k, e)| (k, e.to_string()))
            .collect();
        for (kind, template) in entries {
            for path in facts.expand(&template, matched) {
                self.apply(rule, kind, &path)?;
            }
        }
        self.current = None;
        Ok(())
    }

    /// Bytes of regular files among `opened` (all touched, so all scanned)
    /// and what they load, from the dependencies the closure recorded.
    fn lower_bound(&self, opened: &[String]) -> u64 {
        let mut seen = HashSet::new();
        let mut todo: Vec<String> = opened
            .iter()
            .filter_map(|p| resolve_path(self.fs, p))
            .collect();
        let mut bytes = 0;
        while let Some(p) = todo.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            if let Some(f) = self.fs.lookup(&p).filter(|f| f.meta.is_file()) {
                bytes += f.meta.len();
            }
            todo.extend(self.deps.get(&p).into_iter().flatten().cloned());
        }
        bytes
    }

    /// Runs the language resolvers over the files kept since they last ran,
    /// keeping what those import; returns the imports nothing provides.
    fn run_imports(&mut self, resolvers: &mut [Box<dyn Resolver>]) -> Vec<String> {
        let mut unresolved = Vec::new();
        let labels: Vec<Arc<str>> = resolvers
            .iter()
            .map(|r| Arc::from(format!("import:{}", r.language())))
            .collect();
        while let Some(src) = self.sources.pop_front() {
            for (r, label) in resolvers.iter_mut().zip(&labels) {
                if !r.wants(&src) {
                    continue;
                }
                let found = r.imports(self.fs, &src);
                self.current = Some(label.clone());
                for imp in found.kept {
                    let Some(real) = self.resolve(&imp, Reason::Import) else {
                        continue;
                    };
                    if let Some(k) = self.kept.get_mut(&real) {
                        if k.reason == Reason::Import && k.from.is_none() {
                            k.from = Some(Arc::from(src.as_str()));
                        }
                    }
                }
                unresolved.extend(found.missing.into_iter().map(|m| format!("{src}: {m}")));
                self.not_followed.extend(
                    found
                        .not_followed
                        .into_iter()
                        .map(|m| format!("{src}: {m}")),
                );
                self.current = None;
            }
        }
        unresolved
    }

    /// The outermost directory around `written` that no package owns (a
    /// data directory), or, where a package owns it, its own directory.
    fn state_root(&self, written: &str) -> Option<String> {
        let mut dir = parent(written);
        let real = loop {
            if let Some(r) = resolve_path(self.fs, dir) {
                if self.fs.lookup(&r).is_some_and(|f| f.meta.is_dir()) {
                    break r;
                }
            }
            if dir == "/" {
                return None;
            }
            dir = parent(dir);
        };
        if self.db.manager == Manager::None || self.db.owns(&real) {
            return Some(real);
        }
        let mut root = real;
        loop {
            let up = parent(&root);
            if up == "/" || self.db.owns(up) {
                return Some(root);
            }
            root = up.to_string();
        }
    }

    fn facts(&self, req: &Request) -> Facts {
        let command = req.command.first().cloned();
        let entrypoint_dir = command
            .as_deref()
            .and_then(|c| self.find_in_path(c))
            .and_then(|p| resolve_path(self.fs, &p))
            .map(|p| parent(&p).to_string());
        let env_dirs = req
            .env
            .iter()
            .filter(|(_, v)| v.starts_with('/') && !v.contains(':'))
            .filter_map(|(_, v)| resolve_path(self.fs, v))
            .filter(|r| self.fs.lookup(r).is_some_and(|f| f.meta.is_dir()))
            .filter(|r| !self.db.owns(r))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let written_dirs = req
            .written
            .iter()
            .filter(|w| !CACHE_WRITES.iter().any(|c| w.contains(c)))
            .filter_map(|w| self.state_root(w))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Facts {
            user: req.user.clone(),
            workdir: req.workdir.clone().filter(|w| w.starts_with('/')),
            command,
            entrypoint_dir,
            volumes: req.volumes.clone(),
            env: req.env.clone(),
            env_dirs,
            written_dirs,
        }
    }
}

/// Computes the selection for `req` over the image `fs`: the trace and its
/// closure, the `rules` that fire, and the language `resolvers`.
pub fn select(
    fs: &LayerStack,
    req: &Request,
    rules: &[Compiled],
    resolvers: &mut [Box<dyn Resolver>],
) -> Result<Selection> {
    let mut c = Closer::new(fs, PackageDb::read(fs));
    for p in &req.touched {
        c.resolve(p, Reason::Touched);
    }
    for d in &req.listed {
        c.keep_entries(d);
    }
    c.current = Some(Arc::from("include"));
    for p in &req.include_paths {
        if !c.exists(p) {
            anyhow::bail!("--include-path {p}: no such path in the image");
        }
        c.keep_tree(p, Reason::Include, false, None);
    }
    let mut bins: Vec<String> = req.include_bins.clone();
    if req.include_shell {
        bins.extend(SHELL_TOOLS.iter().map(|s| s.to_string()));
    }
    for b in &bins {
        match c.find_in_path(b) {
            Some(p) if c.resolve(&p, Reason::Include).is_some() => {}
            _ if req.include_shell && SHELL_TOOLS.contains(&b.as_str()) => {}
            _ => anyhow::bail!(
                "--include-bin {b}: not found in the image (looked in {})",
                PATH_DIRS.join(":")
            ),
        }
    }
    c.current = None;

    let facts = c.facts(req);
    let mut evidence: Vec<String> = req.named.clone();
    let mut fired_once: HashSet<usize> = HashSet::new();
    let mut fired_on: HashSet<(usize, String)> = HashSet::new();
    let mut seen = 0; // evidence already offered to every rule
    let mut unresolved = Vec::new();
    let mut executed_left = req.executed.clone();
    // Triggers of rules whose `when.kept` condition does not hold yet,
    // offered again each round.
    let mut deferred: Vec<(usize, String)> = Vec::new();
    let holds =
        |c: &Closer, rule: &Compiled| rule.condition_holds(c.kept.keys().map(String::as_str));
    loop {
        let before = c.kept.len();
        for (i, rule) in rules.iter().enumerate() {
            if !fired_once.contains(&i) && rule.fires_on_image(&facts) && holds(&c, rule) {
                fired_once.insert(i);
                c.fire(rule, &facts, None)?;
            }
        }
        evidence.append(&mut c.evidence);
        let fresh: Vec<String> = evidence[seen..].to_vec();
        seen = evidence.len();
        // Executed paths are offered once, in the first round.
        let executed = std::mem::take(&mut executed_left);
        let waiting = std::mem::take(&mut deferred);
        for (i, rule) in rules.iter().enumerate() {
            let hits = fresh
                .iter()
                .filter(|p| rule.matches_touched(p))
                .chain(executed.iter().filter(|p| rule.matches_executed(p)))
                .chain(waiting.iter().filter(|(w, _)| *w == i).map(|(_, p)| p));
            for hit in hits.cloned().collect::<Vec<_>>() {
                if !holds(&c, rule) {
                    deferred.push((i, hit));
                } else if rule.uses_match {
                    if fired_on.insert((i, hit.clone())) {
                        c.fire(rule, &facts, Some(&hit))?;
                    }
                } else if fired_once.insert(i) {
                    c.fire(rule, &facts, None)?;
                }
            }
        }
        deferred.sort();
        deferred.dedup();
        c.close_dependencies()?;
        unresolved.extend(c.run_imports(resolvers));
        c.close_dependencies()?;
        evidence.append(&mut c.evidence);
        if c.kept.len() == before && seen == evidence.len() && c.queue.is_empty() {
            break;
        }
    }

    // Entries only a listing showed, where a language resolver decides
    // what they are for (modules on its search path), are left out: the
    // resolver kept those the code can import.
    let mut undecided: Vec<String> = c.listed_only.iter().cloned().collect();
    undecided.sort();
    let mut listed_dropped = 0;
    for p in undecided {
        if resolvers.iter_mut().any(|r| r.decides_entry(fs, &p)) && c.kept.remove(&p).is_some() {
            c.listed_only.remove(&p);
            listed_dropped += 1;
        }
    }

    let lower_bound_bytes = c.lower_bound(&req.opened);
    let mut warnings = std::mem::take(&mut c.warnings);
    let mut kept = c.kept;
    if !req.excludes.is_empty() {
        let set = rules::glob_set(&req.excludes).context("--exclude")?;
        kept.retain(|path, k| {
            let drop = set.is_match(path);
            if drop && k.reason == Reason::Touched {
                warnings.push(format!("excluded {path}, which the container used"));
            }
            !drop
        });
    }
    let mut uses: BTreeMap<String, RuleUse> = BTreeMap::new();
    for (path, k) in &kept {
        let Some(rule) = &k.rule else { continue };
        let u = uses.entry(rule.to_string()).or_default();
        u.paths += 1;
        if let Some(f) = fs.lookup(path).filter(|f| f.meta.is_file()) {
            u.bytes += f.meta.len();
        }
    }
    unresolved.sort();
    unresolved.dedup();
    let placeholders = if req.placeholders {
        c.listed_only
            .iter()
            .filter(|p| kept.contains_key(*p))
            .filter(|p| fs.lookup(p).is_some_and(|f| f.meta.is_file()))
            .cloned()
            .collect()
    } else {
        Default::default()
    };
    Ok(Selection {
        listed_dropped,
        placeholders,
        lower_bound_bytes,
        kept,
        warnings,
        rules: uses,
        packages: Some(c.db.manager),
        unresolved_imports: unresolved,
        not_followed_imports: {
            let mut n = std::mem::take(&mut c.not_followed);
            n.sort();
            n.dedup();
            n
        },
        syscalls: c.syscalls,
        parsed: Default::default(),
    })
}

/// The language resolvers of safe mode, parsing through `cache`.
pub fn default_resolvers(
    cache: Option<std::sync::Arc<imports::parse_cache::ParseCache>>,
) -> Vec<Box<dyn Resolver>> {
    imports::all(cache)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, os::unix::fs::symlink};

    /// A one-layer image: merged /usr (/bin -> usr/bin, /lib -> usr/lib), a
    /// dynamically linked binary with its real loader and libc, a script.
    fn image() -> (tempfile::TempDir, LayerStack) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("layer");
        for d in [
            "usr/bin",
            "usr/lib/x86_64-linux-gnu",
            "usr/lib64",
            "etc",
            "app/data/sub",
            "tmp",
            "var/empty",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        symlink("usr/bin", r.join("bin")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("usr/lib64", r.join("lib64")).unwrap();
        fs::copy("/bin/ls", r.join("usr/bin/ls")).unwrap();
        let ls = elf::needs("/usr/bin/ls", &fs::read("/bin/ls").unwrap()).unwrap();
        for lib in &ls.needed {
            let host = format!("/lib/x86_64-linux-gnu/{lib}");
            fs::copy(&host, r.join("usr/lib/x86_64-linux-gnu").join(lib)).unwrap();
        }
        fs::copy(
            "/lib64/ld-linux-x86-64.so.2",
            r.join("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        fs::write(r.join("app/run.sh"), "#!/bin/ls\n").unwrap();
        fs::write(r.join("app/data/a"), "a").unwrap();
        fs::write(r.join("app/data/sub/b"), "b").unwrap();
        fs::write(r.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
        fs::write(r.join("etc/unused"), "").unwrap();
        (t, LayerStack::new(vec![r]))
    }

    fn reasons(sel: &Selection) -> BTreeMap<&str, Reason> {
        sel.kept
            .iter()
            .map(|(k, v)| (k.as_str(), v.reason))
            .collect()
    }

    /// The built-in rules of a mode.
    fn builtin(safe: bool) -> Vec<Compiled> {
        super::super::rules::parse(super::super::rules::BUILTIN, "built-in")
            .unwrap()
            .into_iter()
            .filter(|r| safe || r.level == super::super::rules::Level::Required)
            .map(|r| Compiled::new(r).unwrap())
            .collect()
    }

    fn select(fs: &LayerStack, req: &Request) -> Result<Selection> {
        super::select(fs, req, &builtin(false), &mut [])
    }

    fn select_safe(fs: &LayerStack, req: &Request) -> Selection {
        super::select(fs, req, &builtin(true), &mut default_resolvers(None)).unwrap()
    }

    #[test]
    fn touched_paths_bring_symlinks_parents_interpreters_and_libraries() {
        let (_t, fs) = image();
        let req = Request {
            touched: vec!["/app/run.sh".into(), "/etc/missing".into()],
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        let r = reasons(&sel);
        assert_eq!(r["/app/run.sh"], Reason::Touched);
        assert_eq!(r["/app"], Reason::Parent);
        // #!/bin/ls: the directory symlink /bin and the real binary
        assert_eq!(r["/bin"], Reason::Symlink);
        assert_eq!(r["/usr/bin/ls"], Reason::Interpreter);
        // ls's loader (through /lib64) and libc (through the default dirs)
        // (libc also lists the loader as DT_NEEDED: either reason is right)
        let ld = r["/usr/lib64/ld-linux-x86-64.so.2"];
        assert!(
            matches!(ld, Reason::Interpreter | Reason::ElfDependency),
            "{ld:?}"
        );
        assert_eq!(r["/lib64"], Reason::Symlink);
        assert!(
            r.contains_key("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            "{r:?}"
        );
        // a missing file keeps its parent; /tmp is a rule; unused stays out
        assert_eq!(r["/etc"], Reason::Parent);
        assert_eq!(r["/tmp"], Reason::Rule);
        assert!(!r.contains_key("/etc/unused"));
        assert!(!r.contains_key("/etc/passwd"), "no USER, no passwd");
    }

    #[test]
    fn user_includes_and_excludes() {
        let (_t, fs) = image();
        let req = Request {
            touched: vec!["/app/data/a".into()],
            user: Some("app".into()),
            include_paths: vec!["/app/data".into()],
            excludes: vec!["/app/data/a".into(), "/app/**/b".into()],
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        let r = reasons(&sel);
        assert_eq!(r["/etc/passwd"], Reason::Rule);
        assert_eq!(r["/etc/group"], Reason::Rule);
        assert!(r.contains_key("/app/data/sub"), "{r:?}");
        assert!(
            !r.contains_key("/app/data/a") && !r.contains_key("/app/data/sub/b"),
            "{r:?}"
        );
        assert_eq!(sel.warnings.len(), 1, "{:?}", sel.warnings);
        assert!(sel.warnings[0].contains("/app/data/a"));
    }

    #[test]
    fn include_bin_finds_the_binary_on_path_with_its_libraries() {
        let (_t, fs) = image();
        let req = Request {
            include_bins: vec!["ls".into()],
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        let r = reasons(&sel);
        assert_eq!(r["/usr/bin/ls"], Reason::Include);
        assert!(r.contains_key("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        // Issue #11 (6): what cannot be kept fails instead of being ignored.
        let missing = Request {
            include_bins: vec!["nope".into()],
            ..Default::default()
        };
        let err = select(&fs, &missing).unwrap_err().to_string();
        assert!(err.starts_with("--include-bin nope: not found"), "{err}");
        let missing = Request {
            include_paths: vec!["/nonexistent".into()],
            ..Default::default()
        };
        let err = select(&fs, &missing).unwrap_err().to_string();
        assert_eq!(
            err,
            "--include-path /nonexistent: no such path in the image"
        );
    }

    #[test]
    fn listed_directories_keep_their_entries_but_not_deeper() {
        let (_t, fs) = image();
        let req = Request {
            listed: vec!["/app".into()],
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        let r = reasons(&sel);
        assert_eq!(r["/app/run.sh"], Reason::Listed);
        assert_eq!(r["/app/data"], Reason::Listed);
        assert!(!r.contains_key("/app/data/a"), "{r:?}");
        // listed, not run: run.sh's #! interpreter does not come along
        assert!(!r.contains_key("/usr/bin/ls"), "{r:?}");
    }

    #[test]
    fn symlink_loops_end() {
        let (t, fs) = image();
        symlink("loop2", t.path().join("layer/loop1")).unwrap();
        symlink("loop1", t.path().join("layer/loop2")).unwrap();
        let req = Request {
            touched: vec!["/loop1/x".into()],
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        assert!(sel.kept.contains_key("/loop1"));
    }

    /// The sample image with a dpkg database owning /usr and /etc/passwd,
    /// an app in /app, and a data directory /var/lib/db with a subdirectory.
    fn packaged() -> (tempfile::TempDir, LayerStack) {
        let (t, _) = image();
        let r = t.path().join("layer");
        for d in [
            "var/lib/dpkg/info",
            "var/lib/db/global",
            "usr/share/zoneinfo/Europe",
            "opt/venv/lib",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::write(
            r.join("var/lib/dpkg/info/base.list"),
            "/usr\n/usr/bin\n/usr/bin/ls\n/etc\n/etc/passwd\n/var\n/var/lib\n/usr/share/zoneinfo\n/usr/share/zoneinfo/Europe/Paris\n",
        )
        .unwrap();
        fs::write(r.join("var/lib/db/PG_VERSION"), "15").unwrap();
        fs::write(r.join("var/lib/db/global/2676"), "catalog").unwrap();
        fs::write(r.join("usr/share/zoneinfo/Europe/Paris"), "TZif").unwrap();
        fs::write(r.join("opt/venv/lib/site.py"), "").unwrap();
        (t, LayerStack::new(vec![r]))
    }

    #[test]
    fn a_rule_with_a_kept_condition_waits_for_its_library() {
        let (t, fs) = packaged();
        let r = t.path().join("layer");
        fs::create_dir_all(r.join("usr/lib/x86_64-linux-gnu")).unwrap();
        fs::write(r.join("etc/nsswitch.conf"), "hosts: files dns").unwrap();
        fs::write(r.join("usr/lib/x86_64-linux-gnu/libnss_dns.so.2"), "").unwrap();
        fs::write(r.join("usr/lib/x86_64-linux-gnu/libc.so.6"), "").unwrap();
        let module = "/usr/lib/x86_64-linux-gnu/libnss_dns.so.2";
        // A static program reads nsswitch.conf itself: the file is kept,
        // glibc's modules are not.
        let static_binary = Request {
            touched: vec!["/etc/nsswitch.conf".into()],
            named: vec!["/etc/nsswitch.conf".into()],
            ..Default::default()
        };
        let sel = select_safe(&fs, &static_binary);
        assert!(sel.kept.contains_key("/etc/nsswitch.conf"));
        assert!(!sel.kept.contains_key(module), "{:?}", sel.rules);
        // With glibc kept (here traced after the trigger), they are.
        let with_glibc = Request {
            touched: vec![
                "/etc/nsswitch.conf".into(),
                "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
            ],
            named: vec!["/etc/nsswitch.conf".into()],
            ..Default::default()
        };
        let sel = select_safe(&fs, &with_glibc);
        assert_eq!(sel.kept[module].rule.as_deref(), Some("nss"));
    }

    #[test]
    fn bytecode_caches_written_at_run_time_are_not_data_directories() {
        let (t, fs) = packaged();
        let site = t
            .path()
            .join("layer/usr/local/lib/python3.11/site-packages/pkg");
        fs::create_dir_all(site.join("__pycache__")).unwrap();
        fs::write(site.join("big.py"), "x = 1").unwrap();
        let pyc = "/usr/local/lib/python3.11/site-packages/pkg/__pycache__/big.cpython-311.pyc";
        let req = |written: &str| Request {
            touched: vec![written.into()],
            written: vec![written.into()],
            ..Default::default()
        };
        let safe = select_safe(&fs, &req(pyc));
        assert!(
            !safe
                .kept
                .contains_key("/usr/local/lib/python3.11/site-packages/pkg/big.py"),
            "a written pyc made a data directory"
        );
        // The same directory written with anything else is the app's data.
        let state = "/usr/local/lib/python3.11/site-packages/pkg/state.db";
        let safe = select_safe(&fs, &req(state));
        assert!(safe
            .kept
            .contains_key("/usr/local/lib/python3.11/site-packages/pkg/big.py"));
    }

    #[test]
    fn safe_mode_keeps_state_app_files_and_names_the_rule() {
        let (_t, fs) = packaged();
        let req = Request {
            touched: vec!["/app/run.sh".into(), "/var/lib/db/postmaster.pid".into()],
            written: vec!["/var/lib/db/postmaster.pid".into()],
            workdir: Some("/app".into()),
            command: vec!["/app/run.sh".into()],
            env: vec![
                ("VIRTUAL_ENV".into(), "/opt/venv".into()),
                ("HOME".into(), "/usr".into()),
            ],
            ..Default::default()
        };
        let minimal = select(&fs, &req).unwrap();
        assert!(!minimal.kept.contains_key("/var/lib/db/global/2676"));
        assert!(!minimal.kept.contains_key("/app/data/a"));
        let safe = select_safe(&fs, &req);
        let rule = |p: &str| {
            safe.kept
                .get(p)
                .and_then(|k| k.rule.as_deref().map(str::to_string))
        };
        // The written file's outermost unowned directory is the data directory.
        assert_eq!(
            rule("/var/lib/db/global/2676").as_deref(),
            Some("written-dirs")
        );
        assert_eq!(rule("/app/data/sub/b").as_deref(), Some("app-files"));
        assert_eq!(rule("/opt/venv/lib/site.py").as_deref(), Some("env-dirs"));
        assert!(
            !safe.kept.contains_key("/usr/bin/ls") || rule("/usr/bin/ls").is_none(),
            "HOME=/usr is package-owned"
        );
        assert!(safe.rules["written-dirs"].bytes >= 9);
        assert_eq!(safe.packages, Some(Manager::Dpkg));
        // Every path minimal keeps, safe keeps too.
        for p in minimal.kept.keys() {
            assert!(safe.kept.contains_key(p), "{p}");
        }
    }

    #[test]
    fn on_demand_rules_fire_on_evidence_only() {
        let (_t, fs) = packaged();
        let quiet = Request {
            touched: vec!["/etc/localtime".into()],
            named: vec!["/etc/localtime".into()],
            ..Default::default()
        };
        assert!(!select_safe(&fs, &quiet)
            .kept
            .contains_key("/usr/share/zoneinfo/Europe/Paris"));
        // The zone file an open of /etc/localtime reached is kept as traced,
        // but it is no request for every zone.
        let reached = Request {
            touched: vec![
                "/etc/localtime".into(),
                "/usr/share/zoneinfo/Europe/Paris".into(),
            ],
            named: vec!["/etc/localtime".into()],
            ..Default::default()
        };
        let sel = select_safe(&fs, &reached);
        assert!(sel.kept["/usr/share/zoneinfo/Europe/Paris"].rule.is_none());
        assert!(!sel.rules.contains_key("time-zones"), "{:?}", sel.rules);
        let asked = Request {
            touched: vec!["/usr/share/zoneinfo/UTC".into()],
            named: vec!["/usr/share/zoneinfo/UTC".into()],
            ..Default::default()
        };
        let sel = select_safe(&fs, &asked);
        assert_eq!(
            sel.kept["/usr/share/zoneinfo/Europe/Paris"].rule.as_deref(),
            Some("time-zones")
        );
    }

    #[test]
    fn imports_are_evidence_for_rules_and_name_the_importer() {
        let (t, fs) = packaged();
        let lib = t.path().join("layer/usr/lib/python3.11/zoneinfo");
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("__init__.py"), "").unwrap();
        fs::write(
            t.path().join("layer/app/main.py"),
            "def f():\n    import zoneinfo\n",
        )
        .unwrap();
        let req = Request {
            touched: vec!["/app/main.py".into()],
            ..Default::default()
        };
        let sel = select_safe(&fs, &req);
        let init = &sel.kept["/usr/lib/python3.11/zoneinfo/__init__.py"];
        assert_eq!(init.reason, Reason::Import);
        assert_eq!(init.from.as_deref(), Some("/app/main.py"));
        assert_eq!(init.rule.as_deref(), Some("import:python"));
        assert!(
            sel.kept.contains_key("/usr/share/zoneinfo/Europe/Paris"),
            "the import fired time-zones"
        );
        let minimal = select(&fs, &req).unwrap();
        assert!(!minimal
            .kept
            .contains_key("/usr/lib/python3.11/zoneinfo/__init__.py"));
    }

    #[test]
    fn trees_follow_symlinks_and_match_expands_relative_paths() {
        let (t, fs) = packaged();
        let home = t.path().join("layer/usr/lib/jvm/j17");
        fs::create_dir_all(home.join("lib/server")).unwrap();
        fs::create_dir_all(t.path().join("layer/etc/java-17")).unwrap();
        fs::write(t.path().join("layer/etc/java-17/java.security"), "x").unwrap();
        fs::write(home.join("lib/server/libjvm.so"), "").unwrap();
        fs::write(home.join("lib/libzip.so"), "").unwrap();
        symlink("/etc/java-17", home.join("conf")).unwrap();
        let req = Request {
            touched: vec!["/usr/lib/jvm/j17/lib/server/libjvm.so".into()],
            named: vec!["/usr/lib/jvm/j17/lib/server/libjvm.so".into()],
            ..Default::default()
        };
        let sel = select_safe(&fs, &req);
        assert_eq!(
            sel.kept["/usr/lib/jvm/j17/lib/libzip.so"].rule.as_deref(),
            Some("jvm-home")
        );
        assert!(sel.kept.contains_key("/usr/lib/jvm/j17/conf"));
        assert!(
            sel.kept.contains_key("/etc/java-17/java.security"),
            "{:?}",
            sel.kept.keys()
        );
    }

    #[test]
    fn minimal_writes_listed_only_files_as_placeholders_and_measures_the_floor() {
        let (_t, fs) = image();
        let req = Request {
            touched: vec!["/app/run.sh".into()],
            opened: vec!["/app/run.sh".into()],
            listed: vec!["/app".into(), "/app/data".into()],
            placeholders: true,
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        // a is only listed: a placeholder; run.sh was used: whole.
        assert!(
            sel.placeholders.contains("/app/data/a"),
            "{:?}",
            sel.placeholders
        );
        assert!(!sel.placeholders.contains("/app/run.sh"));
        assert!(
            !sel.placeholders.contains("/app/data"),
            "directories stay directories"
        );
        // The floor: run.sh, its #! interpreter ls, and ls's libraries.
        let ls = fs::metadata("/bin/ls").unwrap().len();
        assert!(sel.lower_bound_bytes > ls, "{}", sel.lower_bound_bytes);
        let safe = select_safe(
            &fs,
            &Request {
                placeholders: false,
                ..req
            },
        );
        assert!(safe.placeholders.is_empty());
    }

    #[test]
    fn listed_modules_nothing_imports_are_left_out_in_safe_mode() {
        // Issue #20: Python lists its search path; safe mode kept every
        // module there whole. The resolver decides which the code imports.
        let (t, fs) = packaged();
        let lib = t.path().join("layer/usr/lib/python3.11");
        fs::create_dir_all(lib.join("pkg")).unwrap();
        fs::write(lib.join("used.py"), "").unwrap();
        fs::write(lib.join("unused.py"), "x = 1\n").unwrap();
        fs::write(lib.join("pkg/__init__.py"), "").unwrap();
        fs::write(lib.join("grammar.txt"), "data").unwrap();
        fs::write(t.path().join("layer/app/main.py"), "import used\n").unwrap();
        let req = Request {
            touched: vec!["/app/main.py".into()],
            listed: vec!["/usr/lib/python3.11".into()],
            ..Default::default()
        };
        let safe = select_safe(&fs, &req);
        let lib = "/usr/lib/python3.11";
        assert!(safe.kept.contains_key(&format!("{lib}/used.py")));
        assert!(
            safe.kept.contains_key(&format!("{lib}/grammar.txt")),
            "data files stay"
        );
        for gone in ["unused.py", "pkg"] {
            assert!(!safe.kept.contains_key(&format!("{lib}/{gone}")), "{gone}");
        }
        assert_eq!(safe.listed_dropped, 2);
        // Without the resolvers (minimal mode), listings keep every entry.
        let minimal = select(&fs, &req).unwrap();
        assert!(minimal.kept.contains_key(&format!("{lib}/unused.py")));
        assert_eq!(minimal.listed_dropped, 0);
    }

    #[test]
    fn a_declared_volume_is_kept_whole_in_safe_mode_only() {
        let (_t, fs) = packaged();
        let req = Request {
            volumes: vec!["/var/lib/db".into(), "/".into()],
            ..Default::default()
        };
        let safe = select_safe(&fs, &req);
        assert_eq!(
            safe.kept["/var/lib/db/global/2676"].rule.as_deref(),
            Some("volumes")
        );
        assert!(
            !safe.kept.contains_key("/etc/unused"),
            "VOLUME / is never kept whole"
        );
        let minimal = select(&fs, &req).unwrap();
        assert!(!minimal.kept.contains_key("/var/lib/db/global/2676"));
    }
}
