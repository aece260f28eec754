//! Which syscalls name files, and in which arguments: the shared table of
//! `slim_ebpf_common::file_syscalls`, turned at compile time into lookups by
//! this architecture's numbers. User space names the same calls from the
//! same table.
use slim_ebpf_common::file_syscalls::{self as table, AccessKind, TableArch, MAX_NR};
pub use slim_ebpf_common::file_syscalls::{Spec, FD_ONLY};

#[cfg(bpf_target_arch = "x86_64")]
const ARCH: TableArch = TableArch::X86_64;
#[cfg(bpf_target_arch = "aarch64")]
const ARCH: TableArch = TableArch::Aarch64;

/// Bit `nr` is set when `classify(nr)` knows the syscall. Tested first on
/// every syscall exit of the machine: one load instead of a compare chain.
static FILE_SYSCALLS: [u64; MAX_NR / 64] = table::bits(ARCH, &[]);

/// The calls that return a new fd for a file they opened by path.
static OPENS_FILE: [u64; MAX_NR / 64] = table::bits(ARCH, &[AccessKind::Open, AccessKind::Create]);

pub const EXECVE: u64 = table::number_of("execve", ARCH) as u64;
pub const EXECVEAT: u64 = table::number_of("execveat", ARCH) as u64;

#[inline(always)]
fn bit(bits: &[u64; MAX_NR / 64], nr: u64) -> bool {
    nr < MAX_NR as u64 && bits[(nr >> 6) as usize & (MAX_NR / 64 - 1)] & (1 << (nr & 63)) != 0
}

#[inline(always)]
pub fn is_file_syscall(nr: u64) -> bool {
    bit(&FILE_SYSCALLS, nr)
}

/// Whether a successful call returns a new fd for a file it opened by path
/// (open, openat, openat2, creat).
#[inline(always)]
pub fn opens_file(nr: u64) -> bool {
    bit(&OPENS_FILE, nr)
}

// `classify(nr) -> Option<Spec>`, one match arm per call of the table.
include!(concat!(env!("OUT_DIR"), "/classify.rs"));
