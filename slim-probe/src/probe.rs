//! Loads and attaches the eBPF programs, reads the ring buffer while the
//! container runs, and turns everything into a [`Trace`] when it is done.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    hash::{Hash, Hasher},
    os::unix::fs::MetadataExt,
};

use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{BtfTracePoint, TracePoint},
    Btf, Ebpf, EbpfLoader,
};
use slim_ebpf_common::{
    ArgKey, EventKind, NsKey, SyscallBits, CONFIG_TARGET_HOST, CONFIG_TARGET_MNTNS,
    DRAIN_INTERVAL_MS,
};
use tokio::{
    io::unix::AsyncFd,
    sync::{oneshot, watch},
    task::JoinHandle,
};

use crate::{
    event::{decode, Event},
    layout::kernel_layout,
    syscall_table::Arch,
    trace::{assemble, Counters, Trace},
    ProbeError,
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/programs"));

/// BTF (typed raw) tracepoints: called on every syscall of the machine, so
/// the cheapest kind (no perf trace buffer is filled for them), and their
/// `pt_regs` argument is read with plain loads.
const SYSCALL_PROGRAMS: [&str; 2] = ["sys_enter", "sys_exit"];

const PROGRAMS: [(&str, &str, &str); 3] = [
    ("sched_process_exec", "sched", "sched_process_exec"),
    ("sched_process_fork", "sched", "sched_process_fork"),
    ("sched_process_exit", "sched", "sched_process_exit"),
];

/// The attached probe. Records every task outside slim's own mount namespace
/// until [`Probe::finish`] picks the target container's share.
pub struct Probe {
    ebpf: Ebpf,
    watch: watch::Sender<Option<String>>,
    stop: oneshot::Sender<()>,
    reader: JoinHandle<Result<Reader, ProbeError>>,
}

impl Probe {
    /// Loads the programs and attaches them. Call it before the container is
    /// created: from then on nothing the container does is missed. Must run
    /// inside a tokio runtime (the ring buffer is read by a task).
    pub fn attach() -> Result<Self, ProbeError> {
        // First, so a user without the privileges hears that, not about
        // the first kernel interface it happens to be refused.
        if !privileged() {
            return Err(ProbeError::Permission);
        }
        let t0 = std::time::Instant::now();
        // Two parsers read the kernel's BTF: ours for the layout, aya's to
        // type the syscall programs. Side by side, they cost one.
        let (layout, btf) = std::thread::scope(|s| {
            let btf = s.spawn(Btf::from_sys_fs);
            let layout = kernel_layout();
            let btf = btf.join().map_err(|_| ProbeError::Btf {
                what: "/sys/kernel/btf/vmlinux".into(),
                reason: "the BTF parser panicked".into(),
            })?;
            let btf = btf.map_err(|e| ProbeError::Btf {
                what: "/sys/kernel/btf/vmlinux".into(),
                reason: e.to_string(),
            })?;
            Ok::<_, ProbeError>((layout?, btf))
        })?;
        tracing::debug!(ms = t0.elapsed().as_millis() as u64, "kernel layout read");
        // Slim's own mount namespace and the host's (PID 1's: the host's
        // when slim runs in a container with the host's pid namespace)
        // are ignored; on the host they are the same.
        let self_mntns = std::fs::metadata("/proc/self/ns/mnt")
            .map_err(|e| ProbeError::Host(e.to_string()))?
            .ino();
        let host_mntns = std::fs::metadata("/proc/1/ns/mnt")
            .map(|m| m.ino())
            .unwrap_or(self_mntns);
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("LAYOUT", &layout, true)
            .override_global("HOST_MNTNS", &host_mntns, true)
            .override_global("SELF_MNTNS", &self_mntns, true)
            .load(OBJECT)
            .map_err(ProbeError::from_load)?;
        let events = RingBuf::try_from(ebpf.take_map("EVENTS").ok_or(ProbeError::Map("EVENTS"))?)
            .map_err(|_| ProbeError::Map("EVENTS"))?;
        let config: Array<MapData, u64> =
            Array::try_from(ebpf.take_map("CONFIG").ok_or(ProbeError::Map("CONFIG"))?)
                .map_err(|_| ProbeError::Map("CONFIG"))?;
        for name in SYSCALL_PROGRAMS {
            let prog: &mut BtfTracePoint = program(&mut ebpf, name)?;
            let fail = |source| ProbeError::Program { name, source };
            prog.load(name, &btf).map_err(fail)?;
            prog.attach().map_err(fail)?;
        }
        for (name, category, tracepoint) in PROGRAMS {
            let prog: &mut TracePoint = program(&mut ebpf, name)?;
            let fail = |source| ProbeError::Program { name, source };
            prog.load().map_err(fail)?;
            prog.attach(category, tracepoint).map_err(fail)?;
        }
        let (watch_tx, watch_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let reader = Reader {
            events: Vec::new(),
            uts_mntns: HashMap::new(),
            target: None,
            config,
            watched: watch_rx,
            seen: HashMap::new(),
            duplicates: 0,
        };
        // SAFETY: the ring buffer owns its fd and lives inside the AsyncFd.
        let fd =
            unsafe { AsyncFd::register(events) }.map_err(|e| ProbeError::Reader(e.to_string()))?;
        let reader = tokio::spawn(reader.run(fd, stop_rx));
        tracing::debug!(
            host_mntns,
            ms = t0.elapsed().as_millis() as u64,
            "probe attached"
        );
        Ok(Self {
            ebpf,
            watch: watch_tx,
            stop: stop_tx,
            reader,
        })
    }

    /// Names the container to keep (its full ID). From its first exec on, the
    /// kernel side narrows to its mount namespace.
    pub fn watch_container(&self, id: &str) {
        let short: String = id.chars().take(12).collect();
        let _ = self.watch.send(Some(short));
    }

    /// Names the container by the host name it was given instead of its
    /// short ID (`--hostname`): the first 16 bytes count, as in the events.
    pub fn watch_hostname(&self, name: &str) {
        let mut end = name.len().min(16);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let _ = self.watch.send(Some(name[..end].to_string()));
    }

    /// Stops reading after draining every event, and assembles the trace of
    /// the watched container. Call it after the container has stopped.
    pub async fn finish(self) -> Result<Trace, ProbeError> {
        let Probe {
            ebpf, stop, reader, ..
        } = self;
        let _ = stop.send(());
        let reader = reader
            .await
            .map_err(|e| ProbeError::Reader(e.to_string()))??;
        let target = reader.target.ok_or(ProbeError::NotSeen)?;
        let mntns = target.mntns;
        let bits = read_bits(&ebpf, &target)?;
        let arguments = read_args(&ebpf, &target, Arch::native())?;
        let counters = read_counters(&ebpf)?;
        let deduped = read_deduped(&ebpf)?;
        tracing::debug!(
            kernel = deduped,
            user = reader.duplicates,
            "duplicate events skipped"
        );
        // Detaching waits for an RCU grace period per tracepoint; nothing
        // needs to wait for it, so it happens on a thread of its own.
        std::thread::spawn(move || drop(ebpf));
        let mut trace = assemble(&reader.events, mntns, bits, &counters, Arch::native());
        trace.events.duplicates = reader.duplicates + deduped;
        trace.arguments = arguments;
        Ok(trace)
    }
}

/// The target's syscall bitmap, ORed over CPUs: what the kernel kept under
/// its mount namespace before user space named it, and in the target's own
/// array after. `None` if it made no syscall under a seccomp filter.
fn read_bits(ebpf: &Ebpf, target: &Target) -> Result<Option<SyscallBits>, ProbeError> {
    let by_mntns = PerCpuHashMap::<_, NsKey, SyscallBits>::try_from(
        ebpf.map("SYSCALLS").ok_or(ProbeError::Map("SYSCALLS"))?,
    )
    .map_err(|_| ProbeError::Map("SYSCALLS"))?;
    let narrowed = PerCpuArray::<_, SyscallBits>::try_from(
        ebpf.map("TARGET_SYSCALLS")
            .ok_or(ProbeError::Map("TARGET_SYSCALLS"))?,
    )
    .map_err(|_| ProbeError::Map("TARGET_SYSCALLS"))?;
    let mut all = SyscallBits {
        words: [0; slim_ebpf_common::SYSCALL_WORDS],
    };
    let key = NsKey {
        mntns: target.mntns,
        host: host_words(&target.host),
    };
    let per_cpu = by_mntns
        .get(&key, 0)
        .ok()
        .into_iter()
        .chain(narrowed.get(&0, 0).ok());
    for values in per_cpu {
        for cpu in values.iter() {
            for (a, b) in all.words.iter_mut().zip(cpu.words) {
                *a |= b;
            }
        }
    }
    Ok(all.words.iter().any(|w| *w != 0).then_some(all))
}

/// The argument values the target's syscalls were seen with (map `ARGS`,
/// see `slim_ebpf_common::arg_syscalls`), by syscall name.
fn read_args(
    ebpf: &Ebpf,
    target: &Target,
    arch: Arch,
) -> Result<BTreeMap<String, BTreeSet<u64>>, ProbeError> {
    let map =
        BpfHashMap::<_, ArgKey, u8>::try_from(ebpf.map("ARGS").ok_or(ProbeError::Map("ARGS"))?)
            .map_err(|_| ProbeError::Map("ARGS"))?;
    let host = host_words(&target.host);
    let mut out: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    // A key that fails to read was removed meanwhile: nothing removes any.
    for key in map.keys().flatten() {
        if key.mntns != target.mntns || key.host != host {
            continue;
        }
        if let Some(name) = arch.name(key.nr) {
            out.entry(name.to_string()).or_default().insert(key.value);
        }
    }
    Ok(out)
}

/// Program `name` of the object as type `P`.
fn program<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P, ProbeError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or(ProbeError::Map(name))?
        .try_into()
        .map_err(|e| ProbeError::Program { name, source: e })
}

fn read_counters(ebpf: &Ebpf) -> Result<Counters, ProbeError> {
    let map =
        PerCpuArray::<_, u64>::try_from(ebpf.map("COUNTERS").ok_or(ProbeError::Map("COUNTERS"))?)
            .map_err(|_| ProbeError::Map("COUNTERS"))?;
    let mut counters = Counters::default();
    for (i, slot) in counters.iter_mut().enumerate() {
        *slot = map.get(&(i as u32), 0).map(|v| v.iter().sum()).unwrap_or(0);
    }
    Ok(counters)
}

/// A host name as the kernel's `CONFIG_TARGET_HOST` words: its first 16
/// bytes, NUL padded, in memory order.
fn host_words(host: &str) -> [u64; 2] {
    let mut words = [[0u8; 8]; 2];
    for (i, b) in host.bytes().take(16).enumerate() {
        words[i / 8][i % 8] = b;
    }
    words.map(u64::from_ne_bytes)
}

/// Repeated events the kernel did not send, summed over CPUs.
fn read_deduped(ebpf: &Ebpf) -> Result<u64, ProbeError> {
    let map =
        PerCpuArray::<_, u64>::try_from(ebpf.map("DEDUPED").ok_or(ProbeError::Map("DEDUPED"))?)
            .map_err(|_| ProbeError::Map("DEDUPED"))?;
    Ok(map.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(0))
}

/// The watched container as the kernel sees it: its mount namespace and its
/// host name. The namespace number alone is not enough: the kernel reuses it
/// as soon as the container is gone.
struct Target {
    mntns: u64,
    host: String,
}

impl Target {
    fn owns(&self, ev: &Event) -> bool {
        ev.mntns == self.mntns && ev.uts == self.host
    }
}

/// The ring-buffer reading task's state.
struct Reader {
    events: Vec<Event>,
    /// First mount namespace seen exec'ing under each hostname.
    uts_mntns: HashMap<String, u64>,
    target: Option<Target>,
    config: Array<MapData, u64>,
    /// The watched container's hostname (its short ID), once known.
    watched: watch::Receiver<Option<String>>,
    /// Records kept so far, by hash of the record without its thread id.
    seen: HashMap<u64, Vec<Box<[u8]>>>,
    duplicates: u64,
}

/// Where the thread id sits in a record: events that differ only there are
/// the same event (another worker doing the same thing).
const TID: std::ops::Range<usize> = {
    let at = std::mem::offset_of!(slim_ebpf_common::EventHeader, tid);
    at..at + 4
};

fn without_tid(record: &[u8]) -> (&[u8], &[u8]) {
    if record.len() >= TID.end {
        (&record[..TID.start], &record[TID.end..])
    } else {
        (record, &[])
    }
}

fn hash_without_tid(record: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    without_tid(record).hash(&mut h);
    h.finish()
}

impl Reader {
    async fn run(
        mut self,
        mut fd: AsyncFd<RingBuf<MapData>>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<Self, ProbeError> {
        // Events are written without a wakeup until much is waiting.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(DRAIN_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    self.drain(fd.get_mut());
                    return Ok(self);
                }
                Ok(()) = self.watched.changed() => self.pick_target(),
                _ = tick.tick() => self.drain(fd.get_mut()),
                guard = fd.readable_mut() => {
                    let mut guard = guard.map_err(|e| ProbeError::Reader(e.to_string()))?;
                    self.drain(guard.get_inner_mut());
                    guard.clear_ready();
                }
            }
        }
    }

    fn drain(&mut self, ring: &mut RingBuf<MapData>) {
        while let Some(item) = ring.next() {
            if self.is_duplicate(&item) {
                self.duplicates += 1;
                continue;
            }
            let Some(ev) = decode(&item) else { continue };
            let new_host = ev.kind == EventKind::Exec
                && !ev.uts.is_empty()
                && !self.uts_mntns.contains_key(&ev.uts);
            if new_host {
                self.uts_mntns.insert(ev.uts.clone(), ev.mntns);
            }
            if self.target.as_ref().is_none_or(|t| t.owns(&ev)) {
                self.events.push(ev);
            }
            if new_host {
                self.pick_target();
            }
        }
    }

    /// A server repeats the same accesses for every request: a record equal
    /// to one kept before (thread id aside) adds nothing, and is dropped
    /// before any decoding. Equality is checked on the bytes, not only the
    /// hash, so no distinct event can be lost to a collision.
    fn is_duplicate(&mut self, record: &[u8]) -> bool {
        let kept = self.seen.entry(hash_without_tid(record)).or_default();
        let key = without_tid(record);
        if kept.iter().any(|k| without_tid(k) == key) {
            return true;
        }
        kept.push(record.into());
        false
    }

    fn pick_target(&mut self) {
        if self.target.is_some() {
            return;
        }
        let Some(watched_host) = self.watched.borrow().clone() else {
            return;
        };
        let Some(&mntns) = self.uts_mntns.get(&watched_host) else {
            return;
        };
        // Narrow the kernel side to the target (host name first: the kernel
        // reads the namespace slot as "narrowing is on"); keep only its
        // events here.
        let host = host_words(&watched_host);
        let narrowed = self
            .config
            .set(CONFIG_TARGET_HOST, host[0], 0)
            .and_then(|()| self.config.set(CONFIG_TARGET_HOST + 1, host[1], 0))
            .and_then(|()| self.config.set(CONFIG_TARGET_MNTNS, mntns, 0));
        if let Err(e) = narrowed {
            tracing::warn!(error = %e, "could not narrow the probe to the target");
        }
        let target = Target {
            mntns,
            host: watched_host,
        };
        self.events.retain(|e| target.owns(e));
        self.target = Some(target);
        tracing::debug!(mntns, "target mount namespace found");
    }
}

/// CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF (linux/capability.h).
const NEEDED_CAPS: [u32; 3] = [21, 38, 39];

/// Whether this process may load and attach the programs: root, or the
/// three capabilities in its effective set.
fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))?
                .trim()
                .to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| NEEDED_CAPS.iter().all(|c| caps & (1 << c) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_words_are_the_nodename_bytes_nul_padded() {
        let [a, b] = host_words("0123456789ab");
        assert_eq!(a, u64::from_ne_bytes(*b"01234567"));
        assert_eq!(b, u64::from_ne_bytes(*b"89ab\0\0\0\0"));
        assert_eq!(host_words(""), [0, 0]);
        // Only the first 16 bytes count, as in the kernel's comparison.
        assert_eq!(
            host_words("0123456789abcdefXYZ")[1],
            u64::from_ne_bytes(*b"89abcdef")
        );
    }
}
