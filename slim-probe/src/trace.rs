//! Assembles the decoded events of one mount namespace, its syscall bitmap
//! and the drop counters into a [`Trace`]: what one container did.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use slim_ebpf_common::{
    Counter, EventKind, SyscallBits, COUNTERS, FLAG_BASE_FAILED, FLAG_BASE_OUTSIDE_ROOT,
    FLAG_BASE_TRUNCATED, FLAG_PATH_FAULT, FLAG_PATH_TRUNCATED, ROLE_OPENED,
};

use crate::{
    event::Event,
    paths::absolute,
    syscall_table::{access_kind, errno_name, Access, Arch},
};

const EFAULT: i64 = 14;
const ENAMETOOLONG: i64 = 36;

/// Everything the probe saw one container do.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trace {
    /// Every path used, sorted, with how, by whom and with what result.
    pub files: Vec<FileRecord>,
    /// Syscall names used under the container's seccomp filter, sorted.
    pub syscalls: Vec<String>,
    /// The same syscalls by number (of [`Trace::arch`]).
    pub syscall_numbers: Vec<u32>,
    pub arch: &'static str,
    /// Argument values seen per syscall (the reductions of
    /// `slim_ebpf_common::arg_syscalls`), for argument filters.
    pub arguments: BTreeMap<String, BTreeSet<u64>>,
    pub processes: Vec<Process>,
    pub events: EventStats,
}

/// One absolute path as the container saw it.
#[derive(Clone, Debug, Serialize)]
pub struct FileRecord {
    pub path: String,
    pub access: BTreeSet<Access>,
    /// Whether any access succeeded.
    pub ok: bool,
    /// Errors returned to failed accesses (e.g. `ENOENT`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub errors: BTreeSet<String>,
    /// Process ids (host pids) that used it.
    pub pids: BTreeSet<u32>,
    /// Seen only as the file an open reached through symlinks: the app
    /// named another path (kept, but no evidence of what the app asked for).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resolved_only: bool,
}

/// One process of the container (thread group, host pid).
#[derive(Clone, Debug, Serialize)]
pub struct Process {
    pub pid: u32,
    /// Host pid of the process that created it, if that one was followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    pub comm: String,
    /// Programs it executed, in order.
    pub exec: Vec<String>,
}

/// Counts that say how complete the trace is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EventStats {
    /// Distinct events of this container that were received.
    pub received: u64,
    /// Events equal to one already received (a server repeating itself),
    /// skipped before decoding; counted over all containers.
    pub duplicates: u64,
    /// Events or records lost, all reasons together: zero means complete.
    pub dropped: u64,
    pub dropped_by_reason: BTreeMap<String, u64>,
}

impl EventStats {
    fn lose(&mut self, reason: &str, n: u64) {
        if n > 0 {
            self.dropped += n;
            *self.dropped_by_reason.entry(reason.into()).or_default() += n;
        }
    }
}

/// Kernel-side counters, summed over CPUs, indexed by `Counter`.
pub(crate) type Counters = [u64; COUNTERS as usize];

pub(crate) fn assemble(
    events: &[Event],
    mntns: u64,
    bits: Option<SyscallBits>,
    counters: &Counters,
    arch: Arch,
) -> Trace {
    let mut files: BTreeMap<String, FileRecord> = BTreeMap::new();
    let mut procs: BTreeMap<u32, Process> = BTreeMap::new();
    let mut parent_of_tid: BTreeMap<u32, u32> = BTreeMap::new();
    let mut tgid_of_tid: BTreeMap<u32, u32> = BTreeMap::new();
    let mut stats = EventStats::default();

    for ev in events.iter().filter(|e| e.mntns == mntns) {
        tracing::trace!(?ev, "event");
        stats.received += 1;
        if ev.kind == EventKind::Fork {
            // Reported by the parent: its tgid is not the child's.
            parent_of_tid.insert(ev.tid, ev.ppid);
            continue;
        }
        tgid_of_tid.insert(ev.tid, ev.tgid);
        let proc = procs.entry(ev.tgid).or_insert_with(|| Process {
            pid: ev.tgid,
            ppid: None,
            comm: ev.comm.clone(),
            exec: Vec::new(),
        });
        let failed = ev.ret < 0;
        if ev.flags & FLAG_PATH_FAULT != 0 {
            // A path the task passed but that could not be read. When the
            // call itself failed with EFAULT there was no file to lose.
            if ev.ret != -EFAULT {
                stats.lose("unreadable_path", 1);
            }
            continue;
        }
        // A path of PATH_MAX bytes or more: the kernel refuses it with
        // ENAMETOOLONG before any lookup, so it is a failed lookup (of the
        // prefix read) that cannot change the image. A truncated path the
        // kernel accepted named a file the trace cannot know: lost.
        let refused = ev.flags & FLAG_PATH_TRUNCATED != 0;
        if refused && ev.ret != -ENAMETOOLONG {
            stats.lose("path_too_long", 1);
            continue;
        }
        // An open that resolved to no file of the filesystem (a pipe or a
        // socket behind /dev/stdout or /proc/self/fd/N) names no image path.
        if ev.role == ROLE_OPENED && ev.flags & FLAG_BASE_OUTSIDE_ROOT != 0 {
            continue;
        }
        if ev.flags & (FLAG_BASE_FAILED | FLAG_BASE_TRUNCATED | FLAG_BASE_OUTSIDE_ROOT) != 0 {
            // Failed calls with an unusable dirfd (EBADF) name no file.
            if !failed {
                stats.lose("unresolved_directory", 1);
            }
            continue;
        }
        let Some(raw) = &ev.path else { continue };
        let name = arch.name(ev.nr);
        // The base of a successful relative chdir/chroot was walked after the
        // call, from the new directory: that directory is the path.
        let moved = ev.kind == EventKind::Path
            && !failed
            && matches!(name, Some("chdir" | "chroot"))
            && !raw.starts_with('/');
        let path = absolute(if moved { "" } else { raw }, &ev.base);
        let access = match ev.kind {
            EventKind::Exec => {
                proc.comm = ev.comm.clone();
                proc.exec.push(path.clone());
                Access::Exec
            }
            _ => {
                let Some(kind) = name.and_then(|n| access_kind(n, ev.arg)) else {
                    continue;
                };
                kind
            }
        };
        let resolved = ev.role == ROLE_OPENED;
        let rec = files.entry(path.clone()).or_insert_with(|| FileRecord {
            path,
            access: BTreeSet::new(),
            ok: false,
            errors: BTreeSet::new(),
            pids: BTreeSet::new(),
            resolved_only: resolved,
        });
        rec.resolved_only &= resolved;
        rec.access.insert(access);
        rec.pids.insert(ev.tgid);
        if failed {
            rec.errors.insert(errno_name(-ev.ret));
        } else {
            rec.ok = true;
        }
    }
    for (tid, parent) in parent_of_tid {
        let (Some(&tgid), Some(&ptgid)) = (tgid_of_tid.get(&tid), tgid_of_tid.get(&parent)) else {
            continue;
        };
        if tgid != ptgid {
            if let Some(p) = procs.get_mut(&tgid) {
                p.ppid = Some(ptgid);
            }
        }
    }

    for counter in Counter::ALL {
        stats.lose(counter.reason(), counters[counter as usize]);
    }

    let mut syscalls = Vec::new();
    let mut numbers = Vec::new();
    if let Some(bits) = bits {
        for (w, word) in bits.words.iter().enumerate() {
            for b in 0..64 {
                if word & (1 << b) != 0 {
                    let nr = (w * 64 + b) as u32;
                    match arch.name(nr) {
                        Some(name) => {
                            numbers.push(nr);
                            syscalls.push(name.to_string());
                        }
                        None => stats.lose("unnamed_syscall", 1),
                    }
                }
            }
        }
    }
    syscalls.sort();

    Trace {
        files: files.into_values().collect(),
        syscalls,
        syscall_numbers: numbers,
        arch: arch.seccomp_arch(),
        arguments: BTreeMap::new(),
        processes: procs.into_values().collect(),
        events: stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_ebpf_common::{FLAG_BASE, PATH_MAX, SYSCALL_WORDS};

    fn ev(kind: EventKind, nr: u32, ret: i64, path: &str, base: &[&str]) -> Event {
        Event {
            kind,
            nr,
            ret,
            tgid: 100,
            tid: 100,
            mntns: 7,
            arg: 0,
            ppid: 0,
            flags: if base.is_empty() { 0 } else { FLAG_BASE },
            role: 0,
            comm: "app".into(),
            uts: String::new(),
            path: Some(path.into()),
            base: base.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn merges_accesses_per_path_and_keeps_failures() {
        let events = vec![
            ev(EventKind::Exec, 0, 0, "/bin/app", &[]),
            ev(
                EventKind::Path,
                257,
                3,
                "motd",
                &["base-files", "share", "usr"],
            ),
            ev(EventKind::Path, 262, 0, "/usr/share/base-files/motd", &[]),
            ev(EventKind::Path, 257, -2, "/missing", &[]),
            Event {
                mntns: 8,
                ..ev(EventKind::Path, 257, 3, "/other-container", &[])
            },
        ];
        let t = assemble(&events, 7, None, &Counters::default(), Arch::X86_64);
        let paths: Vec<_> = t.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/bin/app", "/missing", "/usr/share/base-files/motd"]
        );
        let motd = &t.files[2];
        assert!(motd.ok);
        assert_eq!(motd.access, [Access::Open, Access::Stat].into());
        let missing = &t.files[1];
        assert!(!missing.ok);
        assert_eq!(missing.errors, ["ENOENT".to_string()].into());
        assert_eq!(t.processes[0].exec, ["/bin/app"]);
        assert_eq!(t.events.received, 4);
        assert_eq!(t.events.dropped, 0);
    }

    #[test]
    fn a_relative_chdir_is_the_directory_walked_after_it() {
        let events = vec![ev(EventKind::Path, 80, 0, "doc", &["doc", "share", "usr"])];
        let t = assemble(&events, 7, None, &Counters::default(), Arch::X86_64);
        assert_eq!(t.files[0].path, "/usr/share/doc");
    }

    #[test]
    fn lost_paths_and_kernel_counters_are_dropped_events() {
        let mut fault = ev(EventKind::Path, 257, 3, "", &[]);
        fault.flags = FLAG_PATH_FAULT;
        fault.path = None;
        let mut efault = fault.clone();
        efault.ret = -EFAULT;
        let mut counters = Counters::default();
        counters[Counter::RingFull as usize] = 5;
        let t = assemble(&[fault, efault], 7, None, &counters, Arch::X86_64);
        assert_eq!(t.events.dropped, 6);
        assert_eq!(t.events.dropped_by_reason["ring_buffer_full"], 5);
        assert_eq!(t.events.dropped_by_reason["unreadable_path"], 1);
    }

    /// Issue #20: a path the kernel refused before any lookup is a failed
    /// lookup, not a lost event; a truncated path it accepted is lost.
    #[test]
    fn a_path_refused_as_too_long_is_a_failed_lookup() {
        let long = format!("/{}", "a".repeat(PATH_MAX - 2));
        let mut refused = ev(EventKind::Path, 257, -ENAMETOOLONG, &long, &[]);
        refused.flags = FLAG_PATH_TRUNCATED;
        let mut accepted = refused.clone();
        accepted.ret = 3;
        let t = assemble(&[refused], 7, None, &Counters::default(), Arch::X86_64);
        assert_eq!(t.events.dropped, 0, "{:?}", t.events);
        assert_eq!(t.files.len(), 1);
        assert!(!t.files[0].ok);
        assert_eq!(t.files[0].errors, ["ENAMETOOLONG".to_string()].into());
        let t = assemble(&[accepted], 7, None, &Counters::default(), Arch::X86_64);
        assert_eq!(t.events.dropped_by_reason["path_too_long"], 1);
        assert!(t.files.is_empty());
    }

    #[test]
    fn syscall_bitmap_becomes_sorted_names() {
        let mut bits = SyscallBits {
            words: [0; SYSCALL_WORDS],
        };
        for nr in [0u32, 306, 231, 60] {
            bits.words[(nr / 64) as usize] |= 1 << (nr % 64);
        }
        let t = assemble(&[], 7, Some(bits), &Counters::default(), Arch::X86_64);
        assert_eq!(t.syscalls, ["exit", "exit_group", "read", "syncfs"]);
    }

    #[test]
    fn an_open_resolves_to_the_file_the_kernel_opened() {
        let link = ev(EventKind::Path, 257, 0, "/tmp/v", &[]);
        let mut opened = ev(EventKind::Path, 257, 0, "", &["debian_version", "etc"]);
        opened.role = ROLE_OPENED;
        let mut pipe = ev(EventKind::Path, 257, 0, "", &[]);
        pipe.role = ROLE_OPENED;
        pipe.flags = FLAG_BASE_OUTSIDE_ROOT;
        let t = assemble(
            &[link, opened, pipe],
            7,
            None,
            &Counters::default(),
            Arch::X86_64,
        );
        let paths: Vec<_> = t.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/etc/debian_version", "/tmp/v"]);
        assert!(t.files[0].resolved_only && !t.files[1].resolved_only);
        assert_eq!(t.events.dropped, 0, "a pipe behind an open is no loss");
    }
}
