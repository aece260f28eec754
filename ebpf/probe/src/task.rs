//! The current task, read with plain BTF loads.
use aya_ebpf::helpers::bpf_get_current_task_btf;
use slim_ebpf_common::{CONFIG_TARGET_HOST, CONFIG_TARGET_MNTNS};

use crate::{maps::CONFIG, HOST_MNTNS, SELF_MNTNS};

/// A field of a kernel object at a `LAYOUT` offset.
///
/// SAFETY: `base` must be a BTF pointer whose type has a member of type `T`
/// at `off`; the verifier rejects the program otherwise.
#[inline(always)]
pub(crate) unsafe fn field<T: Copy>(base: *const u8, off: u64) -> T {
    core::ptr::read_volatile(base.add(off as usize) as *const T)
}

/// The current task as a BTF pointer, and its `nsproxy`: the verifier knows
/// their types, so fields are plain loads (the offsets are constants of the
/// frozen `LAYOUT`) instead of a helper call each. Taken once per program
/// run: these reads happen on every syscall of the machine.
#[derive(Clone, Copy)]
pub(crate) struct Task {
    task: *const u8,
    nsproxy: *const u8,
}

impl Task {
    #[inline(always)]
    pub(crate) fn current() -> Self {
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

    /// The task's address, for helper reads along pointer chains.
    #[inline(always)]
    pub(crate) fn addr(&self) -> u64 {
        self.task as u64
    }

    #[inline(always)]
    pub(crate) fn mntns(&self) -> u64 {
        // SAFETY: nsproxy.mnt_ns -> mnt_namespace.ns.inum.
        unsafe {
            let mnt_ns: *const u8 = field(self.nsproxy, layout!(nsproxy_mnt_ns));
            field::<u32>(mnt_ns, layout!(mnt_ns_inum)) as u64
        }
    }

    /// The first 16 bytes of the UTS nodename, as two words.
    #[inline(always)]
    pub(crate) fn host(&self) -> [u64; 2] {
        // SAFETY: nsproxy.uts_ns -> the nodename char array.
        unsafe {
            let uts: *const u8 = field(self.nsproxy, layout!(nsproxy_uts_ns));
            let name = layout!(uts_nodename);
            [field::<u64>(uts, name), field::<u64>(uts, name + 8)]
        }
    }

    #[inline(always)]
    pub(crate) fn seccomp_mode(&self) -> u32 {
        // SAFETY: task_struct.seccomp.mode.
        unsafe { field(self.task, layout!(task_seccomp_mode)) }
    }

    /// Thread id (`pid`) and process id (`tgid`), as the host sees them.
    #[inline(always)]
    pub(crate) fn ids(&self) -> (u32, u32) {
        // SAFETY: task_struct.pid and .tgid.
        unsafe {
            (
                field(self.task, layout!(task_pid)),
                field(self.task, layout!(task_tgid)),
            )
        }
    }

    #[inline(always)]
    pub(crate) fn comm(&self) -> [u8; 16] {
        // SAFETY: task_struct.comm, a char[16].
        unsafe { field(self.task, layout!(task_comm)) }
    }

    /// The mount namespace if it is one slim records.
    #[inline(always)]
    pub(crate) fn recorded(&self) -> Option<Recorded> {
        let mntns = self.mntns();
        // 0: a task past exit_task_namespaces.
        // SAFETY: plain reads of globals.
        let (host, own) = unsafe {
            (
                core::ptr::read_volatile(&HOST_MNTNS),
                core::ptr::read_volatile(&SELF_MNTNS),
            )
        };
        if mntns == 0 || mntns == host || mntns == own {
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
    pub(crate) fn on_target_host(&self) -> bool {
        let want0 = CONFIG.get(CONFIG_TARGET_HOST).copied().unwrap_or(0);
        let want1 = CONFIG.get(CONFIG_TARGET_HOST + 1).copied().unwrap_or(0);
        self.host() == [want0, want1]
    }
}

/// A mount namespace slim records, and whether user space has named it as
/// the target (then its syscalls go to `TARGET_SYSCALLS`).
#[derive(Clone, Copy)]
pub(crate) struct Recorded {
    pub(crate) mntns: u64,
    pub(crate) is_target: bool,
}
