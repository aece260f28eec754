//! One watched run of an image: attach the probe, create and start the
//! container, drive the probes, stop it as `--continue-after` says, and
//! collect the trace. Containers are registered in [`Cleanup`] so they are
//! removed whatever happens, Ctrl-C included.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use slim_probe::{Probe, Trace};

use crate::{
    engine::{self, ContainerRuntime, EngineKind, RunSpec},
    probes::{self, ProbeResult},
    progress::Steps,
};

/// What to remove when the command ends, however it ends (main runs it
/// after the command, also on a signal): the containers of registered
/// sessions, and images slim loaded into the engine to run them. A run is
/// registered by its session before its container is created (a signal can
/// arrive while the engine creates it, before slim knows its id), and
/// cleanup removes whatever carries a registered session's label.
#[derive(Clone, Default)]
pub struct Cleanup(Arc<Mutex<Registered>>);

#[derive(Default)]
struct Registered {
    engine: Option<EngineKind>,
    sessions: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engine cleanup connects to.
    pub fn set_engine(&self, kind: EngineKind) {
        self.lock().engine = Some(kind);
    }

    pub fn register(&self, session: &str) {
        self.lock().sessions.push(session.to_string());
    }

    /// An image slim loaded, to remove at the end.
    pub fn register_image(&self, id: &str) {
        self.lock().images.push(id.to_string());
    }

    /// Removes the container `id` of `session` now and forgets the session.
    async fn remove<R: ContainerRuntime>(&self, rt: &R, id: &str, session: &str) -> Result<()> {
        rt.remove(id).await?;
        self.lock().sessions.retain(|s| s != session);
        Ok(())
    }

    pub async fn run(&self) {
        let (kind, sessions, images) = {
            let mut r = self.lock();
            (
                r.engine.unwrap_or(EngineKind::Docker),
                std::mem::take(&mut r.sessions),
                std::mem::take(&mut r.images),
            )
        };
        if sessions.is_empty() && images.is_empty() {
            return;
        }
        let Ok(engine) = engine::connect(kind).await else {
            eprintln!(
                "slim: warning: cannot reach {} to remove the containers of runs {sessions:?} and images {images:?}",
                kind.name()
            );
            return;
        };
        for session in sessions {
            if let Err(e) = engine::api::remove_session(&engine, &session).await {
                eprintln!("slim: warning: {e:#}");
            }
        }
        for image in images {
            if let Err(e) = engine::api::remove_image(&engine, &image).await {
                eprintln!("slim: warning: {e:#}");
            }
        }
    }
}

/// When the watched run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContinueAfter {
    /// After the probes.
    Probe,
    /// When the container exits by itself.
    Exit,
    /// This many seconds after the probes (or when it exits, if sooner).
    Seconds(u64),
}

/// How the container is exercised while it is watched.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The probes, in order (the short forms spelled out as entries).
    pub script: probes::Script,
    /// Whether --http-probe was given (not the default).
    pub http_given: bool,
    pub ready_cmd: Option<String>,
    /// None: probe when there are ports or probes, else exit.
    pub continue_after: Option<ContinueAfter>,
    pub stop_timeout: i64,
    pub ready_timeout: Duration,
    /// How the container is started beyond the image's config.
    pub run: engine::RunOptions,
}

/// How a session runs the container.
#[derive(Default)]
pub struct Options {
    /// Attach the probe and return a trace.
    pub trace: bool,
    /// Run under this seccomp profile (JSON) instead of Docker's default.
    pub seccomp: Option<String>,
}

/// What a session produced.
pub struct Outcome {
    pub trace: Option<Trace>,
    pub probes: Vec<ProbeResult>,
    /// The probes that ran, as entries: what --verify replays.
    pub replay: Vec<probes::Entry>,
    /// --http-crawl: the pages it visited.
    pub crawl: Option<probes::crawl::Summary>,
    pub exit_code: Option<i64>,
    /// "slim" when slim stopped the container, "itself" when it exited.
    pub stopped_by: &'static str,
    /// How slim stopped it (None when it exited by itself).
    pub stop: Option<engine::StopRecord>,
}

/// A unique, short name for this run's containers.
pub fn session_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:08x}", std::process::id(), nanos)
}

pub async fn run<R: ContainerRuntime>(
    rt: &R,
    image_ref: &str,
    tcp_ports: &[u16],
    plan: &Plan,
    opts: &Options,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Outcome> {
    if plan.http_given && tcp_ports.is_empty() {
        bail!("--http-probe needs an exposed TCP port, and {image_ref} exposes none");
    }
    plan.script.check(tcp_ports)?;
    let continue_after =
        plan.continue_after
            .unwrap_or(if tcp_ports.is_empty() && !plan.script.has_commands() {
                ContinueAfter::Exit
            } else {
                ContinueAfter::Probe
            });

    // A run without the probe is a verification: its time counts as such.
    let stage = |name: &'static str| if opts.trace { name } else { "verify" };
    let probe = if opts.trace {
        steps.step("attach", "attaching the eBPF probe");
        Some(Probe::attach().context("cannot attach the eBPF probe")?)
    } else {
        None
    };

    steps.step(
        stage("start"),
        &format!("starting a container of {image_ref}"),
    );
    let session = session_name();
    cleanup.register(&session);
    let id = rt
        .create(&RunSpec {
            image: image_ref,
            ports: tcp_ports,
            session: &session,
            seccomp: opts.seccomp.as_deref(),
            run: &plan.run,
        })
        .await?;
    if let Some(p) = &probe {
        // The probe tells the container by its host name: the short ID,
        // unless --hostname gave it another.
        match &plan.run.hostname {
            Some(name) => p.watch_hostname(name),
            None => p.watch_container(&id),
        }
    }
    rt.start(&id).await?;
    let ports: HashMap<u16, u16> = rt.published_ports(&id).await?;

    steps.step(stage("probe"), "probing");
    if plan.script.sends_http() && tcp_ports.iter().any(|p| !ports.contains_key(p)) {
        // A container that already exited has no published ports.
        let (running, code) = rt.state(&id).await?;
        if !running {
            let logs = rt.logs_tail(&id, 5).await;
            bail!(
                "the container exited at once (exit code {}) before it served its ports; its last output:\n{logs}",
                code.map_or("unknown".to_string(), |c| c.to_string())
            );
        }
    }
    let driven = probes::drive(
        rt,
        &id,
        tcp_ports,
        &ports,
        &plan.script,
        plan.ready_cmd.as_deref(),
        plan.ready_timeout,
    )
    .await?;

    steps.step(stage("stop"), "stopping the container");
    let (stopped_by, stop) = match continue_after {
        ContinueAfter::Probe => ("slim", Some(rt.stop(&id, plan.stop_timeout).await?)),
        ContinueAfter::Exit => {
            steps.step(stage("run"), "waiting for the container to exit");
            rt.wait_exit(&id, None).await?;
            ("itself", None)
        }
        ContinueAfter::Seconds(n) => {
            steps.step(stage("run"), "letting the container run");
            if rt.wait_exit(&id, Some(Duration::from_secs(n))).await? {
                ("itself", None)
            } else {
                ("slim", Some(rt.stop(&id, plan.stop_timeout).await?))
            }
        }
    };
    let (_, exit_code) = rt.state(&id).await?;

    let trace = match probe {
        Some(p) => {
            steps.step("trace", "collecting the trace");
            Some(p.finish().await.context("the probe failed")?)
        }
        None => None,
    };
    cleanup.remove(rt, &id, &session).await?;
    Ok(Outcome {
        trace,
        probes: driven.results,
        replay: driven.replay,
        crawl: driven.crawl,
        exit_code,
        stopped_by,
        stop,
    })
}
