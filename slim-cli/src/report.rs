//! DIR/report.json and the short human summary printed at the end of a run.
use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::Result;
use serde::Serialize;
use slim_probe::{EventStats, FileRecord, Process};

use crate::probes::ProbeResult;

#[derive(Debug, Serialize)]
pub struct Report {
    /// The version of docs/report.schema.json this report follows; it
    /// changes only when a field changes meaning or goes away.
    pub schema_version: u32,
    pub slim_version: &'static str,
    pub command: &'static str,
    /// The engine that ran the containers.
    pub engine: crate::engine::EngineKind,
    pub source: ImageRef,
    /// The minimal image; null for `slim profile`.
    pub result: Option<ImageRef>,
    pub files: Vec<FileRecord>,
    /// Syscalls the container made under its seccomp filter.
    pub syscalls: Vec<String>,
    pub seccomp: SeccompSummary,
    pub events: EventStats,
    pub processes: Vec<Process>,
    pub probes: Vec<ProbeResult>,
    pub container: ContainerSummary,
    /// `slim build`: every path in the minimal image and why it is there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptPath>,
    /// `slim build`: where the minimal image was written besides TAG.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// `slim build`: the keep mode and what each rule added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<KeepSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerSummary>,
    /// `slim build`: packages carried and removed, and the SBOMs written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<PackagesSummary>,
    /// `slim build`: the CI gates asked for and how each went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<crate::gates::Gate>,
    /// `slim build --verify`: the probes replayed on the minimal image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Vec<ProbeResult>>,
    /// --http-crawl: the limits and the pages visited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crawl: Option<crate::probes::crawl::Summary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
    /// Peak resident memory of slim itself, in bytes (getrusage).
    pub peak_rss_bytes: u64,
    /// How the container was run beyond the image's config (--env names,
    /// mounts and the paths used under them, network, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<crate::engine::run_options::RunSummary>,
    /// Env values given to the container: [`write_report`] replaces any
    /// that the trace carried (in a path, a program name) by `<NAME>`.
    #[serde(skip)]
    pub secrets: Vec<(String, String)>,
    /// --compose-file/--service: the project, its dependencies and what
    /// slim ignored of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose: Option<ComposeSummary>,
    /// The platform of an image index that was used (--platform,
    /// --all-platforms), or of a foreign image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// A foreign platform: how it ran under emulation and what that
    /// changed in the trace and the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulation: Option<crate::emulation::Summary>,
}

/// Writes DIR/report.json, with every env value the container was given
/// replaced by its name: they are often secrets, and the trace may carry
/// one (a file named after a token, a program's path).
pub fn write_report(dir: &Path, report: &Report) -> Result<()> {
    write_json(dir, "report.json", &scrubbed(report)?)
}

/// The report as JSON with the env values scrubbed (for --json too).
pub fn scrubbed(report: &Report) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(report)?;
    if !report.secrets.is_empty() {
        scrub(&mut value, &report.secrets);
    }
    Ok(value)
}

/// Replaces each secret value (longest first) in every string of `v`.
pub fn scrub(v: &mut serde_json::Value, secrets: &[(String, String)]) {
    use serde_json::Value;
    let fix = |s: &str| -> Option<String> {
        let mut out: Option<String> = None;
        for (name, secret) in secrets {
            let cur = out.as_deref().unwrap_or(s);
            if cur.contains(secret.as_str()) {
                out = Some(cur.replace(secret.as_str(), &format!("<{name}>")));
            }
        }
        out
    };
    match v {
        Value::String(s) => {
            if let Some(n) = fix(s) {
                *s = n;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, secrets)),
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().filter(|k| fix(k).is_some()).cloned().collect();
            for k in keys {
                if let Some(x) = m.remove(&k) {
                    m.insert(fix(&k).unwrap_or(k), x);
                }
            }
            m.values_mut().for_each(|x| scrub(x, secrets));
        }
        _ => {}
    }
}

/// The report's schema version (docs/report.schema.json).
pub const SCHEMA_VERSION: u32 = 1;

/// slim's own peak resident set so far.
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_maxrss.max(0) as u64 * 1024
}

#[derive(Debug, Serialize)]
pub struct KeptPath {
    pub path: String,
    pub reason: crate::rebuild::closure::Reason,
    /// The keep-rule (or `import:LANG`) that brought it in, directly or as
    /// a dependency of what it kept; `trace` for the trace's own closure,
    /// `include` for --include-path/--include-bin/--include-shell.
    pub rule: Option<String>,
    /// The file whose import kept it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// `slim build`: the source's packages, and those the slim image no longer
/// carries (not one of their files kept).
#[derive(Debug, Serialize)]
pub struct PackagesSummary {
    /// Packages in the source image (OS and language).
    pub source: usize,
    /// Packages with at least one file in the slim image.
    pub carried: usize,
    pub removed: Vec<RemovedPackage>,
    /// Files kept that no package owns (the app's own), and their bytes.
    pub app_files: usize,
    pub app_bytes: u64,
    /// SBOMs written (DIR/sbom.cdx.json, DIR/sbom.spdx.json).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sboms: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RemovedPackage {
    pub name: String,
    pub version: String,
    pub ecosystem: crate::rebuild::inventory::Ecosystem,
}

#[derive(Debug, Serialize)]
pub struct KeepSummary {
    /// "minimal" or "safe".
    pub mode: &'static str,
    /// The package database read to tell the app from the distribution.
    pub packages: crate::rebuild::packages::Manager,
    /// Per rule: the paths and bytes of regular files it added (each file
    /// counted for the first rule that kept it).
    pub rules: BTreeMap<String, crate::rebuild::closure::RuleUse>,
    /// Bytes of regular files kept by rules and imports, all together.
    pub rule_bytes: u64,
    /// Bytes of the files the container opened or executed, with their ELF
    /// closure: no file-level selection goes below it.
    pub lower_bound_bytes: u64,
    /// Files written empty because they were only listed (minimal mode).
    pub placeholders: usize,
    /// Entries of listed directories left out (safe mode): modules on a
    /// language's search path that nothing imports or names.
    pub listed_dropped: usize,
    /// Imports no file of the image provides (`file: module`); a
    /// dependency an app declares that is not installed is `file: declared
    /// dependency NAME (MANIFEST)`.
    pub unresolved_imports: Vec<String>,
    /// How many of `unresolved_imports` are declared dependencies.
    pub declared_missing: usize,
    /// Imports a resolver deliberately did not follow (`file: module`):
    /// Python's standard library tooling imported inside functions, Ruby's
    /// tooling loaded lazily by its own library.
    pub not_followed_imports: Vec<String>,
    /// Source files the language resolvers parsed (safe mode).
    pub parsed_files: usize,
    /// How many of those the parse cache answered from an earlier build.
    pub parsed_from_cache: usize,
}

#[derive(Debug, Serialize)]
pub struct LayerSummary {
    /// sha256 of the uncompressed layer (its diff ID).
    pub digest: String,
    pub size_bytes: u64,
    pub entries: usize,
}

#[derive(Debug, Serialize)]
pub struct ImageRef {
    pub image: String,
    pub id: String,
    pub size_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct SeccompSummary {
    pub file: &'static str,
    /// The same allow list with defaultAction SCMP_ACT_LOG.
    pub audit_file: &'static str,
    /// "families" or "strict".
    pub mode: &'static str,
    pub arch: &'static str,
    /// Everything the profile allows: observed, the runtime base, families.
    pub allowed: Vec<String>,
    /// Allowed only as the sibling of an observed syscall: name -> family.
    pub by_family: BTreeMap<String, String>,
    /// Allowed because a fired keep-rule names it: name -> rule.
    pub by_rule: BTreeMap<String, String>,
    pub runtime_base: &'static str,
    /// Whether argument filters were drawn (`--seccomp-args`).
    pub argument_filters: bool,
    /// The argument-filtered syscalls the profile allows, with the values
    /// seen and the rule drawn from them.
    pub arguments: Vec<crate::seccomp::ArgSummary>,
    /// The argument values the probe saw, by syscall: what `arguments` is
    /// drawn from (written there, not twice).
    #[serde(skip)]
    pub seen_arguments: BTreeMap<String, std::collections::BTreeSet<u64>>,
    /// false for a foreign platform's profile, drawn from what emulation
    /// showed (`unverified` says why); absent when the syscalls were the
    /// app's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ContainerSummary {
    pub exit_code: Option<i64>,
    pub stopped_by: &'static str,
    /// How slim stopped it: signal, graceful or killed, why, how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<crate::engine::StopRecord>,
}

/// Writes DIR/NAME as pretty JSON, streamed into a temporary file in DIR
/// and renamed into place: a failure (a full disk) leaves the old file or
/// none, never a truncated one, and the error names the path.
pub fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let path = dir.join(name);
    crate::atomic::write_atomically(&path, |out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        std::io::Write::write_all(out, b"\n")?;
        Ok(())
    })
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A few lines for a person: what was probed, kept and allowed, and how long.
pub fn summary(r: &Report, dir: &Path, total: Duration) -> String {
    let mut s = String::new();
    let ok_files = r.files.iter().filter(|f| f.ok).count();
    match &r.result {
        Some(res) => s.push_str(&format!(
            "{} ({}) -> {} ({}, {:.1}x smaller)\n",
            r.source.image,
            mb(r.source.size_bytes),
            res.image,
            mb(res.size_bytes),
            r.source.size_bytes as f64 / res.size_bytes.max(1) as f64
        )),
        None => s.push_str(&format!(
            "{} ({})\n",
            r.source.image,
            mb(r.source.size_bytes)
        )),
    }
    if let Some(e) = &r.emulation {
        s.push_str(&format!(
            "platform {} under emulation ({}): {} of the emulator's own paths left out of the trace\n",
            e.platform, e.binfmt, e.filtered_paths
        ));
        s.push_str(&format!(
            "seccomp.json ({}) is UNVERIFIED: drawn from the emulator's {} syscalls, not the app's; \
             test it on a real {} host (docs/platforms.md)\n",
            r.seccomp.arch, e.host_arch, e.platform
        ));
    }
    s.push_str(&format!(
        "files used: {} ({} found, {} missing); processes: {}; probes passed: {}\n",
        r.files.len(),
        ok_files,
        r.files.len() - ok_files,
        r.processes.len(),
        r.probes.len()
    ));
    if let Some(layer) = &r.layer {
        s.push_str(&format!(
            "paths kept in the image: {} ({})\n",
            layer.entries,
            mb(layer.size_bytes)
        ));
    }
    if let Some(p) = &r.packages {
        if !p.removed.is_empty() {
            let names: Vec<&str> = p.removed.iter().take(5).map(|r| r.name.as_str()).collect();
            let more = if p.removed.len() > names.len() {
                ", ..."
            } else {
                ""
            };
            s.push_str(&format!(
                "packages no longer carried: {} of {} ({}{more})\n",
                p.removed.len(),
                p.source,
                names.join(", ")
            ));
        }
    }
    if let Some(k) = &r.keep {
        let mut by: Vec<(&String, &crate::rebuild::closure::RuleUse)> = k
            .rules
            .iter()
            .filter(|(n, u)| u.bytes > 0 && *n != "trace" && *n != "include")
            .collect();
        by.sort_by_key(|(_, u)| std::cmp::Reverse(u.bytes));
        let parts: Vec<String> = by
            .iter()
            .map(|(n, u)| format!("{n} {}", mb(u.bytes)))
            .collect();
        s.push_str(&format!(
            "keep {}: lower bound {} (files opened or run, with their libraries); rules and imports added {}{}\n",
            k.mode,
            mb(k.lower_bound_bytes),
            mb(k.rule_bytes),
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        ));
    }
    if r.container.stopped_by == "itself" {
        if let Some(code) = r.container.exit_code.filter(|c| *c != 0) {
            s.push_str(&format!(
                "note: the app exited by itself with code {code}\n"
            ));
        }
    }
    match &r.verify {
        Some(v) if v.is_empty() => s.push_str(
            "verified: no probes to replay; the minimal image started under the profile\n",
        ),
        Some(v) => s.push_str(&format!(
            "verified: {} probes pass on the minimal image under the profile\n",
            v.len()
        )),
        None => {}
    }
    if !r.gates.is_empty() {
        let each: Vec<String> = r
            .gates
            .iter()
            .map(|g| {
                let verdict = if g.passed { "passed" } else { "FAILED" };
                format!("{} {} (limit {}) {verdict}", g.name, g.value, g.limit)
            })
            .collect();
        s.push_str(&format!("gates: {}\n", each.join("; ")));
    }
    s.push_str(&format!(
        "syscalls observed: {}; allowed by the profile: {}; events lost: {}\n",
        r.syscalls.len(),
        r.seccomp.allowed.len(),
        r.events.dropped
    ));
    let steps: Vec<String> = r
        .timings_ms
        .iter()
        .map(|(k, v)| format!("{k} {:.2}s", *v as f64 / 1e3))
        .collect();
    s.push_str(&format!(
        "time: {:.2}s ({})\n",
        total.as_secs_f64(),
        steps.join(", ")
    ));
    s.push_str(&format!(
        "wrote {0}/report.json, {0}/seccomp.json ({1}) and {0}/seccomp-audit.json",
        dir.display(),
        r.seccomp.mode
    ));
    s
}

#[derive(Debug, Serialize)]
pub struct ComposeSummary {
    pub project: String,
    pub service: String,
    pub files: Vec<String>,
    /// In start order.
    pub dependencies: Vec<ComposeDependency>,
    /// Keys of the file slim does not act on, like `services.app.build`.
    pub ignored: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ComposeDependency {
    pub service: String,
    pub image: Option<String>,
    /// What it waited for before it started.
    pub depends_on: BTreeMap<String, crate::compose::Condition>,
}

impl ComposeSummary {
    pub fn of(p: &crate::compose::Project) -> Self {
        let dependencies = p
            .dependencies
            .iter()
            .map(|d| ComposeDependency {
                service: d.name.clone(),
                image: d.image.clone(),
                depends_on: d.depends_on.iter().cloned().collect(),
            })
            .collect();
        Self {
            project: p.name.clone(),
            service: p.target.name.clone(),
            files: p.files.iter().map(|f| f.display().to_string()).collect(),
            dependencies,
            ignored: p.ignored.clone(),
        }
    }
}

#[cfg(test)]
mod scrub_tests {
    #[test]
    fn env_values_are_scrubbed_from_every_string_and_key() {
        let mut v = serde_json::json!({
            "files": [{"path": "/tmp/tok-abcdef123/x"}],
            "abcdef123": 1, "n": 5, "ok": "fine"
        });
        super::scrub(&mut v, &[("TOKEN".into(), "abcdef123".into())]);
        let s = v.to_string();
        assert!(!s.contains("abcdef123"), "{s}");
        assert_eq!(v["files"][0]["path"], "/tmp/tok-<TOKEN>/x");
        assert_eq!(v["<TOKEN>"], 1);
    }
}
