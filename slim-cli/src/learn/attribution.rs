//! Which seccomp audit records are the slim image's: the containers named
//! (`--container`, `--image`) as [`Scope`]s, from the engine and /proc,
//! and per record a [`Verdict`] ([`attribute`]): a record within a
//! container's lifetime made by one of its processes, or, once that
//! process exited, by an executable the container holds, or by anything
//! when the container has stopped (then only the time ties it). What
//! attribution asks of the host goes through [`Host`], so the rules are
//! tested without containers; [`ProcHost`] answers from /proc.
use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::time;
use crate::{
    engine::{self, EngineKind},
    seccomp::audit::Record,
};

/// Who made a learned syscall: one executable (as the process saw its
/// path) in one container, with the pids and calls seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// How the records were tied to the container: `pid` (a process of
    /// it), `exe` (the process has exited; its executable is in the
    /// container), `time` (no container named, or it has stopped).
    pub attributed_by: &'static str,
    pub pids: BTreeSet<u32>,
    pub calls: u64,
}

/// A container whose records count, as the engine and /proc describe it.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub name: String,
    pub id: String,
    pub running: bool,
    /// Seconds since the epoch (the window's start: --since, if given).
    #[serde(serialize_with = "time::as_rfc3339")]
    pub started: f64,
    /// When it stopped (None: it runs).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "time::option_as_rfc3339"
    )]
    pub finished: Option<f64>,
    /// Its mount namespace, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnt_ns: Option<u64>,
    /// The host pid of its init, while it runs.
    #[serde(skip)]
    pub pid: Option<u32>,
}

/// Records a few seconds outside a container's start and finish still
/// count: the engine stamps those times around the runtime's work.
pub const SLACK_SECONDS: f64 = 2.0;

/// What attribution needs of the host (a seam for the tests).
pub trait Host {
    /// The mount namespace of the process `pid`, if it exists and already
    /// existed at `time` (a pid reused since is another process).
    fn mnt_ns_at(&self, pid: u32, time: f64) -> Option<u64>;
    /// Whether `exe` exists in the running container `scope`'s filesystem.
    fn has_exe(&self, scope: &Scope, exe: &str) -> bool;
}

/// Whose record it is, or why it is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Claimed {
        container: Option<String>,
        by: &'static str,
    },
    /// Before --since, or outside every container's lifetime.
    OutsideWindow,
    /// Made by a process of another container (or of the host).
    OtherProcess,
    /// The line has no time, and a window applies.
    NoTime,
}

/// Whether record `r` is the slim image's: with no container named, every
/// record since `since`; else a record within a container's lifetime made
/// by one of its processes (still alive), or, once that process exited, by
/// an executable the running container holds, or by anything when the
/// container has stopped (then only the time ties it).
pub fn attribute(r: &Record, scopes: &[Scope], since: Option<f64>, host: &impl Host) -> Verdict {
    let windowed = since.is_some() || !scopes.is_empty();
    let Some(t) = r.time else {
        return if windowed {
            Verdict::NoTime
        } else {
            Verdict::Claimed {
                container: None,
                by: "time",
            }
        };
    };
    if since.is_some_and(|s| t < s) {
        return Verdict::OutsideWindow;
    }
    if scopes.is_empty() {
        return Verdict::Claimed {
            container: None,
            by: "time",
        };
    }
    let mut in_window = false;
    let alive = host.mnt_ns_at(r.pid, t);
    for s in scopes {
        let end = s.finished.unwrap_or(f64::INFINITY);
        if t < s.started - SLACK_SECONDS || t > end + SLACK_SECONDS {
            continue;
        }
        in_window = true;
        let claim = |by| Verdict::Claimed {
            container: Some(s.name.clone()),
            by,
        };
        match (alive, s.mnt_ns) {
            (Some(ns), Some(own)) if ns == own => return claim("pid"),
            // A live process elsewhere: not this container's.
            (Some(_), _) => continue,
            (None, _) if !s.running => return claim("time"),
            (None, _) => {
                if r.exe.as_deref().is_some_and(|e| host.has_exe(s, e)) {
                    return claim("exe");
                }
            }
        }
    }
    if in_window {
        Verdict::OtherProcess
    } else {
        Verdict::OutsideWindow
    }
}

/// Adds one claimed record to the callers of its syscall.
pub fn add_caller(
    callers: &mut Vec<Caller>,
    r: &Record,
    container: Option<String>,
    by: &'static str,
) {
    let found = callers.iter_mut().find(|c| {
        c.exe == r.exe && c.comm == r.comm && c.container == container && c.attributed_by == by
    });
    match found {
        Some(c) => {
            c.calls += 1;
            c.pids.insert(r.pid);
        }
        None => callers.push(Caller {
            exe: r.exe.clone(),
            comm: r.comm.clone(),
            container,
            attributed_by: by,
            pids: [r.pid].into(),
            calls: 1,
        }),
    }
}

/// The `containers` (names or IDs) and the containers of `image`
/// (running or stopped), as `engine` and /proc describe them; `since`
/// replaces their start as the window's. None named: no scope (every
/// record counts).
pub async fn scopes(
    engine: EngineKind,
    containers: &[String],
    image: Option<&str>,
    since: Option<f64>,
) -> Result<Vec<Scope>> {
    if containers.is_empty() && image.is_none() {
        return Ok(Vec::new());
    }
    let engine = engine::connect(engine).await?;
    let mut ids = containers.to_vec();
    if let Some(image) = image {
        use bollard::container::ListContainersOptions;
        let filters = std::collections::HashMap::from([("ancestor", vec![image])]);
        let found = engine
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .with_context(|| format!("cannot list the containers of {image}"))?;
        if found.is_empty() {
            bail!(
                "no container of image {image} in {}: name one with --container, or leave both out",
                engine.kind.name()
            );
        }
        ids.extend(found.into_iter().filter_map(|c| c.id));
    }
    let mut out = Vec::new();
    for id in ids {
        let c = engine
            .inspect_container(&id, None)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => anyhow::anyhow!(
                    "no container {id} in {}: name one that ran the slim image (docker ps -a)",
                    engine.kind.name()
                ),
                e => anyhow::anyhow!("cannot inspect container {id}: {e}"),
            })?;
        let state = c.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let time = |t: Option<String>| {
            t.filter(|t| !t.starts_with("0001"))
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_micros() as f64 / 1e6)
        };
        let Some(started) = time(state.started_at) else {
            bail!("container {id} never started: nothing of it can be in the log");
        };
        let pid = state.pid.filter(|p| running && *p > 0).map(|p| p as u32);
        out.push(Scope {
            name: c
                .name
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| engine::short(&id).to_string()),
            id: c.id.unwrap_or(id),
            running,
            started: since.unwrap_or(started),
            finished: if running {
                None
            } else {
                time(state.finished_at)
            },
            mnt_ns: pid.and_then(mnt_ns),
            pid,
        });
    }
    Ok(out)
}

/// The mount namespace of process `pid` (which container it is in).
fn mnt_ns(pid: u32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    link.to_str()?
        .strip_prefix("mnt:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The host, as /proc shows it.
pub struct ProcHost {
    boot: f64,
    ticks: f64,
}

impl ProcHost {
    pub fn new() -> Self {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcHost {
            boot: time::boot(),
            ticks: if ticks > 0 { ticks as f64 } else { 100.0 },
        }
    }

    /// When process `pid` started, in seconds since the epoch.
    fn started(&self, pid: u32) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 22, counted after the command's closing parenthesis.
        let rest = &stat[stat.rfind(')')? + 2..];
        let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(self.boot + ticks / self.ticks)
    }
}

impl Default for ProcHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Host for ProcHost {
    fn mnt_ns_at(&self, pid: u32, time: f64) -> Option<u64> {
        // Started after the record (with a second for the clocks): the pid
        // was reused, the record's process is gone.
        if self.started(pid)? > time + 1.0 {
            return None;
        }
        mnt_ns(pid)
    }

    fn has_exe(&self, scope: &Scope, exe: &str) -> bool {
        let Some(pid) = scope.pid else {
            return false;
        };
        let inside = exe.trim_start_matches('/');
        !inside.is_empty()
            && !exe.split('/').any(|c| c == "..")
            && std::fs::symlink_metadata(format!("/proc/{pid}/root/{inside}")).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::seccomp::audit::{RecordArch, Syscall, RET_LOG};

    struct FakeHost {
        live: BTreeMap<u32, (u64, f64)>,
        files: BTreeSet<&'static str>,
    }

    impl Host for FakeHost {
        fn mnt_ns_at(&self, pid: u32, time: f64) -> Option<u64> {
            self.live
                .get(&pid)
                .filter(|(_, started)| *started <= time)
                .map(|(ns, _)| *ns)
        }
        fn has_exe(&self, _: &Scope, exe: &str) -> bool {
            self.files.contains(exe)
        }
    }

    fn rec(pid: u32, time: f64, exe: &str) -> Record {
        Record {
            time: Some(time),
            serial: Some(1),
            pid,
            comm: None,
            exe: Some(exe.into()),
            arch: RecordArch::Known(slim_probe::Arch::X86_64),
            compat: false,
            syscall: Syscall::Number(140),
            code: RET_LOG,
        }
    }

    fn scope(running: bool) -> Scope {
        Scope {
            name: "web".into(),
            id: "abc".into(),
            running,
            started: 1000.0,
            finished: (!running).then_some(2000.0),
            mnt_ns: running.then_some(7),
            pid: running.then_some(10),
        }
    }

    #[test]
    fn attributes_by_pid_then_by_exe_and_leaves_out_the_rest() {
        let host = FakeHost {
            // 10 runs in the container, 11 in another one, 12 is a pid
            // reused after the record.
            live: [(10, (7, 900.0)), (11, (8, 900.0)), (12, (7, 1600.0))].into(),
            files: ["/learn-server"].into(),
        };
        let scopes = [scope(true)];
        let claim = |by| Verdict::Claimed {
            container: Some("web".into()),
            by,
        };
        let v = |r: &Record| attribute(r, &scopes, None, &host);
        assert_eq!(v(&rec(10, 1500.0, "/learn-server")), claim("pid"));
        assert_eq!(v(&rec(11, 1500.0, "/learn-server")), Verdict::OtherProcess);
        // Exited (or reused since): the executable must be the container's.
        assert_eq!(v(&rec(99, 1500.0, "/learn-server")), claim("exe"));
        assert_eq!(v(&rec(12, 1500.0, "/learn-server")), claim("exe"));
        assert_eq!(v(&rec(99, 1500.0, "/usr/bin/other")), Verdict::OtherProcess);
        assert_eq!(v(&rec(10, 900.0, "/learn-server")), Verdict::OutsideWindow);
        assert_eq!(v(&rec(10, 999.0, "/learn-server")), claim("pid"), "slack");
        let mut no_time = rec(10, 0.0, "/x");
        no_time.time = None;
        assert_eq!(v(&no_time), Verdict::NoTime);
        // --since cuts first.
        assert_eq!(
            attribute(
                &rec(10, 1500.0, "/learn-server"),
                &scopes,
                Some(1600.0),
                &host
            ),
            Verdict::OutsideWindow
        );
    }

    #[test]
    fn a_stopped_container_claims_by_time_and_no_container_claims_everything() {
        let host = FakeHost {
            live: [(11, (8, 900.0))].into(),
            files: BTreeSet::new(),
        };
        let stopped = [scope(false)];
        assert_eq!(
            attribute(&rec(99, 1500.0, "/x"), &stopped, None, &host),
            Verdict::Claimed {
                container: Some("web".into()),
                by: "time"
            }
        );
        assert_eq!(
            attribute(&rec(99, 2500.0, "/x"), &stopped, None, &host),
            Verdict::OutsideWindow
        );
        assert_eq!(
            attribute(&rec(11, 1500.0, "/x"), &stopped, None, &host),
            Verdict::OtherProcess,
            "a process that still lives was not the stopped container's"
        );
        assert_eq!(
            attribute(&rec(11, 1500.0, "/x"), &[], Some(1000.0), &host),
            Verdict::Claimed {
                container: None,
                by: "time"
            }
        );
    }

    #[test]
    fn callers_group_by_executable() {
        let mut callers = Vec::new();
        add_caller(&mut callers, &rec(10, 1.0, "/a"), Some("web".into()), "pid");
        add_caller(&mut callers, &rec(11, 1.0, "/a"), Some("web".into()), "pid");
        add_caller(&mut callers, &rec(12, 1.0, "/b"), Some("web".into()), "exe");
        assert_eq!(callers.len(), 2);
        assert_eq!(callers[0].calls, 2);
        assert_eq!(callers[0].pids, [10, 11].into());
    }
}
