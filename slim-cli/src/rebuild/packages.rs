//! Which paths of the image an OS package owns, read from the image's own
//! package databases (dpkg's file lists, apk's installed db).
//!
//! Keep-rules use it to tell the app and its state (files no package owns:
//! the app's code, a baked-in data directory) from the distribution, which
//! is cut down to what the trace needs. Paths are stored as the image
//! resolves them (merged /usr: dpkg's `/bin/ls` is `/usr/bin/ls`).
use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::rootfs::LayerStack;

/// The package manager whose database was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    Dpkg,
    Apk,
    /// No database found: every file counts as the app's.
    None,
}

#[derive(Debug)]
pub struct PackageDb {
    pub manager: Manager,
    /// Owned paths, resolved in the image.
    owned: HashSet<String>,
}

const DPKG_INFO: &str = "/var/lib/dpkg/info";
const APK_INSTALLED: &str = "/lib/apk/db/installed";

impl PackageDb {
    pub fn empty() -> Self {
        Self {
            manager: Manager::None,
            owned: HashSet::new(),
        }
    }

    /// Reads the image's package databases; an image without one gets an
    /// empty database (everything unowned).
    pub fn read(fs: &LayerStack) -> Self {
        let mut resolver = DirResolver::new(fs);
        if let Some(db) = read_dpkg(fs, &mut resolver) {
            return db;
        }
        if let Some(db) = read_apk(fs, &mut resolver) {
            return db;
        }
        Self::empty()
    }

    /// Whether a package owns `path` (a path resolved in the image).
    pub fn owns(&self, path: &str) -> bool {
        self.owned.contains(path)
    }
}

fn read_dpkg(fs: &LayerStack, r: &mut DirResolver) -> Option<PackageDb> {
    let lists: Vec<String> = fs
        .read_dir(DPKG_INFO)
        .into_iter()
        .filter(|n| n.ends_with(".list"))
        .collect();
    if lists.is_empty() {
        return None;
    }
    let mut owned = HashSet::new();
    for name in &lists {
        let Some(text) = super::inventory::read(fs, &format!("{DPKG_INFO}/{name}")) else {
            continue;
        };
        for line in text.lines().filter(|l| l.starts_with('/')) {
            owned.insert(r.resolve(line));
        }
    }
    Some(PackageDb {
        manager: Manager::Dpkg,
        owned,
    })
}

fn read_apk(fs: &LayerStack, r: &mut DirResolver) -> Option<PackageDb> {
    let text = super::inventory::read(fs, APK_INSTALLED)?;
    let (owned, _) = parse_apk_installed(&text);
    Some(PackageDb {
        manager: Manager::Apk,
        owned: owned.iter().map(|p| r.resolve(p)).collect(),
    })
}

/// apk's installed db: `P:` starts a package, `F:` names a directory
/// (relative to /), `R:` a file in the last directory.
pub fn parse_apk_installed(text: &str) -> (Vec<String>, usize) {
    let mut owned = Vec::new();
    let mut packages = 0;
    let mut dir = String::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("P:") {
            packages += usize::from(!p.is_empty());
        } else if let Some(d) = line.strip_prefix("F:") {
            dir = format!("/{d}");
            owned.push(dir.clone());
        } else if let Some(f) = line.strip_prefix("R:") {
            owned.push(format!("{dir}/{f}"));
        }
    }
    (owned, packages)
}

/// Resolves the directory part of package paths through the image's
/// symlinks (cached per directory: lists name thousands of files in a few
/// hundred directories).
pub(crate) struct DirResolver<'a> {
    fs: &'a LayerStack,
    dirs: HashMap<String, String>,
}

impl<'a> DirResolver<'a> {
    pub(crate) fn new(fs: &'a LayerStack) -> Self {
        Self {
            fs,
            dirs: HashMap::new(),
        }
    }

    pub(crate) fn resolve(&mut self, path: &str) -> String {
        let path = path.trim_end_matches('/');
        let Some((dir, name)) = path.rsplit_once('/') else {
            return "/".into();
        };
        if dir.is_empty() {
            return format!("/{name}");
        }
        let real = match self.dirs.get(dir) {
            Some(r) => r.clone(),
            None => {
                let r = super::paths::resolve_path(self.fs, dir).unwrap_or_else(|| dir.into());
                self.dirs.insert(dir.to_string(), r.clone());
                r
            }
        };
        if real == "/" {
            format!("/{name}")
        } else {
            format!("{real}/{name}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, os::unix::fs::symlink};

    #[test]
    fn dpkg_lists_are_resolved_through_merged_usr() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::create_dir_all(r.join("var/lib/dpkg/info")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        fs::write(r.join("usr/bin/ls"), "").unwrap();
        fs::write(
            r.join("var/lib/dpkg/info/coreutils.list"),
            "/.\n/bin\n/bin/ls\n/usr/share/doc/coreutils\n",
        )
        .unwrap();
        fs::write(r.join("var/lib/dpkg/info/coreutils.md5sums"), "x").unwrap();
        let db = PackageDb::read(&LayerStack::new(vec![r.to_path_buf()]));
        assert_eq!(db.manager, Manager::Dpkg);
        assert!(db.owns("/usr/bin/ls"), "{:?}", db.owned);
        assert!(db.owns("/usr/share/doc/coreutils"));
        assert!(!db.owns("/usr/bin/app"));
    }

    #[test]
    fn apk_installed_db() {
        let text = "C:Q1x\nP:musl\nV:1.2\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:busybox\nF:bin\nR:busybox\n";
        let (owned, n) = parse_apk_installed(text);
        assert_eq!(n, 2);
        assert!(owned.contains(&"/lib/ld-musl-x86_64.so.1".to_string()));
        assert!(owned.contains(&"/bin/busybox".to_string()));
        assert!(owned.contains(&"/bin".to_string()));
    }

    #[test]
    fn no_database_owns_nothing() {
        let t = tempfile::tempdir().unwrap();
        let db = PackageDb::read(&LayerStack::new(vec![t.path().to_path_buf()]));
        assert_eq!(db.manager, Manager::None);
        assert!(!db.owns("/anything"));
    }
}
