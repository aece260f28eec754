//! `slim build`: probe the image, select what it used (plus what that
//! needs), write one deterministic layer with the source's config, load it
//! into Docker as TAG, and optionally verify TAG under the profile.
use std::{collections::BTreeSet, time::Instant};

use anyhow::{bail, Result};
use slim_probe::Access;

use super::profile::Probed;
use crate::{
    cli::{BuildArgs, KeepMode},
    engine::{self, Engine},
    gates,
    image::{
        sbom,
        sink::{self, Built, ImageSink},
    },
    progress::Steps,
    rebuild::{
        closure::{self, Request},
        image, inventory, layer,
        packages::Manager,
        rules,
    },
    report::{
        self, ImageRef, KeepSummary, KeptPath, LayerSummary, PackagesSummary, RemovedPackage,
        Report,
    },
    session::{self, Cleanup, Options},
    transport::ImageName,
};

pub async fn run(args: BuildArgs, cleanup: Cleanup) -> Result<()> {
    let mut steps = Steps::new(args.probe.json || args.probe.quiet);
    let created = !args.artifacts.exists();
    let result = build(&args, &cleanup, &mut steps).await;
    if result.is_err() && created {
        // Only if empty: what a failed run did write (its report) stays.
        let _ = std::fs::remove_dir(&args.artifacts);
    }
    result.map_err(|e| steps.blame(e))
}

/// `name` with Docker's defaults spelled out, to compare references.
fn canonical(name: &str) -> String {
    let name = name
        .strip_prefix("docker.io/")
        .unwrap_or(name)
        .trim_start_matches("library/");
    if engine::split_reference(name).1.is_some() || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

async fn build(args: &BuildArgs, cleanup: &Cleanup, steps: &mut Steps) -> Result<()> {
    let started = Instant::now();
    // parse_tag took any docker-daemon: prefix off.
    let tag = args.tag.as_str();
    let source_name = args.probe.compose.source(args.image.as_ref())?;
    let names_source = |name: &ImageName| match (name, &source_name) {
        (ImageName::Daemon(out), ImageName::Daemon(src)) => canonical(out) == canonical(src),
        (out, src) => out == src,
    };
    if names_source(&ImageName::Daemon(tag.to_string())) {
        bail!(
            "--tag {} names the source image: slim would move that name off the original; \
             choose another tag, such as {}-slim",
            tag,
            tag.trim_end_matches(":latest")
        );
    }
    if let Some(out) = args.output.iter().find(|o| names_source(o)) {
        bail!("--output {out} names the source image, which slim never overwrites; choose another");
    }
    // Env files and bind sources are checked before anything starts.
    let run = args.probe.plan()?.run;
    let limits = gates::Limits {
        max_size: args.max_size,
        min_reduction: args.min_reduction,
        max_growth: args.baseline.clone().zip(args.max_growth),
    };
    // Read before anything is written: the baseline may be DIR/report.json.
    let baseline = match &args.baseline {
        Some(path) => Some(gates::baseline_size(path)?),
        None => None,
    };
    let (engine, mut source) =
        super::profile::open(&args.engine, &source_name, cleanup, steps).await?;
    let Probed {
        mut report, replay, ..
    } = super::profile::probe_image(
        &engine,
        "build",
        &mut source,
        &args.artifacts,
        &args.probe,
        cleanup,
        steps,
    )
    .await?;

    steps.step("select", "selecting the files to keep");
    let fs = source.layers(Some(&engine), args.read_layers).await?;
    let config = source.meta.runtime();
    let mut command: Vec<String> = config.entrypoint().clone().unwrap_or_default();
    command.extend(config.cmd().clone().unwrap_or_default());
    // What the app used under a mount came from the mount, not the image:
    // it is no evidence for the selection (the report lists it under run.mounts).
    let from_image: Vec<&slim_probe::FileRecord> = report
        .files
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
    let is_dir = |p: &str| fs.lookup(p).is_some_and(|f| f.meta.is_dir());
    let req = Request {
        // A mount point that is a directory of the image stays, empty.
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
        include_paths: args.include_path.clone(),
        include_bins: args.include_bin.clone(),
        include_shell: args.include_shell,
        excludes: args.exclude.clone(),
        opened: with(&[Access::Open, Access::Create, Access::Write, Access::Exec]),
        placeholders: args.keep == KeepMode::Minimal,
    };
    let safe = args.keep == KeepMode::Safe;
    let compiled = rules::load(&args.rules)?
        .into_iter()
        .filter(|r| safe || r.level == rules::Level::Required)
        .map(rules::Compiled::new)
        .collect::<Result<Vec<_>>>()?;
    let mut resolvers = if safe && !args.no_imports {
        closure::default_resolvers()
    } else {
        Vec::new()
    };
    let app_dirs: Vec<String> = req.workdir.iter().cloned().collect();
    let (fs, selection, inventory, split, app) = tokio::task::spawn_blocking(move || {
        let mut selection = closure::select(&fs, &req, &compiled, &mut resolvers)?;
        // Nor do rules put the image's own files under a mount point.
        selection
            .kept
            .retain(|p, _| !run.hides(p, |d| fs.lookup(d).is_some_and(|f| f.meta.is_dir())));
        let mut inventory = inventory::read_image(&fs, &app_dirs);
        let kept: BTreeSet<String> = selection.kept.keys().cloned().collect();
        let split = inventory::split(&inventory, &kept, |p| inventory::is_file(&fs, p));
        inventory::add_licenses(&fs, &mut inventory, &split.kept);
        // The app's own: kept files no package owns, with their sizes.
        let app: Vec<(String, u64)> = split
            .app_files
            .iter()
            .filter_map(|p| fs.lookup(p).map(|f| (p.clone(), f.meta.len())))
            .collect();
        anyhow::Ok((fs, selection, inventory, split, app))
    })
    .await??;
    for w in &selection.warnings {
        eprintln!("slim: warning: {w}");
    }

    steps.step("layer", "writing the layer");
    // The selection goes to the writer's thread and comes back: no copy of
    // a map that holds every kept path.
    let (layer_file, stats, selection) = tokio::task::spawn_blocking(move || {
        image::layer_file(|out| layer::write(&fs, &selection.kept, &selection.placeholders, out))
            .map(|(file, stats)| (file, stats, selection))
    })
    .await??;
    let diff_id = layer_file.info.digest.clone();
    // The profile before the config: the image carries it as a label.
    let profile =
        super::profile::write_profiles(&args.artifacts, &mut report, &selection.syscalls, tag)?;
    let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&profile)?)?;
    let built = Built {
        tag: tag.to_string(),
        config: image::with_label(
            &image::config_json(&source.meta, &diff_id, &args.config.edits())?,
            crate::seccomp::IMAGE_LABEL,
            &compact,
        )?,
        layer: layer_file.info.clone(),
        // Byte for byte DIR/seccomp.json.
        seccomp: Some(format!("{profile}\n").into_bytes()),
    };

    // TAG in the engine, then every --output. From here a failure must not
    // leave TAG moved (no partial outputs): what was written is undone. An
    // image that fails --verify stays, on purpose, and the error says so.
    let mut sinks: Vec<Box<dyn ImageSink + '_>> = vec![sink::open(
        &ImageName::Daemon(tag.to_string()),
        &engine,
        args.engine.tls_verify,
    )];
    sinks.extend(
        args.output
            .iter()
            .map(|o| sink::open(o, &engine, args.engine.tls_verify)),
    );
    let mut keep_image = false;
    let finished = async {
        for s in sinks.iter_mut() {
            steps.step("write", &format!("writing {}", s.describe()));
            s.write(&built).await?;
        }
        let result = engine::api::inspect_image(&engine, tag, engine.kind.store()).await?;
        report.outputs = args.output.iter().map(|o| o.to_string()).collect();
        report.result = Some(ImageRef {
            image: tag.to_string(),
            id: result.id.clone().unwrap_or_default(),
            size_bytes: result.size.unwrap_or(0).max(0) as u64,
        });
        report.kept = selection
            .kept
            .iter()
            .map(|(p, k)| KeptPath {
                path: p.clone(),
                reason: k.reason,
                rule: Some(k.rule.as_deref().unwrap_or("trace").to_string()),
                from: k.from.as_deref().map(str::to_string),
            })
            .collect();
        report.keep = Some(KeepSummary {
            mode: if safe { "safe" } else { "minimal" },
            packages: selection.packages.unwrap_or(Manager::None),
            rule_bytes: selection
                .rules
                .iter()
                .filter(|(name, _)| *name != "include")
                .map(|(_, u)| u.bytes)
                .sum(),
            lower_bound_bytes: selection.lower_bound_bytes,
            placeholders: stats.placeholders,
            listed_dropped: selection.listed_dropped,
            rules: selection.rules,
            unresolved_imports: selection.unresolved_imports,
        });
        report.layer = Some(LayerSummary {
            digest: diff_id,
            size_bytes: layer_file.info.size,
            entries: stats.entries,
        });
        report.warnings = selection.warnings;
        let carried: Vec<&inventory::Package> =
            split.kept.iter().map(|&i| &inventory.packages[i]).collect();
        let mut sboms = Vec::new();
        for format in &args.sbom {
            let subject = sbom::Subject {
                image: tag,
                id: &report.result.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
                distro: inventory.distro.as_ref(),
                packages: carried.clone(),
                app: Some((app.len(), app.iter().map(|(_, b)| b).sum())),
            };
            let path = sbom::write(*format, &subject, &args.artifacts)?;
            sboms.push(path.display().to_string());
        }
        report.packages = Some(PackagesSummary {
            source: inventory.packages.len(),
            carried: carried.len(),
            removed: split
                .removed
                .iter()
                .map(|&i| &inventory.packages[i])
                .map(|p| RemovedPackage {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    ecosystem: p.ecosystem,
                })
                .collect(),
            app_files: app.len(),
            app_bytes: app.iter().map(|(_, b)| b).sum(),
            sboms,
        });

        if args.verify {
            steps.step("verify", &format!("verifying {tag} under the profile"));
            if report.probes.is_empty() {
                eprintln!(
                    "slim: warning: --verify has no probes to replay: it only checks that {tag} starts (and exits as the source did) under the profile"
                );
            }
            let ports = source.meta.tcp_ports();
            let verified = verify(
                &engine, args, tag, &ports, &report, &replay, profile, cleanup, steps,
            )
            .await;
            match verified {
                Ok(results) => report.verify = Some(results),
                Err(e) => {
                    steps.finish();
                    report.timings_ms = steps.timings_ms();
                    report.peak_rss_bytes = report::peak_rss_bytes();
                    report::write_report(&args.artifacts, &report)?;
                    keep_image = true;
                    return Err(e.context(crate::exit::Exit::new(
                        crate::exit::VERIFY,
                        format!("{tag} was built but fails verification"),
                    )));
                }
            }
        }
        let size = report.result.as_ref().map_or(0, |r| r.size_bytes);
        report.gates = gates::check(&limits, report.source.size_bytes, size, baseline);
        steps.finish();
        report.timings_ms = steps.timings_ms();
        report.peak_rss_bytes = report::peak_rss_bytes();
        report::write_report(&args.artifacts, &report)?;
        super::profile::finish(&report, &args.artifacts, &args.probe, started)?;
        // A gate that fails leaves the image and the report: the pipeline
        // stops, and both say why.
        if let Some(g) = report.gates.iter().find(|g| !g.passed) {
            keep_image = true;
            return Err(crate::exit::Exit::new(g.code, format!("gate {}: {}", g.name, g.reason)).into());
        }
        Ok(())
    }
    .await;
    if finished.is_err() && !keep_image {
        for s in sinks.iter().rev() {
            if let Err(e) = s.undo().await {
                eprintln!("slim: warning: {e:#}");
            }
        }
    }
    finished
}

/// Runs TAG under the profile with the same requests and commands (the
/// probes that ran on IMAGE, crawled and generated ones spelled out); every
/// probe that passed must pass, answer the same status, and, where IMAGE
/// answered the same request twice with the same body, that body.
#[allow(clippy::too_many_arguments)]
async fn verify(
    engine: &Engine,
    args: &BuildArgs,
    tag: &str,
    ports: &[u16],
    original: &Report,
    replay: &[crate::probes::Entry],
    profile: String,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Vec<crate::probes::ProbeResult>> {
    let opts = Options {
        trace: false,
        seccomp: Some(profile),
    };
    // The same surroundings as the probe run, started again.
    let project = args.probe.compose.load()?;
    let mut plan = args.probe.plan()?;
    plan.script = crate::probes::Script {
        entries: replay.to_vec(),
        openapi_path: None,
        crawl: None,
        // Every answer is compared below, not just the first failure.
        accept_failures: true,
    };
    let mut ports = ports.to_vec();
    let up = crate::surroundings::prepare(
        engine,
        project.as_ref(),
        &mut plan,
        &mut ports,
        cleanup,
        steps,
    )
    .await?;
    let outcome = session::run(engine, tag, &ports, &plan, &opts, cleanup, steps).await;
    let outcome = crate::surroundings::finish(engine, up, outcome).await?;
    let source = &original.source.image;
    if let Some(why) = compare(&original.probes, &outcome.probes) {
        bail!("{why} on {tag} (it did on {source})");
    }
    if original.container.stopped_by == "itself"
        && outcome.exit_code != original.container.exit_code
    {
        bail!(
            "{} exited with {:?}, {} with {:?}",
            source,
            original.container.exit_code,
            tag,
            outcome.exit_code
        );
    }
    Ok(outcome.probes)
}

/// How the replay differs from the original, if it does.
fn compare(
    before: &[crate::probes::ProbeResult],
    after: &[crate::probes::ProbeResult],
) -> Option<String> {
    if before.len() != after.len() {
        return Some(format!(
            "{} probes ran instead of {}",
            after.len(),
            before.len()
        ));
    }
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if b.ok && !a.ok {
            return Some(format!(
                "{} expected {}, got {}",
                a.describe(),
                a.expected,
                a.got
            ));
        }
        if b.code != a.code {
            return Some(format!(
                "{} answered {} instead of {}",
                a.describe(),
                a.code,
                b.code
            ));
        }
        // A body is expected again only where the original answered the
        // same request twice with the same body: otherwise it may change
        // by itself (a time, a counter, an id).
        let stable = b.body_sha256.is_some()
            && before
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.key == b.key && o.body_sha256 == b.body_sha256);
        if stable && a.body_sha256 != b.body_sha256 {
            return Some(format!(
                "{} answered a different body (sha256 {} instead of {})",
                a.describe(),
                a.body_sha256.as_deref().unwrap_or("none"),
                b.body_sha256.as_deref().unwrap_or("none")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn references_compare_with_docker_defaults() {
        assert_eq!(canonical("nginx"), canonical("nginx:latest"));
        assert_eq!(canonical("docker.io/library/nginx:1"), canonical("nginx:1"));
        assert_ne!(canonical("nginx:1"), canonical("nginx:1-slim"));
        assert_eq!(canonical("localhost:5000/app"), "localhost:5000/app:latest");
    }
}
