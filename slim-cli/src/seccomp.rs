//! Writes a Docker/OCI seccomp profile that allows exactly the observed
//! syscalls, plus a small versioned set the container runtime may still call
//! after installing the filter and `exit`/`exit_group`, without which a
//! container hangs at exit.
use std::collections::BTreeSet;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slim_probe::Arch;

/// Version of [`RUNTIME_BASE`], recorded in the report.
pub const RUNTIME_BASE_VERSION: &str = "runc-1";

/// What runc (Go) may call between installing the filter and exec'ing the
/// entrypoint, seen in traces here, plus Go runtime calls that depend on
/// timing (a thread, a GC cycle, a signal) and so are not seen every run.
pub const RUNTIME_BASE: &[&str] = &[
    "capget",
    "capset",
    "chdir",
    "close",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "exit",
    "exit_group",
    "faccessat2",
    "fchdir",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "gettid",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "prctl",
    "read",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_yield",
    "setgid",
    "setgroups",
    "setuid",
    "sigaltstack",
    "tgkill",
    "write",
];

/// ENOSYS: what Docker's default profile answers to clone3, so glibc falls
/// back to clone; EPERM instead would make thread creation fail.
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

/// The syscall families of `--seccomp families`, as shipped.
const FAMILIES: &str = include_str!("../rules/syscall-families.toml");

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
}

/// A profile and what drew it.
#[derive(Debug)]
pub struct Drawn {
    pub profile: Profile,
    /// Syscalls allowed only because a family member was observed, with
    /// the family's name.
    pub by_family: BTreeMap<String, String>,
}

/// The profile for `observed` syscall names on `arch` (e.g.
/// SCMP_ARCH_X86_64): observed plus the runtime base, and with
/// `families` every sibling the architecture knows.
pub fn profile(observed: &[String], arch: &'static str, families_on: bool) -> Drawn {
    let mut allowed: BTreeSet<String> = observed.iter().cloned().collect();
    allowed.extend(RUNTIME_BASE.iter().map(|s| s.to_string()));
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
    let mut rules = vec![Rule {
        names: allowed.iter().cloned().collect(),
        action: "SCMP_ACT_ALLOW",
        errno_ret: None,
    }];
    if !allowed.contains("clone3") {
        rules.push(Rule {
            names: vec!["clone3".into()],
            action: "SCMP_ACT_ERRNO",
            errno_ret: Some(ENOSYS),
        });
    }
    Drawn {
        profile: Profile {
            default_action: "SCMP_ACT_ERRNO",
            default_errno_ret: Some(EPERM),
            architectures: vec![arch],
            syscalls: rules,
        },
        by_family,
    }
}

impl Profile {
    /// Every syscall name the profile allows.
    pub fn allowed(&self) -> Vec<String> {
        self.syscalls
            .iter()
            .filter(|r| r.action == "SCMP_ACT_ALLOW")
            .flat_map(|r| r.names.iter().cloned())
            .collect()
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
        let p = profile(&["syncfs".into(), "read".into()], "SCMP_ARCH_X86_64", false).profile;
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

    #[test]
    fn clone3_answers_enosys_unless_observed() {
        let p = profile(&[], "SCMP_ARCH_X86_64", false).profile;
        let rule = p.syscalls.iter().find(|r| r.names == ["clone3"]).unwrap();
        assert_eq!((rule.action, rule.errno_ret), ("SCMP_ACT_ERRNO", Some(38)));
        let p = profile(&["clone3".into()], "SCMP_ARCH_X86_64", false).profile;
        assert!(p.syscalls.iter().all(|r| r.action == "SCMP_ACT_ALLOW"));
    }

    #[test]
    fn serialises_in_docker_field_names() {
        let json = serde_json::to_value(profile(&[], "SCMP_ARCH_X86_64", false).profile).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["syscalls"][1]["errnoRet"], 38);
        assert!(json["syscalls"][0].get("errnoRet").is_none());
    }

    #[test]
    fn families_allow_siblings_known_to_the_architecture() {
        assert!(families().len() > 30, "the shipped table parses");
        let observed: Vec<String> = ["read", "epoll_wait", "ptrace"].map(String::from).to_vec();
        let x86 = profile(&observed, "SCMP_ARCH_X86_64", true);
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
        let arm = profile(&observed, "SCMP_ARCH_AARCH64", true);
        assert!(!arm.by_family.contains_key("epoll_wait"));
        assert!(arm.by_family.contains_key("epoll_pwait2"));
        let strict = profile(&observed, "SCMP_ARCH_X86_64", false);
        assert!(strict.by_family.is_empty());
        assert!(!strict.profile.allowed().contains(&"pread64".to_string()));
    }

    #[test]
    fn audit_profile_logs_instead_of_denying() {
        let p = profile(&["read".into()], "SCMP_ARCH_X86_64", true).profile;
        let a = serde_json::to_value(p.audit()).unwrap();
        assert_eq!(a["defaultAction"], "SCMP_ACT_LOG");
        assert!(a.get("defaultErrnoRet").is_none());
        assert_eq!(p.audit().allowed(), p.allowed());
    }
}
