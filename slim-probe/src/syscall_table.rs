//! Names syscall numbers with the maintained tables of the `syscalls` crate
//! (x86_64 and aarch64), and says what kind of file access a named syscall is.

/// Architectures slim can name syscalls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture slim was built for (and so the kernel it runs on).
    pub fn native() -> Self {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// The name of `nr`, or `None` for a number the table does not know.
    pub fn name(self, nr: u32) -> Option<&'static str> {
        match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::new(nr as usize).map(|s| s.name()),
            Arch::Aarch64 => syscalls::aarch64::Sysno::new(nr as usize).map(|s| s.name()),
        }
    }

    /// The architecture of a seccomp profile's name (SCMP_ARCH_X86_64).
    pub fn from_seccomp(name: &str) -> Option<Self> {
        match name {
            "SCMP_ARCH_X86_64" => Some(Arch::X86_64),
            "SCMP_ARCH_AARCH64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Whether the architecture's table has a syscall of this name.
    pub fn knows(self, name: &str) -> bool {
        match self {
            Arch::X86_64 => name.parse::<syscalls::x86_64::Sysno>().is_ok(),
            Arch::Aarch64 => name.parse::<syscalls::aarch64::Sysno>().is_ok(),
        }
    }

    /// Docker/OCI name of the architecture in a seccomp profile.
    pub fn seccomp_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }
}

/// How a file was used: the shared table's kinds.
pub use slim_ebpf_common::file_syscalls::AccessKind as Access;

const O_ACCMODE: u64 = 0o3;
const O_CREAT: u64 = 0o100;

/// The kind of access a file syscall made, given its name and (for opens)
/// its flags. `None` for syscalls that are not about a path. The calls and
/// their kinds come from the table the eBPF programs are built from.
pub fn access_kind(name: &str, open_flags: u64) -> Option<Access> {
    let kind = slim_ebpf_common::file_syscalls::by_name(name)?.access;
    Some(match kind {
        Access::Open if open_flags & O_CREAT != 0 => Access::Create,
        Access::Open if open_flags & O_ACCMODE != 0 => Access::Write,
        other => other,
    })
}

/// The symbolic name of a (positive) errno value, e.g. `ENOENT`.
pub fn errno_name(errno: i64) -> String {
    i32::try_from(errno)
        .ok()
        .and_then(|e| syscalls::Errno::new(e).name())
        .map_or_else(|| format!("E{errno}"), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_x86_64_syscalls() {
        let a = Arch::X86_64;
        assert_eq!(a.name(0), Some("read"));
        assert_eq!(a.name(257), Some("openat"));
        assert_eq!(a.name(306), Some("syncfs"));
        assert_eq!(a.name(435), Some("clone3"));
        assert_eq!(a.name(9999), None);
    }

    #[test]
    fn knows_names_per_architecture() {
        assert!(Arch::X86_64.knows("select") && !Arch::Aarch64.knows("select"));
        assert!(Arch::Aarch64.knows("pselect6") && Arch::X86_64.knows("pselect6"));
        assert!(!Arch::X86_64.knows("no_such_call"));
        assert_eq!(Arch::from_seccomp("SCMP_ARCH_AARCH64"), Some(Arch::Aarch64));
    }

    #[test]
    fn names_aarch64_syscalls_from_their_own_table() {
        let a = Arch::Aarch64;
        assert_eq!(a.name(56), Some("openat"));
        assert_eq!(a.name(63), Some("read"));
        assert_eq!(a.name(267), Some("syncfs"));
    }

    #[test]
    fn open_flags_decide_the_access_kind() {
        assert_eq!(access_kind("openat", 0), Some(Access::Open));
        assert_eq!(access_kind("openat", 1), Some(Access::Write));
        assert_eq!(access_kind("open", 0o101), Some(Access::Create));
        assert_eq!(access_kind("newfstatat", 0), Some(Access::Stat));
        assert_eq!(access_kind("read", 0), None);
    }

    /// Issue #11 (10): the eBPF programs and user space read one table; its
    /// numbers must be the maintained tables' numbers for the same names.
    #[test]
    fn the_shared_file_syscall_table_agrees_with_the_syscall_tables() {
        use slim_ebpf_common::file_syscalls::{FILE_SYSCALLS, NONE};
        let mut names = std::collections::BTreeSet::new();
        for s in FILE_SYSCALLS {
            assert!(names.insert(s.name), "{} twice", s.name);
            for (arch, nr) in [(Arch::X86_64, s.x86_64), (Arch::Aarch64, s.aarch64)] {
                if nr == NONE {
                    assert!(!arch.knows(s.name), "{} exists on {arch:?}", s.name);
                } else {
                    assert_eq!(arch.name(nr as u32), Some(s.name), "{arch:?} {nr}");
                }
            }
            assert!(access_kind(s.name, 0).is_some());
        }
        assert_eq!(access_kind("read", 0), None);
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(2), "ENOENT");
        assert_eq!(errno_name(13), "EACCES");
        assert_eq!(errno_name(100000), "E100000");
    }
}
