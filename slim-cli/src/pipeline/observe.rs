//! Step two: run the source under the probe in its surroundings (a compose
//! service's dependencies, started around the run and removed after it),
//! turn what was seen into the report and the seccomp profile, write both,
//! and stop the run when a probe failed or events were lost.
use std::path::Path;

use anyhow::{bail, Context, Result};
use slim_probe::EventStats;

use super::{
    assemble,
    plan::{Compose, ProfilePlan},
    write,
};
use crate::{
    compose::Project,
    engine::{Engine, RunOptions},
    image::source::Source,
    probes::{Entry, ProbeResult},
    progress::Steps,
    report::{self, Report},
    session::{self, Cleanup, Options},
    surroundings,
};

/// What observing the source produced.
pub struct Observed {
    pub report: Report,
    /// The seccomp profile's JSON, as written to DIR/seccomp.json.
    pub profile: String,
    /// The probes that ran, for --verify to replay.
    pub replay: Vec<Entry>,
    /// The compose project the run was in, for --verify's surroundings.
    pub project: Option<Project>,
    /// The options the container ran with (the compose service's, under
    /// the command line's): what was mounted is not the image.
    pub run: RunOptions,
}

pub async fn observe(
    engine: &Engine,
    plan: &ProfilePlan,
    source: &mut Source,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Observed> {
    let dir = &plan.artifacts;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A foreign platform runs under emulation: checked before anything
    // is loaded or started.
    let platform = source.meta.platform();
    let emulation = crate::emulation::for_platform(&platform)?;
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
    let project = match &plan.compose {
        Some(c) => Some(load_compose(c, plan.quiet)?),
        None => None,
    };
    let (mut session_plan, mut ports) = (plan.session.clone(), source.meta.tcp_ports());
    let up = surroundings::prepare(
        engine,
        project.as_ref(),
        &mut session_plan,
        &mut ports,
        cleanup,
        steps,
    )
    .await?;
    let outcome = session::run(
        engine,
        &run_as,
        &ports,
        &session_plan,
        &opts,
        cleanup,
        steps,
    )
    .await;
    let mut outcome = surroundings::finish(engine, up, outcome).await?;
    let mut trace = outcome
        .trace
        .take()
        .context("the session returned no trace")?;
    let emulated = emulation.as_ref().map(|e| e.apply(&mut trace));

    steps.step("profile", "writing the report and the seccomp profile");
    let replay = std::mem::take(&mut outcome.replay);
    let mut report = assemble::observed(assemble::Observation {
        command: plan.command,
        engine: engine.kind,
        source: report::ImageRef {
            image: source.name.to_string(),
            id: source.meta.id.clone(),
            size_bytes: source.meta.size_bytes,
        },
        trace,
        outcome,
        seccomp: plan.seccomp,
        run: &session_plan.run,
        project: project.as_ref(),
        timings_ms: steps.timings_ms(),
    });
    if plan.platform.is_some() || emulated.is_some() {
        report.platform = Some(platform.to_string());
    }
    if let Some(e) = emulated {
        report.seccomp.verified = Some(false);
        report.seccomp.unverified = Some(crate::emulation::UNVERIFIED.to_string());
        report.emulation = Some(e);
    }
    let json = write::profiles(
        dir,
        &mut report,
        &Default::default(),
        &source.name.to_string(),
    )?;
    report::write_report(dir, &report)?;
    if let Err(e) = check_probes(&report.probes, plan.session.script.accept_failures, dir) {
        // The line names the probe; "step profile failed" would mislead.
        steps.end();
        return Err(e);
    }
    check_dropped(&report.events, plan.accept_dropped, dir)?;
    Ok(Observed {
        report,
        profile: json,
        replay,
        project,
        run: session_plan.run,
    })
}

/// The compose project of --compose-file/--service; what it declares that
/// slim ignores is one warning line (and in the report).
pub fn load_compose(c: &Compose, quiet: bool) -> Result<Project> {
    let p = crate::compose::load(&c.files, &c.service)?;
    if !p.ignored.is_empty() && !quiet {
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
    if !p.unset.is_empty() && !quiet {
        eprintln!(
            "slim: warning: variables not set, read as \"\": {}",
            p.unset.join(", ")
        );
    }
    Ok(p)
}

/// A failed probe fails the run (exit 8), after the report is written,
/// unless failures are accepted: then each is a warning.
pub fn check_probes(probes: &[ProbeResult], accept: bool, dir: &Path) -> Result<()> {
    let failed: Vec<_> = probes.iter().filter(|p| !p.ok).collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    if accept {
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

/// A trace with lost events fails the run unless they are accepted.
pub fn check_dropped(events: &EventStats, accept: bool, dir: &Path) -> Result<()> {
    if events.dropped > 0 && !accept {
        bail!(
            "the probe lost {} events ({:?}), so the trace is incomplete; \
             re-run, or pass --accept-dropped to use it anyway (see {}/report.json)",
            events.dropped,
            events.dropped_by_reason,
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pipeline::testing::probe;

    #[test]
    fn a_failed_probe_exits_8_unless_accepted() {
        let dir = Path::new("/out");
        assert!(check_probes(&[probe(true, "/")], false, dir).is_ok());
        let probes = [probe(true, "/"), probe(false, "/a"), probe(false, "/b")];
        let e = check_probes(&probes, false, dir).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), crate::exit::PROBE);
        let line = e.to_string();
        assert!(line.starts_with("probe failed: "), "{line}");
        assert!(
            line.contains("/a") && !line.contains("/b"),
            "the first: {line}"
        );
        assert!(line.contains("/out/report.json"), "{line}");
        assert!(check_probes(&probes, true, dir).is_ok());
    }

    #[test]
    fn lost_events_fail_unless_accepted() {
        let dir = Path::new("/out");
        let mut events = EventStats::default();
        assert!(check_dropped(&events, false, dir).is_ok());
        events.dropped = 3;
        events.dropped_by_reason.insert("ring_full".into(), 3);
        let e = check_dropped(&events, false, dir).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), 1);
        assert!(e.to_string().contains("lost 3 events"), "{e}");
        assert!(check_dropped(&events, true, dir).is_ok());
    }
}
