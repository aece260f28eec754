//! slim's eBPF programs. Tracepoints only (no kprobes, fentry or LSM), so they
//! load on locked-down kernels and the widest range of versions.
//!
//! - BTF tracepoint `sys_enter` (the raw kind, not the perf-based
//!   `raw_syscalls` one: it runs on every syscall of the machine and costs far
//!   less): for tasks outside the host's mount namespace that run under a
//!   seccomp filter, set the syscall's bit in the bitmap of their mount
//!   namespace (no event per syscall).
//!   For the few syscalls whose arguments matter (`args`), record each
//!   distinct argument value once per namespace (map `ARGS`).
//! - BTF tracepoint `sys_exit`: for a file syscall of a followed task, take
//!   its arguments from the registers (typed, so plain loads), read its
//!   path(s), resolve the base directory of relative ones, and send a `Path`
//!   event unless the same event was sent before (map `SEEN`; repeats are
//!   only counted).
//! - `sched:sched_process_exec`: an exec outside the host's mount namespace
//!   starts following the task and sends an `Exec` event.
//! - `sched:sched_process_fork` / `sched_process_exit`: follow children, forget
//!   the dead.
//!
//! Anything that cannot be delivered or recorded bumps a `COUNTERS` slot.
//!
//! This file holds the programs; `task` reads the current task, `emit`
//! assembles, dedupes and sends events, `walk` resolves a relative path's
//! base directory, `syscalls` says which syscalls name files, and `maps`
//! holds the maps.
#![no_std]
#![no_main]

/// A `LAYOUT` field, read through a volatile load so the verifier sees the
/// frozen value rather than the compiler folding the zero it was built with.
macro_rules! layout {
    ($field:ident) => {{
        // SAFETY: a plain read of a global the loader wrote before load.
        #[allow(unused_unsafe)]
        let v = unsafe { core::ptr::read_volatile(&$crate::LAYOUT.$field) };
        v
    }};
}

mod args;
mod emit;
mod maps;
mod syscalls;
mod task;
mod walk;

use aya_ebpf::{
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
    EbpfContext,
};
use slim_ebpf_common::{
    Counter, EventKind, Layout, NsKey, SyscallBits, AT_FDCWD, HEADER_SIZE, ROLE_OPENED,
    SECCOMP_MODE_FILTER, SYSCALL_BITS, SYSCALL_WORDS,
};

use crate::{
    emit::{emit_path, fill_header, output, scratch, PathCall, FROM_FD, FROM_KERNEL, FROM_USER},
    maps::{count, SYSCALLS, TARGET_SYSCALLS, TRACKED},
    task::{field, Recorded, Task},
};

// Map update flag and its "already there" error (uapi/linux/bpf.h, errno.h).
const BPF_NOEXIST: u64 = 1;
const EEXIST: i64 = -17;

/// Kernel struct and tracepoint field offsets, set by the loader.
#[no_mangle]
static LAYOUT: Layout = Layout {
    task_nsproxy: 0,
    task_fs: 0,
    task_files: 0,
    task_seccomp_mode: 0,
    task_comm: 0,
    nsproxy_mnt_ns: 0,
    nsproxy_uts_ns: 0,
    uts_nodename: 0,
    mnt_ns_inum: 0,
    fs_root: 0,
    fs_pwd: 0,
    path_mnt: 0,
    path_dentry: 0,
    dentry_parent: 0,
    dentry_name: 0,
    vfsmount_mnt_root: 0,
    mount_mnt: 0,
    mount_parent: 0,
    mount_mountpoint: 0,
    files_fdt: 0,
    fdt_max_fds: 0,
    fdt_fd: 0,
    file_f_path: 0,
    regs_args: [0; 6],
    regs_nr: 0,
    task_pid: 0,
    task_tgid: 0,
    tp_exec_filename: 0,
    tp_fork_parent_pid: 0,
    tp_fork_child_pid: 0,
    tp_exit_pid: 0,
};

/// Mount namespace inode of the host (PID 1's): its tasks are never recorded.
#[no_mangle]
static HOST_MNTNS: u64 = 0;

/// Mount namespace inode of slim itself: the host's, or that of the
/// container slim runs in. Its tasks are never recorded either.
#[no_mangle]
static SELF_MNTNS: u64 = 0;

/// `sys_enter(struct pt_regs *regs, long id)` and `sys_exit(struct pt_regs
/// *regs, long ret)`: the registers, and a number.
#[inline(always)]
fn regs_and_value(ctx: &BtfTracePointContext) -> (*const u8, i64) {
    // SAFETY: both tracepoints have these two arguments; the verifier types
    // the first as a BTF pointer to pt_regs.
    unsafe { (ctx.arg(0), ctx.arg(1)) }
}

#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> i32 {
    let _ = try_sys_enter(&ctx);
    0
}

fn try_sys_enter(ctx: &BtfTracePointContext) -> Result<(), i64> {
    let task = Task::current();
    let Some(recorded) = task.recorded() else {
        return Ok(());
    };
    let (regs, nr) = regs_and_value(ctx);
    // Only what runs under a seccomp filter counts: the runtime's set-up
    // before it installs the container's filter would not be checked by it.
    if nr >= 0 && task.seccomp_mode() == SECCOMP_MODE_FILTER {
        record_syscall(&task, recorded, nr as u64);
        args::record(&task, recorded.mntns, regs, nr as u64);
    }
    Ok(())
}

#[inline(always)]
fn record_syscall(task: &Task, recorded: Recorded, nr: u64) {
    if nr >= SYSCALL_BITS as u64 {
        count(Counter::SyscallOutOfRange);
        return;
    }
    let word = (nr >> 6) as usize & (SYSCALL_WORDS - 1);
    if recorded.is_target {
        // An array slot: no hashing on the target's every syscall.
        if let Some(bits) = TARGET_SYSCALLS.get_ptr_mut(0) {
            // SAFETY: a per-CPU value, written only by this CPU.
            unsafe { (*bits).words[word] |= 1u64 << (nr & 63) };
        }
        return;
    }
    let key = NsKey {
        mntns: recorded.mntns,
        host: task.host(),
    };
    let bits = match SYSCALLS.get_ptr_mut(&key) {
        Some(bits) => bits,
        None => {
            let zero = SyscallBits {
                words: [0; SYSCALL_WORDS],
            };
            if SYSCALLS.insert(&key, &zero, 0).is_err() {
                count(Counter::BitmapFull);
                return;
            }
            match SYSCALLS.get_ptr_mut(&key) {
                Some(bits) => bits,
                None => return,
            }
        }
    };
    // SAFETY: a per-CPU value, written only by this CPU.
    unsafe { (*bits).words[word] |= 1u64 << (nr & 63) };
}

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    let _ = try_sys_exit(&ctx);
    0
}

fn try_sys_exit(ctx: &BtfTracePointContext) -> Result<(), i64> {
    let (regs, ret) = regs_and_value(ctx);
    // Most syscalls name no file: one load and one bit test for them, for
    // every task of the machine.
    // SAFETY: pt_regs' syscall number, 32 bits wide (see Layout::regs_nr).
    let nr = unsafe { field::<u32>(regs, layout!(regs_nr)) } as u64;
    if !syscalls::is_file_syscall(nr) {
        return Ok(());
    }
    let task = Task::current();
    if task.recorded().is_none() {
        return Ok(());
    }
    let (tid, _) = task.ids();
    // SAFETY: the value is not kept.
    if unsafe { TRACKED.get(&tid) }.is_none() {
        return Ok(());
    }
    let fd = ret;
    // Only failure and its errno matter: a successful call's value (an fd, a
    // byte count) would make every repeat of it look new.
    let ret = ret.min(0);
    // A successful exec replaced the registers and the memory the path was
    // in; the exec tracepoint reported it already.
    if (nr == syscalls::EXECVE || nr == syscalls::EXECVEAT) && ret == 0 {
        return Ok(());
    }
    // The arguments are still in the registers (see Layout::regs_args).
    let offsets = layout!(regs_args);
    // SAFETY: `regs` is pt_regs and the offsets are its argument registers.
    let arg = |n: i8| unsafe { field::<u64>(regs, offsets[(n as u8).min(5) as usize]) };
    let Some(spec) = syscalls::classify(nr) else {
        return Ok(());
    };
    let flags = if spec.flags >= 0 { arg(spec.flags) } else { 0 };
    let dirfd = if spec.dirfd >= 0 {
        arg(spec.dirfd) as i32
    } else {
        AT_FDCWD
    };
    let (source, path) = if spec.path == syscalls::FD_ONLY {
        // Only successful listings say the directory's entries matter.
        if ret < 0 {
            return Ok(());
        }
        (FROM_FD, 0)
    } else {
        (FROM_USER, arg(spec.path as i8))
    };
    let mut call = PathCall {
        kind: EventKind::Path as u32,
        nr: nr as u32,
        ret,
        arg: flags,
        role: 0,
        dirfd,
        source,
        _pad: 0,
        path,
    };
    emit_path(&call);
    // The file the kernel actually opened, after every symlink as it was at
    // that moment (one the app made at run time too): walked from the new fd.
    if syscalls::opens_file(nr) && fd >= 0 {
        call.role = ROLE_OPENED;
        call.source = FROM_FD;
        call.dirfd = fd as i32;
        call.path = 0;
        emit_path(&call);
    }
    if spec.path2 >= 0 {
        call.role = 1;
        call.dirfd = if spec.dirfd2 >= 0 {
            arg(spec.dirfd2) as i32
        } else {
            AT_FDCWD
        };
        call.source = FROM_USER;
        call.path = arg(spec.path2);
        emit_path(&call);
    }
    Ok(())
}

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let _ = try_exec(&ctx);
    0
}

fn try_exec(ctx: &TracePointContext) -> Result<(), i64> {
    let task = Task::current();
    if task.recorded().is_none() {
        return Ok(());
    }
    follow(task.ids().0);
    // SAFETY: a __data_loc field: offset in the low 16 bits, length above.
    let loc: u32 = unsafe { ctx.read_at(layout!(tp_exec_filename) as usize)? };
    let filename = ctx.as_ptr() as u64 + (loc & 0xffff) as u64;
    emit_path(&PathCall {
        kind: EventKind::Exec as u32,
        nr: 0,
        ret: 0,
        arg: 0,
        role: 0,
        dirfd: AT_FDCWD,
        source: FROM_KERNEL,
        _pad: 0,
        path: filename,
    });
    Ok(())
}

/// Starts following a task.
#[inline(always)]
fn follow(tid: u32) {
    match TRACKED.insert(&tid, &0, BPF_NOEXIST) {
        Ok(()) | Err(EEXIST) => {}
        Err(_) => count(Counter::TrackedFull),
    }
}

#[tracepoint]
pub fn sched_process_fork(ctx: TracePointContext) -> u32 {
    let _ = try_fork(&ctx);
    0
}

fn try_fork(ctx: &TracePointContext) -> Result<(), i64> {
    // SAFETY: offsets come from the tracepoint's format file.
    let parent: u32 = unsafe { ctx.read_at(layout!(tp_fork_parent_pid) as usize)? };
    // SAFETY: the value is not kept.
    if unsafe { TRACKED.get(&parent) }.is_none() {
        return Ok(());
    }
    // SAFETY: as above.
    let child: u32 = unsafe { ctx.read_at(layout!(tp_fork_child_pid) as usize)? };
    follow(child);
    let buf = scratch()?;
    fill_header(buf, &Task::current(), EventKind::Fork, 0, 0, 0, 0);
    buf.header.tid = child;
    buf.header.ppid = parent;
    output(buf, HEADER_SIZE);
    Ok(())
}

#[tracepoint]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    // SAFETY: the offset comes from the tracepoint's format file.
    if let Ok(pid) = unsafe { ctx.read_at::<u32>(layout!(tp_exit_pid) as usize) } {
        let _ = TRACKED.remove(&pid);
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
