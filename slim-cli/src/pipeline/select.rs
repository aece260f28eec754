//! Step three (build): decide what the slim image holds, from the trace's
//! files and the image's own layers: the request (what was used, from the
//! image and not from a mount), the keep-rules and language resolvers of
//! the keep mode, the closure over them, and the package inventory split
//! into what is still carried and what is gone.
use std::{collections::BTreeSet, sync::Arc};

use anyhow::Result;
use oci_spec::image::Config;
use slim_probe::{Access, FileRecord};

use super::plan::{BuildPlan, Keep};
use crate::{
    engine::{Engine, RunOptions},
    image::source::Source,
    progress::Steps,
    rebuild::{
        closure::{self, Request, Selection},
        imports::{parse_cache::ParseCache, Resolver},
        inventory::{self, Inventory, Split},
        rootfs::LayerStack,
        rules,
    },
};

/// What the slim image keeps, with what the report and the SBOM say of it.
pub struct Selected {
    /// The source's layers, which the writer reads the kept files from.
    pub fs: LayerStack,
    pub selection: Selection,
    pub inventory: Inventory,
    pub split: Split,
    /// The app's own kept files (no package owns them) and their sizes.
    pub app: Vec<(String, u64)>,
}

/// Reads the source's layers and selects from them (on a blocking thread);
/// prints the selection's warnings.
pub async fn select_step(
    engine: &Engine,
    plan: &BuildPlan,
    source: &Source,
    files: &[FileRecord],
    run: &RunOptions,
    steps: &mut Steps,
) -> Result<Selected> {
    steps.step("select", "selecting the files to keep");
    let fs = source.layers(Some(engine), plan.read_layers).await?;
    let req = request(files, run, &source.meta.runtime(), &plan.keep, |p| {
        fs.lookup(p).is_some_and(|f| f.meta.is_dir())
    });
    let mut rules = rules_of(&plan.keep)?;
    let run = run.clone();
    let parse_cache = rules.parse_cache.clone();
    let mut selected = tokio::task::spawn_blocking(move || {
        select(fs, &req, &rules.compiled, &mut rules.resolvers, &run)
    })
    .await??;
    if let Some(cache) = &parse_cache {
        selected.selection.parsed = cache.counts();
    }
    for w in &selected.selection.warnings {
        eprintln!("slim: warning: {w}");
    }
    Ok(selected)
}

/// What to select from: the files the app used that came from the image
/// (what it used under a mount came from the mount: it is no evidence for
/// the selection, and the report lists it under run.mounts), the mount
/// points that are directories of the image (`is_dir`; they stay, empty),
/// the image's config and the keep options.
pub fn request(
    files: &[FileRecord],
    run: &RunOptions,
    config: &Config,
    keep: &Keep,
    is_dir: impl Fn(&str) -> bool,
) -> Request {
    let from_image: Vec<&FileRecord> = files
        .iter()
        .filter(|f| run.mount_of(&f.path).is_none())
        .collect();
    let with = |kinds: &[Access]| -> Vec<String> {
        from_image
            .iter()
            .filter(|f| f.ok && kinds.iter().any(|k| f.access.contains(k)))
            .map(|f| f.path.clone())
            .collect()
    };
    let mut command: Vec<String> = config.entrypoint().clone().unwrap_or_default();
    command.extend(config.cmd().clone().unwrap_or_default());
    Request {
        touched: from_image
            .iter()
            .map(|f| f.path.clone())
            .chain(
                run.mount_targets()
                    .filter(|t| is_dir(t))
                    .map(str::to_string),
            )
            .collect(),
        named: from_image
            .iter()
            .filter(|f| !f.resolved_only)
            .map(|f| f.path.clone())
            .collect(),
        listed: with(&[Access::List]),
        executed: with(&[Access::Exec]),
        written: with(&[
            Access::Create,
            Access::Write,
            Access::Mkdir,
            Access::Rename,
            Access::Truncate,
            Access::Link,
            Access::Symlink,
            Access::Unlink,
        ]),
        user: config.user().clone(),
        workdir: config.working_dir().clone().filter(|w| !w.is_empty()),
        command,
        env: config
            .env()
            .iter()
            .flatten()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        volumes: {
            let mut v: Vec<String> = config.volumes().iter().flatten().cloned().collect();
            v.sort();
            v
        },
        include_paths: keep.include_paths.clone(),
        include_bins: keep.include_bins.clone(),
        include_shell: keep.include_shell,
        excludes: keep.excludes.clone(),
        opened: with(&[Access::Open, Access::Create, Access::Write, Access::Exec]),
        placeholders: !keep.safe,
    }
}

/// What adds to the trace's closure.
pub struct Rules {
    pub compiled: Vec<rules::Compiled>,
    pub resolvers: Vec<Box<dyn Resolver>>,
    /// Where the resolvers keep their parse results between builds.
    pub parse_cache: Option<Arc<ParseCache>>,
}

/// The keep-rules of the mode (built-in and --rules files; minimal mode
/// keeps only the required ones) and the language resolvers (safe mode,
/// unless --no-imports).
pub fn rules_of(keep: &Keep) -> Result<Rules> {
    let compiled = rules::load(&keep.rules)?
        .into_iter()
        .filter(|r| keep.safe || r.level == rules::Level::Required)
        .map(rules::Compiled::new)
        .collect::<Result<Vec<_>>>()?;
    let (resolvers, parse_cache) = if keep.safe && keep.imports {
        let cache = ParseCache::open().map(Arc::new);
        (closure::default_resolvers(cache.clone()), cache)
    } else {
        (Vec::new(), None)
    };
    Ok(Rules {
        compiled,
        resolvers,
        parse_cache,
    })
}

/// The selection over `fs`: the closure of `req` under `rules` and
/// `resolvers`, less what a mount of `run` covers; the package inventory
/// split by it.
pub fn select(
    fs: LayerStack,
    req: &Request,
    rules: &[rules::Compiled],
    resolvers: &mut [Box<dyn Resolver>],
    run: &RunOptions,
) -> Result<Selected> {
    let mut selection = closure::select(&fs, req, rules, resolvers)?;
    // Nor do rules put the image's own files under a mount point.
    selection
        .kept
        .retain(|p, _| !run.hides(p, |d| fs.lookup(d).is_some_and(|f| f.meta.is_dir())));
    let app_dirs: Vec<String> = req.workdir.iter().cloned().collect();
    let mut inventory = inventory::read_image(&fs, &app_dirs);
    let kept: BTreeSet<String> = selection.kept.keys().cloned().collect();
    let split = inventory::split(&inventory, &kept, |p| inventory::is_file(&fs, p));
    inventory::add_licenses(&fs, &mut inventory, &split.kept);
    let app: Vec<(String, u64)> = split
        .app_files
        .iter()
        .filter_map(|p| fs.lookup(p).map(|f| (p.clone(), f.meta.len())))
        .collect();
    Ok(Selected {
        fs,
        selection,
        inventory,
        split,
        app,
    })
}

#[cfg(test)]
mod tests {
    use std::{
        collections::{BTreeMap, BTreeSet},
        fs,
        io::Read,
    };

    use super::*;
    use crate::{
        engine::{Mount, MountKind},
        pipeline::testing::record,
    };

    /// An image of one layer: an app, a config file and a data directory
    /// that the run mounts over, a listed directory, a tool.
    fn image() -> (tempfile::TempDir, LayerStack) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("layer");
        for d in ["app", "etc", "data", "srv/list", "usr/bin"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        for (path, text) in [
            ("app/main.py", "print('hi')\n"),
            ("app/unused.py", "pass\n"),
            ("etc/app.conf", "from the image\n"),
            ("data/db.sqlite", "old data\n"),
            ("srv/list/a", "a contents\n"),
            ("srv/list/b", "b contents\n"),
            ("usr/bin/tool", "not elf\n"),
        ] {
            fs::write(r.join(path), text).unwrap();
        }
        (t, LayerStack::new(vec![r]))
    }

    /// A run with the config file bound over and a volume on /data.
    fn run() -> RunOptions {
        let m = Mount::at;
        RunOptions {
            mounts: vec![
                m(MountKind::Bind, "/etc/app.conf"),
                m(MountKind::Volume, "/data"),
            ],
            ..Default::default()
        }
    }

    /// The trace: the app read, the config and the data used (from the
    /// mounts), the list read, the tool run, a file that was not there.
    fn trace_files() -> Vec<FileRecord> {
        vec![
            record("/app/main.py", &[Access::Open], true),
            record("/etc/app.conf", &[Access::Open], true),
            record("/data/db.sqlite", &[Access::Open, Access::Write], true),
            record("/srv/list", &[Access::List], true),
            record("/usr/bin/tool", &[Access::Exec], true),
            record("/app/missing.py", &[Access::Stat], false),
        ]
    }

    fn keep(safe: bool) -> Keep {
        Keep {
            safe,
            imports: false,
            ..Default::default()
        }
    }

    #[test]
    fn the_request_holds_what_came_from_the_image() {
        let dirs = |p: &str| p == "/data";
        let req = request(
            &trace_files(),
            &run(),
            &Config::default(),
            &keep(false),
            dirs,
        );
        assert_eq!(
            req.touched,
            [
                "/app/main.py",
                "/srv/list",
                "/usr/bin/tool",
                "/app/missing.py",
                // The directory mount point, not the file one.
                "/data",
            ]
        );
        assert_eq!(req.listed, ["/srv/list"]);
        assert_eq!(req.executed, ["/usr/bin/tool"]);
        assert!(
            req.written.is_empty(),
            "written under a mount: {:?}",
            req.written
        );
        assert_eq!(req.opened, ["/app/main.py", "/usr/bin/tool"]);
        assert!(
            req.placeholders,
            "minimal mode writes listed-only files empty"
        );
        let safe = request(
            &trace_files(),
            &run(),
            &Config::default(),
            &keep(true),
            dirs,
        );
        assert!(!safe.placeholders);
    }

    /// The layer's entries (path -> contents; directories empty).
    fn entries(path: &std::path::Path) -> BTreeMap<String, String> {
        let mut tar = tar::Archive::new(fs::File::open(path).unwrap());
        tar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut text = String::new();
                e.read_to_string(&mut text).unwrap();
                let name = format!("/{}", name.trim_start_matches("./").trim_end_matches('/'));
                (name, text)
            })
            .collect()
    }

    #[test]
    fn select_and_write_keep_the_trace_and_leave_the_mounts_out() {
        let (_t, fs) = image();
        let run = run();
        let req = request(
            &trace_files(),
            &run,
            &Config::default(),
            &keep(false),
            |p| fs.lookup(p).is_some_and(|f| f.meta.is_dir()),
        );
        let mut rules = rules_of(&keep(false)).unwrap();
        let selected = select(fs, &req, &rules.compiled, &mut rules.resolvers, &run).unwrap();
        let kept: BTreeSet<&str> = selected.selection.kept.keys().map(String::as_str).collect();
        for path in [
            "/app/main.py",
            "/app",
            "/data",
            "/srv/list/a",
            "/usr/bin/tool",
        ] {
            assert!(kept.contains(path), "{path} kept: {kept:?}");
        }
        for path in ["/app/unused.py", "/etc/app.conf", "/data/db.sqlite"] {
            assert!(!kept.contains(path), "{path} not kept: {kept:?}");
        }
        assert!(
            selected.inventory.packages.is_empty(),
            "no package database"
        );
        assert!(
            selected
                .app
                .iter()
                .any(|(p, n)| p == "/app/main.py" && *n == 12),
            "the app's own files, with sizes: {:?}",
            selected.app
        );

        let (layer, stats) =
            crate::pipeline::write::layer_of(&selected.fs, &selected.selection).unwrap();
        let written = entries(&layer.info.path);
        assert_eq!(stats.entries, written.len());
        assert_eq!(written["/app/main.py"], "print('hi')\n");
        assert_eq!(
            written["/srv/list/a"], "",
            "a listed-only file is a placeholder"
        );
        assert_eq!(stats.placeholders, 2);
        assert_eq!(written["/data"], "", "the mount point stays, empty");
        assert!(!written.contains_key("/etc/app.conf"));
        assert!(!written.contains_key("/data/db.sqlite"));
        assert!(
            layer.info.digest.starts_with("sha256:"),
            "{}",
            layer.info.digest
        );
        // The same selection gives the same bytes.
        let (again, _) =
            crate::pipeline::write::layer_of(&selected.fs, &selected.selection).unwrap();
        assert_eq!(again.info.digest, layer.info.digest);
    }
}
