//! `slim profile`: run the image under the probe and write the report and
//! the seccomp profile; no image is built.
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{
    cli::{ProbeArgs, ProfileArgs},
    docker,
    progress::Steps,
    report::{self, ContainerSummary, ImageRef, Report, SeccompSummary},
    seccomp,
    session::{self, Cleanup},
};

pub async fn run(args: ProfileArgs) -> Result<()> {
    let report = probe_image("profile", &args.image, &args.artifacts, &args.probe).await?;
    if args.probe.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Shared by `profile` and `build`: inspect, probe, check the trace, and
/// write DIR/report.json and DIR/seccomp.json.
pub async fn probe_image(
    command: &'static str,
    image: &str,
    dir: &std::path::Path,
    args: &ProbeArgs,
) -> Result<Report> {
    let started = Instant::now();
    let mut steps = Steps::new(args.json);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    steps.step("inspect", "inspecting the image");
    let docker = docker::connect().await?;
    let info = docker::inspect_image(&docker, image).await?;

    let cleanup = Cleanup::default();
    let outcome = tokio::select! {
        r = session::run(&docker, image, &info, args, &cleanup, &mut steps) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    cleanup.run(&docker).await;
    let outcome = outcome?;

    steps.step("write", "writing the report and the seccomp profile");
    let trace = outcome.trace;
    let profile = seccomp::profile(&trace.syscalls, trace.arch);
    steps.finish();
    let report = Report {
        slim_version: env!("CARGO_PKG_VERSION"),
        command,
        source: ImageRef {
            image: image.to_string(),
            id: info.id.clone(),
            size_bytes: info.size_bytes,
        },
        result: None,
        files: trace.files,
        syscalls: trace.syscalls,
        seccomp: SeccompSummary {
            file: "seccomp.json",
            arch: trace.arch,
            allowed: profile.allowed(),
            runtime_base: seccomp::RUNTIME_BASE_VERSION,
        },
        events: trace.events,
        processes: trace.processes,
        probes: outcome.probes,
        container: ContainerSummary {
            exit_code: outcome.exit_code,
            stopped_by: outcome.stopped_by,
        },
        timings_ms: steps.timings_ms(),
    };
    report::write_json(dir, "report.json", &report)?;
    if report.events.dropped > 0 && !args.accept_dropped {
        bail!(
            "the probe lost {} events ({:?}), so the trace is incomplete; \
             re-run, or pass --accept-dropped to use it anyway (see {}/report.json)",
            report.events.dropped,
            report.events.dropped_by_reason,
            dir.display()
        );
    }
    report::write_json(dir, "seccomp.json", &profile)?;
    if !args.json {
        eprintln!("{}", report::summary(&report, dir, started.elapsed()));
    }
    Ok(report)
}
