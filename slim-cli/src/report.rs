//! DIR/report.json and the short human summary printed at the end of a run.
use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::{Context, Result};
use serde::Serialize;
use slim_probe::{EventStats, FileRecord, Process};

use crate::probes::ProbeResult;

#[derive(Debug, Serialize)]
pub struct Report {
    pub slim_version: &'static str,
    pub command: &'static str,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerSummary>,
    /// `slim build --verify`: the probes replayed on the minimal image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Vec<ProbeResult>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct KeptPath {
    pub path: String,
    pub reason: crate::rebuild::closure::Reason,
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
    pub arch: &'static str,
    /// Everything the profile allows: observed plus the runtime base.
    pub allowed: Vec<String>,
    pub runtime_base: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ContainerSummary {
    pub exit_code: Option<i64>,
    pub stopped_by: &'static str,
}

pub fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let path = dir.join(name);
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
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
    if let Some(v) = &r.verify {
        s.push_str(&format!(
            "verified: {} probes pass on the minimal image under the profile\n",
            v.len()
        ));
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
        "wrote {}/report.json and {}/seccomp.json",
        dir.display(),
        dir.display()
    ));
    s
}
