//! Types shared by slim's eBPF programs (`slim-ebpf`) and the user-space
//! loader (`slim-probe`). Everything that crosses a map or the ring buffer is
//! defined once here: `#[repr(C)]`, fixed-size, no `bool`, no implicit padding.
//!
//! Data flow: the kernel side writes [`EventHeader`] + variable-length data to
//! the [`EVENTS_MAP`] ring buffer, ORs syscall numbers into a [`SyscallBits`]
//! bitmap per mount namespace, and bumps [`Counter`]s when it cannot deliver.
//! User space fills [`Layout`] (kernel struct offsets from BTF, tracepoint
//! field offsets from tracefs) and `HOST_MNTNS` as globals before loading.
#![no_std]

pub mod arg_syscalls;
pub mod file_syscalls;

/// Ring buffer carrying events to user space (bytes, a power of two). The
/// kernel maps its data twice into the reader (for wrap-around) and at
/// once, so it counts double in slim's resident memory. The reader drains
/// it as events come; 16 MB holds the storm test's 40,000 events (about
/// 6 MB) whole, with room, and keeps slim well inside its 150 MB budget.
pub const EVENTS_RING_BYTES: u32 = 16 << 20;
/// Data waiting in the ring buffer above which an event wakes the reader;
/// below it events are written without a wakeup (a wakeup is an IPI, a VM
/// exit under virtualisation) and the reader drains on a short timer.
pub const WAKEUP_BYTES: u64 = 4 << 20;
/// How often the reader drains the ring buffer without a wakeup (ms).
pub const DRAIN_INTERVAL_MS: u64 = 10;
/// Slots of the `CONFIG` array, written by user space once it knows the
/// target: the host name (the start of the UTS nodename, NUL padded, as two
/// words) first, then the mount namespace. Both must match: a namespace's
/// inode number is reused as soon as it is freed, so a container started
/// after the target exits can get the target's number, never its host name.
pub const CONFIG_TARGET_MNTNS: u32 = 0;
pub const CONFIG_TARGET_HOST: u32 = 1;
pub const CONFIG_SLOTS: u32 = 3;

/// Key of the per-container syscall bitmaps kept until the target is known:
/// mount namespace and host name (see `CONFIG_TARGET_HOST`), since the
/// namespace number alone may be a dead container's, reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsKey {
    pub mntns: u64,
    pub host: [u64; 2],
}

/// Key of the `ARGS` map: one distinct argument value (see
/// `arg_syscalls::reduce`) of one syscall in one container, as `NsKey`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgKey {
    pub mntns: u64,
    pub host: [u64; 2],
    pub nr: u32,
    pub _pad: u32,
    pub value: u64,
}

/// Distinct (container, syscall, value) entries the `ARGS` map holds; a
/// value that finds it full is counted (`Counter::ArgMapFull`), not lost
/// silently. A container records a few dozen.
pub const MAX_ARG_VALUES: u32 = 8192;

/// Mount namespaces whose syscalls can be recorded at once.
pub const MAX_MNTNS: u32 = 1024;
/// Tasks (threads) followed at once.
pub const MAX_TRACKED: u32 = 65536;

/// Syscall numbers the bitmap covers; larger ones are counted, not named.
pub const SYSCALL_BITS: usize = 1024;
pub const SYSCALL_WORDS: usize = SYSCALL_BITS / 64;

/// Longest path read from user memory, NUL included (the kernel's PATH_MAX).
pub const PATH_MAX: usize = 4096;
/// Longest dentry name read in a directory walk, NUL included.
pub const NAME_MAX: usize = 256;
/// Path plus walked components stop at this many bytes of data.
pub const DATA_LIMIT: usize = 8192;
/// Offsets into the data are masked with this so the verifier sees bounds.
pub const DATA_MASK: usize = DATA_LIMIT - 1;
/// Bytes of data in a scratch event: one more name may start at DATA_LIMIT-1.
pub const DATA_SIZE: usize = DATA_LIMIT + NAME_MAX;
/// Directory levels (and mount crossings) walked to resolve a base directory.
pub const MAX_DEPTH: u32 = 64;

/// `AT_FDCWD` as the kernel passes it in a dirfd argument.
pub const AT_FDCWD: i32 = -100;
/// `AT_EMPTY_PATH`: with an empty path, the call is about the dirfd itself.
pub const AT_EMPTY_PATH: u64 = 0x1000;
/// `task_struct.seccomp.mode` of a task running under a seccomp filter.
pub const SECCOMP_MODE_FILTER: u32 = 2;

/// What an event describes.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A file syscall returned: `nr`, `ret`, the path and maybe a base dir.
    Path = 1,
    /// A successful execve/execveat: the path the kernel executed.
    Exec = 2,
    /// A followed task created another one: `ppid` is the parent thread id.
    Fork = 3,
}

impl EventKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Path),
            2 => Some(Self::Exec),
            3 => Some(Self::Fork),
            _ => None,
        }
    }
}

/// `EventHeader::flags`: the user-space path could not be read (a fault).
/// `EventHeader::role` of the file an open resolved to, walked from the
/// fd it returned: the path after every symlink, as the kernel saw it.
pub const ROLE_OPENED: u32 = 2;

pub const FLAG_PATH_FAULT: u32 = 1;
/// The path is relative: `base_len` bytes of directory names follow it.
pub const FLAG_BASE: u32 = 1 << 1;
/// The base directory walk hit `MAX_DEPTH` or `DATA_LIMIT`.
pub const FLAG_BASE_TRUNCATED: u32 = 1 << 2;
/// The base directory could not be found (closed dirfd, read fault).
pub const FLAG_BASE_FAILED: u32 = 1 << 3;
/// The path filled `PATH_MAX` without a NUL.
pub const FLAG_PATH_TRUNCATED: u32 = 1 << 4;
/// The walk ended at the global root, not at the task's root (a path
/// outside the container's root, e.g. through a leaked fd).
pub const FLAG_BASE_OUTSIDE_ROOT: u32 = 1 << 5;

/// The fixed part of every event. Data follows it in the ring buffer record:
/// `path_len` bytes of path (NUL-terminated), then `base_len` bytes of the
/// base directory's names, each NUL-terminated, innermost first.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EventHeader {
    /// An [`EventKind`].
    pub kind: u32,
    /// Syscall number for `Path` events.
    pub nr: u32,
    /// The syscall's return value (negative errno on failure).
    pub ret: i64,
    pub tgid: u32,
    pub tid: u32,
    /// Mount namespace inode of the task.
    pub mntns: u64,
    /// The syscall's flags argument where it has one (open flags, AT_*).
    pub arg: u64,
    /// `Fork`: the parent's thread id.
    pub ppid: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// 0 for a syscall's first path, 1 for its second (rename, link),
    /// [`ROLE_OPENED`] for the file an open resolved to.
    pub role: u32,
    pub path_len: u32,
    pub base_len: u32,
    pub _pad: u32,
    /// The task's command name (NUL-padded).
    pub comm: [u8; 16],
    /// The start of the task's UTS hostname (Docker sets it to the container
    /// ID's first 12 characters), which ties a mount namespace to a container
    /// even when it exits before user space could ask for its pid, and tells
    /// a container that reused a dead one's namespace number apart.
    pub uts: [u8; 16],
}

pub const HEADER_SIZE: usize = core::mem::size_of::<EventHeader>();

/// Leading bytes of a `Path` event the kernel dedupes on: an event that fits
/// in them (header with its thread id zeroed, then path and base, zero
/// padded) is sent once; repeats are counted, not sent. Longer events are
/// always sent and deduped in user space.
pub const DEDUP_KEY: usize = 256;
/// Events that fit in this many bytes are looked up with a key of this size
/// instead: hashing and comparing the key is most of a repeat's cost, and
/// most paths are short.
pub const DEDUP_KEY_SHORT: usize = 128;
/// Distinct events remembered, per key size (least recently seen ones are
/// forgotten, which only means a repeat reaches user space again).
pub const MAX_SEEN: u32 = 16384;

/// A key of the kernel's dedupe maps: the first `N` bytes of an
/// [`EventBuf`].
#[repr(C)]
pub struct DedupKey<const N: usize> {
    pub bytes: [u8; N],
}

/// The per-CPU scratch an event is assembled in before it is copied out.
#[repr(C)]
pub struct EventBuf {
    pub header: EventHeader,
    pub data: [u8; DATA_SIZE],
}

/// Syscall numbers seen in one mount namespace, one bit each.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SyscallBits {
    pub words: [u64; SYSCALL_WORDS],
}

/// Indexes of the `COUNTERS` per-CPU array: everything the kernel side could
/// not deliver or record. User space reports their sum as `events.dropped`
/// (all but `SyscallOutOfRange`, which is reported on its own).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// The ring buffer was full: an event was lost.
    RingFull = 0,
    /// The followed-task map was full: a new task went unfollowed.
    TrackedFull = 1,
    /// The per-namespace syscall bitmap map was full.
    BitmapFull = 2,
    /// A syscall number beyond `SYSCALL_BITS`.
    SyscallOutOfRange = 3,
    /// The argument-value map was full: a value went unrecorded.
    ArgMapFull = 4,
}
pub const COUNTERS: u32 = 5;

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Counter; COUNTERS as usize] = [
        Counter::RingFull,
        Counter::TrackedFull,
        Counter::BitmapFull,
        Counter::SyscallOutOfRange,
        Counter::ArgMapFull,
    ];

    /// The reason reported in `events.dropped_by_reason`.
    pub const fn reason(self) -> &'static str {
        match self {
            Counter::RingFull => "ring_buffer_full",
            Counter::TrackedFull => "task_map_full",
            Counter::BitmapFull => "syscall_map_full",
            Counter::SyscallOutOfRange => "syscall_number_out_of_range",
            Counter::ArgMapFull => "argument_map_full",
        }
    }
}

/// Offsets the programs need but cannot know at compile time (Rust eBPF has
/// no CO-RE): kernel struct members from `/sys/kernel/btf/vmlinux`, and
/// tracepoint fields from tracefs `format` files. Set by the loader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Layout {
    pub task_nsproxy: u64,
    pub task_fs: u64,
    pub task_files: u64,
    pub task_seccomp_mode: u64,
    pub task_comm: u64,
    pub task_pid: u64,
    pub task_tgid: u64,
    pub nsproxy_mnt_ns: u64,
    pub nsproxy_uts_ns: u64,
    /// `uts_namespace.name.nodename`.
    pub uts_nodename: u64,
    pub mnt_ns_inum: u64,
    pub fs_root: u64,
    pub fs_pwd: u64,
    pub path_mnt: u64,
    pub path_dentry: u64,
    pub dentry_parent: u64,
    pub dentry_name: u64,
    pub vfsmount_mnt_root: u64,
    pub mount_mnt: u64,
    pub mount_parent: u64,
    pub mount_mountpoint: u64,
    pub files_fdt: u64,
    pub fdt_max_fds: u64,
    pub fdt_fd: u64,
    pub file_f_path: u64,
    /// Offsets in `struct pt_regs` of the six syscall arguments as they are
    /// when the syscall returns (the tracepoints pass the registers, not the
    /// arguments; arm64's first is then in `orig_x0`, its `x0` holds the
    /// result).
    pub regs_args: [u64; 6],
    /// Offset in `struct pt_regs` of the syscall number (`orig_ax`,
    /// `syscallno`): `sys_exit` is not passed it.
    pub regs_nr: u64,
    /// sched:sched_process_exec `filename` (a __data_loc field).
    pub tp_exec_filename: u64,
    /// sched:sched_process_fork `parent_pid`, `child_pid`.
    pub tp_fork_parent_pid: u64,
    pub tp_fork_child_pid: u64,
    /// sched:sched_process_exit `pid`.
    pub tp_exit_pid: u64,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C), Copy, without padding or invalid bit patterns.
    unsafe impl aya::Pod for super::Layout {}
    unsafe impl aya::Pod for super::SyscallBits {}
    unsafe impl aya::Pod for super::EventHeader {}
    unsafe impl aya::Pod for super::NsKey {}
    unsafe impl aya::Pod for super::ArgKey {}
}

// Layout checks: these types cross the kernel boundary.
const _: () = assert!(HEADER_SIZE == 96);
const _: () = assert!(core::mem::size_of::<ArgKey>() == 40);
const _: () = assert!(core::mem::size_of::<Layout>() == 36 * 8);
const _: () = assert!(HEADER_SIZE < DEDUP_KEY_SHORT && DEDUP_KEY_SHORT < DEDUP_KEY);
