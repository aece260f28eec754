//! `slim profile`: run the image under the probe and write the report and
//! the seccomp profile; no image is built.
use std::time::Instant;

use anyhow::Result;

use crate::{
    cli::{EngineArgs, ProbeArgs, ProfileArgs, SeccompMode},
    pipeline::{self, Compose, ProfilePlan, Seccomp},
    progress::Steps,
    seccomp::ArgFilters,
    session::Cleanup,
    transport::ImageName,
};

pub async fn run(args: ProfileArgs, cleanup: Cleanup) -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps::new(args.probe.json || args.probe.quiet);
    // Env files and bind sources are checked before anything starts.
    let session = args.probe.plan()?;
    let source = args.probe.compose.source(args.image.as_ref())?;
    let plan = plan_of(
        "profile",
        source,
        &args.artifacts,
        session,
        &args.probe,
        &args.engine,
    );
    let plan = ProfilePlan {
        platform: args.platform.platform.clone(),
        ..plan
    };
    let quiet = args.probe.json || args.probe.quiet;
    if args.platform.all_platforms {
        if let Some(platforms) = pipeline::platforms::listed(&plan).await? {
            let (runs, summary) =
                pipeline::platforms::profile(&plan, &platforms, &cleanup, quiet).await?;
            return super::print_platforms(&runs, &summary, args.probe.json, args.probe.quiet);
        }
        if !quiet {
            eprintln!(
                "slim: {} is a single-platform image: --all-platforms profiles it alone",
                plan.source
            );
        }
    }
    let report = pipeline::profile(&plan, &cleanup, &mut steps).await?;
    super::print_report(
        &report,
        &plan.artifacts,
        args.probe.json,
        args.probe.quiet,
        started,
    )
}

/// The plan of the probe run, shared with `slim build`.
pub(super) fn plan_of(
    command: &'static str,
    source: ImageName,
    artifacts: &std::path::Path,
    session: crate::session::Plan,
    probe: &ProbeArgs,
    engine: &EngineArgs,
) -> ProfilePlan {
    ProfilePlan {
        command,
        source,
        artifacts: artifacts.to_path_buf(),
        engine: engine.engine,
        tls_verify: engine.tls_verify,
        session,
        compose: probe.compose.service.as_ref().map(|service| Compose {
            files: probe.compose.compose_file.clone(),
            service: service.clone(),
        }),
        seccomp: Seccomp {
            families: probe.seccomp == SeccompMode::Families,
            argument_filters: probe.seccomp_args == ArgFilters::On,
        },
        accept_dropped: probe.accept_dropped,
        quiet: probe.quiet,
        platform: None,
    }
}
