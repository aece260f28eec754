//! The user-space side of slim's eBPF probe.
//!
//! [`Probe::attach`] reads kernel offsets (BTF, tracefs), loads the programs of
//! `ebpf/probe` and attaches them to tracepoints before the container exists.
//! [`Probe::watch_container`] names the container; [`Probe::finish`] drains the
//! ring buffer and returns a [`Trace`]: the container's files (absolute paths
//! with access kinds, results and processes), its syscalls (named per
//! architecture), its processes, and how many events were lost.
//!
//! Data flow: kernel events → `event` (decode) → `paths` (absolute) →
//! `trace` (merge per path, name syscalls, count losses).
mod event;
mod layout;
mod paths;
mod probe;
mod syscall_table;
mod trace;

pub use probe::Probe;
/// The syscalls whose argument values the probe records (issue #21).
pub use slim_ebpf_common::arg_syscalls;
/// The `events.dropped_by_reason` key of argument values the kernel could
/// not record (its map was full).
pub const ARG_MAP_FULL: &str = slim_ebpf_common::Counter::ArgMapFull.reason();
pub use syscall_table::{Access, Arch};
pub use trace::{EventStats, FileRecord, Process, Trace};

/// What can go wrong while probing.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot read {what} from the kernel's BTF: {reason}")]
    Btf { what: String, reason: String },
    #[error("tracefs is not mounted; mount it with: mount -t tracefs nodev /sys/kernel/tracing")]
    Tracefs,
    #[error("cannot read the format of tracepoint {event}: {reason}")]
    Format { event: String, reason: String },
    #[error("loading the eBPF programs needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)")]
    Permission,
    #[error("loading the eBPF programs failed: {0}")]
    Load(String),
    #[error("eBPF program {name} could not be loaded or attached: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map {0} is missing or has the wrong type")]
    Map(&'static str),
    #[error("cannot read slim's own mount namespace: {0}")]
    Host(String),
    #[error("reading probe events failed: {0}")]
    Reader(String),
    #[error("the probe saw no process of the container exec; it may have failed to start")]
    NotSeen,
}

impl ProbeError {
    fn from_load(e: aya::EbpfError) -> Self {
        let text = format!("{e:#}");
        if text.contains("Operation not permitted") || text.contains("EPERM") {
            ProbeError::Permission
        } else {
            ProbeError::Load(text)
        }
    }
}
