//! Writes a Docker/OCI seccomp profile that allows exactly the observed
//! syscalls, plus a small versioned set the container runtime may still call
//! after installing the filter and `exit`/`exit_group`, without which a
//! container hangs at exit.
use std::collections::BTreeSet;

use serde::Serialize;

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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: &'static str,
    pub default_errno_ret: u32,
    pub architectures: Vec<&'static str>,
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub names: Vec<String>,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
}

/// The profile for `observed` syscall names on `arch` (e.g. SCMP_ARCH_X86_64).
pub fn profile(observed: &[String], arch: &'static str) -> Profile {
    let mut allowed: BTreeSet<String> = observed.iter().cloned().collect();
    allowed.extend(RUNTIME_BASE.iter().map(|s| s.to_string()));
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
    Profile {
        default_action: "SCMP_ACT_ERRNO",
        default_errno_ret: EPERM,
        architectures: vec![arch],
        syscalls: rules,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_default_and_allows_observed_plus_base() {
        let p = profile(&["syncfs".into(), "read".into()], "SCMP_ARCH_X86_64");
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
        let p = profile(&[], "SCMP_ARCH_X86_64");
        let rule = p.syscalls.iter().find(|r| r.names == ["clone3"]).unwrap();
        assert_eq!((rule.action, rule.errno_ret), ("SCMP_ACT_ERRNO", Some(38)));
        let p = profile(&["clone3".into()], "SCMP_ARCH_X86_64");
        assert!(p.syscalls.iter().all(|r| r.action == "SCMP_ACT_ALLOW"));
    }

    #[test]
    fn serialises_in_docker_field_names() {
        let json = serde_json::to_value(profile(&[], "SCMP_ARCH_X86_64")).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["syscalls"][1]["errnoRet"], 38);
        assert!(json["syscalls"][0].get("errnoRet").is_none());
    }
}
