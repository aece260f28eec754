//! The maps the programs share with each other and with user space.
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf},
};
use slim_ebpf_common::{
    ArgKey, Counter, DedupKey, EventBuf, NsKey, SyscallBits, CONFIG_SLOTS, COUNTERS as N_COUNTERS,
    DEDUP_KEY, DEDUP_KEY_SHORT, EVENTS_RING_BYTES, MAX_ARG_VALUES, MAX_MNTNS, MAX_SEEN,
    MAX_TRACKED,
};

#[map]
pub(crate) static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_RING_BYTES, 0);

/// The target once user space knows it (see `CONFIG_TARGET_MNTNS`; 0 = any
/// non-host namespace). Narrows the work done for other containers.
#[map]
pub(crate) static CONFIG: Array<u64> = Array::with_max_entries(CONFIG_SLOTS, 0);

/// Syscall bitmaps by mount namespace, until user space names the target.
#[map]
pub(crate) static SYSCALLS: PerCpuHashMap<NsKey, SyscallBits> =
    PerCpuHashMap::with_max_entries(MAX_MNTNS, 0);

/// The target's syscall bitmap once `CONFIG` names it.
#[map]
pub(crate) static TARGET_SYSCALLS: PerCpuArray<SyscallBits> = PerCpuArray::with_max_entries(1, 0);

/// Argument values seen, per container and syscall (the value is unused).
/// A plain hash map, not an LRU one: a full map counts what it refused
/// instead of forgetting a value the profile must allow.
#[map]
pub(crate) static ARGS: HashMap<ArgKey, u8> = HashMap::with_max_entries(MAX_ARG_VALUES, 0);

/// Followed tasks by thread id (the value is unused).
#[map]
pub(crate) static TRACKED: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TRACKED, 0);

#[map]
pub(crate) static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(N_COUNTERS, 0);

#[map]
pub(crate) static SCRATCH: PerCpuArray<EventBuf> = PerCpuArray::with_max_entries(1, 0);

/// Path events already sent (see `DEDUP_KEY`), by their bytes: events that
/// fit in `DEDUP_KEY_SHORT` bytes in the first map, longer ones in the other.
#[map]
pub(crate) static SEEN_SHORT: LruHashMap<DedupKey<DEDUP_KEY_SHORT>, u8> =
    LruHashMap::with_max_entries(MAX_SEEN, 0);
#[map]
pub(crate) static SEEN: LruHashMap<DedupKey<DEDUP_KEY>, u8> =
    LruHashMap::with_max_entries(MAX_SEEN, 0);

/// Repeats of a sent event the kernel did not send again.
#[map]
pub(crate) static DEDUPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
pub(crate) fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: a per-CPU slot: no other writer while this program runs.
        unsafe { *slot += 1 };
    }
}
