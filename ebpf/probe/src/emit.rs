//! Events: assembled in a per-CPU scratch buffer, deduped, sent through the
//! ring buffer.
use core::ffi::c_void;

use aya_ebpf::{
    helpers::gen::{bpf_probe_read_kernel_str, bpf_probe_read_user_str, bpf_ringbuf_output},
    maps::{LruHashMap, RingBuf},
};
use slim_ebpf_common::{
    Counter, DedupKey, EventBuf, EventKind, AT_EMPTY_PATH, DEDUP_KEY, DEDUP_KEY_SHORT,
    FLAG_PATH_FAULT, FLAG_PATH_TRUNCATED, HEADER_SIZE, PATH_MAX, WAKEUP_BYTES,
};

use crate::{
    maps::{count, DEDUPED, EVENTS, SCRATCH, SEEN, SEEN_SHORT},
    task::Task,
    walk::resolve_base,
};

// bpf_ringbuf_output flags and bpf_ringbuf_query selectors (uapi/linux/bpf.h).
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
#[inline(always)]
pub(crate) fn scratch() -> Result<&'static mut EventBuf, i64> {
    let ptr = SCRATCH.get_ptr_mut(0).ok_or(-1i64)?;
    // SAFETY: per-CPU scratch, used by one program at a time on this CPU.
    Ok(unsafe { &mut *ptr })
}

#[inline(always)]
pub(crate) fn fill_header(
    buf: &mut EventBuf,
    task: &Task,
    kind: EventKind,
    nr: u32,
    ret: i64,
    arg: u64,
    role: u32,
) {
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

/// `PathCall::source`: the path is a user-space string.
pub(crate) const FROM_USER: u32 = 0;
/// The path is a kernel string (the exec tracepoint's filename).
pub(crate) const FROM_KERNEL: u32 = 1;
/// No path: the event is about the dirfd itself (a directory listing).
pub(crate) const FROM_FD: u32 = 2;

/// What [`emit_path`] reports: plain C fields, since a global function's
/// argument must be memory the kernel can size from BTF.
#[repr(C)]
pub struct PathCall {
    /// An [`EventKind`].
    pub(crate) kind: u32,
    pub(crate) nr: u32,
    pub(crate) ret: i64,
    pub(crate) arg: u64,
    pub(crate) role: u32,
    pub(crate) dirfd: i32,
    /// `FROM_*`.
    pub(crate) source: u32,
    pub(crate) _pad: u32,
    /// The string's address.
    pub(crate) path: u64,
}

/// Assembles a path event and sends it (or counts it as a repeat). Global
/// and exported (see build.rs), so the verifier checks it once per program;
/// returns 0 or a negative error.
#[no_mangle]
#[inline(never)]
pub extern "C" fn emit_path(call: *const PathCall) -> i64 {
    // SAFETY: checked for null; the verifier sizes it from BTF.
    let Some(call) = (unsafe { call.as_ref() }) else {
        return -1;
    };
    match emit(call) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

#[inline(always)]
fn emit(call: &PathCall) -> Result<(), i64> {
    let PathCall {
        kind,
        nr,
        ret,
        arg,
        role,
        dirfd,
        source,
        path,
        ..
    } = *call;
    let Some(kind) = EventKind::from_u32(kind) else {
        return Err(-1);
    };
    let buf = scratch()?;
    let task = Task::current();
    fill_header(buf, &task, kind, nr, ret, arg, role);
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
        match source {
            FROM_USER => {
                bpf_probe_read_user_str(data as *mut c_void, PATH_MAX as u32, path as *const c_void)
            }
            FROM_KERNEL => bpf_probe_read_kernel_str(
                data as *mut c_void,
                PATH_MAX as u32,
                path as *const c_void,
            ),
            _ => {
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
        // (Not the walk of an opened fd: its `arg` holds open flags.)
        if path_len == 1 && source != FROM_FD && arg & AT_EMPTY_PATH != 0 {
            return Ok(());
        }
        // SAFETY: path_len >= 1, so data[0] was written.
        let first = unsafe { *data };
        if first != b'/' {
            let flags = resolve_base(task.addr(), dirfd, buf, path_len);
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
pub(crate) fn output_once(buf: &mut EventBuf, size: usize) {
    if size <= DEDUP_KEY_SHORT {
        output_once_in(&SEEN_SHORT, buf, size);
    } else {
        output_once_in(&SEEN, buf, size);
    }
}

#[inline(always)]
pub(crate) fn output_once_in<const N: usize>(
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
pub(crate) fn output(buf: &mut EventBuf, size: usize) -> bool {
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
