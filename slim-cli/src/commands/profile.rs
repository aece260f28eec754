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
    let (engine, mut source) = open(&args.engine, &args.image, cleanup, steps).await?;
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
    report::write_json(&args.artifacts, "report.json", &report)?;
    finish(&report, &args.artifacts, &args.probe, started)
}

/// Prints the report (--json) or the summary.
pub fn finish(report: &Report, dir: &Path, args: &ProbeArgs, started: Instant) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
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
            "slim: warning: removed {} container(s) left by slim runs that died: {}",
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
    let outcome = session::run(
        engine,
        &run_as,
        &source.meta.tcp_ports(),
        &args.plan()?,
        &opts,
        cleanup,
        steps,
    )
    .await?;
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
        },
        events: trace.events,
        processes: trace.processes,
        probes: outcome.probes,
        container: ContainerSummary {
            exit_code: outcome.exit_code,
            stopped_by: outcome.stopped_by,
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
    };
    let mut report = report;
    let json = write_profiles(dir, &mut report, &Default::default())?;
    report::write_json(dir, "report.json", &report)?;
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
/// that fired keep-rules add, name -> rule), writes DIR/seccomp.json and
/// DIR/seccomp-audit.json, records it in the report, and returns the JSON.
pub fn write_profiles(
    dir: &Path,
    report: &mut Report,
    by_rule: &std::collections::BTreeMap<String, String>,
) -> Result<String> {
    let mut wanted = report.syscalls.clone();
    wanted.extend(by_rule.keys().cloned());
    let families = report.seccomp.mode == "families";
    let drawn = seccomp::profile(&wanted, report.seccomp.arch, families);
    let json = serde_json::to_string_pretty(&drawn.profile)?;
    crate::atomic::write_atomically(&dir.join("seccomp.json"), |out| {
        out.write_all(json.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    report::write_json(dir, "seccomp-audit.json", &drawn.profile.audit())?;
    report.seccomp.allowed = drawn.profile.allowed();
    report.seccomp.by_family = drawn.by_family;
    report.seccomp.by_rule = by_rule
        .iter()
        .filter(|(s, _)| !report.syscalls.contains(s))
        .map(|(s, r)| (s.clone(), r.clone()))
        .collect();
    Ok(json)
}
