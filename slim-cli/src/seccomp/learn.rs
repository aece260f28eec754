//! The profile side of the audit-to-enforce loop (`slim learn`; the rest
//! is in crate::learn): how the syscalls the audit records show are merged
//! into a profile ([`merge`]) with a change per syscall that a person
//! reviews before enforcing it.
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
