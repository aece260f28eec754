//! The syscalls whose arguments decide what they can do, and how the kernel
//! side reduces each call to the one value slim records (issue #21): the
//! eBPF programs record each distinct value once per mount namespace in the
//! `ARGS` map ([`crate::ArgKey`]), never one event per call; user space
//! turns the values into seccomp argument rules. One table, read by both
//! sides, so the numbers and meanings cannot drift apart.

use crate::file_syscalls::TableArch;

/// How a call's arguments are reduced to the recorded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// `arg & mask`.
    Masked,
    /// socket: the domain (low 32 bits) | the type without its flag bits
    /// (`SOCK_TYPE_MASK`) << 32.
    Socket,
    /// ioctl: the request's low 32 bits, recorded only if it is one of
    /// [`RISKY_IOCTLS`] (every other request is allowed regardless).
    Risky,
    /// mmap/mprotect: recorded (as `mask`) only when every bit of `mask`
    /// is set in the argument: PROT_WRITE and PROT_EXEC together.
    AllBits,
}

#[derive(Clone, Copy, Debug)]
pub struct ArgSyscall {
    pub name: &'static str,
    pub x86_64: u16,
    pub aarch64: u16,
    /// Index of the argument the rules compare.
    pub arg: u8,
    pub mask: u64,
    pub reduce: Reduce,
    /// What the value is, for the report.
    pub meaning: &'static str,
}

/// The namespace bits of clone's flags (the mask Docker's default profile
/// uses): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
pub const CLONE_NS_MASK: u64 = 0x7e02_0000;
/// The same plus CLONE_NEWTIME, which only unshare takes (in clone that bit
/// belongs to the exit signal).
pub const UNSHARE_NS_MASK: u64 = CLONE_NS_MASK | 0x80;
/// An int argument: the kernel reads only these bits.
pub const LOW32: u64 = 0xffff_ffff;
/// socket's type without SOCK_NONBLOCK (0x800) and SOCK_CLOEXEC (0x80000).
pub const SOCK_TYPE_MASK: u64 = LOW32 & !0x0008_0800;
/// PROT_WRITE | PROT_EXEC.
pub const PROT_WX: u64 = 0x2 | 0x4;

/// ioctl requests that are refused unless they were observed: TIOCSTI
/// pushes input into a terminal (a way out of a sandbox sharing it),
/// TIOCLINUX drives the virtual console (selection, input). Docker's default
/// profile allows every ioctl.
pub const RISKY_IOCTLS: [(u64, &str); 2] = [(0x5412, "TIOCSTI"), (0x541c, "TIOCLINUX")];

const fn row(
    name: &'static str,
    x86_64: u16,
    aarch64: u16,
    arg: u8,
    mask: u64,
    reduce: Reduce,
    meaning: &'static str,
) -> ArgSyscall {
    ArgSyscall {
        name,
        x86_64,
        aarch64,
        arg,
        mask,
        reduce,
        meaning,
    }
}

/// Numbers from the kernel's syscall_64.tbl and the generic unistd.h (arm64).
pub const ARG_SYSCALLS: [ArgSyscall; 10] = [
    row(
        "socket",
        41,
        198,
        0,
        LOW32,
        Reduce::Socket,
        "domain and type",
    ),
    row(
        "clone",
        56,
        220,
        0,
        CLONE_NS_MASK,
        Reduce::Masked,
        "namespace flags",
    ),
    row(
        "unshare",
        272,
        97,
        0,
        UNSHARE_NS_MASK,
        Reduce::Masked,
        "namespace flags",
    ),
    row(
        "setns",
        308,
        268,
        1,
        LOW32,
        Reduce::Masked,
        "namespace type",
    ),
    row("personality", 135, 92, 0, LOW32, Reduce::Masked, "persona"),
    row("prctl", 157, 167, 0, LOW32, Reduce::Masked, "option"),
    row("ioctl", 16, 29, 1, LOW32, Reduce::Risky, "risky request"),
    row(
        "mmap",
        9,
        222,
        2,
        PROT_WX,
        Reduce::AllBits,
        "PROT_WRITE|PROT_EXEC",
    ),
    row(
        "mprotect",
        10,
        226,
        2,
        PROT_WX,
        Reduce::AllBits,
        "PROT_WRITE|PROT_EXEC",
    ),
    row(
        "pkey_mprotect",
        329,
        288,
        2,
        PROT_WX,
        Reduce::AllBits,
        "PROT_WRITE|PROT_EXEC",
    ),
];

pub const fn number(s: &ArgSyscall, arch: TableArch) -> u64 {
    (match arch {
        TableArch::X86_64 => s.x86_64,
        TableArch::Aarch64 => s.aarch64,
    }) as u64
}

/// Row `i` of the table (for `const` syscall numbers in the programs).
pub const fn nr(i: usize, arch: TableArch) -> u64 {
    number(&ARG_SYSCALLS[i], arch)
}

/// The row of syscall `name`.
pub fn by_name(name: &str) -> Option<&'static ArgSyscall> {
    ARG_SYSCALLS.iter().find(|s| s.name == name)
}

/// The row of syscall number `nr` of `arch`.
pub fn by_number(nr: u64, arch: TableArch) -> Option<&'static ArgSyscall> {
    ARG_SYSCALLS.iter().find(|s| number(s, arch) == nr)
}

/// The value recorded for a call with these raw arguments, if any: the
/// kernel side's reduction, written once here so it is unit-tested.
#[inline(always)]
pub fn reduce(s: &ArgSyscall, args: &[u64; 2]) -> Option<u64> {
    let a = args[0];
    match s.reduce {
        Reduce::Masked => Some(a & s.mask),
        Reduce::Socket => Some((a & LOW32) | ((args[1] & SOCK_TYPE_MASK) << 32)),
        Reduce::Risky => {
            let req = a & LOW32;
            (req == RISKY_IOCTLS[0].0 || req == RISKY_IOCTLS[1].0).then_some(req)
        }
        Reduce::AllBits => (a & s.mask == s.mask).then_some(s.mask),
    }
}
