//! Writes a Docker/OCI seccomp profile that allows exactly the observed
//! syscalls, plus a small versioned set the container runtime may still call
//! after installing the filter and `exit`/`exit_group`, without which a
//! container hangs at exit.
//!
//! With argument filters (the default), the syscalls whose arguments decide
//! what they can do (`slim_probe::arg_syscalls`) are allowed only with the
//! values the probe saw: one rule per value, compared under a mask that
//! covers exactly the bits the kernel reads (an int argument's low 32 bits),
//! so set high bits cannot slip past a rule. See [`arg_rules`].
use std::collections::BTreeSet;

use std::collections::BTreeMap;

pub mod audit;
pub mod learn;
pub mod spo;

/// The seccomp profile as an OCI artifact (Kubernetes KEP-6061's config
/// media type, the profile's JSON as its one layer), attached to a registry
/// output's manifest as a referrer.
pub fn oci_artifact(profile: &[u8]) -> crate::image::registry::Referrer<'_> {
    crate::image::registry::Referrer {
        artifact_type: OCI_CONFIG_TYPE,
        config: b"{}",
        config_type: OCI_CONFIG_TYPE,
        layer: profile,
        layer_type: "application/json",
        title: "seccomp.json",
    }
}

pub const OCI_CONFIG_TYPE: &str = "application/vnd.cncf.seccomp-profile.config.v1+json";

/// The image label Podman reads the profile from with
/// `podman run --seccomp-policy=image` (the profile's JSON).
pub const IMAGE_LABEL: &str = "io.containers.seccomp.profile";

use serde::{Deserialize, Serialize};
use slim_probe::{
    arg_syscalls::{self, ArgSyscall, Reduce, LOW32, PROT_WX, RISKY_IOCTLS, SOCK_TYPE_MASK},
    Arch,
};

/// The runtimes of rules/runtime-base.toml, joined: recorded in the report
/// (checked against the file by a unit test).
pub const RUNTIME_BASE_VERSION: &str = "runc-1+crun-1";

/// What the container runtimes call after installing the filter, per
/// runtime, as shipped (docs/seccomp.md, "Runtimes").
const RUNTIME_BASE: &str = include_str!("../../rules/runtime-base.toml");

/// One runtime's post-filter calls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub name: String,
    /// Which runtime and version the set was taken from.
    pub runtime: String,
    pub syscalls: Vec<String>,
    /// The prctl options it calls (allowed beside the app's own ones).
    pub prctl: Vec<u64>,
}

#[derive(Debug, Deserialize)]
struct RuntimeFile {
    runtime: Vec<Runtime>,
}

pub fn runtimes() -> Vec<Runtime> {
    // Checked by a unit test: the shipped table always parses.
    toml::from_str::<RuntimeFile>(RUNTIME_BASE)
        .map(|f| f.runtime)
        .unwrap_or_default()
}

/// Every runtime's post-filter syscalls (and exit/exit_group, without
/// which a container hangs at exit).
pub fn runtime_base() -> BTreeSet<String> {
    let mut all: BTreeSet<String> = runtimes().into_iter().flat_map(|r| r.syscalls).collect();
    all.extend(["exit".to_string(), "exit_group".to_string()]);
    all
}

/// Every runtime's prctl options, allowed with the app's own when prctl
/// is filtered by argument, even if a run did not show them.
pub fn runtime_prctl() -> BTreeSet<u64> {
    runtimes().into_iter().flat_map(|r| r.prctl).collect()
}

/// `--seccomp-args`: argument filters in the profile, or names only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArgFilters {
    On,
    Off,
}

/// More distinct values than this and a syscall is allowed by name alone:
/// a long list of exact values is a sign the app computes them (and would
/// break on one the probe did not see), and each rule costs every call.
pub const MAX_VALUES: usize = 16;

/// ENOSYS: what Docker's default profile answers to clone3, so glibc falls
/// back to clone; EPERM instead would make thread creation fail.
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

/// The syscall families of `--seccomp families`, as shipped.
const FAMILIES: &str = include_str!("../../rules/syscall-families.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Family {
    name: String,
    syscalls: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct FamilyFile {
    family: Vec<Family>,
}

fn families() -> Vec<Family> {
    // Checked by a unit test: the shipped table always parses.
    toml::from_str::<FamilyFile>(FAMILIES)
        .map(|f| f.family)
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<&'static str>,
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub names: Vec<String>,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Conditions, all of which must hold (Docker's `args`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
}

/// One argument condition: `SCMP_CMP_MASKED_EQ` is true when
/// `arg & value == value_two`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    pub value_two: u64,
    pub op: &'static str,
}

fn masked_eq(index: u8, mask: u64, value: u64) -> Arg {
    Arg {
        index: index.into(),
        value: mask,
        value_two: value & mask,
        op: "SCMP_CMP_MASKED_EQ",
    }
}

/// How one argument-filtered syscall ended up in the profile, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ArgSummary {
    pub syscall: String,
    /// What the values are ("domain and type", "namespace flags", ...).
    pub argument: &'static str,
    /// The values the probe saw (as recorded: see `arg_syscalls`).
    pub seen: Vec<SeenValue>,
    /// `values`: allowed with the values listed in `allowed` only;
    /// `except`: allowed with any value but those in `denied`;
    /// `name`: allowed whatever the arguments (`reason` says why).
    pub rule: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<SeenValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<SeenValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenValue {
    pub value: u64,
    pub name: String,
}

/// A profile and what drew it.
#[derive(Debug)]
pub struct Drawn {
    pub profile: Profile,
    /// Syscalls allowed only because a family member was observed, with
    /// the family's name.
    pub by_family: BTreeMap<String, String>,
    /// The argument-filtered syscalls the profile allows (empty with
    /// argument filters off).
    pub arguments: Vec<ArgSummary>,
}

/// Where the `syscalls` crate names a syscall otherwise than libseccomp,
/// with whose names Docker and runc resolve a profile (runc skips a name
/// it does not know, so that rule would allow nothing): (architecture,
/// the crate's name, libseccomp's). Checked with scmp_sys_resolver 2.5.4.
const LIBSECCOMP_NAMES: &[(&str, &str, &str)] = &[("SCMP_ARCH_AARCH64", "fstatat", "newfstatat")];

/// The profile for `observed` syscall names on `arch` (e.g.
/// SCMP_ARCH_X86_64): observed plus the runtime base, and with
/// `families` every sibling the architecture knows. With `arguments` (the
/// values seen per syscall), argument filters.
pub fn profile(
    observed: &[String],
    arguments: Option<&BTreeMap<String, BTreeSet<u64>>>,
    arch: &'static str,
    families_on: bool,
) -> Drawn {
    let mut allowed: BTreeSet<String> = observed.iter().cloned().collect();
    allowed.extend(runtime_base());
    let mut by_family = BTreeMap::new();
    if families_on {
        let known = |n: &str| Arch::from_seccomp(arch).is_none_or(|a| a.knows(n));
        for f in families() {
            if f.syscalls.iter().any(|s| observed.contains(s)) {
                for s in f.syscalls.iter().filter(|s| known(s)) {
                    if !allowed.contains(s) {
                        by_family.insert(s.clone(), f.name.clone());
                    }
                }
            }
        }
        allowed.extend(by_family.keys().cloned());
    }
    let mut by_name = allowed.clone();
    let mut restricted = Vec::new();
    let mut arguments_drawn = Vec::new();
    if let Some(seen) = arguments {
        let empty = BTreeSet::new();
        for row in arg_syscalls::ARG_SYSCALLS.iter() {
            if !allowed.contains(row.name) {
                continue;
            }
            let values = seen.get(row.name).unwrap_or(&empty);
            let drawn = arg_rules(row, values);
            if drawn.summary.rule != "name" {
                by_name.remove(row.name);
                restricted.extend(drawn.rules);
            }
            arguments_drawn.push(drawn.summary);
        }
    }
    let mut rules = vec![Rule {
        names: by_name.iter().cloned().collect(),
        action: "SCMP_ACT_ALLOW",
        errno_ret: None,
        args: Vec::new(),
    }];
    rules.extend(restricted);
    if !allowed.contains("clone3") {
        rules.push(Rule {
            names: vec!["clone3".into()],
            action: "SCMP_ACT_ERRNO",
            errno_ret: Some(ENOSYS),
            args: Vec::new(),
        });
    }
    for r in &mut rules {
        for n in &mut r.names {
            if let Some((_, _, s)) = LIBSECCOMP_NAMES
                .iter()
                .find(|(a, c, _)| *a == arch && c == n)
            {
                *n = s.to_string();
            }
        }
        r.names.sort();
        r.names.dedup();
    }
    let mut profile = Profile {
        default_action: "SCMP_ACT_ERRNO",
        default_errno_ret: Some(EPERM),
        architectures: vec![arch],
        syscalls: rules,
    };
    // runc refuses (or silently skips) a rule whose action is the
    // default's: none is written.
    profile.syscalls.retain(|r| {
        !(r.action == profile.default_action && r.errno_ret == profile.default_errno_ret)
    });
    Drawn {
        profile,
        by_family,
        arguments: arguments_drawn,
    }
}

/// The rules of one argument-filtered syscall and what the report says.
struct ArgDrawn {
    rules: Vec<Rule>,
    summary: ArgSummary,
}

/// The rules allowing `row`'s syscall with the values `seen`:
/// - a value syscall (socket, clone, unshare, setns, personality, prctl):
///   one rule per value seen; clone without values (allowed as a sibling of
///   fork) creates no namespace, and prctl adds the runtime's options
///   (`runtime_prctl`); none seen otherwise, or more than `MAX_VALUES`: the
///   name alone;
/// - ioctl: every request but the `RISKY_IOCTLS` not seen;
/// - mmap, mprotect, pkey_mprotect: any protection but PROT_WRITE with
///   PROT_EXEC, unless that was seen.
fn arg_rules(row: &ArgSyscall, seen: &BTreeSet<u64>) -> ArgDrawn {
    let named = |v: &u64| SeenValue {
        value: *v,
        name: value_name(row, *v),
    };
    let mut summary = ArgSummary {
        syscall: row.name.to_string(),
        argument: row.meaning,
        seen: seen.iter().map(named).collect(),
        rule: "name",
        allowed: Vec::new(),
        denied: Vec::new(),
        reason: None,
    };
    let rule = |args: Vec<Arg>| Rule {
        names: vec![row.name.to_string()],
        action: "SCMP_ACT_ALLOW",
        errno_ret: None,
        args,
    };
    let mut rules = Vec::new();
    match row.reduce {
        Reduce::Masked | Reduce::Socket => {
            let mut values = seen.clone();
            if row.name == "clone" && values.is_empty() {
                values.insert(0);
            }
            if row.name == "prctl" {
                values.extend(runtime_prctl());
            }
            if values.is_empty() {
                summary.reason = Some("allowed without being seen, so no values are known".into());
            } else if values.len() > MAX_VALUES {
                summary.reason = Some(format!(
                    "{} distinct values seen, more than {MAX_VALUES}",
                    values.len()
                ));
            } else {
                for v in &values {
                    rules.push(rule(match row.reduce {
                        Reduce::Socket => vec![
                            masked_eq(row.arg, LOW32, v & LOW32),
                            masked_eq(row.arg + 1, SOCK_TYPE_MASK, v >> 32),
                        ],
                        _ => vec![masked_eq(row.arg, row.mask, *v)],
                    }));
                }
                summary.rule = "values";
                summary.allowed = values.iter().map(named).collect();
            }
        }
        Reduce::Risky | Reduce::AllBits => {
            let excluded: Vec<u64> = match row.reduce {
                Reduce::Risky => RISKY_IOCTLS
                    .iter()
                    .map(|(v, _)| *v)
                    .filter(|v| !seen.contains(v))
                    .collect(),
                _ => [PROT_WX]
                    .into_iter()
                    .filter(|v| !seen.contains(v))
                    .collect(),
            };
            if excluded.is_empty() {
                summary.reason = Some("every restricted value was seen".into());
            } else {
                for (mask, value) in complement(&excluded, row.mask) {
                    rules.push(rule(vec![masked_eq(row.arg, mask, value)]));
                }
                summary.rule = "except";
                summary.denied = excluded.iter().map(named).collect();
            }
        }
    }
    ArgDrawn { rules, summary }
}

/// Masked compares (mask, value) whose union is every `x` with `x & domain`
/// not in `excluded`: seccomp has no masked not-equal, and a plain
/// `SCMP_CMP_NE` compares all 64 bits (a value with a high bit set would be
/// "not equal" and pass) while libseccomp does not AND two compares of the
/// same argument. Walks the bits of `domain` from the top: a prefix no
/// excluded value shares is one rule. At most 32 rules per excluded value.
fn complement(excluded: &[u64], domain: u64) -> Vec<(u64, u64)> {
    fn walk(excluded: &[u64], domain: u64, mask: u64, value: u64, out: &mut Vec<(u64, u64)>) {
        let left: Vec<u64> = excluded
            .iter()
            .copied()
            .filter(|x| x & mask == value)
            .collect();
        if left.is_empty() {
            out.push((mask, value));
            return;
        }
        let rest = domain & !mask;
        if rest == 0 {
            return; // exactly an excluded value
        }
        let bit = 1u64 << (63 - rest.leading_zeros());
        walk(&left, domain, mask | bit, value, out);
        walk(&left, domain, mask | bit, value | bit, out);
    }
    let mut out = Vec::new();
    let excluded: Vec<u64> = excluded.iter().map(|x| x & domain).collect();
    walk(&excluded, domain, 0, 0, &mut out);
    out
}

/// A value's name in the report (AF_INET/SOCK_STREAM, CLONE_NEWUSER, ...).
fn value_name(row: &ArgSyscall, v: u64) -> String {
    let hex = || format!("{v:#x}");
    let lookup = |table: &[(u64, &str)], v: u64| {
        table
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, s)| s.to_string())
            .unwrap_or_else(|| v.to_string())
    };
    match row.name {
        "socket" => format!(
            "{}/{}",
            lookup(names::DOMAINS, v & LOW32),
            lookup(names::TYPES, v >> 32)
        ),
        "clone" | "unshare" | "setns" => {
            let flags: Vec<&str> = names::NAMESPACES
                .iter()
                .filter(|(bit, _)| v & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            let known: u64 = names::NAMESPACES.iter().map(|(b, _)| b).sum();
            match (flags.is_empty(), v & !known) {
                (true, 0) => "none".into(),
                (false, 0) => flags.join("|"),
                _ => hex(),
            }
        }
        "prctl" => lookup(names::PRCTL, v),
        "personality" => lookup(names::PERSONALITY, v),
        "ioctl" => lookup(&RISKY_IOCTLS, v),
        _ if v == PROT_WX => "PROT_WRITE|PROT_EXEC".into(),
        _ => hex(),
    }
}

/// Names for the report (linux uapi headers). Unknown values print as
/// numbers.
mod names {
    pub const DOMAINS: &[(u64, &str)] = &[
        (1, "AF_UNIX"),
        (2, "AF_INET"),
        (10, "AF_INET6"),
        (16, "AF_NETLINK"),
        (17, "AF_PACKET"),
        (38, "AF_ALG"),
        (40, "AF_VSOCK"),
        (44, "AF_XDP"),
    ];
    pub const TYPES: &[(u64, &str)] = &[
        (1, "SOCK_STREAM"),
        (2, "SOCK_DGRAM"),
        (3, "SOCK_RAW"),
        (4, "SOCK_RDM"),
        (5, "SOCK_SEQPACKET"),
        (10, "SOCK_PACKET"),
    ];
    pub const NAMESPACES: &[(u64, &str)] = &[
        (0x80, "CLONE_NEWTIME"),
        (0x2_0000, "CLONE_NEWNS"),
        (0x200_0000, "CLONE_NEWCGROUP"),
        (0x400_0000, "CLONE_NEWUTS"),
        (0x800_0000, "CLONE_NEWIPC"),
        (0x1000_0000, "CLONE_NEWUSER"),
        (0x2000_0000, "CLONE_NEWPID"),
        (0x4000_0000, "CLONE_NEWNET"),
    ];
    pub const PRCTL: &[(u64, &str)] = &[
        (1, "PR_SET_PDEATHSIG"),
        (2, "PR_GET_PDEATHSIG"),
        (3, "PR_GET_DUMPABLE"),
        (4, "PR_SET_DUMPABLE"),
        (8, "PR_SET_KEEPCAPS"),
        (15, "PR_SET_NAME"),
        (16, "PR_GET_NAME"),
        (22, "PR_SET_SECCOMP"),
        (23, "PR_CAPBSET_READ"),
        (24, "PR_CAPBSET_DROP"),
        (36, "PR_SET_CHILD_SUBREAPER"),
        (38, "PR_SET_NO_NEW_PRIVS"),
        (39, "PR_GET_NO_NEW_PRIVS"),
        (47, "PR_CAP_AMBIENT"),
        (0x5356_4d41, "PR_SET_VMA"),
    ];
    pub const PERSONALITY: &[(u64, &str)] = &[
        (0, "PER_LINUX"),
        (8, "PER_LINUX32"),
        (0x2_0000, "UNAME26"),
        (0x40_0000, "READ_IMPLIES_EXEC"),
        (0xffff_ffff, "query"),
    ];
}

impl Profile {
    /// Every syscall name the profile allows (with some arguments at
    /// least), sorted.
    pub fn allowed(&self) -> Vec<String> {
        let names: BTreeSet<String> = self
            .syscalls
            .iter()
            .filter(|r| r.action == "SCMP_ACT_ALLOW")
            .flat_map(|r| r.names.iter().cloned())
            .collect();
        names.into_iter().collect()
    }

    /// The same allow list in audit mode: anything else is allowed and
    /// logged by the kernel, for rolling a profile out before enforcing it.
    pub fn audit(&self) -> Profile {
        Profile {
            default_action: "SCMP_ACT_LOG",
            default_errno_ret: None,
            architectures: self.architectures.clone(),
            syscalls: self.syscalls.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_default_and_allows_observed_plus_base() {
        let p = profile(
            &["syncfs".into(), "read".into()],
            None,
            "SCMP_ARCH_X86_64",
            false,
        )
        .profile;
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        let allowed = p.allowed();
        assert!(allowed.contains(&"syncfs".to_string()));
        assert!(allowed.contains(&"exit_group".to_string()));
        assert!(allowed.contains(&"exit".to_string()));
        assert!(!allowed.contains(&"ptrace".to_string()));
        let mut sorted = allowed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(allowed, sorted, "names are sorted and unique");
    }

    /// Issue #22: an arm64 profile names aarch64's fstatat (79) as
    /// libseccomp does.
    #[test]
    fn aarch64_profiles_use_libseccomps_names() {
        let p = profile(&["fstatat".into()], None, "SCMP_ARCH_AARCH64", true).profile;
        let allowed = p.allowed();
        assert!(allowed.contains(&"newfstatat".to_string()), "{allowed:?}");
        assert!(!allowed.contains(&"fstatat".to_string()), "{allowed:?}");
        let x86 = profile(&["newfstatat".into()], None, "SCMP_ARCH_X86_64", true).profile;
        assert!(x86.allowed().contains(&"newfstatat".to_string()));
    }

    #[test]
    fn the_runtime_table_parses_and_names_known_syscalls() {
        let rt = runtimes();
        let names: Vec<&str> = rt.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.join("+"), RUNTIME_BASE_VERSION);
        for r in &rt {
            for s in &r.syscalls {
                assert!(Arch::X86_64.knows(s), "{}: {s}", r.name);
            }
        }
        let base = runtime_base();
        // crun's identity calls, which runc does not make.
        for s in ["setresuid", "setresgid", "pselect6", "setuid", "exit_group"] {
            assert!(base.contains(s), "{s}");
        }
        assert_eq!(runtime_prctl(), [1, 2, 8, 24, 47].into());
        let p = profile(&[], None, "SCMP_ARCH_X86_64", false).profile;
        assert!(base.iter().all(|s| p.allowed().contains(s)));
    }

    #[test]
    fn clone3_answers_enosys_unless_observed() {
        let p = profile(&[], None, "SCMP_ARCH_X86_64", false).profile;
        let rule = p.syscalls.iter().find(|r| r.names == ["clone3"]).unwrap();
        assert_eq!((rule.action, rule.errno_ret), ("SCMP_ACT_ERRNO", Some(38)));
        let p = profile(&["clone3".into()], None, "SCMP_ARCH_X86_64", false).profile;
        assert!(p.syscalls.iter().all(|r| r.action == "SCMP_ACT_ALLOW"));
    }

    #[test]
    fn serialises_in_docker_field_names() {
        let json =
            serde_json::to_value(profile(&[], None, "SCMP_ARCH_X86_64", false).profile).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["syscalls"][1]["errnoRet"], 38);
        assert!(json["syscalls"][0].get("errnoRet").is_none());
    }

    #[test]
    fn families_allow_siblings_known_to_the_architecture() {
        assert!(families().len() > 30, "the shipped table parses");
        let observed: Vec<String> = ["read", "epoll_wait", "ptrace"].map(String::from).to_vec();
        let x86 = profile(&observed, None, "SCMP_ARCH_X86_64", true);
        let allowed = x86.profile.allowed();
        for s in [
            "pread64",
            "readv",
            "preadv2",
            "epoll_pwait2",
            "epoll_create1",
        ] {
            assert!(allowed.contains(&s.to_string()), "{s}");
        }
        assert_eq!(x86.by_family["pread64"], "read");
        assert!(!x86.by_family.contains_key("read"), "observed is not added");
        assert!(
            !allowed.contains(&"sendmsg".to_string()),
            "no family member observed"
        );
        // aarch64 has no epoll_wait or select: never an unknown name.
        let arm = profile(&observed, None, "SCMP_ARCH_AARCH64", true);
        assert!(!arm.by_family.contains_key("epoll_wait"));
        assert!(arm.by_family.contains_key("epoll_pwait2"));
        let strict = profile(&observed, None, "SCMP_ARCH_X86_64", false);
        assert!(strict.by_family.is_empty());
        assert!(!strict.profile.allowed().contains(&"pread64".to_string()));
    }

    #[test]
    fn audit_profile_logs_instead_of_denying() {
        let p = profile(&["read".into()], None, "SCMP_ARCH_X86_64", true).profile;
        let a = serde_json::to_value(p.audit()).unwrap();
        assert_eq!(a["defaultAction"], "SCMP_ACT_LOG");
        assert!(a.get("defaultErrnoRet").is_none());
        assert_eq!(p.audit().allowed(), p.allowed());
    }

    /// Whether `p` lets `name` through with these arguments, as the kernel
    /// would judge the rules (seccomp_data args are 64-bit).
    fn lets(p: &Profile, name: &str, args: [u64; 6]) -> bool {
        p.syscalls.iter().any(|r| {
            r.action == "SCMP_ACT_ALLOW"
                && r.names.iter().any(|n| n == name)
                && r.args.iter().all(|a| {
                    assert_eq!(a.op, "SCMP_CMP_MASKED_EQ");
                    args[a.index as usize] & a.value == a.value_two
                })
        })
    }

    fn seen(pairs: &[(&str, &[u64])]) -> BTreeMap<String, BTreeSet<u64>> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.iter().copied().collect()))
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const HIGH: u64 = 1 << 32;
    const AF_INET: u64 = 2;
    const AF_PACKET: u64 = 17;
    const SOCK_STREAM: u64 = 1;
    const SOCK_RAW: u64 = 3;
    const NEWUSER: u64 = 0x1000_0000;

    #[test]
    fn complement_covers_everything_but_the_excluded_values() {
        let cases: [(&[u64], u64); 4] = [
            (&[0x5412, 0x541c], LOW32),
            (&[PROT_WX], PROT_WX),
            (&[0], 0xff),
            (&[0x12, 0x34, 0xff], 0xff),
        ];
        for (excluded, domain) in cases {
            let rules = complement(excluded, domain);
            let allows = |x: u64| rules.iter().any(|(m, v)| x & m == *v);
            let probe: Vec<u64> = (0..=0x1_0000u64)
                .chain(
                    excluded
                        .iter()
                        .flat_map(|e| [*e, e | HIGH, e ^ 1, e | 1 << 31]),
                )
                .collect();
            for x in probe {
                assert_eq!(
                    allows(x),
                    !excluded.contains(&(x & domain)),
                    "{x:#x} against {excluded:x?} in {domain:#x}"
                );
            }
            assert!(rules.len() <= 32 * excluded.len(), "{}", rules.len());
        }
        assert_eq!(complement(&[PROT_WX], PROT_WX), [(4, 0), (6, 4)]);
    }

    #[test]
    fn socket_allows_the_seen_domain_and_type_on_their_low_32_bits() {
        let observed = names(&["socket", "read"]);
        let args = seen(&[("socket", &[AF_INET | SOCK_STREAM << 32])]);
        let d = profile(&observed, Some(&args), "SCMP_ARCH_X86_64", false);
        let p = &d.profile;
        assert!(lets(p, "socket", [AF_INET, SOCK_STREAM, 0, 0, 0, 0]));
        // SOCK_CLOEXEC and SOCK_NONBLOCK are flags, not the type.
        assert!(lets(
            p,
            "socket",
            [AF_INET, SOCK_STREAM | 0x80800, 0, 0, 0, 0]
        ));
        // The kernel reads an int: high bits do not make another domain.
        assert!(lets(p, "socket", [AF_INET | HIGH, SOCK_STREAM, 0, 0, 0, 0]));
        assert!(!lets(p, "socket", [AF_PACKET, SOCK_RAW, 0, 0, 0, 0]));
        assert!(!lets(
            p,
            "socket",
            [AF_PACKET | HIGH, SOCK_STREAM, 0, 0, 0, 0]
        ));
        assert!(!lets(p, "socket", [AF_INET, SOCK_RAW, 0, 0, 0, 0]));
        assert!(lets(p, "read", [9, 0, 0, 0, 0, 0]));
        assert!(!p.syscalls[0].names.contains(&"socket".to_string()));
        let s = &d.arguments[0];
        assert_eq!((s.syscall.as_str(), s.rule), ("socket", "values"));
        assert_eq!(s.seen[0].name, "AF_INET/SOCK_STREAM");
    }

    #[test]
    fn namespace_flags_personality_and_prctl_allow_only_what_was_seen() {
        let observed = names(&["clone", "unshare", "personality", "prctl", "setns"]);
        let args = seen(&[
            ("clone", &[0]),
            ("unshare", &[0x2_0000]),
            ("personality", &[0xffff_ffff]),
            ("prctl", &[15]),
            ("setns", &[0x4000_0000]),
        ]);
        let p = profile(&observed, Some(&args), "SCMP_ARCH_X86_64", false).profile;
        // A thread (CLONE_VM|CLONE_THREAD|...) creates no namespace.
        assert!(lets(&p, "clone", [0x3d0f00, 0, 0, 0, 0, 0]));
        assert!(!lets(&p, "clone", [NEWUSER | 0x11, 0, 0, 0, 0, 0]));
        assert!(lets(&p, "unshare", [0x2_0000, 0, 0, 0, 0, 0]));
        assert!(!lets(&p, "unshare", [NEWUSER, 0, 0, 0, 0, 0]));
        assert!(lets(&p, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]));
        assert!(!lets(&p, "personality", [0x40_0000, 0, 0, 0, 0, 0]));
        assert!(!lets(&p, "personality", [0x40_0000 | HIGH, 0, 0, 0, 0, 0]));
        assert!(lets(&p, "prctl", [15 | HIGH, 0, 0, 0, 0, 0]));
        for runtime in runtime_prctl() {
            assert!(lets(&p, "prctl", [runtime, 0, 0, 0, 0, 0]));
        }
        assert!(!lets(&p, "prctl", [22, 0, 0, 0, 0, 0]), "PR_SET_SECCOMP");
        assert!(lets(&p, "setns", [3, 0x4000_0000, 0, 0, 0, 0]));
        assert!(!lets(&p, "setns", [3, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn clone_allowed_as_a_sibling_of_fork_creates_no_namespace() {
        let d = profile(
            &names(&["fork"]),
            Some(&seen(&[])),
            "SCMP_ARCH_X86_64",
            true,
        );
        assert!(lets(&d.profile, "clone", [0x11, 0, 0, 0, 0, 0]));
        assert!(!lets(&d.profile, "clone", [NEWUSER | 0x11, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn too_many_values_or_none_known_allow_the_name_alone() {
        let many: Vec<u64> = (100..100 + MAX_VALUES as u64 + 1).collect();
        let args = seen(&[("prctl", &many)]);
        let d = profile(
            &names(&["prctl", "socket"]),
            Some(&args),
            "SCMP_ARCH_X86_64",
            false,
        );
        assert!(lets(&d.profile, "prctl", [22, 0, 0, 0, 0, 0]));
        // socket allowed (here by the caller's list) with no value seen.
        assert!(lets(
            &d.profile,
            "socket",
            [AF_PACKET, SOCK_RAW, 0, 0, 0, 0]
        ));
        let value_rows: Vec<_> = d
            .arguments
            .iter()
            .filter(|a| a.syscall == "prctl" || a.syscall == "socket")
            .collect();
        assert_eq!(value_rows.len(), 2);
        assert!(
            value_rows
                .iter()
                .all(|a| a.rule == "name" && a.reason.is_some()),
            "{value_rows:?}"
        );
    }

    #[test]
    fn risky_ioctls_and_writable_executable_memory_are_refused_unless_seen() {
        let observed = names(&["ioctl", "mmap", "mprotect"]);
        let p = profile(&observed, Some(&seen(&[])), "SCMP_ARCH_X86_64", false).profile;
        const TIOCSTI: u64 = 0x5412;
        assert!(lets(&p, "ioctl", [1, 0x5401, 0, 0, 0, 0]), "TCGETS");
        assert!(!lets(&p, "ioctl", [1, TIOCSTI, 0, 0, 0, 0]));
        assert!(!lets(&p, "ioctl", [1, TIOCSTI | HIGH, 0, 0, 0, 0]));
        assert!(!lets(&p, "ioctl", [1, 0x541c, 0, 0, 0, 0]));
        for prot in [0, 1, 3, 5] {
            assert!(lets(&p, "mmap", [0, 4096, prot, 0x22, 0, 0]), "{prot}");
            assert!(lets(&p, "mprotect", [0, 4096, prot, 0, 0, 0]), "{prot}");
        }
        assert!(!lets(&p, "mmap", [0, 4096, 7, 0x22, 0, 0]));
        assert!(!lets(&p, "mprotect", [0, 4096, 6, 0, 0, 0]));
        let args = seen(&[("ioctl", &[TIOCSTI]), ("mmap", &[PROT_WX])]);
        let p = profile(&observed, Some(&args), "SCMP_ARCH_X86_64", false).profile;
        assert!(lets(&p, "ioctl", [1, TIOCSTI, 0, 0, 0, 0]));
        assert!(!lets(&p, "ioctl", [1, 0x541c, 0, 0, 0, 0]));
        assert!(lets(&p, "mmap", [0, 4096, 7, 0x22, 0, 0]));
        assert!(!lets(&p, "mprotect", [0, 4096, 7, 0, 0, 0]));
    }

    #[test]
    fn no_rule_repeats_the_default_action_and_off_means_names_only() {
        let observed = names(&["socket", "clone", "ioctl", "mmap"]);
        let args = seen(&[("socket", &[AF_INET | SOCK_STREAM << 32])]);
        let on = profile(&observed, Some(&args), "SCMP_ARCH_X86_64", false).profile;
        for r in &on.syscalls {
            assert!(
                !(r.action == on.default_action && r.errno_ret == on.default_errno_ret),
                "{r:?}"
            );
        }
        let json = serde_json::to_value(&on).unwrap();
        let arg = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "socket")
            .unwrap()["args"][0]
            .clone();
        assert_eq!(
            arg,
            serde_json::json!({"index": 0, "value": LOW32, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"})
        );
        let off = profile(&observed, None, "SCMP_ARCH_X86_64", false);
        assert!(off.profile.syscalls.iter().all(|r| r.args.is_empty()));
        assert!(off.arguments.is_empty());
        assert!(lets(
            &off.profile,
            "socket",
            [AF_PACKET, SOCK_RAW, 0, 0, 0, 0]
        ));
        assert_eq!(on.allowed(), off.profile.allowed());
        // The audit profile keeps the argument rules (and logs the rest).
        assert_eq!(on.audit().syscalls.len(), on.syscalls.len());
    }

    #[test]
    fn the_kernel_reduction_matches_the_rules() {
        use slim_probe::arg_syscalls::{by_name, reduce};
        let socket = by_name("socket").unwrap();
        assert_eq!(
            reduce(socket, &[AF_INET | HIGH, SOCK_STREAM | 0x80000]),
            Some(AF_INET | SOCK_STREAM << 32)
        );
        assert_eq!(
            reduce(by_name("clone").unwrap(), &[NEWUSER | 0x3d0f00, 0]),
            Some(NEWUSER)
        );
        assert_eq!(reduce(by_name("ioctl").unwrap(), &[0x5401, 0]), None);
        assert_eq!(
            reduce(by_name("ioctl").unwrap(), &[0x5412 | HIGH, 0]),
            Some(0x5412)
        );
        assert_eq!(reduce(by_name("mmap").unwrap(), &[3, 0]), None);
        assert_eq!(reduce(by_name("mprotect").unwrap(), &[7, 0]), Some(PROT_WX));
        // Every row's numbers name the same syscall in the maintained tables.
        for row in slim_probe::arg_syscalls::ARG_SYSCALLS {
            assert_eq!(Arch::X86_64.name(row.x86_64.into()), Some(row.name));
            assert_eq!(Arch::Aarch64.name(row.aarch64.into()), Some(row.name));
        }
    }
}
