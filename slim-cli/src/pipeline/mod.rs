//! The pipeline `slim profile` and `slim build` run, one step a module:
//!
//! 1. [`open`]: connect to the engine, open the source image;
//! 2. [`observe`]: run it under the probe in its surroundings (a compose
//!    service's dependencies), write report.json and the seccomp profiles;
//! 3. [`select`]: decide what the slim image keeps (build);
//! 4. [`write`]: the layer, the config, TAG and every --output (build);
//! 5. [`verify`]: run the slim image under its profile, replay the probes
//!    (build --verify).
//!
//! A run is asked for by a [`plan`] (plain data the commands fill from
//! their arguments); [`assemble`] turns each step's output into the report.
//! Steps take and return plain data, so what decides (the selection, the
//! report, the gates) is tested without a daemon. The commands print the
//! report this returns; [`verdict`] then turns a failed gate into its exit
//! status.
pub mod assemble;
pub mod observe;
pub mod open;
pub mod plan;
pub mod platforms;
pub mod select;
pub mod verify;
pub mod write;

use anyhow::Result;

pub use plan::{BuildPlan, Compose, Keep, ProfilePlan, Seccomp};

use crate::{
    exit::{self, Exit},
    gates,
    image::sbom,
    progress::Steps,
    report::{self, ImageRef, Report},
    session::Cleanup,
};

/// `slim profile`: open and observe; the report is written.
pub async fn profile(plan: &ProfilePlan, cleanup: &Cleanup, steps: &mut Steps) -> Result<Report> {
    in_artifacts(plan, steps, async |steps: &mut Steps| {
        let (engine, mut source) = open::open(plan, cleanup, steps).await?;
        let mut report = observe::observe(&engine, plan, &mut source, cleanup, steps)
            .await?
            .report;
        steps.finish();
        report.timings_ms = steps.timings_ms();
        report.peak_rss_bytes = report::peak_rss_bytes();
        report::write_report(&plan.artifacts, &report)?;
        Ok(report)
    })
    .await
}

/// `slim build`: every step. The slim image stays (and the report is
/// written) when a gate fails: the report's gates say which, and
/// [`verdict`] turns that into the exit status.
pub async fn build(plan: &BuildPlan, cleanup: &Cleanup, steps: &mut Steps) -> Result<Report> {
    in_artifacts(&plan.profile, steps, async |steps: &mut Steps| {
        // Read before anything is written: the baseline may be DIR/report.json.
        let baseline = match &plan.limits.max_growth {
            Some((path, _)) => Some(gates::baseline_size(path)?),
            None => None,
        };
        let (engine, mut source) = open::open(&plan.profile, cleanup, steps).await?;
        let observed =
            observe::observe(&engine, &plan.profile, &mut source, cleanup, steps).await?;
        let mut report = observed.report;
        // The options the container ran with: a compose service's volumes
        // are mounts too, and what was used under them is not the image.
        let selected =
            select::select_step(&engine, plan, &source, &report.files, &observed.run, steps)
                .await?;
        let (layer_file, stats, mut selected) = write::layer_step(selected, steps).await?;
        let dir = &plan.profile.artifacts;
        let tag = plan.tag.as_str();
        // The profile before the config: the image carries it as a label.
        let profile = write::profiles(dir, &mut report, &selected.selection.syscalls, tag)?;
        let built = write::built(tag, &source.meta, &layer_file, &plan.edits, &profile)?;

        // TAG in the engine, then every --output. From here a failure must
        // not leave TAG moved (no partial outputs): what was written is
        // undone. An image that fails --verify stays, on purpose, and the
        // error says so; so does one that fails a gate.
        let mut outputs =
            write::Outputs::open(&engine, tag, &plan.outputs, plan.profile.tls_verify);
        let mut keep_image = false;
        let finished = async {
            outputs.write(&built, steps).await?;
            let result =
                crate::engine::api::inspect_image(&engine, tag, engine.kind.store()).await?;
            report.outputs = plan.outputs.iter().map(|o| o.to_string()).collect();
            report.result = Some(ImageRef {
                image: tag.to_string(),
                id: result.id.clone().unwrap_or_default(),
                size_bytes: result.size.unwrap_or(0).max(0) as u64,
            });
            report.kept = assemble::kept_paths(&selected.selection);
            report.keep = Some(assemble::keep_summary(
                plan.keep.mode(),
                &mut selected.selection,
                &stats,
            ));
            report.layer = Some(assemble::layer_summary(
                layer_file.info.digest.clone(),
                layer_file.info.size,
                &stats,
            ));
            report.warnings = std::mem::take(&mut selected.selection.warnings);
            let mut sboms = Vec::new();
            for format in &plan.sboms {
                let app = &selected.app;
                let subject = sbom::Subject {
                    image: tag,
                    id: &report.result.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
                    distro: selected.inventory.distro.as_ref(),
                    packages: assemble::carried(&selected),
                    app: Some((app.len(), app.iter().map(|(_, b)| b).sum())),
                };
                let path = sbom::write(*format, &subject, dir)?;
                sboms.push(path.display().to_string());
            }
            report.packages = Some(assemble::packages_summary(&selected, sboms));

            if plan.verify {
                steps.step("verify", &format!("verifying {tag} under the profile"));
                if report.probes.is_empty() {
                    eprintln!(
                        "slim: warning: --verify has no probes to replay: it only checks that {tag} starts (and exits as the source did) under the profile"
                    );
                }
                let ports = source.meta.tcp_ports();
                let replay = verify::Replay {
                    tag,
                    ports: &ports,
                    original: &report,
                    entries: &observed.replay,
                    profile: write::run_profile(dir, &report, &profile)?,
                    plan: &plan.profile.session,
                    project: observed.project.as_ref(),
                };
                match verify::verify(&engine, replay, cleanup, steps).await {
                    Ok(results) => report.verify = Some(results),
                    Err(e) => {
                        steps.finish();
                        report.timings_ms = steps.timings_ms();
                        report.peak_rss_bytes = report::peak_rss_bytes();
                        report::write_report(dir, &report)?;
                        keep_image = true;
                        return Err(e.context(Exit::new(
                            exit::VERIFY,
                            format!("{tag} was built but fails verification"),
                        )));
                    }
                }
            }
            let size = report.result.as_ref().map_or(0, |r| r.size_bytes);
            report.gates = gates::check(&plan.limits, report.source.size_bytes, size, baseline);
            steps.finish();
            report.timings_ms = steps.timings_ms();
            report.peak_rss_bytes = report::peak_rss_bytes();
            report::write_report(dir, &report)?;
            Ok(())
        }
        .await;
        if finished.is_err() && !keep_image {
            outputs.undo().await;
        }
        finished.map(|()| report)
    })
    .await
}

/// Runs `pipeline`; a failure removes the artifacts directory if this run
/// created it and nothing is in it (what a failed run did write, its
/// report, stays), and names the step it failed in.
async fn in_artifacts<T>(
    plan: &ProfilePlan,
    steps: &mut Steps,
    pipeline: impl AsyncFnOnce(&mut Steps) -> Result<T>,
) -> Result<T> {
    let created = !plan.artifacts.exists();
    let result = pipeline(steps).await;
    if result.is_err() && created {
        let _ = std::fs::remove_dir(&plan.artifacts);
    }
    result.map_err(|e| steps.blame(e))
}

/// The run's verdict once its report is printed: the first gate that
/// failed, as its exit status (the image and the report stay).
pub fn verdict(report: &Report) -> Result<()> {
    match report.gates.iter().find(|g| !g.passed) {
        Some(g) => Err(Exit::new(g.code, format!("gate {}: {}", g.name, g.reason)).into()),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Plain data for the steps' tests.
    use slim_probe::{Access, FileRecord};

    use crate::probes::{Origin, ProbeKind, ProbeResult};

    /// A file the trace saw used with `access`, by pid 1.
    pub fn record(path: &str, access: &[Access], ok: bool) -> FileRecord {
        FileRecord {
            path: path.into(),
            access: access.iter().copied().collect(),
            ok,
            errors: if ok {
                Default::default()
            } else {
                ["ENOENT".to_string()].into()
            },
            pids: [1].into(),
            resolved_only: false,
        }
    }

    /// An HTTP probe of `path` from --http-probe that passed (200) or not (500).
    pub fn probe(ok: bool, path: &str) -> ProbeResult {
        ProbeResult {
            kind: ProbeKind::Http,
            target: path.into(),
            port: None,
            code: if ok { 200 } else { 500 },
            ok,
            millis: 1,
            origin: Origin::Flag,
            entry: None,
            name: None,
            request: None,
            expected: "status 2xx".into(),
            got: format!("status {}", if ok { 200 } else { 500 }),
            body_sha256: None,
            key: format!("GET {path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::{Limits, Reduction};

    fn report_with(gates: Vec<gates::Gate>) -> Report {
        let run = crate::engine::RunOptions::default();
        let mut r = assemble::observed(assemble::Observation {
            command: "build",
            engine: crate::engine::EngineKind::Docker,
            source: ImageRef {
                image: "app:1".into(),
                id: String::new(),
                size_bytes: 0,
            },
            trace: Default::default(),
            outcome: crate::session::Outcome {
                trace: None,
                probes: Vec::new(),
                replay: Vec::new(),
                crawl: None,
                exit_code: None,
                stopped_by: "slim",
                stop: None,
            },
            seccomp: Seccomp {
                families: true,
                argument_filters: true,
            },
            run: &run,
            project: None,
            timings_ms: Default::default(),
        });
        r.gates = gates;
        r
    }

    #[test]
    fn the_first_failed_gate_decides_the_exit_status() {
        let limits = Limits {
            max_size: Some(10_000_000),
            min_reduction: Some(Reduction { factor: 10.0 }),
            max_growth: Some(("base.json".into(), 5.0)),
        };
        let code = |source, result, base| {
            let r = report_with(gates::check(&limits, source, result, Some(base)));
            verdict(&r)
                .err()
                .map(|e| (exit::code_of(&e), e.to_string()))
        };
        assert_eq!(code(100_000_000, 10_000_000, 10_000_000), None);
        // All three fail: max-size is checked first.
        let (status, line) = code(100_000_000, 50_000_000, 10_000_000).unwrap();
        assert_eq!(status, exit::MAX_SIZE);
        assert!(
            line.starts_with("gate max-size: the slim image is 50.0 MB"),
            "{line}"
        );
        // Under the size limit, but not small enough, and grown.
        let (status, line) = code(50_000_000, 9_000_000, 8_000_000).unwrap();
        assert_eq!(status, exit::MIN_REDUCTION);
        assert!(line.starts_with("gate min-reduction: "), "{line}");
        let (status, _) = code(1_000_000_000, 9_000_000, 8_000_000).unwrap();
        assert_eq!(status, exit::MAX_GROWTH);
        assert!(
            verdict(&report_with(Vec::new())).is_ok(),
            "no gates asked for"
        );
    }
}
