//! Loads and attaches the eBPF programs, reads the ring buffer while the
//! container runs, and turns everything into a [`Trace`] when it is done.
use std::{
    collections::{HashMap, HashSet},
    hash::{Hash, Hasher},
    os::unix::fs::MetadataExt,
};

use aya::{
    maps::{Array, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{RawTracePoint, TracePoint},
    Ebpf, EbpfLoader,
};
use slim_ebpf_common::{Counter, EventKind, SyscallBits, DRAIN_INTERVAL_MS};
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

/// Raw tracepoints: called on every syscall of the machine, so the cheapest
/// kind (no perf trace buffer is filled for them).
const RAW_PROGRAMS: [&str; 2] = ["sys_enter", "sys_exit"];

const PROGRAMS: [(&str, &str, &str); 3] = [
    ("sched_process_exec", "sched", "sched_process_exec"),
    ("sched_process_fork", "sched", "sched_process_fork"),
    ("sched_process_exit", "sched", "sched_process_exit"),
];

/// The attached probe. Records every task outside slim's own mount namespace
/// until [`Probe::finish`] picks the target container's share.
pub struct Probe {
    ebpf: Ebpf,
    host_mntns: u64,
    watch: watch::Sender<Option<String>>,
    stop: Option<oneshot::Sender<()>>,
    reader: JoinHandle<Result<Reader, ProbeError>>,
}

/// The mount namespace inode of a process (`/proc/PID/ns/mnt`).
pub fn mntns_of(pid: &str) -> std::io::Result<u64> {
    Ok(std::fs::metadata(format!("/proc/{pid}/ns/mnt"))?.ino())
}

impl Probe {
    /// Loads the programs and attaches them. Call it before the container is
    /// created: from then on nothing the container does is missed. Must run
    /// inside a tokio runtime (the ring buffer is read by a task).
    pub fn attach() -> Result<Self, ProbeError> {
        let layout = kernel_layout()?;
        let host_mntns = mntns_of("self").map_err(|e| ProbeError::Host(e.to_string()))?;
        let mut ebpf = EbpfLoader::new()
            .override_global("LAYOUT", &layout, true)
            .override_global("HOST_MNTNS", &host_mntns, true)
            .load(OBJECT)
            .map_err(ProbeError::from_load)?;
        let events = RingBuf::try_from(ebpf.take_map("EVENTS").ok_or(ProbeError::Map("EVENTS"))?)
            .map_err(|_| ProbeError::Map("EVENTS"))?;
        let config: Array<MapData, u64> =
            Array::try_from(ebpf.take_map("CONFIG").ok_or(ProbeError::Map("CONFIG"))?)
                .map_err(|_| ProbeError::Map("CONFIG"))?;
        for name in RAW_PROGRAMS {
            let prog: &mut RawTracePoint = loaded(&mut ebpf, name)?;
            prog.attach(name)
                .map_err(|e| ProbeError::Program { name, source: e })?;
        }
        for (name, category, tracepoint) in PROGRAMS {
            let prog: &mut TracePoint = loaded(&mut ebpf, name)?;
            prog.attach(category, tracepoint)
                .map_err(|e| ProbeError::Program { name, source: e })?;
        }
        let (watch_tx, watch_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let reader = Reader {
            events: Vec::new(),
            uts_mntns: HashMap::new(),
            target: None,
            config,
            seen: HashSet::new(),
            duplicates: 0,
        };
        // SAFETY: the ring buffer owns its fd and lives inside the AsyncFd.
        let fd =
            unsafe { AsyncFd::register(events) }.map_err(|e| ProbeError::Reader(e.to_string()))?;
        let reader = tokio::spawn(reader.run(fd, watch_rx, stop_rx));
        tracing::debug!(host_mntns, "probe attached");
        Ok(Self {
            ebpf,
            host_mntns,
            watch: watch_tx,
            stop: Some(stop_tx),
            reader,
        })
    }

    /// Slim's own mount namespace, which the probe ignores.
    pub fn host_mntns(&self) -> u64 {
        self.host_mntns
    }

    /// Names the container to keep (its full ID). From its first exec on, the
    /// kernel side narrows to its mount namespace.
    pub fn watch_container(&self, id: &str) {
        let short: String = id.chars().take(12).collect();
        let _ = self.watch.send(Some(short));
    }

    /// Stops reading after draining every event, and assembles the trace of
    /// the watched container. Call it after the container has stopped.
    pub async fn finish(self) -> Result<Trace, ProbeError> {
        let Probe {
            ebpf, stop, reader, ..
        } = self;
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let reader = reader
            .await
            .map_err(|e| ProbeError::Reader(e.to_string()))??;
        let mntns = reader.target.ok_or(ProbeError::NotSeen)?;
        let bits = read_bits(&ebpf, mntns)?;
        let counters = read_counters(&ebpf)?;
        tracing::debug!(duplicates = reader.duplicates, "duplicate events skipped");
        // Detaching waits for an RCU grace period per tracepoint; nothing
        // needs to wait for it, so it happens on a thread of its own.
        std::thread::spawn(move || drop(ebpf));
        let mut trace = assemble(&reader.events, mntns, bits, &counters, Arch::native());
        trace.events.duplicates = reader.duplicates;
        Ok(trace)
    }
}

/// The target's syscall bitmap, ORed over CPUs.
fn read_bits(ebpf: &Ebpf, mntns: u64) -> Result<Option<SyscallBits>, ProbeError> {
    let map = PerCpuHashMap::<_, u64, SyscallBits>::try_from(
        ebpf.map("SYSCALLS").ok_or(ProbeError::Map("SYSCALLS"))?,
    )
    .map_err(|_| ProbeError::Map("SYSCALLS"))?;
    Ok(map.get(&mntns, 0).ok().map(|per_cpu| {
        let mut all = SyscallBits {
            words: [0; slim_ebpf_common::SYSCALL_WORDS],
        };
        for cpu in per_cpu.iter() {
            for (a, b) in all.words.iter_mut().zip(cpu.words) {
                *a |= b;
            }
        }
        all
    }))
}

/// Program `name` of the object as type `P`, loaded into the kernel.
fn loaded<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P, ProbeError>
where
    P: 'a + LoadNoArgs,
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let prog: &mut P = ebpf
        .program_mut(name)
        .ok_or(ProbeError::Map(name))?
        .try_into()
        .map_err(|e| ProbeError::Program { name, source: e })?;
    prog.load_program()
        .map_err(|e| ProbeError::Program { name, source: e })?;
    Ok(prog)
}

/// The `load()` both tracepoint kinds have (aya has no trait for it).
trait LoadNoArgs {
    fn load_program(&mut self) -> Result<(), aya::programs::ProgramError>;
}

impl LoadNoArgs for TracePoint {
    fn load_program(&mut self) -> Result<(), aya::programs::ProgramError> {
        self.load()
    }
}

impl LoadNoArgs for RawTracePoint {
    fn load_program(&mut self) -> Result<(), aya::programs::ProgramError> {
        self.load()
    }
}

fn read_counters(ebpf: &Ebpf) -> Result<Counters, ProbeError> {
    let map =
        PerCpuArray::<_, u64>::try_from(ebpf.map("COUNTERS").ok_or(ProbeError::Map("COUNTERS"))?)
            .map_err(|_| ProbeError::Map("COUNTERS"))?;
    let sum = |c: Counter| -> u64 { map.get(&(c as u32), 0).map(|v| v.iter().sum()).unwrap_or(0) };
    Ok(Counters {
        ring_full: sum(Counter::RingFull),
        pending_full: sum(Counter::PendingFull),
        tracked_full: sum(Counter::TrackedFull),
        bitmap_full: sum(Counter::BitmapFull),
        syscall_out_of_range: sum(Counter::SyscallOutOfRange),
    })
}

/// The ring-buffer reading task's state.
struct Reader {
    events: Vec<Event>,
    /// First mount namespace seen exec'ing under each hostname.
    uts_mntns: HashMap<String, u64>,
    target: Option<u64>,
    config: Array<MapData, u64>,
    seen: HashSet<u64>,
    duplicates: u64,
}

/// A hash of a record with its thread id zeroed.
fn dedup_key(record: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let tid = std::mem::offset_of!(slim_ebpf_common::EventHeader, tid);
    if record.len() >= tid + 4 {
        record[..tid].hash(&mut h);
        record[tid + 4..].hash(&mut h);
    } else {
        record.hash(&mut h);
    }
    h.finish()
}

impl Reader {
    async fn run(
        mut self,
        mut fd: AsyncFd<RingBuf<MapData>>,
        mut watch: watch::Receiver<Option<String>>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<Self, ProbeError> {
        let mut watched: Option<String> = None;
        // Events are written without a wakeup until much is waiting.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(DRAIN_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    watched = watch.borrow().clone().or(watched);
                    self.drain(fd.get_mut(), watched.as_deref());
                    return Ok(self);
                }
                changed = watch.changed() => {
                    if changed.is_ok() {
                        watched = watch.borrow().clone();
                        self.pick_target(watched.as_deref());
                    }
                }
                _ = tick.tick() => {
                    self.drain(fd.get_mut(), watched.as_deref());
                }
                guard = fd.readable_mut() => {
                    let mut guard = guard.map_err(|e| ProbeError::Reader(e.to_string()))?;
                    self.drain(guard.get_inner_mut(), watched.as_deref());
                    guard.clear_ready();
                }
            }
        }
    }

    fn drain(&mut self, ring: &mut RingBuf<MapData>, watched: Option<&str>) {
        while let Some(item) = ring.next() {
            // A server repeats the same accesses for every request: an event
            // equal to one seen before (thread id aside) adds nothing, and
            // is dropped here before any decoding or allocation.
            if !self.seen.insert(dedup_key(&item)) {
                self.duplicates += 1;
                continue;
            }
            let Some(ev) = decode(&item) else { continue };
            if ev.kind == EventKind::Exec && !ev.uts.is_empty() {
                let first = !self.uts_mntns.contains_key(&ev.uts);
                self.uts_mntns.entry(ev.uts.clone()).or_insert(ev.mntns);
                if first && self.target.is_none() {
                    self.events.push(ev);
                    self.pick_target(watched);
                    continue;
                }
            }
            if self.target.is_none_or(|t| t == ev.mntns) {
                self.events.push(ev);
            }
        }
    }

    fn pick_target(&mut self, watched: Option<&str>) {
        if self.target.is_some() {
            return;
        }
        let Some(mntns) = watched.and_then(|w| self.uts_mntns.get(w)).copied() else {
            return;
        };
        self.target = Some(mntns);
        // Narrow the kernel side to the target; keep only its events here.
        if let Err(e) = self.config.set(0, mntns, 0) {
            tracing::warn!(error = %e, "could not narrow the probe to the target");
        }
        self.events.retain(|e| e.mntns == mntns);
        tracing::debug!(mntns, "target mount namespace found");
    }
}
