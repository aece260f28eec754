//! `slim build`: probe the image, select what it used (plus what that
//! needs), write one deterministic layer with the source's config, load it
//! into the engine as TAG, and optionally verify TAG under the profile.
use std::time::Instant;

use anyhow::Result;

use crate::{
    cli::{BuildArgs, KeepMode},
    gates,
    pipeline::{self, BuildPlan, Keep, ProfilePlan},
    progress::Steps,
    session::Cleanup,
};

pub async fn run(args: BuildArgs, cleanup: Cleanup) -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps::new(args.probe.json || args.probe.quiet);
    let plan = plan_of(&args)?;
    let quiet = args.probe.json || args.probe.quiet;
    if args.platform.all_platforms {
        pipeline::platforms::check_outputs(&plan.outputs)?;
        if let Some(platforms) = pipeline::platforms::listed(&plan.profile).await? {
            let (runs, summary) =
                pipeline::platforms::build(&plan, &platforms, &cleanup, quiet).await?;
            super::print_platforms(&runs, &summary, args.probe.json, args.probe.quiet)?;
            // Every platform's gates, the first failed one decides.
            return runs.iter().try_for_each(|r| pipeline::verdict(&r.report));
        }
        if !quiet {
            eprintln!(
                "slim: {} is a single-platform image: --all-platforms slims it alone",
                plan.profile.source
            );
        }
    }
    let report = pipeline::build(&plan, &cleanup, &mut steps).await?;
    super::print_report(
        &report,
        &plan.profile.artifacts,
        args.probe.json,
        args.probe.quiet,
        started,
    )?;
    // A gate that fails leaves the image and the report: the pipeline
    // stops, and both say why.
    pipeline::verdict(&report)
}

fn plan_of(args: &BuildArgs) -> Result<BuildPlan> {
    // parse_tag took any docker-daemon: prefix off.
    let tag = args.tag.clone();
    let source = args.probe.compose.source(args.image.as_ref())?;
    pipeline::plan::check_outputs(&source, &tag, &args.output)?;
    // Env files and bind sources are checked before anything starts.
    let session = args.probe.plan()?;
    let safe = args.keep == KeepMode::Safe;
    let profile = super::profile::plan_of(
        "build",
        source,
        &args.artifacts,
        session,
        &args.probe,
        &args.engine,
    );
    Ok(BuildPlan {
        profile: ProfilePlan {
            platform: args.platform.platform.clone(),
            ..profile
        },
        tag,
        outputs: args.output.clone(),
        read_layers: args.read_layers,
        keep: Keep {
            safe,
            imports: !args.no_imports,
            rules: args.rules.clone(),
            include_paths: args.include_path.clone(),
            include_bins: args.include_bin.clone(),
            include_shell: args.include_shell,
            excludes: args.exclude.clone(),
        },
        edits: args.config.edits(),
        sboms: args.sbom.clone(),
        verify: args.verify,
        limits: gates::Limits {
            max_size: args.max_size,
            min_reduction: args.min_reduction,
            max_growth: args.baseline.clone().zip(args.max_growth),
        },
    })
}
