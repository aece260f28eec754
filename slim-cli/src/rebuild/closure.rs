//! Decides what the minimal image holds: every path the container touched,
//! resolved inside the image's own filesystem, plus what those need. Each
//! kept path records why it is kept.
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{elf, rootfs::LayerStack};

/// Why a path is in the minimal image (the first, strongest reason wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Touched,
    /// An entry of a directory the container listed (its name is visible).
    Listed,
    Include,
    Rule,
    ElfDependency,
    Interpreter,
    Symlink,
    Parent,
}

/// What to select from, besides the trace.
#[derive(Debug, Default)]
pub struct Request {
    /// Paths the container used (absolute, as it saw them).
    pub touched: Vec<String>,
    /// Directories whose entries it read (getdents64): their entries stay,
    /// subdirectories as empty directories, so a listing prints the same.
    pub listed: Vec<String>,
    /// The image's USER, WORKDIR and entrypoint+cmd.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub command: Vec<String>,
    pub include_paths: Vec<String>,
    pub include_bins: Vec<String>,
    pub include_shell: bool,
    pub excludes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Selection {
    pub kept: BTreeMap<String, Reason>,
    pub warnings: Vec<String>,
}

const PATH_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];
/// What --include-shell adds: a shell and the tools one reaches for first.
const SHELL_TOOLS: [&str; 12] = [
    "sh", "bash", "ls", "cat", "echo", "env", "ps", "grep", "mkdir", "rm", "cp", "mv",
];
const MAX_SYMLINKS: u32 = 40;

struct Closer<'a> {
    fs: &'a LayerStack,
    kept: BTreeMap<String, Reason>,
    queue: VecDeque<String>,
    scanned: HashSet<String>,
    ld_cache: Option<HashMap<String, Vec<String>>>,
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".into(),
        Some((p, _)) => p.into(),
    }
}

fn components(path: &str) -> VecDeque<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

impl<'a> Closer<'a> {
    fn keep(&mut self, path: &str, reason: Reason) {
        let e = self.kept.entry(path.to_string()).or_insert(reason);
        *e = (*e).min(reason);
    }

    /// Resolves `path` in the image, following every symlink. With `keep`,
    /// records each symlink and directory met, and the final path with
    /// `reason`. Returns the final path if it exists.
    fn resolve(&mut self, path: &str, reason: Reason, keep: bool) -> Option<String> {
        let mut pending = components(path);
        let mut cur = String::from("/");
        let mut hops = 0;
        while let Some(comp) = pending.pop_front() {
            match comp.as_str() {
                "." => continue,
                ".." => {
                    cur = parent(&cur);
                    continue;
                }
                _ => {}
            }
            let next = join(&cur, &comp);
            let found = self.fs.lookup(&next)?;
            if found.meta.file_type().is_symlink() {
                if keep {
                    self.keep(&next, Reason::Symlink);
                }
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return None;
                }
                let target = std::fs::read_link(&found.host).ok()?;
                let target = target.to_string_lossy();
                let mut rest = components(&target);
                rest.extend(pending.drain(..));
                pending = rest;
                if target.starts_with('/') {
                    cur = "/".into();
                }
                continue;
            }
            if pending.is_empty() {
                if keep {
                    self.keep(&next, reason);
                    if found.meta.is_file() && self.scanned.insert(next.clone()) {
                        self.queue.push_back(next.clone());
                    }
                }
                return Some(next);
            }
            if !found.meta.is_dir() {
                return None;
            }
            if keep {
                self.keep(&next, Reason::Parent);
            }
            cur = next;
        }
        Some(cur)
    }

    fn find_in_path(&mut self, name: &str) -> Option<String> {
        if name.starts_with('/') {
            return Some(name.to_string());
        }
        PATH_DIRS
            .iter()
            .map(|d| join(d, name))
            .find(|p| self.resolve(p, Reason::Include, false).is_some())
    }

    fn ld_cache(&mut self) -> &HashMap<String, Vec<String>> {
        if self.ld_cache.is_none() {
            let map = self
                .resolve("/etc/ld.so.cache", Reason::Rule, false)
                .and_then(|p| self.fs.lookup(&p))
                .and_then(|f| std::fs::read(f.host).ok())
                .map(|d| elf::parse_ld_so_cache(&d))
                .unwrap_or_default();
            self.ld_cache = Some(map);
        }
        self.ld_cache.as_ref().unwrap()
    }

    /// Where ld.so would find library `name` for an object with `search` dirs.
    fn find_library(&mut self, name: &str, search: &[String]) -> Option<String> {
        if name.contains('/') {
            return self
                .resolve(name, Reason::ElfDependency, false)
                .map(|_| name.to_string());
        }
        let mut candidates: Vec<String> = search.iter().map(|d| join(d, name)).collect();
        candidates.extend(self.ld_cache().get(name).cloned().unwrap_or_default());
        candidates.extend(elf::default_dirs().iter().map(|d| join(d, name)));
        candidates
            .into_iter()
            .find(|c| self.resolve(c, Reason::ElfDependency, false).is_some())
    }

    /// Adds the interpreters and libraries of every queued file, to a fixpoint.
    fn close_dependencies(&mut self) -> Result<()> {
        while let Some(path) = self.queue.pop_front() {
            let Some(found) = self.fs.lookup(&path) else {
                continue;
            };
            let mut head = [0u8; 256];
            let n = {
                use std::io::Read;
                let mut f = std::fs::File::open(&found.host)
                    .with_context(|| format!("cannot read {path} from the image"))?;
                f.read(&mut head)?
            };
            let head = &head[..n];
            if let Some(interp) = elf::shebang(head) {
                self.resolve(&interp, Reason::Interpreter, true);
                continue;
            }
            if !head.starts_with(b"\x7fELF") {
                continue;
            }
            let bytes = std::fs::read(&found.host)
                .with_context(|| format!("cannot read {path} from the image"))?;
            let Some(needs) = elf::needs(&path, &bytes) else {
                continue;
            };
            if let Some(interp) = &needs.interpreter {
                self.resolve(interp, Reason::Interpreter, true);
            }
            for lib in &needs.needed {
                if let Some(found) = self.find_library(lib, &needs.search) {
                    self.resolve(&found, Reason::ElfDependency, true);
                }
            }
        }
        Ok(())
    }

    fn keep_entries(&mut self, dir: &str) {
        let Some(real) = self.resolve(dir, Reason::Touched, true) else {
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

    fn include_tree(&mut self, path: &str) {
        let Some(real) = self.resolve(path, Reason::Include, true) else {
            return;
        };
        let is_dir = self.fs.lookup(&real).is_some_and(|f| f.meta.is_dir());
        if !is_dir {
            return;
        }
        for name in self.fs.read_dir(&real) {
            let child = join(&real, &name);
            let Some(f) = self.fs.lookup(&child) else {
                continue;
            };
            if f.meta.is_dir() {
                self.include_tree(&child);
            } else {
                self.keep(&child, Reason::Include);
                if f.meta.is_file() && self.scanned.insert(child.clone()) {
                    self.queue.push_back(child.clone());
                }
            }
        }
    }
}

/// Computes the selection for `req` over the image `fs`.
pub fn select(fs: &LayerStack, req: &Request) -> Result<Selection> {
    let mut c = Closer {
        fs,
        kept: BTreeMap::new(),
        queue: VecDeque::new(),
        scanned: HashSet::new(),
        ld_cache: None,
    };
    for p in &req.touched {
        c.resolve(p, Reason::Touched, true);
    }
    for d in &req.listed {
        c.keep_entries(d);
    }
    // Runtime rules: runc resolves a named USER from /etc/passwd and
    // /etc/group inside the container before the entrypoint runs (so the
    // probe never sees it); WORKDIR and /tmp must exist.
    if req.user.as_deref().is_some_and(|u| !u.is_empty()) {
        c.resolve("/etc/passwd", Reason::Rule, true);
        c.resolve("/etc/group", Reason::Rule, true);
    }
    if let Some(w) = req.workdir.as_deref().filter(|w| w.starts_with('/')) {
        c.resolve(w, Reason::Rule, true);
    }
    if let Some(first) = req.command.first() {
        if let Some(p) = c.find_in_path(first) {
            c.resolve(&p, Reason::Rule, true);
        }
    }
    c.resolve("/tmp", Reason::Rule, true);
    for p in &req.include_paths {
        c.include_tree(p);
    }
    let mut bins: Vec<String> = req.include_bins.clone();
    if req.include_shell {
        bins.extend(SHELL_TOOLS.iter().map(|s| s.to_string()));
    }
    let mut warnings = Vec::new();
    for b in &bins {
        match c.find_in_path(b) {
            Some(p) if c.resolve(&p, Reason::Include, true).is_some() => {}
            _ if req.include_shell && SHELL_TOOLS.contains(&b.as_str()) => {}
            _ => warnings.push(format!("--include-bin {b}: not found in the image")),
        }
    }
    c.close_dependencies()?;

    let mut kept = c.kept;
    if !req.excludes.is_empty() {
        let mut set = globset::GlobSetBuilder::new();
        for pat in &req.excludes {
            let glob = globset::GlobBuilder::new(pat)
                .literal_separator(true)
                .build()
                .with_context(|| format!("--exclude {pat:?} is not a valid glob"))?;
            set.add(glob);
        }
        let set = set.build()?;
        kept.retain(|path, reason| {
            let drop = set.is_match(path);
            if drop && *reason == Reason::Touched {
                warnings.push(format!("excluded {path}, which the container used"));
            }
            !drop
        });
    }
    Ok(Selection { kept, warnings })
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
        sel.kept.iter().map(|(k, v)| (k.as_str(), *v)).collect()
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
            include_bins: vec!["ls".into(), "nope".into()],
            ..Default::default()
        };
        let sel = select(&fs, &req).unwrap();
        let r = reasons(&sel);
        assert_eq!(r["/usr/bin/ls"], Reason::Include);
        assert!(r.contains_key("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(sel.warnings, ["--include-bin nope: not found in the image"]);
    }

    #[test]
    fn listed_directories_keep_their_entries_but_not_deeper() {
        let (_t, fs) = image();
        let req = Request {
            listed: vec!["/app".into()],
            ..Default::default()
        };
        let r = select(&fs, &req).unwrap().kept;
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
}
