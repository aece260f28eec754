//! What a learn found ([`Outcome`]): the audit records of a [`Log`]
//! sorted ([`learn`]) into the ones of the slim image's containers, per
//! syscall with who made the calls, and the ones left out, counted by
//! reason; and the profile with the learned syscalls merged in.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{
    attribution::{self, Caller, Host, Scope, Verdict},
    logs::Log,
    time,
};
use crate::seccomp::{
    audit::{self, Line, Losses, Record},
    learn::{self, Change, JsonProfile},
};

/// DIR/seccomp-learned.json, and `--json`'s output.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub containers: Vec<Scope>,
    pub records: Counts,
    pub lost: Losses,
    /// One row per syscall the records showed.
    pub syscalls: Vec<Row>,
    /// Whether DIR's profiles were rewritten.
    pub written: bool,
    pub files: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    /// Seccomp audit records in the source.
    pub seccomp: u64,
    /// Of those, made by an audit profile's default action (SCMP_ACT_LOG).
    pub logged: u64,
    /// Of those, the slim image's.
    pub learned_from: u64,
    /// Records not used, by reason.
    pub left_out: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub syscall: String,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    pub calls: u64,
    pub callers: Vec<Caller>,
}

/// How to learn: plain data from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only records since (seconds since the epoch).
    pub since: Option<f64>,
    /// Leave out syscalls the profile restricts by argument.
    pub keep_argument_filters: bool,
    /// Write nothing (the outcome says so).
    pub dry_run: bool,
}

/// Sorts the lines of `log` (read from the source `source` describes)
/// against the profile `before`, keeping the records of `scopes` (every
/// audit profile's record with none), and merges what they show into a
/// copy of `before`, returned with the outcome. `argument_values` says in
/// words what the profile's argument rules allowed (for the diff).
pub fn learn(
    log: &Log,
    source: String,
    before: &JsonProfile,
    argument_values: &BTreeMap<String, String>,
    scopes: Vec<Scope>,
    options: &Options,
    host: &impl Host,
) -> (Outcome, JsonProfile) {
    let since = options.since;
    let window_start = since.or_else(|| {
        scopes
            .iter()
            .map(|s| s.started - attribution::SLACK_SECONDS)
            .reduce(f64::min)
    });
    let mut counts = Counts::default();
    let mut serials = BTreeSet::new();
    let mut seen: BTreeMap<String, Vec<Caller>> = BTreeMap::new();
    let left = |why: &'static str, counts: &mut Counts| {
        *counts.left_out.entry(why).or_default() += 1;
    };
    for line in &log.lines {
        let (rec, time, serial) = match audit::parse_line(line) {
            None => continue,
            Some(Line::OtherAudit { time, serial }) => (None, time, serial),
            Some(Line::Seccomp(r)) => {
                let (t, s) = (r.time, r.serial);
                (Some(r), t, s)
            }
        };
        let in_window = match (window_start, time) {
            (Some(start), Some(t)) => t >= start,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if let (true, Some(s)) = (in_window, serial) {
            serials.insert(s);
        }
        let Some(r) = rec else { continue };
        counts.seccomp += 1;
        if !r.logged_by_audit_profile() {
            left("other action (not an audit profile's log)", &mut counts);
            continue;
        }
        counts.logged += 1;
        let Some(name) = r.syscall_name() else {
            left(unnamed(&r, before), &mut counts);
            continue;
        };
        if !arch_in_profile(&r, before) {
            left("architecture not in the profile", &mut counts);
            continue;
        }
        match attribution::attribute(&r, &scopes, since, host) {
            Verdict::Claimed { container, by } => {
                counts.learned_from += 1;
                attribution::add_caller(seen.entry(name).or_default(), &r, container, by);
            }
            Verdict::OutsideWindow => left("outside the window", &mut counts),
            Verdict::OtherProcess => left("another process", &mut counts),
            Verdict::NoTime => left("no time stamp", &mut counts),
        }
    }
    let lost = Losses {
        serials_skipped: audit::serials_skipped(&serials),
        log_overwritten: log.overwritten_before(window_start),
    };

    let names: BTreeSet<String> = seen.keys().cloned().collect();
    let mut after = before.clone();
    let merged = learn::merge(
        &mut after,
        &names,
        options.keep_argument_filters,
        argument_values,
    );
    let rows: Vec<Row> = merged
        .into_iter()
        .map(|(syscall, m)| {
            let callers = seen.remove(&syscall).unwrap_or_default();
            Row {
                calls: callers.iter().map(|c| c.calls).sum(),
                syscall,
                change: m.change,
                was: m.was,
                callers,
            }
        })
        .collect();
    let changed = rows.iter().any(|r| r.change.changes_profile());
    let outcome = Outcome {
        source,
        since: since.map(time::rfc3339),
        containers: scopes,
        records: counts,
        lost,
        syscalls: rows,
        written: changed && !options.dry_run,
        files: Vec::new(),
    };
    (outcome, after)
}

/// Why a logged record names no syscall slim can add.
fn unnamed(r: &Record, profile: &JsonProfile) -> &'static str {
    if !arch_in_profile(r, profile) {
        "architecture not in the profile"
    } else if r.compat {
        "32-bit (compat) call"
    } else {
        "unknown syscall number"
    }
}

fn arch_in_profile(r: &Record, profile: &JsonProfile) -> bool {
    match r.arch.seccomp() {
        Some(a) => profile.architectures.is_empty() || profile.architectures.iter().any(|p| p == a),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_that_cannot_be_added_say_why() {
        let profile: JsonProfile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"]
        }))
        .unwrap();
        let line = "audit: type=1326 audit(1.0:1): pid=1 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e syscall=9999 compat=0 ip=0x1 code=0x7ffc0000";
        let rec = |l: &str| match audit::parse_line(l) {
            Some(Line::Seccomp(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(unnamed(&rec(line), &profile), "unknown syscall number");
        let compat = line.replace("compat=0", "compat=1");
        assert_eq!(unnamed(&rec(&compat), &profile), "32-bit (compat) call");
        for arch in ["c00000b7", "40000003"] {
            let other = line.replace("c000003e", arch);
            assert_eq!(
                unnamed(&rec(&other), &profile),
                "architecture not in the profile"
            );
            assert!(!arch_in_profile(&rec(&other), &profile));
        }
        assert!(arch_in_profile(&rec(line), &profile));
    }
}
