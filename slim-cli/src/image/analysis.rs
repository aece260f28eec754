//! Static analysis of an image's layers, answering dive's CI questions:
//! per layer its size and the files it added, changed and removed; bytes
//! wasted by files that later layers overwrite or delete; the efficiency
//! score; the largest files and directories.
//!
//! The figures follow dive's definitions so its thresholds mean the same:
//! - a path met in more than one layer (written, overwritten, deleted) is an
//!   inefficiency, and all its bytes across layers count as wasted;
//! - a deleted file counts 0 bytes where it is deleted, a deleted directory
//!   the bytes it held;
//! - efficiency = the sum over paths of their smallest size / the sum of all
//!   their sizes (1 when there are none);
//! - user wasted percent = wasted / the bytes of every layer but the first
//!   (a fraction, 0 to 1, as dive's threshold is).
//!
//! One difference: dive ignores opaque directories and charges a deleted
//! directory to the directory alone (so it never counts as waste); here
//! each file a deleted or opaque directory removes counts as deleted.
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// One entry of a layer tarball, as the analysis needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, normalized (`/etc/passwd`).
    pub path: String,
    /// The tar header's size (0 for directories, links, devices).
    pub size: u64,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// Anything but a directory: files, links, devices.
    File,
    /// `.wh.NAME`: the path is deleted.
    Whiteout,
    /// `.wh..wh..opq` in a directory: what lower layers held there is gone.
    Opaque,
}

impl Entry {
    /// From a tar entry's path (`./a/.wh.b`, `a/b/`), its type and size.
    pub fn from_tar(raw: &str, is_dir: bool, size: u64) -> Option<Self> {
        let trimmed = raw.trim_start_matches("./").trim_end_matches('/');
        if trimmed.is_empty() || trimmed == "." {
            return None;
        }
        let (dir, name) = match trimmed.rsplit_once('/') {
            Some((d, n)) => (format!("/{d}"), n),
            None => (String::new(), trimmed),
        };
        let (path, kind) = if name == ".wh..wh..opq" {
            (
                if dir.is_empty() { "/".into() } else { dir },
                EntryKind::Opaque,
            )
        } else if let Some(gone) = name.strip_prefix(".wh.") {
            (format!("{dir}/{gone}"), EntryKind::Whiteout)
        } else if is_dir {
            (format!("/{trimmed}"), EntryKind::Dir)
        } else {
            (format!("/{trimmed}"), EntryKind::File)
        };
        Some(Self { path, size, kind })
    }
}

/// What one layer did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LayerStats {
    pub index: usize,
    pub digest: String,
    /// The history entry that made it (a Dockerfile instruction), if known.
    pub created_by: Option<String>,
    /// The sum of its entries' sizes (dive's layer size).
    pub size_bytes: u64,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
}

/// A path met in more than one layer.
#[derive(Debug, Clone, Serialize)]
pub struct Waste {
    pub path: String,
    /// In how many layers it appears (written, overwritten or deleted).
    pub layers: usize,
    /// Its bytes summed over those layers: what it wastes.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sized {
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub layers: Vec<LayerStats>,
    pub size_bytes: u64,
    pub user_size_bytes: u64,
    pub wasted_bytes: u64,
    pub user_wasted_percent: f64,
    pub efficiency: f64,
    /// Largest waste first.
    pub inefficiencies: Vec<Waste>,
    /// In the final filesystem, largest first.
    pub largest_files: Vec<Sized>,
    pub largest_dirs: Vec<Sized>,
}

#[derive(Default)]
struct PathCost {
    layers: usize,
    cumulative: u64,
    min: Option<u64>,
}

/// Sizes come from the image: every sum is checked, so entries crafted to
/// wrap around 2^64 are an error, never a small total that passes a gate.
fn overflow() -> anyhow::Error {
    anyhow::anyhow!("the image's sizes add up past 2^64 bytes: it is crafted or corrupt")
}

fn add(a: u64, b: u64) -> anyhow::Result<u64> {
    a.checked_add(b).ok_or_else(overflow)
}

fn sum(it: impl IntoIterator<Item = u64>) -> anyhow::Result<u64> {
    it.into_iter().try_fold(0u64, add)
}

impl PathCost {
    fn visit(&mut self, size: u64) -> anyhow::Result<()> {
        self.layers += 1;
        self.cumulative = add(self.cumulative, size)?;
        self.min = Some(self.min.map_or(size, |m| m.min(size)));
        Ok(())
    }
}

fn under<'a>(
    live: &'a BTreeMap<String, (u64, bool)>,
    dir: &'a str,
) -> impl Iterator<Item = (&'a String, &'a (u64, bool))> + 'a {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    live.range(prefix.clone()..)
        .take_while(move |(p, _)| p.starts_with(&prefix))
}

/// Deletes everything below `dir`; each file counts as deleted (0 bytes in
/// this layer).
fn remove_under(
    live: &mut BTreeMap<String, (u64, bool)>,
    costs: &mut HashMap<String, PathCost>,
    stats: &mut LayerStats,
    dir: &str,
) -> anyhow::Result<()> {
    let gone: Vec<(String, bool)> = under(live, dir)
        .map(|(p, (_, d))| (p.clone(), *d))
        .collect();
    for (p, is_dir) in gone {
        if !is_dir {
            costs.entry(p.clone()).or_default().visit(0)?;
            stats.removed += 1;
        }
        live.remove(&p);
    }
    Ok(())
}

/// Analyzes `layers` (bottom first); `top` is how many of the largest
/// files, directories and inefficiencies to list.
pub fn analyze(layers: &[(LayerStats, Vec<Entry>)], top: usize) -> anyhow::Result<Analysis> {
    // Path -> (size, is_dir), as stacked so far.
    let mut live: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    let mut costs: HashMap<String, PathCost> = HashMap::new();
    let mut stats = Vec::new();
    for (meta, entries) in layers {
        let mut s = meta.clone();
        s.size_bytes = sum(entries.iter().map(|e| e.size))?;
        // Deletions act on what lower layers left, whatever the tar order.
        for e in entries {
            match e.kind {
                EntryKind::Whiteout => {
                    let Some(&(_, is_dir)) = live.get(&e.path) else {
                        continue;
                    };
                    if is_dir {
                        // Each file it held is deleted, as under an opaque
                        // directory (below).
                        remove_under(&mut live, &mut costs, &mut s, &e.path)?;
                    } else {
                        costs.entry(e.path.clone()).or_default().visit(0)?;
                        s.removed += 1;
                    }
                    live.remove(&e.path);
                }
                EntryKind::Opaque => remove_under(&mut live, &mut costs, &mut s, &e.path)?,
                _ => {}
            }
        }
        for e in entries {
            match e.kind {
                EntryKind::File => {
                    if live.contains_key(&e.path) {
                        s.changed += 1;
                    } else {
                        s.added += 1;
                    }
                    costs.entry(e.path.clone()).or_default().visit(e.size)?;
                    live.insert(e.path.clone(), (e.size, false));
                }
                EntryKind::Dir => {
                    live.entry(e.path.clone()).or_insert((0, true));
                }
                _ => {}
            }
        }
        stats.push(s);
    }

    let size_bytes = sum(stats.iter().map(|s| s.size_bytes))?;
    let user_size_bytes = sum(stats.iter().skip(1).map(|s| s.size_bytes))?;
    let mut inefficiencies: Vec<Waste> = costs
        .iter()
        .filter(|(_, c)| c.layers > 1)
        .map(|(p, c)| Waste {
            path: p.clone(),
            layers: c.layers,
            bytes: c.cumulative,
        })
        .collect();
    let wasted_bytes = sum(inefficiencies.iter().map(|w| w.bytes))?;
    let (min_sum, all_sum) = costs.values().try_fold((0u64, 0u64), |(m, a), c| {
        Ok::<_, anyhow::Error>((add(m, c.min.unwrap_or(0))?, add(a, c.cumulative)?))
    })?;
    let efficiency = if all_sum == 0 {
        1.0
    } else {
        min_sum as f64 / all_sum as f64
    };
    inefficiencies.retain(|w| w.bytes > 0);
    inefficiencies.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    inefficiencies.truncate(top);

    let mut files: Vec<Sized> = live
        .iter()
        .filter(|(_, (_, d))| !d)
        .map(|(p, (sz, _))| Sized {
            path: p.clone(),
            bytes: *sz,
        })
        .collect();
    let mut dirs: BTreeMap<String, u64> = BTreeMap::new();
    for f in &files {
        let mut p = f.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            let key = if parent.is_empty() { "/" } else { parent };
            let d = dirs.entry(key.to_string()).or_default();
            *d = add(*d, f.bytes)?;
            p = parent;
            if parent.is_empty() {
                break;
            }
        }
    }
    files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    files.truncate(top);
    let mut largest_dirs: Vec<Sized> = dirs
        .into_iter()
        .filter(|(p, _)| p != "/")
        .map(|(path, bytes)| Sized { path, bytes })
        .collect();
    largest_dirs.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    largest_dirs.truncate(top);

    Ok(Analysis {
        layers: stats,
        size_bytes,
        user_size_bytes,
        wasted_bytes,
        user_wasted_percent: if user_size_bytes == 0 {
            0.0
        } else {
            wasted_bytes as f64 / user_size_bytes as f64
        },
        efficiency,
        inefficiencies,
        largest_files: files,
        largest_dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, bool, u64)]) -> (LayerStats, Vec<Entry>) {
        (
            LayerStats::default(),
            entries
                .iter()
                .filter_map(|(p, d, s)| Entry::from_tar(p, *d, *s))
                .collect(),
        )
    }

    #[test]
    fn tar_names_become_paths_whiteouts_and_opaque_dirs() {
        let e = Entry::from_tar("./etc/.wh.issue", false, 0).unwrap();
        assert_eq!(
            (e.path.as_str(), e.kind),
            ("/etc/issue", EntryKind::Whiteout)
        );
        let e = Entry::from_tar("data/.wh..wh..opq", false, 0).unwrap();
        assert_eq!((e.path.as_str(), e.kind), ("/data", EntryKind::Opaque));
        let e = Entry::from_tar("usr/bin/", true, 0).unwrap();
        assert_eq!((e.path.as_str(), e.kind), ("/usr/bin", EntryKind::Dir));
        assert!(Entry::from_tar("./", true, 0).is_none());
    }

    #[test]
    fn written_then_deleted_and_overwritten_files_are_wasted() {
        let a = analyze(
            &[
                layer(&[("bin/", true, 0), ("bin/sh", false, 100)]),
                layer(&[
                    ("big", false, 1000),
                    ("opt/", true, 0),
                    ("opt/f", false, 30),
                ]),
                layer(&[
                    (".wh.big", false, 0),
                    ("opt/", true, 0),
                    ("opt/f", false, 50),
                ]),
            ],
            10,
        )
        .unwrap();
        assert_eq!(a.wasted_bytes, 1000 + 30 + 50);
        assert_eq!(a.size_bytes, 100 + 1030 + 50);
        assert_eq!(a.user_size_bytes, 1080);
        assert!((a.user_wasted_percent - 1.0).abs() < 1e-12);
        // Smallest per path: sh 100, big 0, f 30; all: 100 + 1000 + 80.
        assert!((a.efficiency - 130.0 / 1180.0).abs() < 1e-12);
        let l = &a.layers[2];
        assert_eq!((l.added, l.changed, l.removed), (0, 1, 1));
        assert_eq!(a.largest_files[0].path, "/bin/sh");
        assert_eq!(a.inefficiencies[0].path, "/big");
    }

    #[test]
    fn deleted_and_opaque_directories_count_what_they_held() {
        let a = analyze(
            &[
                layer(&[("d/", true, 0), ("d/a", false, 10), ("d/b", false, 20)]),
                layer(&[(".wh.d", false, 0)]),
            ],
            10,
        )
        .unwrap();
        // Each file of the deleted directory is wasted.
        assert_eq!(a.layers[1].removed, 2);
        assert_eq!(a.wasted_bytes, 30);
        assert!(a.largest_files.is_empty());
        let a = analyze(
            &[
                layer(&[("d/", true, 0), ("d/old", false, 10)]),
                layer(&[
                    ("d/", true, 0),
                    ("d/.wh..wh..opq", false, 0),
                    ("d/new", false, 5),
                ]),
            ],
            10,
        )
        .unwrap();
        assert_eq!(a.wasted_bytes, 10);
        assert_eq!(a.layers[1].removed, 1);
        assert_eq!(a.layers[1].added, 1);
        assert_eq!(a.largest_files.len(), 1);
        assert_eq!(a.largest_dirs[0].path, "/d");
    }

    #[test]
    fn sizes_that_wrap_around_are_an_error() {
        let huge = u64::MAX / 2 + 1;
        let e = analyze(
            &[layer(&[
                ("a", false, huge),
                ("b", false, huge),
                ("c", false, 1),
            ])],
            10,
        )
        .unwrap_err();
        assert!(e.to_string().contains("2^64"), "{e}");
        assert!(analyze(
            &[layer(&[("a", false, huge)]), layer(&[("a", false, huge)])],
            10
        )
        .is_err());
    }

    #[test]
    fn no_repeats_is_fully_efficient() {
        let a = analyze(&[layer(&[("a", false, 5)]), layer(&[("b", false, 7)])], 10).unwrap();
        assert_eq!(a.wasted_bytes, 0);
        assert_eq!(a.efficiency, 1.0);
    }
}
