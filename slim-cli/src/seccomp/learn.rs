//! The audit-to-enforce loop's logic (`slim learn`): which seccomp audit
//! records belong to the slim image's containers ([`attribute`]), and how
//! the syscalls they show are merged into a profile ([`merge`]) with a
//! change per syscall that a person reviews before enforcing it.
//!
//! The profile is read as JSON and changed in place, so a profile edited
//! by hand keeps its other rules and fields. A learned syscall is added by
//! name, exactly as the records show it (no family siblings: the diff is
//! the evidence). The records carry no arguments, so a syscall that the
//! profile allowed only with some argument values, and that the audit
//! profile logged anyway, is then allowed with any arguments ("relaxed"),
//! unless `--keep-argument-filters` leaves it to the reviewer.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::audit::Record;

pub const ALLOW: &str = "SCMP_ACT_ALLOW";

/// A Docker/OCI seccomp profile, as much as `learn` needs to read and
/// change; every other field is kept as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonProfile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<JsonRule>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Docker's older one-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<JsonArg>,
    /// comment, includes, excludes (Docker's conditions on capabilities
    /// and architectures).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One argument condition, in Docker's field order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonArg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl JsonRule {
    fn mentions(&self, syscall: &str) -> bool {
        self.names.iter().any(|n| n == syscall) || self.name.as_deref() == Some(syscall)
    }

    fn forget(&mut self, syscall: &str) {
        self.names.retain(|n| n != syscall);
        if self.name.as_deref() == Some(syscall) {
            self.name = None;
        }
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty() && self.name.is_none()
    }

    /// Allows its names whatever the arguments, capabilities or arch.
    fn allows_unconditionally(&self) -> bool {
        self.action == ALLOW
            && self.args.is_empty()
            && !self.other.contains_key("includes")
            && !self.other.contains_key("excludes")
    }
}

impl JsonProfile {
    /// The same rules in audit mode: what they do not allow is allowed and
    /// logged by the kernel (a rule that would now repeat the default
    /// action is dropped: runc refuses those).
    pub fn audit(&self) -> JsonProfile {
        let mut p = self.clone();
        p.default_action = "SCMP_ACT_LOG".into();
        p.default_errno_ret = None;
        p.syscalls.retain(|r| r.action != p.default_action);
        p
    }

    /// Every name some ALLOW rule lists, sorted.
    pub fn allowed(&self) -> Vec<String> {
        let names: BTreeSet<String> = self
            .syscalls
            .iter()
            .filter(|r| r.action == ALLOW)
            .flat_map(|r| r.names.iter().cloned().chain(r.name.clone()))
            .collect();
        names.into_iter().collect()
    }
}

/// What a learned syscall did to the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Allowed by name, as it was not before.
    Added,
    /// Added by name, and it is one slim restricts by argument: allowed
    /// with any arguments, since the records carry none.
    AddedAnyArguments,
    /// Was allowed only with some argument values; now with any.
    Relaxed,
    /// Was answered an errno by a rule of its own (clone3's ENOSYS); now
    /// allowed.
    ErrnoRuleReplaced,
    /// The profile allows it already (a record of another profile).
    AlreadyAllowed,
    /// Not changed: `--keep-argument-filters`.
    LeftOut,
}

impl Change {
    /// The diff's mark: + added, ~ changed, = nothing to do, - left out.
    pub fn mark(self) -> char {
        match self {
            Change::Added => '+',
            Change::AddedAnyArguments | Change::Relaxed | Change::ErrnoRuleReplaced => '~',
            Change::AlreadyAllowed => '=',
            Change::LeftOut => '-',
        }
    }

    pub fn changes_profile(self) -> bool {
        !matches!(self, Change::AlreadyAllowed | Change::LeftOut)
    }
}

/// What the profile said of a syscall before, for the diff: the argument
/// rules it had (by their values' names where the report has them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Merged {
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
}

/// Allows `syscalls` in `profile` by name. `arg_values` names, per
/// syscall, the argument values its rules allowed (from report.json), for
/// the diff.
pub fn merge(
    profile: &mut JsonProfile,
    syscalls: &BTreeSet<String>,
    keep_argument_filters: bool,
    arg_values: &BTreeMap<String, String>,
) -> BTreeMap<String, Merged> {
    let mut out = BTreeMap::new();
    for s in syscalls {
        let merged = merge_one(profile, s, keep_argument_filters, arg_values);
        out.insert(s.clone(), merged);
    }
    profile.syscalls.retain(|r| !r.is_empty());
    if let Some(r) = profile
        .syscalls
        .iter_mut()
        .find(|r| r.allows_unconditionally())
    {
        r.names.sort();
        r.names.dedup();
    }
    out
}

fn merge_one(
    profile: &mut JsonProfile,
    s: &str,
    keep_argument_filters: bool,
    arg_values: &BTreeMap<String, String>,
) -> Merged {
    let rules: Vec<usize> = (0..profile.syscalls.len())
        .filter(|&i| profile.syscalls[i].mentions(s))
        .collect();
    let merged = |change, was: Option<String>| Merged { change, was };
    if rules
        .iter()
        .any(|&i| profile.syscalls[i].allows_unconditionally())
    {
        return merged(Change::AlreadyAllowed, None);
    }
    let conditional: Vec<usize> = rules
        .iter()
        .copied()
        .filter(|&i| profile.syscalls[i].action == ALLOW)
        .collect();
    let errno: Option<u32> = rules
        .iter()
        .find(|&&i| profile.syscalls[i].action != ALLOW)
        .map(|&i| profile.syscalls[i].errno_ret.unwrap_or(1));
    let restricted_by_slim = slim_probe::arg_syscalls::by_name(s).is_some();
    let (change, was) = if !conditional.is_empty() {
        let was = arg_values.get(s).cloned().unwrap_or_else(|| {
            format!(
                "{} argument rule{}",
                conditional.len(),
                if conditional.len() == 1 { "" } else { "s" }
            )
        });
        (Change::Relaxed, Some(was))
    } else if let Some(e) = errno {
        (
            Change::ErrnoRuleReplaced,
            Some(format!("answered errno {e} by a rule of its own")),
        )
    } else if restricted_by_slim {
        (Change::AddedAnyArguments, None)
    } else {
        (Change::Added, None)
    };
    let argument_change = matches!(change, Change::Relaxed | Change::AddedAnyArguments);
    if keep_argument_filters && argument_change {
        return merged(Change::LeftOut, was);
    }
    for i in rules {
        profile.syscalls[i].forget(s);
    }
    match profile
        .syscalls
        .iter_mut()
        .find(|r| r.allows_unconditionally())
    {
        Some(r) => r.names.push(s.to_string()),
        None => profile.syscalls.insert(
            0,
            JsonRule {
                names: vec![s.to_string()],
                name: None,
                action: ALLOW.into(),
                errno_ret: None,
                args: Vec::new(),
                other: Map::new(),
            },
        ),
    }
    merged(change, was)
}

/// Who made a learned syscall: one executable (as the process saw its
/// path) in one container, with the pids and calls seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// How the records were tied to the container: `pid` (a process of
    /// it), `exe` (the process has exited; its executable is in the
    /// container), `time` (no container named, or it has stopped).
    pub attributed_by: &'static str,
    pub pids: BTreeSet<u32>,
    pub calls: u64,
}

/// A container whose records count, as the engine and /proc describe it.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub name: String,
    pub id: String,
    pub running: bool,
    /// Seconds since the epoch (the window's start: --since, if given).
    #[serde(serialize_with = "as_rfc3339")]
    pub started: f64,
    /// When it stopped (None: it runs).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "option_as_rfc3339"
    )]
    pub finished: Option<f64>,
    /// Its mount namespace, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnt_ns: Option<u64>,
    /// The host pid of its init, while it runs.
    #[serde(skip)]
    pub pid: Option<u32>,
}

/// Seconds since the epoch as RFC 3339, to the millisecond.
pub fn rfc3339(t: f64) -> String {
    chrono::DateTime::from_timestamp_micros((t * 1e6) as i64)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| t.to_string())
}

fn as_rfc3339<S: serde::Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn option_as_rfc3339<S: serde::Serializer>(t: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => as_rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// Records a few seconds outside a container's start and finish still
/// count: the engine stamps those times around the runtime's work.
pub const SLACK_SECONDS: f64 = 2.0;

/// What attribution needs of the host (a seam for the tests).
pub trait Host {
    /// The mount namespace of the process `pid`, if it exists and already
    /// existed at `time` (a pid reused since is another process).
    fn mnt_ns_at(&self, pid: u32, time: f64) -> Option<u64>;
    /// Whether `exe` exists in the running container `scope`'s filesystem.
    fn has_exe(&self, scope: &Scope, exe: &str) -> bool;
}

/// Whose record it is, or why it is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Claimed {
        container: Option<String>,
        by: &'static str,
    },
    /// Before --since, or outside every container's lifetime.
    OutsideWindow,
    /// Made by a process of another container (or of the host).
    OtherProcess,
    /// The line has no time, and a window applies.
    NoTime,
}

/// Whether record `r` is the slim image's: with no container named, every
/// record since `since`; else a record within a container's lifetime made
/// by one of its processes (still alive), or, once that process exited, by
/// an executable the running container holds, or by anything when the
/// container has stopped (then only the time ties it).
pub fn attribute(r: &Record, scopes: &[Scope], since: Option<f64>, host: &impl Host) -> Verdict {
    let windowed = since.is_some() || !scopes.is_empty();
    let Some(t) = r.time else {
        return if windowed {
            Verdict::NoTime
        } else {
            Verdict::Claimed {
                container: None,
                by: "time",
            }
        };
    };
    if since.is_some_and(|s| t < s) {
        return Verdict::OutsideWindow;
    }
    if scopes.is_empty() {
        return Verdict::Claimed {
            container: None,
            by: "time",
        };
    }
    let mut in_window = false;
    let alive = host.mnt_ns_at(r.pid, t);
    for s in scopes {
        let end = s.finished.unwrap_or(f64::INFINITY);
        if t < s.started - SLACK_SECONDS || t > end + SLACK_SECONDS {
            continue;
        }
        in_window = true;
        let claim = |by| Verdict::Claimed {
            container: Some(s.name.clone()),
            by,
        };
        match (alive, s.mnt_ns) {
            (Some(ns), Some(own)) if ns == own => return claim("pid"),
            // A live process elsewhere: not this container's.
            (Some(_), _) => continue,
            (None, _) if !s.running => return claim("time"),
            (None, _) => {
                if r.exe.as_deref().is_some_and(|e| host.has_exe(s, e)) {
                    return claim("exe");
                }
            }
        }
    }
    if in_window {
        Verdict::OtherProcess
    } else {
        Verdict::OutsideWindow
    }
}

/// Adds one claimed record to the callers of its syscall.
pub fn add_caller(
    callers: &mut Vec<Caller>,
    r: &Record,
    container: Option<String>,
    by: &'static str,
) {
    let found = callers.iter_mut().find(|c| {
        c.exe == r.exe && c.comm == r.comm && c.container == container && c.attributed_by == by
    });
    match found {
        Some(c) => {
            c.calls += 1;
            c.pids.insert(r.pid);
        }
        None => callers.push(Caller {
            exe: r.exe.clone(),
            comm: r.comm.clone(),
            container,
            attributed_by: by,
            pids: [r.pid].into(),
            calls: 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::audit::{RecordArch, Syscall, RET_LOG};

    fn slim_profile() -> JsonProfile {
        // A profile as slim writes it, with argument filters.
        let drawn = crate::seccomp::profile(
            &["read".into(), "socket".into(), "getpid".into()],
            Some(&[("socket".to_string(), [2u64 | 1 << 32].into_iter().collect())].into()),
            "SCMP_ARCH_X86_64",
            false,
        );
        serde_json::from_value(serde_json::to_value(drawn.profile).unwrap()).unwrap()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_and_writes_a_profile_unchanged() {
        let p = slim_profile();
        let json = serde_json::to_value(&p).unwrap();
        let again: JsonProfile = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(again, p);
        assert_eq!(json["defaultErrnoRet"], 1);
        // Fields learn does not know are kept.
        let docker = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "io",
                          "includes": {"caps": ["CAP_SYS_ADMIN"]}}]
        });
        let p: JsonProfile = serde_json::from_value(docker.clone()).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), docker);
    }

    #[test]
    fn adds_a_missing_syscall_by_name_and_sorted() {
        let mut p = slim_profile();
        let before = p.allowed();
        let m = merge(
            &mut p,
            &set(&["getpriority", "read"]),
            false,
            &BTreeMap::new(),
        );
        assert_eq!(m["getpriority"].change, Change::Added);
        assert_eq!(m["read"].change, Change::AlreadyAllowed);
        let names = &p.syscalls[0].names;
        assert!(names.contains(&"getpriority".to_string()));
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(&sorted, names);
        assert_eq!(p.allowed().len(), before.len() + 1);
    }

    #[test]
    fn an_argument_filtered_syscall_logged_anyway_is_relaxed_and_flagged() {
        let mut p = slim_profile();
        assert!(p
            .syscalls
            .iter()
            .any(|r| r.mentions("socket") && !r.args.is_empty()));
        let values = [("socket".to_string(), "only AF_INET/SOCK_STREAM".to_string())].into();
        let mut kept = p.clone();
        let m = merge(&mut kept, &set(&["socket"]), true, &values);
        assert_eq!(m["socket"].change, Change::LeftOut);
        assert_eq!(kept, p, "--keep-argument-filters changes nothing");
        let m = merge(&mut p, &set(&["socket"]), false, &values);
        assert_eq!(m["socket"].change, Change::Relaxed);
        assert_eq!(m["socket"].was.as_deref(), Some("only AF_INET/SOCK_STREAM"));
        assert!(p
            .syscalls
            .iter()
            .all(|r| !r.mentions("socket") || r.args.is_empty()));
        assert!(p.syscalls[0].names.contains(&"socket".to_string()));
        // A restricted syscall the profile did not have at all: any
        // arguments, flagged.
        let m = merge(&mut p, &set(&["unshare"]), false, &BTreeMap::new());
        assert_eq!(m["unshare"].change, Change::AddedAnyArguments);
        assert_eq!(m["unshare"].change.mark(), '~');
    }

    #[test]
    fn clone3s_enosys_rule_gives_way() {
        let mut p = slim_profile();
        assert!(p.syscalls.iter().any(|r| r.mentions("clone3")));
        let m = merge(&mut p, &set(&["clone3"]), false, &BTreeMap::new());
        assert_eq!(m["clone3"].change, Change::ErrnoRuleReplaced);
        let rules: Vec<_> = p.syscalls.iter().filter(|r| r.mentions("clone3")).collect();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allows_unconditionally());
    }

    #[test]
    fn a_profile_without_an_allow_rule_gets_one() {
        let mut p: JsonProfile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]
        }))
        .unwrap();
        merge(&mut p, &set(&["getrusage"]), false, &BTreeMap::new());
        assert_eq!(p.syscalls[0].names, ["getrusage"]);
        assert!(p.syscalls[0].allows_unconditionally());
    }

    #[test]
    fn the_audit_profile_logs_and_keeps_the_rules() {
        let mut p = slim_profile();
        merge(&mut p, &set(&["getpriority"]), false, &BTreeMap::new());
        let a = p.audit();
        assert_eq!(a.default_action, "SCMP_ACT_LOG");
        assert_eq!(a.default_errno_ret, None);
        assert_eq!(a.syscalls, p.syscalls);
        assert_eq!(a.allowed(), p.allowed());
    }

    struct FakeHost {
        live: BTreeMap<u32, (u64, f64)>,
        files: BTreeSet<&'static str>,
    }

    impl Host for FakeHost {
        fn mnt_ns_at(&self, pid: u32, time: f64) -> Option<u64> {
            self.live
                .get(&pid)
                .filter(|(_, started)| *started <= time)
                .map(|(ns, _)| *ns)
        }
        fn has_exe(&self, _: &Scope, exe: &str) -> bool {
            self.files.contains(exe)
        }
    }

    fn rec(pid: u32, time: f64, exe: &str) -> Record {
        Record {
            time: Some(time),
            serial: Some(1),
            pid,
            comm: None,
            exe: Some(exe.into()),
            arch: RecordArch::Known(slim_probe::Arch::X86_64),
            compat: false,
            syscall: Syscall::Number(140),
            code: RET_LOG,
        }
    }

    fn scope(running: bool) -> Scope {
        Scope {
            name: "web".into(),
            id: "abc".into(),
            running,
            started: 1000.0,
            finished: (!running).then_some(2000.0),
            mnt_ns: running.then_some(7),
            pid: running.then_some(10),
        }
    }

    #[test]
    fn attributes_by_pid_then_by_exe_and_leaves_out_the_rest() {
        let host = FakeHost {
            // 10 runs in the container, 11 in another one, 12 is a pid
            // reused after the record.
            live: [(10, (7, 900.0)), (11, (8, 900.0)), (12, (7, 1600.0))].into(),
            files: ["/learn-server"].into(),
        };
        let scopes = [scope(true)];
        let claim = |by| Verdict::Claimed {
            container: Some("web".into()),
            by,
        };
        let v = |r: &Record| attribute(r, &scopes, None, &host);
        assert_eq!(v(&rec(10, 1500.0, "/learn-server")), claim("pid"));
        assert_eq!(v(&rec(11, 1500.0, "/learn-server")), Verdict::OtherProcess);
        // Exited (or reused since): the executable must be the container's.
        assert_eq!(v(&rec(99, 1500.0, "/learn-server")), claim("exe"));
        assert_eq!(v(&rec(12, 1500.0, "/learn-server")), claim("exe"));
        assert_eq!(v(&rec(99, 1500.0, "/usr/bin/other")), Verdict::OtherProcess);
        assert_eq!(v(&rec(10, 900.0, "/learn-server")), Verdict::OutsideWindow);
        assert_eq!(v(&rec(10, 999.0, "/learn-server")), claim("pid"), "slack");
        let mut no_time = rec(10, 0.0, "/x");
        no_time.time = None;
        assert_eq!(v(&no_time), Verdict::NoTime);
        // --since cuts first.
        assert_eq!(
            attribute(
                &rec(10, 1500.0, "/learn-server"),
                &scopes,
                Some(1600.0),
                &host
            ),
            Verdict::OutsideWindow
        );
    }

    #[test]
    fn a_stopped_container_claims_by_time_and_no_container_claims_everything() {
        let host = FakeHost {
            live: [(11, (8, 900.0))].into(),
            files: BTreeSet::new(),
        };
        let stopped = [scope(false)];
        assert_eq!(
            attribute(&rec(99, 1500.0, "/x"), &stopped, None, &host),
            Verdict::Claimed {
                container: Some("web".into()),
                by: "time"
            }
        );
        assert_eq!(
            attribute(&rec(99, 2500.0, "/x"), &stopped, None, &host),
            Verdict::OutsideWindow
        );
        assert_eq!(
            attribute(&rec(11, 1500.0, "/x"), &stopped, None, &host),
            Verdict::OtherProcess,
            "a process that still lives was not the stopped container's"
        );
        assert_eq!(
            attribute(&rec(11, 1500.0, "/x"), &[], Some(1000.0), &host),
            Verdict::Claimed {
                container: None,
                by: "time"
            }
        );
    }

    #[test]
    fn callers_group_by_executable() {
        let mut callers = Vec::new();
        add_caller(&mut callers, &rec(10, 1.0, "/a"), Some("web".into()), "pid");
        add_caller(&mut callers, &rec(11, 1.0, "/a"), Some("web".into()), "pid");
        add_caller(&mut callers, &rec(12, 1.0, "/b"), Some("web".into()), "exe");
        assert_eq!(callers.len(), 2);
        assert_eq!(callers[0].calls, 2);
        assert_eq!(callers[0].pids, [10, 11].into());
    }
}
