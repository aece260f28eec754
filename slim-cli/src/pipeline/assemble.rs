//! Report assembly: what each step's output adds to report.json, as pure
//! functions of plain data (the trace, the session's outcome, the
//! selection, the layer written, the package inventory).
use std::collections::BTreeMap;

use slim_probe::Trace;

use super::{plan::Seccomp, select::Selected};
use crate::{
    compose::Project,
    engine::{EngineKind, RunOptions},
    rebuild::{closure::Selection, inventory, layer::LayerStats, packages::Manager},
    report::{
        self, ContainerSummary, ImageRef, KeepSummary, KeptPath, LayerSummary, PackagesSummary,
        RemovedPackage, Report, SeccompSummary,
    },
    seccomp,
    session::Outcome,
};

/// What the watched run produced, and how it was asked for.
pub struct Observation<'a> {
    pub command: &'static str,
    pub engine: EngineKind,
    pub source: ImageRef,
    pub trace: Trace,
    /// The session's outcome (its trace taken out).
    pub outcome: Outcome,
    pub seccomp: Seccomp,
    /// The options the container ran with.
    pub run: &'a RunOptions,
    pub project: Option<&'a Project>,
    pub timings_ms: BTreeMap<String, u64>,
}

/// The report of a watched run, before its profile is drawn
/// (`write::profiles` fills `seccomp.allowed` and the rest).
pub fn observed(o: Observation<'_>) -> Report {
    let Observation {
        command,
        engine,
        source,
        trace,
        outcome,
        seccomp: plan,
        run,
        project,
        timings_ms,
    } = o;
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        slim_version: env!("CARGO_PKG_VERSION"),
        command,
        engine,
        source,
        result: None,
        files: trace.files,
        syscalls: trace.syscalls,
        seccomp: SeccompSummary {
            file: "seccomp.json",
            audit_file: "seccomp-audit.json",
            mode: if plan.families { "families" } else { "strict" },
            arch: trace.arch,
            allowed: Vec::new(),
            by_family: Default::default(),
            by_rule: Default::default(),
            runtime_base: seccomp::RUNTIME_BASE_VERSION,
            argument_filters: plan.argument_filters,
            arguments: Vec::new(),
            seen_arguments: trace.arguments,
            verified: None,
            unverified: None,
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
        timings_ms,
        peak_rss_bytes: report::peak_rss_bytes(),
        run: None,
        secrets: run.secret_values(),
        compose: project.map(report::ComposeSummary::of),
        platform: None,
        emulation: None,
    };
    let used: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    report.run = Some(run.summary(&used));
    report
}

/// Every kept path and why.
pub fn kept_paths(selection: &Selection) -> Vec<KeptPath> {
    selection
        .kept
        .iter()
        .map(|(p, k)| KeptPath {
            path: p.clone(),
            reason: k.reason,
            rule: Some(k.rule.as_deref().unwrap_or("trace").to_string()),
            from: k.from.as_deref().map(str::to_string),
        })
        .collect()
}

/// The keep mode and what each rule added; takes the selection's rule
/// uses and unresolved imports.
pub fn keep_summary(
    mode: &'static str,
    selection: &mut Selection,
    stats: &LayerStats,
) -> KeepSummary {
    let rules = std::mem::take(&mut selection.rules);
    KeepSummary {
        mode,
        packages: selection.packages.unwrap_or(Manager::None),
        rule_bytes: rules
            .iter()
            .filter(|(name, _)| *name != "include")
            .map(|(_, u)| u.bytes)
            .sum(),
        lower_bound_bytes: selection.lower_bound_bytes,
        placeholders: stats.placeholders,
        listed_dropped: selection.listed_dropped,
        rules,
        declared_missing: selection
            .unresolved_imports
            .iter()
            .filter(|u| crate::rebuild::imports::is_declared_missing(u))
            .count(),
        unresolved_imports: std::mem::take(&mut selection.unresolved_imports),
        not_followed_imports: std::mem::take(&mut selection.not_followed_imports),
        parsed_files: selection.parsed.files,
        parsed_from_cache: selection.parsed.from_cache,
    }
}

pub fn layer_summary(digest: String, size_bytes: u64, stats: &LayerStats) -> LayerSummary {
    LayerSummary {
        digest,
        size_bytes,
        entries: stats.entries,
    }
}

/// The packages the slim image still carries, by index into the inventory.
pub fn carried(selected: &Selected) -> Vec<&inventory::Package> {
    selected
        .split
        .kept
        .iter()
        .map(|&i| &selected.inventory.packages[i])
        .collect()
}

/// Packages carried and removed, the app's own files, the SBOMs written.
pub fn packages_summary(selected: &Selected, sboms: Vec<String>) -> PackagesSummary {
    let (app, inventory) = (&selected.app, &selected.inventory);
    PackagesSummary {
        source: inventory.packages.len(),
        carried: selected.split.kept.len(),
        removed: selected
            .split
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
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use slim_probe::{Access, EventStats};

    use super::*;
    use crate::{
        engine::{Mount, MountKind},
        pipeline::testing::{probe, record},
        rebuild::{
            closure::{Kept, Reason, RuleUse},
            inventory::{Ecosystem, Inventory, Package, Split},
            rootfs::LayerStack,
        },
    };

    const SECRET: &str = "tok-5ecret-value";

    fn observation<'a>(run: &'a RunOptions, project: Option<&'a Project>) -> Observation<'a> {
        Observation {
            command: "profile",
            engine: EngineKind::Docker,
            source: ImageRef {
                image: "app:1".into(),
                id: "sha256:src".into(),
                size_bytes: 100_000_000,
            },
            trace: Trace {
                files: vec![
                    record("/app/main.py", &[Access::Open], true),
                    record("/etc/app.conf", &[Access::Open], true),
                    record(&format!("/tmp/{SECRET}.lock"), &[Access::Create], true),
                ],
                syscalls: vec!["openat".into(), "read".into()],
                arch: "x86_64",
                events: EventStats {
                    received: 7,
                    ..Default::default()
                },
                ..Default::default()
            },
            outcome: Outcome {
                trace: None,
                probes: vec![probe(true, "/")],
                replay: Vec::new(),
                crawl: None,
                exit_code: Some(0),
                stopped_by: "slim",
                stop: None,
            },
            seccomp: Seccomp {
                families: false,
                argument_filters: true,
            },
            run,
            project,
            timings_ms: [("probe".to_string(), 5)].into(),
        }
    }

    fn run() -> RunOptions {
        RunOptions {
            env: vec![
                ("API_TOKEN".into(), SECRET.into()),
                ("N".into(), "1".into()),
            ],
            mounts: vec![Mount {
                kind: MountKind::Bind,
                source: Some("/host/app.conf".into()),
                target: "/etc/app.conf".into(),
                read_only: true,
            }],
            networks: vec![crate::engine::Network {
                name: "appnet".into(),
                aliases: Vec::new(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_observed_report_names_the_run_but_holds_no_secret() {
        let run = run();
        let r = observed(observation(&run, None));
        assert_eq!((r.command, r.source.image.as_str()), ("profile", "app:1"));
        assert!(r.result.is_none());
        assert_eq!(r.seccomp.mode, "strict");
        assert!(r.seccomp.argument_filters);
        assert_eq!(r.events.received, 7);
        assert_eq!(r.container.stopped_by, "slim");
        assert_eq!(r.probes.len(), 1);
        assert_eq!(r.timings_ms["probe"], 5);
        assert!(r.compose.is_none());
        let summary = r.run.as_ref().unwrap();
        assert_eq!(summary.env_names, ["API_TOKEN", "N"]);
        assert_eq!(summary.network.as_deref(), Some("appnet"));
        assert_eq!(summary.mounts[0].files, ["/etc/app.conf"]);
        // The value is in the trace (a file named after it), never in the
        // report as written; "1" is too short to be worth scrubbing.
        assert_eq!(r.secrets, [("API_TOKEN".to_string(), SECRET.to_string())]);
        let json = report::scrubbed(&r).unwrap().to_string();
        assert!(!json.contains(SECRET), "{json}");
        assert!(json.contains("/tmp/<API_TOKEN>.lock"), "{json}");
    }

    #[test]
    fn the_profile_is_drawn_from_the_report_and_written_beside_it() {
        let run = run();
        let mut r = observed(observation(&run, None));
        let dir = tempfile::tempdir().unwrap();
        let by_rule: BTreeMap<String, String> = [
            ("read".to_string(), "python".to_string()),
            ("mremap".to_string(), "python".to_string()),
        ]
        .into();
        let json = crate::pipeline::write::profiles(dir.path(), &mut r, &by_rule, "app:1").unwrap();
        let written = std::fs::read_to_string(dir.path().join("seccomp.json")).unwrap();
        assert_eq!(written, format!("{json}\n"));
        for name in [
            "seccomp-audit.json",
            "seccomp-profile.yaml",
            "profile-binding.yaml",
        ] {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        for s in ["openat", "read", "mremap", "exit_group"] {
            assert!(r.seccomp.allowed.iter().any(|a| a == s), "{s} allowed");
        }
        // Only what the trace did not show is said to come from a rule.
        assert_eq!(
            r.seccomp.by_rule,
            BTreeMap::from([("mremap".to_string(), "python".to_string())])
        );
    }

    #[test]
    fn a_compose_run_is_summarized() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yml");
        std::fs::write(
            &file,
            "name: shop\nservices:\n  app: {image: app:1, depends_on: [db], restart: always}\n  db: {image: pg}\n",
        )
        .unwrap();
        let project = crate::compose::load(&[file], "app").unwrap();
        let run = RunOptions::default();
        let r = observed(observation(&run, Some(&project)));
        let c = r.compose.as_ref().unwrap();
        assert_eq!((c.project.as_str(), c.service.as_str()), ("shop", "app"));
        assert_eq!(c.dependencies[0].service, "db");
        assert_eq!(c.ignored, ["services.app.restart"]);
    }

    fn package(name: &str, files: &[&str]) -> Package {
        Package {
            name: name.into(),
            version: "1".into(),
            ecosystem: Ecosystem::Deb,
            arch: None,
            license: None,
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn what_the_build_adds_to_the_report() {
        let kept = |reason, rule: Option<&str>| Kept {
            reason,
            rule: rule.map(Arc::from),
            from: None,
        };
        let mut selection = Selection {
            kept: [
                ("/app/main.py".to_string(), kept(Reason::Touched, None)),
                (
                    "/etc/ssl".to_string(),
                    kept(Reason::Rule, Some("ca-certificates")),
                ),
            ]
            .into(),
            rules: [
                (
                    "include".to_string(),
                    RuleUse {
                        paths: 1,
                        bytes: 10,
                    },
                ),
                (
                    "ca-certificates".to_string(),
                    RuleUse { paths: 2, bytes: 5 },
                ),
            ]
            .into(),
            lower_bound_bytes: 12,
            unresolved_imports: vec![
                "main.py: missing".into(),
                "main.py: declared dependency gone (/app/requirements.txt)".into(),
            ],
            ..Default::default()
        };
        let paths = kept_paths(&selection);
        assert_eq!(paths[0].rule.as_deref(), Some("trace"));
        assert_eq!(paths[1].rule.as_deref(), Some("ca-certificates"));
        let stats = LayerStats {
            entries: 4,
            file_bytes: 17,
            placeholders: 1,
        };
        let keep = keep_summary("safe", &mut selection, &stats);
        assert_eq!(keep.rule_bytes, 5, "--include's bytes are not a rule's");
        assert_eq!(keep.packages, Manager::None);
        assert_eq!((keep.placeholders, keep.lower_bound_bytes), (1, 12));
        assert_eq!(keep.unresolved_imports[0], "main.py: missing");
        assert_eq!(keep.declared_missing, 1);
        assert_eq!(layer_summary("sha256:l".into(), 99, &stats).entries, 4);

        let t = tempfile::tempdir().unwrap();
        let selected = Selected {
            fs: LayerStack::new(vec![t.path().to_path_buf()]),
            selection,
            inventory: Inventory {
                distro: None,
                packages: vec![package("libc6", &["/lib/libc.so.6"]), package("perl", &[])],
            },
            split: Split {
                kept: vec![0],
                removed: vec![1],
                app_files: vec!["/app/main.py".into()],
            },
            app: vec![("/app/main.py".into(), 12)],
        };
        assert_eq!(carried(&selected)[0].name, "libc6");
        let p = packages_summary(&selected, vec!["out/sbom.cdx.json".into()]);
        assert_eq!(
            (p.source, p.carried, p.app_files, p.app_bytes),
            (2, 1, 1, 12)
        );
        assert_eq!(p.removed[0].name, "perl");
        assert_eq!(p.sboms, ["out/sbom.cdx.json"]);
    }
}
