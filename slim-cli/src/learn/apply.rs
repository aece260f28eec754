//! The artifacts directory a learn reads and rewrites: its profile and
//! report as they were ([`Artifacts`]), and the learned profile with what
//! follows from it ([`write`], [`write_learned`]), each file written
//! atomically so an interrupted learn leaves the old one or the new one.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use super::{time, Outcome};
use crate::{
    atomic, report,
    seccomp::{
        learn::{Change, JsonProfile},
        spo,
    },
};

/// DIR's seccomp.json and report.json as a learn found them.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    /// seccomp.json as it was (kept as seccomp.previous.json).
    pub text: String,
    pub profile: JsonProfile,
    /// report.json, if there is one that parses.
    pub report: Option<serde_json::Value>,
}

impl Artifacts {
    pub fn read(dir: &Path) -> Result<Self> {
        let profile_path = dir.join("seccomp.json");
        let text = std::fs::read_to_string(&profile_path).with_context(|| {
            format!(
                "cannot read {} (run slim build or slim profile with --artifacts {} first)",
                profile_path.display(),
                dir.display()
            )
        })?;
        let profile: JsonProfile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a seccomp profile (defaultAction, syscalls)",
                profile_path.display()
            )
        })?;
        let report = std::fs::read_to_string(dir.join("report.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        Ok(Artifacts {
            dir: dir.to_path_buf(),
            text,
            profile,
            report,
        })
    }

    /// What each argument-filtered syscall's rules allowed, in words.
    pub fn argument_values(&self) -> BTreeMap<String, String> {
        argument_values(self.report.as_ref())
    }
}

/// What [`write`] wrote, and what it could not carry over.
#[derive(Debug, Default)]
pub struct Written {
    /// Names in DIR.
    pub files: Vec<String>,
    pub warnings: Vec<String>,
}

/// Writes the new profile `after` to `artifacts`' directory with what
/// follows from it (the previous profile kept, the audit profile, the
/// operator's SeccompProfile when there was one or the report names the
/// image, report.json noting the learn), each file atomically.
pub fn write(artifacts: &Artifacts, after: &JsonProfile, outcome: &Outcome) -> Result<Written> {
    let dir = &artifacts.dir;
    let previous = &artifacts.text;
    let report = artifacts.report.clone();
    let mut warnings = Vec::new();
    let put = |name: &str, bytes: &[u8]| {
        atomic::write_atomically(&dir.join(name), |out| {
            out.write_all(bytes)?;
            Ok(())
        })
    };
    put("seccomp.previous.json", previous.as_bytes())?;
    let json = serde_json::to_string_pretty(after)? + "\n";
    put("seccomp.json", json.as_bytes())?;
    report::write_json(dir, "seccomp-audit.json", &after.audit())?;
    let mut files = vec![
        "seccomp.json".to_string(),
        "seccomp.previous.json".into(),
        "seccomp-audit.json".into(),
    ];
    let yaml_path = dir.join("seccomp-profile.yaml");
    let existing = std::fs::read_to_string(&yaml_path).ok();
    let image = report.as_ref().and_then(|r| {
        r["result"]["image"]
            .as_str()
            .or(r["source"]["image"].as_str())
            .map(str::to_string)
    });
    if existing.is_some() || image.is_some() {
        let dropped: usize = after
            .syscalls
            .iter()
            .filter(|r| r.other.keys().any(|k| k != "comment"))
            .count();
        if dropped > 0 {
            warnings.push(format!(
                "seccomp-profile.yaml: {dropped} rule(s) of seccomp.json have includes/excludes, which the operator's SeccompProfile has not: written without them"
            ));
        }
        let yaml = spo::updated_seccomp_profile(
            existing.as_deref(),
            after,
            image.as_deref().unwrap_or("image"),
        )?;
        put("seccomp-profile.yaml", yaml.as_bytes())?;
        files.push("seccomp-profile.yaml".into());
    }
    if let Some(mut r) = report {
        note_in_report(&mut r, after, outcome);
        report::write_json(dir, "report.json", &r)?;
        files.push("report.json".into());
    }
    files.extend(["seccomp-learned.txt".into(), "seccomp-learned.json".into()]);
    Ok(Written { files, warnings })
}

/// DIR/seccomp-learned.txt (the diff as printed) and .json (the outcome),
/// after [`write`].
pub fn write_learned(dir: &Path, diff: &str, outcome: &Outcome) -> Result<()> {
    atomic::write_atomically(&dir.join("seccomp-learned.txt"), |out| {
        out.write_all(diff.as_bytes())?;
        Ok(())
    })?;
    report::write_json(dir, "seccomp-learned.json", outcome)
}

/// report.json's `seccomp` after a learn: `allowed` as the profile now
/// is, argument rules that gave way, and the learn itself.
pub fn note_in_report(r: &mut serde_json::Value, after: &JsonProfile, outcome: &Outcome) {
    let Some(sec) = r.get_mut("seccomp").and_then(|s| s.as_object_mut()) else {
        return;
    };
    sec.insert("allowed".into(), serde_json::json!(after.allowed()));
    let reason = "slim learn: the audit profile logged calls outside the values seen, and its records carry no arguments";
    for row in &outcome.syscalls {
        if !matches!(row.change, Change::Relaxed | Change::AddedAnyArguments) {
            continue;
        }
        let args = sec
            .entry("arguments")
            .or_insert_with(|| serde_json::json!([]));
        let Some(list) = args.as_array_mut() else {
            continue;
        };
        let entry = match list
            .iter_mut()
            .find(|a| a["syscall"] == row.syscall.as_str())
        {
            Some(e) => e,
            None => {
                let meaning = slim_probe::arg_syscalls::by_name(&row.syscall)
                    .map_or("arguments", |a| a.meaning);
                list.push(
                    serde_json::json!({"syscall": row.syscall, "argument": meaning, "seen": []}),
                );
                list.last_mut().expect("just pushed")
            }
        };
        if let Some(e) = entry.as_object_mut() {
            e.insert("rule".into(), "name".into());
            e.remove("allowed");
            e.remove("denied");
            e.insert("reason".into(), reason.into());
        }
    }
    let of = |change: &[Change]| -> Vec<&str> {
        outcome
            .syscalls
            .iter()
            .filter(|r| change.contains(&r.change))
            .map(|r| r.syscall.as_str())
            .collect()
    };
    let learned = sec
        .entry("learned")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = learned.as_array_mut() {
        list.push(serde_json::json!({
            "at": time::rfc3339(time::now()),
            "source": outcome.source,
            "records": outcome.records.learned_from,
            "added": of(&[Change::Added, Change::AddedAnyArguments, Change::ErrnoRuleReplaced]),
            "relaxed": of(&[Change::Relaxed]),
        }));
    }
}

/// From report.json, what each argument-filtered syscall's rules allowed,
/// in words, for the diff ("only AF_INET/SOCK_STREAM, ...").
pub fn argument_values(report: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(list) = report.and_then(|r| r["seccomp"]["arguments"].as_array()) else {
        return out;
    };
    let names = |v: &serde_json::Value| -> String {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    for a in list {
        let Some(s) = a["syscall"].as_str() else {
            continue;
        };
        let words = match a["rule"].as_str() {
            Some("values") => format!("only {}", names(&a["allowed"])),
            Some("except") => format!("any but {}", names(&a["denied"])),
            _ => continue,
        };
        out.insert(s.to_string(), words);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        learn::{Counts, Row},
        seccomp::audit::Losses,
    };

    #[test]
    fn the_report_learns_the_new_allow_list_and_the_relaxed_rules() {
        let mut r = serde_json::json!({"seccomp": {"allowed": ["read"], "arguments": [
            {"syscall": "socket", "argument": "domain and type", "seen": [], "rule": "values",
             "allowed": [{"value": 2, "name": "AF_INET/SOCK_STREAM"}]}]}});
        assert_eq!(
            argument_values(Some(&r))["socket"],
            "only AF_INET/SOCK_STREAM"
        );
        let after: JsonProfile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "socket", "unshare"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        let row = |s: &str, change| Row {
            syscall: s.into(),
            change,
            was: None,
            calls: 1,
            callers: Vec::new(),
        };
        let o = Outcome {
            source: "f".into(),
            since: None,
            containers: Vec::new(),
            records: Counts::default(),
            lost: Losses::default(),
            syscalls: vec![
                row("socket", Change::Relaxed),
                row("unshare", Change::AddedAnyArguments),
            ],
            written: true,
            files: Vec::new(),
        };
        note_in_report(&mut r, &after, &o);
        let sec = &r["seccomp"];
        assert_eq!(
            sec["allowed"],
            serde_json::json!(["read", "socket", "unshare"])
        );
        assert_eq!(sec["arguments"][0]["rule"], "name");
        assert!(sec["arguments"][0].get("allowed").is_none());
        assert_eq!(sec["arguments"][1]["syscall"], "unshare");
        assert_eq!(sec["learned"][0]["relaxed"], serde_json::json!(["socket"]));
        assert_eq!(sec["learned"][0]["added"], serde_json::json!(["unshare"]));
    }
}
