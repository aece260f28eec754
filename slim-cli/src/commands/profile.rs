//! `slim profile`: run the image under the probe and write the report and
//! the seccomp profile; no image is built.
use std::{path::Path, time::Instant};

use anyhow::{bail, Context, Result};

use crate::{
    cli::{EngineArgs, ProbeArgs, ProfileArgs, SeccompMode},
    engine::{self, Engine},
    image::source::{self, Source},
    progress::Steps,
    report::{self, ContainerSummary, ImageRef, Report, SeccompSummary},
    seccomp,
    session::{self, Cleanup, Options},
    surroundings,
};

pub async fn run(args: ProfileArgs, cleanup: Cleanup) -> Result<()> {
    let mut steps = Steps::new(args.probe.json || args.probe.quiet);
    let created = !args.artifacts.exists();
    let result = profile(&args, &cleanup, &mut steps).await;
    if result.is_err() && created {
        // Only if empty: what a failed run did write (its report) stays.
        let _ = std::fs::remove_dir(&args.artifacts);
    }
    result.map_err(|e| steps.blame(e))
}

async fn profile(args: &ProfileArgs, cleanup: &Cleanup, steps: &mut Steps) -> Result<()> {
    let started = Instant::now();
    // Env files and bind sources are checked before anything starts.
    args.probe.plan()?;
    let source_name = args.probe.compose.source(args.image.as_ref())?;
    let (engine, mut source) = open(&args.engine, &source_name, cleanup, steps).await?;
    let mut report = probe_image(
        &engine,
        "profile",
        &mut source,
        &args.artifacts,
        &args.probe,
        cleanup,
        steps,
    )
    .await?
    .report;
    steps.finish();
    report.timings_ms = steps.timings_ms();
    report.peak_rss_bytes = report::peak_rss_bytes();
    report::write_report(&args.artifacts, &report)?;
    finish(&report, &args.artifacts, &args.probe, started)
}

/// Prints the report (--json) or the summary.
pub fn finish(report: &Report, dir: &Path, args: &ProbeArgs, started: Instant) -> Result<()> {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::scrubbed(report)?)?
        );
    } else if !args.quiet {
        eprintln!("{}", report::summary(report, dir, started.elapsed()));
    }
    Ok(())
}

/// Connects to the engine (removing what dead runs left there) and opens
/// the source image.
pub async fn open(
    args: &EngineArgs,
    image: &crate::transport::ImageName,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<(Engine, Source)> {
    steps.step("inspect", "inspecting the image");
    let engine = engine::connect(args.engine).await?;
    cleanup.set_engine(engine.kind);
    let reaped = engine::api::reap_leftovers(&engine).await?;
    if !reaped.is_empty() {
        eprintln!(
            "slim: warning: removed {} container(s), network(s) or volume(s) left by slim runs that died: {}",
            reaped.len(),
            reaped.join(", ")
        );
    }
    let source = source::open(image, Some(&engine), args.tls_verify).await?;
    Ok((engine, source))
}

/// What probing an image produced.
pub struct Probed {
    pub report: Report,
    /// The seccomp profile's JSON, as written to DIR/seccomp.json.
    pub profile: String,
    /// The probes that ran, for --verify to replay.
    pub replay: Vec<crate::probes::Entry>,
}

/// Shared by `profile` and `build`: inspect, probe, check the trace, and
/// write DIR/report.json and DIR/seccomp.json.
pub async fn probe_image(
    engine: &Engine,
    command: &'static str,
    source: &mut Source,
    dir: &Path,
    args: &ProbeArgs,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Probed> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if !source.in_engine() {
        steps.step(
            "load",
            &format!("loading the image into {}", engine.kind.name()),
        );
    }
    let run_as = source.runnable(engine, cleanup).await?;
    let opts = Options {
        trace: true,
        seccomp: None,
    };
    // Compose: the service's dependencies around the run, removed after it.
    let project = load_compose(args)?;
    let (mut plan, mut ports) = (args.plan()?, source.meta.tcp_ports());
    let up = surroundings::prepare(
        engine,
        project.as_ref(),
        &mut plan,
        &mut ports,
        cleanup,
        steps,
    )
    .await?;
    let outcome = session::run(engine, &run_as, &ports, &plan, &opts, cleanup, steps).await;
    let outcome = surroundings::finish(engine, up, outcome).await?;
    let trace = outcome.trace.context("the session returned no trace")?;

    steps.step("profile", "writing the report and the seccomp profile");
    let families = args.seccomp == SeccompMode::Families;
    let report = Report {
        schema_version: report::SCHEMA_VERSION,
        slim_version: env!("CARGO_PKG_VERSION"),
        command,
        engine: engine.kind,
        source: ImageRef {
            image: source.name.to_string(),
            id: source.meta.id.clone(),
            size_bytes: source.meta.size_bytes,
        },
        result: None,
        files: trace.files,
        syscalls: trace.syscalls,
        seccomp: SeccompSummary {
            file: "seccomp.json",
            audit_file: "seccomp-audit.json",
            mode: if families { "families" } else { "strict" },
            arch: trace.arch,
            allowed: Vec::new(),
            by_family: Default::default(),
            by_rule: Default::default(),
            runtime_base: seccomp::RUNTIME_BASE_VERSION,
            argument_filters: args.seccomp_args == seccomp::ArgFilters::On,
            arguments: Vec::new(),
            seen_arguments: trace.arguments,
        },
        events: trace.events,
        processes: trace.processes,
        probes: outcome.probes,
        container: ContainerSummary {
            exit_code: outcome.exit_code,
            stopped_by: outcome.stopped_by,
            stop: outcome.stop,
        },
        kept: Vec::new(),
        outputs: Vec::new(),
        gates: Vec::new(),
        packages: None,
        keep: None,
        layer: None,
        verify: None,
        crawl: outcome.crawl,
        warnings: Vec::new(),
        timings_ms: steps.timings_ms(),
        peak_rss_bytes: report::peak_rss_bytes(),
        run: None,
        secrets: plan.run.secret_values(),
        compose: project.as_ref().map(report::ComposeSummary::of),
    };
    let mut report = report;
    let used: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    report.run = Some(plan.run.summary(&used));
    let json = write_profiles(
        dir,
        &mut report,
        &Default::default(),
        &source.name.to_string(),
    )?;
    report::write_report(dir, &report)?;
    if let Err(e) = check_probes(&report.probes, args, dir) {
        // The line names the probe; "step profile failed" would mislead.
        steps.end();
        return Err(e);
    }
    if report.events.dropped > 0 && !args.accept_dropped {
        bail!(
            "the probe lost {} events ({:?}), so the trace is incomplete; \
             re-run, or pass --accept-dropped to use it anyway (see {}/report.json)",
            report.events.dropped,
            report.events.dropped_by_reason,
            dir.display()
        );
    }
    Ok(Probed {
        report,
        profile: json,
        replay: outcome.replay,
    })
}

/// The compose project of --compose-file/--service, if given; what it
/// declares that slim ignores is one warning line (and in the report).
pub fn load_compose(args: &ProbeArgs) -> Result<Option<crate::compose::Project>> {
    let project = args.compose.load()?;
    if let Some(p) = &project {
        if !p.ignored.is_empty() && !args.quiet {
            eprintln!(
                "slim: warning: {}: slim ignores {}",
                p.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" + "),
                p.ignored.join(", ")
            );
        }
        if !p.unset.is_empty() && !args.quiet {
            eprintln!(
                "slim: warning: variables not set, read as \"\": {}",
                p.unset.join(", ")
            );
        }
    }
    Ok(project)
}

/// A failed probe fails the run (exit 8), after the report is written,
/// unless --accept-probe-failures: then each is a warning.
fn check_probes(probes: &[crate::probes::ProbeResult], args: &ProbeArgs, dir: &Path) -> Result<()> {
    let failed: Vec<_> = probes.iter().filter(|p| !p.ok).collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    if args.script.accept_probe_failures {
        for p in &failed {
            eprintln!("slim: warning: probe failed (accepted): {}", p.failure());
        }
        return Ok(());
    }
    Err(crate::exit::Exit::new(
        crate::exit::PROBE,
        format!(
            "probe failed: {}; nothing was built (every probe is in {}/report.json; \
             --accept-probe-failures goes on anyway)",
            first.failure(),
            dir.display()
        ),
    )
    .into())
}

/// Draws the profile from the observed syscalls plus `by_rule` (syscalls
/// that fired keep-rules add, name -> rule), writes DIR/seccomp.json,
/// DIR/seccomp-audit.json and, for Kubernetes, DIR/seccomp-profile.yaml
/// with DIR/profile-binding.yaml binding it to `image`; records it in the
/// report, and returns the JSON.
pub fn write_profiles(
    dir: &Path,
    report: &mut Report,
    by_rule: &std::collections::BTreeMap<String, String>,
    image: &str,
) -> Result<String> {
    let mut wanted = report.syscalls.clone();
    wanted.extend(by_rule.keys().cloned());
    let families = report.seccomp.mode == "families";
    // A value the kernel could not record (its map was full) might be one
    // the app needs: then names only, and the report's lost events say why.
    let complete = !report
        .events
        .dropped_by_reason
        .contains_key(slim_probe::ARG_MAP_FULL);
    let arguments =
        (report.seccomp.argument_filters && complete).then_some(&report.seccomp.seen_arguments);
    let drawn = seccomp::profile(&wanted, arguments, report.seccomp.arch, families);
    let json = serde_json::to_string_pretty(&drawn.profile)?;
    crate::atomic::write_atomically(&dir.join("seccomp.json"), |out| {
        out.write_all(json.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    report::write_json(dir, "seccomp-audit.json", &drawn.profile.audit())?;
    for (name, text) in [
        (
            "seccomp-profile.yaml",
            seccomp::spo::seccomp_profile(&drawn.profile, image)?,
        ),
        (
            "profile-binding.yaml",
            seccomp::spo::profile_binding(image)?,
        ),
    ] {
        crate::atomic::write_atomically(&dir.join(name), |out| {
            out.write_all(text.as_bytes())?;
            Ok(())
        })?;
    }
    report.seccomp.allowed = drawn.profile.allowed();
    report.seccomp.by_family = drawn.by_family;
    report.seccomp.arguments = drawn.arguments;
    report.seccomp.by_rule = by_rule
        .iter()
        .filter(|(s, _)| !report.syscalls.contains(s))
        .map(|(s, r)| (s.clone(), r.clone()))
        .collect();
    Ok(json)
}
