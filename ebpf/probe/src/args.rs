//! Argument values of the syscalls whose arguments decide what they can do
//! (socket's domain, clone's namespace flags, ...: the table and the
//! reductions are `slim_ebpf_common::arg_syscalls`). Each distinct value is
//! recorded once per container in `ARGS`; repeats cost one lookup, and no
//! call ever sends an event.
use slim_ebpf_common::{
    arg_syscalls::{self as table, ARG_SYSCALLS},
    file_syscalls::TableArch,
    ArgKey, Counter,
};

use crate::{
    maps::{count, ARGS},
    task::{field, Task},
};

#[cfg(bpf_target_arch = "x86_64")]
const ARCH: TableArch = TableArch::X86_64;
#[cfg(bpf_target_arch = "aarch64")]
const ARCH: TableArch = TableArch::Aarch64;

const SOCKET: u64 = table::nr(0, ARCH);
const CLONE: u64 = table::nr(1, ARCH);
const UNSHARE: u64 = table::nr(2, ARCH);
const SETNS: u64 = table::nr(3, ARCH);
const PERSONALITY: u64 = table::nr(4, ARCH);
const PRCTL: u64 = table::nr(5, ARCH);
const IOCTL: u64 = table::nr(6, ARCH);
const MMAP: u64 = table::nr(7, ARCH);
const MPROTECT: u64 = table::nr(8, ARCH);
const PKEY_MPROTECT: u64 = table::nr(9, ARCH);

/// The value row `I` records for this call, if any. `I` is a constant so
/// the argument register's offset is one too, as the verifier needs for a
/// load from `pt_regs`.
#[inline(always)]
fn value<const I: usize>(regs: *const u8) -> Option<u64> {
    let offsets = layout!(regs_args);
    let at = const { ARG_SYSCALLS[I].arg as usize };
    // SAFETY: `regs` is pt_regs and the offsets are its argument registers.
    let arg = |n: usize| unsafe { field::<u64>(regs, offsets[n.min(5)]) };
    let args = [arg(at), if at < 5 { arg(at + 1) } else { 0 }];
    table::reduce(&ARG_SYSCALLS[I], &args)
}

/// Records the value of syscall `nr` made by `task` of container `mntns`.
#[inline(always)]
pub(crate) fn record(task: &Task, mntns: u64, regs: *const u8, nr: u64) {
    let value = match nr {
        SOCKET => value::<0>(regs),
        CLONE => value::<1>(regs),
        UNSHARE => value::<2>(regs),
        SETNS => value::<3>(regs),
        PERSONALITY => value::<4>(regs),
        PRCTL => value::<5>(regs),
        IOCTL => value::<6>(regs),
        MMAP => value::<7>(regs),
        MPROTECT => value::<8>(regs),
        PKEY_MPROTECT => value::<9>(regs),
        _ => return,
    };
    let Some(value) = value else { return };
    let key = ArgKey {
        mntns,
        host: task.host(),
        nr: nr as u32,
        _pad: 0,
        value,
    };
    // SAFETY: the value is not kept.
    if unsafe { ARGS.get(&key) }.is_some() {
        return;
    }
    // Another CPU may have inserted it meanwhile: EEXIST is no loss.
    match ARGS.insert(&key, &0, crate::BPF_NOEXIST) {
        Ok(()) | Err(crate::EEXIST) => {}
        Err(_) => count(Counter::ArgMapFull),
    }
}
