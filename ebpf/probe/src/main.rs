//! slim's eBPF programs. Tracepoints only (no kprobes, fentry or LSM), so they
//! load on locked-down kernels and the widest range of versions.
//!
//! - BTF tracepoint `sys_enter` (the raw kind, not the perf-based
//!   `raw_syscalls` one: it runs on every syscall of the machine and costs far
//!   less): for tasks outside the host's mount namespace that run under a
//!   seccomp filter, set the syscall's bit in the bitmap of their mount
//!   namespace (no event per syscall).
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
#![no_std]
#![no_main]

mod syscalls;

use core::ffi::c_void;

use aya_ebpf::{
    helpers::{
        bpf_get_current_task, bpf_get_current_task_btf, bpf_probe_read_kernel,
        gen::{bpf_probe_read_kernel_str, bpf_probe_read_user_str, bpf_ringbuf_output},
    },
    macros::{btf_tracepoint, map, tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{BtfTracePointContext, TracePointContext},
    EbpfContext,
};
use slim_ebpf_common::{
    Counter, DedupKey, EventBuf, EventKind, Layout, NsKey, SyscallBits, AT_EMPTY_PATH, AT_FDCWD,
    CONFIG_SLOTS, CONFIG_TARGET_HOST, CONFIG_TARGET_MNTNS, COUNTERS as N_COUNTERS, DATA_LIMIT,
    DATA_MASK, DEDUP_KEY, DEDUP_KEY_SHORT, EVENTS_RING_BYTES, FLAG_BASE, FLAG_BASE_FAILED,
    FLAG_BASE_OUTSIDE_ROOT, FLAG_BASE_TRUNCATED, FLAG_PATH_FAULT, FLAG_PATH_TRUNCATED, HEADER_SIZE,
    MAX_DEPTH, MAX_MNTNS, MAX_SEEN, MAX_TRACKED, NAME_MAX, PATH_MAX, SECCOMP_MODE_FILTER,
    SYSCALL_BITS, SYSCALL_WORDS, WAKEUP_BYTES,
};

// bpf_ringbuf_output flags and bpf_ringbuf_query selectors (uapi/linux/bpf.h).
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
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

/// Mount namespace inode of the host (slim's own): its tasks are never recorded.
#[no_mangle]
static HOST_MNTNS: u64 = 0;

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_RING_BYTES, 0);

/// The target once user space knows it (see `CONFIG_TARGET_MNTNS`; 0 = any
/// non-host namespace). Narrows the work done for other containers.
#[map]
static CONFIG: Array<u64> = Array::with_max_entries(CONFIG_SLOTS, 0);

/// Syscall bitmaps by mount namespace, until user space names the target.
#[map]
static SYSCALLS: PerCpuHashMap<NsKey, SyscallBits> = PerCpuHashMap::with_max_entries(MAX_MNTNS, 0);

/// The target's syscall bitmap once `CONFIG` names it.
#[map]
static TARGET_SYSCALLS: PerCpuArray<SyscallBits> = PerCpuArray::with_max_entries(1, 0);

/// Followed tasks by thread id (the value is unused).
#[map]
static TRACKED: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TRACKED, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(N_COUNTERS, 0);

#[map]
static SCRATCH: PerCpuArray<EventBuf> = PerCpuArray::with_max_entries(1, 0);

/// Path events already sent (see `DEDUP_KEY`), by their bytes: events that
/// fit in `DEDUP_KEY_SHORT` bytes in the first map, longer ones in the other.
#[map]
static SEEN_SHORT: LruHashMap<DedupKey<DEDUP_KEY_SHORT>, u8> =
    LruHashMap::with_max_entries(MAX_SEEN, 0);
#[map]
static SEEN: LruHashMap<DedupKey<DEDUP_KEY>, u8> = LruHashMap::with_max_entries(MAX_SEEN, 0);

/// Repeats of a sent event the kernel did not send again.
#[map]
static DEDUPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

macro_rules! layout {
    ($field:ident) => {{
        // SAFETY: a plain read of a global the loader wrote before load.
        #[allow(unused_unsafe)]
        let v = unsafe { core::ptr::read_volatile(&LAYOUT.$field) };
        v
    }};
}

#[inline(always)]
fn read<T>(addr: u64) -> Result<T, i64> {
    // SAFETY: bpf_probe_read_kernel copes with any address.
    unsafe { bpf_probe_read_kernel(addr as *const T) }
}

#[inline(always)]
fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: a per-CPU slot: no other writer while this program runs.
        unsafe { *slot += 1 };
    }
}

/// A field of a kernel object at a `LAYOUT` offset.
///
/// SAFETY: `base` must be a BTF pointer whose type has a member of type `T`
/// at `off`; the verifier rejects the program otherwise.
#[inline(always)]
unsafe fn field<T: Copy>(base: *const u8, off: u64) -> T {
    core::ptr::read_volatile(base.add(off as usize) as *const T)
}

/// The current task as a BTF pointer, and its `nsproxy`: the verifier knows
/// their types, so fields are plain loads (the offsets are constants of the
/// frozen `LAYOUT`) instead of a helper call each. Taken once per program
/// run: these reads happen on every syscall of the machine.
#[derive(Clone, Copy)]
struct Task {
    task: *const u8,
    nsproxy: *const u8,
}

impl Task {
    #[inline(always)]
    fn current() -> Self {
        // SAFETY: helper without preconditions; task_struct.nsproxy. A task
        // past exit_task_namespaces has none: a fault in a BTF load yields
        // 0, and loads through it 0 too.
        unsafe {
            let task = bpf_get_current_task_btf() as *const u8;
            Task {
                task,
                nsproxy: field(task, layout!(task_nsproxy)),
            }
        }
    }

    #[inline(always)]
    fn mntns(&self) -> u64 {
        // SAFETY: nsproxy.mnt_ns -> mnt_namespace.ns.inum.
        unsafe {
            let mnt_ns: *const u8 = field(self.nsproxy, layout!(nsproxy_mnt_ns));
            field::<u32>(mnt_ns, layout!(mnt_ns_inum)) as u64
        }
    }

    /// The first 16 bytes of the UTS nodename, as two words.
    #[inline(always)]
    fn host(&self) -> [u64; 2] {
        // SAFETY: nsproxy.uts_ns -> the nodename char array.
        unsafe {
            let uts: *const u8 = field(self.nsproxy, layout!(nsproxy_uts_ns));
            let name = layout!(uts_nodename);
            [field::<u64>(uts, name), field::<u64>(uts, name + 8)]
        }
    }

    #[inline(always)]
    fn seccomp_mode(&self) -> u32 {
        // SAFETY: task_struct.seccomp.mode.
        unsafe { field(self.task, layout!(task_seccomp_mode)) }
    }

    /// Thread id (`pid`) and process id (`tgid`), as the host sees them.
    #[inline(always)]
    fn ids(&self) -> (u32, u32) {
        // SAFETY: task_struct.pid and .tgid.
        unsafe {
            (
                field(self.task, layout!(task_pid)),
                field(self.task, layout!(task_tgid)),
            )
        }
    }

    #[inline(always)]
    fn comm(&self) -> [u8; 16] {
        // SAFETY: task_struct.comm, a char[16].
        unsafe { field(self.task, layout!(task_comm)) }
    }

    /// The mount namespace if it is one slim records.
    #[inline(always)]
    fn recorded(&self) -> Option<Recorded> {
        let mntns = self.mntns();
        // 0: a task past exit_task_namespaces.
        // SAFETY: plain read of a global.
        if mntns == 0 || mntns == unsafe { core::ptr::read_volatile(&HOST_MNTNS) } {
            return None;
        }
        let target = CONFIG.get(CONFIG_TARGET_MNTNS).copied().unwrap_or(0);
        if target != 0 && (target != mntns || !self.on_target_host()) {
            return None;
        }
        Some(Recorded {
            mntns,
            is_target: target != 0,
        })
    }

    /// Whether the UTS nodename starts with the target's.
    #[inline(always)]
    fn on_target_host(&self) -> bool {
        let want0 = CONFIG.get(CONFIG_TARGET_HOST).copied().unwrap_or(0);
        let want1 = CONFIG.get(CONFIG_TARGET_HOST + 1).copied().unwrap_or(0);
        self.host() == [want0, want1]
    }
}

/// A mount namespace slim records, and whether user space has named it as
/// the target (then its syscalls go to `TARGET_SYSCALLS`).
#[derive(Clone, Copy)]
struct Recorded {
    mntns: u64,
    is_target: bool,
}

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
    let (_, nr) = regs_and_value(ctx);
    // Only what runs under a seccomp filter counts: the runtime's set-up
    // before it installs the container's filter would not be checked by it.
    if nr >= 0 && task.seccomp_mode() == SECCOMP_MODE_FILTER {
        record_syscall(&task, recorded, nr as u64);
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
    let src = if spec.path == syscalls::FD_ONLY {
        // Only successful listings say the directory's entries matter.
        if ret < 0 {
            return Ok(());
        }
        Source::Fd
    } else {
        Source::User(arg(spec.path as i8))
    };
    emit_path(&PathCall {
        kind: EventKind::Path,
        nr: nr as u32,
        ret,
        arg: flags,
        role: 0,
        dirfd,
        src,
    })?;
    if spec.path2 >= 0 {
        let dirfd2 = if spec.dirfd2 >= 0 {
            arg(spec.dirfd2) as i32
        } else {
            AT_FDCWD
        };
        let path2 = arg(spec.path2);
        emit_path(&PathCall {
            kind: EventKind::Path,
            nr: nr as u32,
            ret,
            arg: flags,
            role: 1,
            dirfd: dirfd2,
            src: Source::User(path2),
        })?;
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
        kind: EventKind::Exec,
        nr: 0,
        ret: 0,
        arg: 0,
        role: 0,
        dirfd: AT_FDCWD,
        src: Source::Kernel(filename),
    })
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
    fill_header(buf, EventKind::Fork, 0, 0, 0, 0);
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

/// Where a path string lives.
#[derive(Clone, Copy)]
enum Source {
    User(u64),
    Kernel(u64),
    /// No path: the event is about the dirfd itself.
    Fd,
}

#[inline(always)]
fn scratch() -> Result<&'static mut EventBuf, i64> {
    let ptr = SCRATCH.get_ptr_mut(0).ok_or(-1i64)?;
    // SAFETY: per-CPU scratch, used by one program at a time on this CPU.
    Ok(unsafe { &mut *ptr })
}

#[inline(always)]
fn fill_header(buf: &mut EventBuf, kind: EventKind, nr: u32, ret: i64, arg: u64, role: u32) {
    let task = Task::current();
    let (tid, tgid) = task.ids();
    let h = &mut buf.header;
    h.kind = kind as u32;
    h.nr = nr;
    h.ret = ret;
    h.tgid = tgid;
    h.tid = tid;
    h.mntns = task.mntns();
    h.arg = arg;
    h.ppid = 0;
    h.flags = 0;
    h.role = role;
    h.path_len = 0;
    h.base_len = 0;
    h._pad = 0;
    h.comm = task.comm();
    // SAFETY: two words are sixteen bytes, in memory order.
    h.uts = unsafe { core::mem::transmute::<[u64; 2], [u8; 16]>(task.host()) };
}

/// What [`emit_path`] reports (one argument: eBPF calls take at most five).
struct PathCall {
    kind: EventKind,
    nr: u32,
    ret: i64,
    arg: u64,
    role: u32,
    dirfd: i32,
    src: Source,
}

#[inline(never)]
fn emit_path(call: &PathCall) -> Result<(), i64> {
    let PathCall {
        kind,
        nr,
        ret,
        arg,
        role,
        dirfd,
        ref src,
    } = *call;
    let buf = scratch()?;
    fill_header(buf, kind, nr, ret, arg, role);
    let data = buf.data.as_mut_ptr();
    // The dedupe key covers these bytes: clear what an earlier, longer event
    // left there.
    let words = data as *mut u64;
    for i in 0..(DEDUP_KEY - HEADER_SIZE) / 8 {
        // SAFETY: within data, which is 8-aligned after the 96-byte header.
        unsafe { core::ptr::write_volatile(words.add(i), 0) };
    }
    // SAFETY: data has room for PATH_MAX bytes.
    let n = unsafe {
        match *src {
            Source::User(p) => {
                bpf_probe_read_user_str(data as *mut c_void, PATH_MAX as u32, p as *const c_void)
            }
            Source::Kernel(p) => {
                bpf_probe_read_kernel_str(data as *mut c_void, PATH_MAX as u32, p as *const c_void)
            }
            Source::Fd => {
                *data = 0;
                1
            }
        }
    };
    let mut path_len: usize = 0;
    if n <= 0 {
        buf.header.flags |= FLAG_PATH_FAULT;
    } else {
        path_len = n as usize & (PATH_MAX * 2 - 1);
        if path_len >= PATH_MAX {
            path_len = PATH_MAX;
            buf.header.flags |= FLAG_PATH_TRUNCATED;
        }
        // An empty path with AT_EMPTY_PATH is about an fd already opened
        // (glibc's fstat): its open was recorded, the event adds nothing.
        if path_len == 1 && arg & AT_EMPTY_PATH != 0 {
            return Ok(());
        }
        // SAFETY: path_len >= 1, so data[0] was written.
        let first = unsafe { *data };
        if first != b'/' {
            // SAFETY: helper without preconditions.
            let task = unsafe { bpf_get_current_task() };
            let flags = resolve_base(task, dirfd, buf, path_len);
            buf.header.flags |= flags;
        }
    }
    buf.header.path_len = path_len as u32;
    let size = HEADER_SIZE + path_len + buf.header.base_len as usize;
    if kind == EventKind::Path && size <= DEDUP_KEY {
        output_once(buf, size);
    } else {
        output(buf, size);
    }
    Ok(())
}

/// Sends an event unless the same event (bar the thread id) was sent
/// before. Repeats are the bulk of a busy app's file calls (a web server
/// stats and opens the same file per request); dropping them here saves the
/// ring buffer copy and user space's work. Exact: the key is the event's
/// bytes, not a hash of them.
#[inline(always)]
fn output_once(buf: &mut EventBuf, size: usize) {
    if size <= DEDUP_KEY_SHORT {
        output_once_in(&SEEN_SHORT, buf, size);
    } else {
        output_once_in(&SEEN, buf, size);
    }
}

#[inline(always)]
fn output_once_in<const N: usize>(
    seen: &LruHashMap<DedupKey<N>, u8>,
    buf: &mut EventBuf,
    size: usize,
) {
    let tid = buf.header.tid;
    buf.header.tid = 0;
    let key = buf as *const EventBuf as *const DedupKey<N>;
    // SAFETY: EventBuf is longer than any DedupKey and both are plain bytes.
    if unsafe { seen.get(&*key) }.is_some() {
        if let Some(slot) = DEDUPED.get_ptr_mut(0) {
            // SAFETY: a per-CPU slot.
            unsafe { *slot += 1 };
        }
        return;
    }
    buf.header.tid = tid;
    // Remember only what was delivered: a lost event must not hide its
    // repeats.
    if output(buf, size) {
        buf.header.tid = 0;
        // SAFETY: as above. A full map evicts: a repeat is then sent again.
        let _ = seen.insert(unsafe { &*key }, &0, 0);
    }
}

/// Copies an event to the ring buffer; false (and counted) if it was full.
#[inline(always)]
fn output(buf: &mut EventBuf, size: usize) -> bool {
    let max = core::mem::size_of::<EventBuf>();
    let size = if size > max { max } else { size };
    let flags = if EVENTS.query(BPF_RB_AVAIL_DATA) > WAKEUP_BYTES {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    // SAFETY: size is bounded by the scratch buffer's size.
    let ret = unsafe {
        bpf_ringbuf_output(
            &EVENTS as *const RingBuf as *mut c_void,
            buf as *mut EventBuf as *mut c_void,
            size as u64,
            flags,
        )
    };
    if ret < 0 {
        count(Counter::RingFull);
        return false;
    }
    true
}

/// Writes the names of the base directory of a relative path (the cwd, or
/// the dirfd's directory) into the data after the path, innermost first, each
/// NUL-terminated, up to the task's root. Sets `base_len`; returns flags.
#[inline(always)]
fn resolve_base(task: u64, dirfd: i32, buf: &mut EventBuf, start: usize) -> u32 {
    let Ok((dentry, vfsmnt, root_dentry, root_mnt)) = base_and_root(task, dirfd) else {
        return FLAG_BASE_FAILED;
    };
    walk(buf, start, dentry, vfsmnt, root_dentry, root_mnt)
}

#[inline(always)]
fn base_and_root(task: u64, dirfd: i32) -> Result<(u64, u64, u64, u64), i64> {
    let fs: u64 = read(task + layout!(task_fs))?;
    let root = fs + layout!(fs_root);
    let root_dentry: u64 = read(root + layout!(path_dentry))?;
    let root_mnt: u64 = read(root + layout!(path_mnt))?;
    let base = if dirfd == AT_FDCWD {
        fs + layout!(fs_pwd)
    } else {
        let files: u64 = read(task + layout!(task_files))?;
        let fdt: u64 = read(files + layout!(files_fdt))?;
        let max_fds: u32 = read(fdt + layout!(fdt_max_fds))?;
        if dirfd < 0 || dirfd as u32 >= max_fds {
            return Err(-1);
        }
        let fds: u64 = read(fdt + layout!(fdt_fd))?;
        let file: u64 = read(fds + dirfd as u64 * 8)?;
        if file == 0 {
            return Err(-1);
        }
        file + layout!(file_f_path)
    };
    let dentry: u64 = read(base + layout!(path_dentry))?;
    let mnt: u64 = read(base + layout!(path_mnt))?;
    Ok((dentry, mnt, root_dentry, root_mnt))
}

/// The bytes written so far live in `base_len`, in map memory, not in a
/// register: the verifier then sees an unknown (masked) offset each round
/// instead of tracking every possible value, which keeps a 64-level walk far
/// below its instruction budget.
#[inline(always)]
fn walk(
    buf: &mut EventBuf,
    start: usize,
    mut dentry: u64,
    mut vfsmnt: u64,
    root_dentry: u64,
    root_mnt: u64,
) -> u32 {
    let data = buf.data.as_mut_ptr();
    let written = &mut buf.header.base_len as *mut u32;
    // SAFETY: a field of the per-CPU scratch.
    unsafe { core::ptr::write_volatile(written, 0) };
    let mount_mnt = layout!(mount_mnt);
    let mut mnt = vfsmnt.wrapping_sub(mount_mnt);
    for _ in 0..MAX_DEPTH {
        if dentry == root_dentry && vfsmnt == root_mnt {
            return FLAG_BASE;
        }
        let Ok(mnt_root) = read::<u64>(vfsmnt + layout!(vfsmount_mnt_root)) else {
            return FLAG_BASE_FAILED;
        };
        if dentry == mnt_root {
            // At the root of a mount: continue from where it is mounted.
            let Ok(parent) = read::<u64>(mnt + layout!(mount_parent)) else {
                return FLAG_BASE_FAILED;
            };
            if parent == mnt {
                return FLAG_BASE_OUTSIDE_ROOT;
            }
            let Ok(mountpoint) = read::<u64>(mnt + layout!(mount_mountpoint)) else {
                return FLAG_BASE_FAILED;
            };
            dentry = mountpoint;
            mnt = parent;
            vfsmnt = parent + mount_mnt;
            continue;
        }
        let Ok(parent) = read::<u64>(dentry + layout!(dentry_parent)) else {
            return FLAG_BASE_FAILED;
        };
        if parent == dentry {
            return FLAG_BASE_OUTSIDE_ROOT;
        }
        let Ok(name) = read::<u64>(dentry + layout!(dentry_name)) else {
            return FLAG_BASE_FAILED;
        };
        // SAFETY: as above.
        let done = unsafe { core::ptr::read_volatile(written) } as usize;
        let pos = start + done;
        if pos >= DATA_LIMIT - 1 {
            return FLAG_BASE_TRUNCATED;
        }
        // SAFETY: pos is masked below DATA_LIMIT and data has NAME_MAX more bytes.
        let n = unsafe {
            bpf_probe_read_kernel_str(
                data.add(pos & DATA_MASK) as *mut c_void,
                NAME_MAX as u32,
                name as *const c_void,
            )
        };
        if n <= 0 {
            return FLAG_BASE_FAILED;
        }
        let done = done + (n as usize & (NAME_MAX * 2 - 1));
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(written, done as u32) };
        dentry = parent;
    }
    FLAG_BASE_TRUNCATED
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
