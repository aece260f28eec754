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
use bollard::Docker;
use slim_probe::{Probe, Trace};

use crate::{
    cli::{ContinueAfter, ProbeArgs},
    docker::{self, ImageInfo},
    probes::{self, HttpProbe, ProbeResult},
    progress::Steps,
};

/// Containers to remove when the command ends, however it ends (main runs
/// it after the command, also on a signal). A run is registered by its
/// session before its container is created (a signal can arrive while the
/// engine creates it, before slim knows its id), and cleanup removes
/// whatever carries a registered session's label.
#[derive(Clone, Default)]
pub struct Cleanup(Arc<Mutex<Vec<String>>>);

impl Cleanup {
    fn sessions(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register(&self, session: &str) {
        self.sessions().push(session.to_string());
    }

    /// Removes the container `id` of `session` now and forgets the session.
    async fn remove(&self, docker: &Docker, id: &str, session: &str) -> Result<()> {
        docker::remove(docker, id).await?;
        self.sessions().retain(|s| s != session);
        Ok(())
    }

    pub async fn run(&self) {
        let sessions = std::mem::take(&mut *self.sessions());
        if sessions.is_empty() {
            return;
        }
        let Ok(docker) = docker::connect().await else {
            eprintln!(
                "slim: warning: cannot reach Docker to remove the containers of runs {sessions:?}"
            );
            return;
        };
        for session in sessions {
            if let Err(e) = docker::remove_session(&docker, &session).await {
                eprintln!("slim: warning: {e:#}");
            }
        }
    }
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
    pub exit_code: Option<i64>,
    /// "slim" when slim stopped the container, "itself" when it exited.
    pub stopped_by: &'static str,
}

/// A unique, short name for this run's containers.
pub fn session_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:08x}", std::process::id(), nanos)
}

pub async fn run(
    docker: &Docker,
    image_ref: &str,
    image: &ImageInfo,
    args: &ProbeArgs,
    opts: &Options,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Outcome> {
    let http: Vec<HttpProbe> = if args.no_http_probe {
        Vec::new()
    } else if args.http_probe.is_empty() {
        vec![HttpProbe {
            method: "GET".into(),
            path: "/".into(),
        }]
    } else {
        args.http_probe
            .iter()
            .map(|s| HttpProbe::parse(s))
            .collect::<Result<_>>()?
    };
    if !args.http_probe.is_empty() && image.tcp_ports.is_empty() {
        bail!("--http-probe needs an exposed TCP port, and {image_ref} exposes none");
    }
    let continue_after = args.continue_after.unwrap_or(
        if image.tcp_ports.is_empty() && args.exec.is_empty() && args.host_exec.is_empty() {
            ContinueAfter::Exit
        } else {
            ContinueAfter::Probe
        },
    );

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
    let id = docker::create(
        docker,
        image_ref,
        &image.tcp_ports,
        &session,
        opts.seccomp.as_deref(),
    )
    .await?;
    if let Some(p) = &probe {
        p.watch_container(&id);
    }
    docker::start(docker, &id).await?;
    let ports: HashMap<u16, u16> = docker::published_ports(docker, &id).await?;

    steps.step(stage("probe"), "probing");
    let mut results = Vec::new();
    if !http.is_empty() {
        for &cport in &image.tcp_ports {
            let Some(&hport) = ports.get(&cport) else {
                // A container that already exited has no published ports.
                let (running, code) = docker::state(docker, &id).await?;
                if !running {
                    let logs = docker::logs_tail(docker, &id, 5).await;
                    bail!(
                        "the container exited at once (exit code {}) before it served port {cport}; its last output:\n{logs}",
                        code.map_or("unknown".to_string(), |c| c.to_string())
                    );
                }
                bail!("port {cport} of the container was not published");
            };
            probes::wait_ready(docker, &id, hport, Duration::from_secs(args.ready_timeout)).await?;
            for p in &http {
                results.push(probes::http(p, cport, hport).await?);
            }
        }
    }
    let commands = !args.exec.is_empty() || !args.host_exec.is_empty();
    if (http.is_empty() || image.tcp_ports.is_empty())
        && (commands || args.ready_cmd.is_some())
        && (args.ready_cmd.is_some() || !image.tcp_ports.is_empty())
    {
        probes::wait_ready_quiet(
            docker,
            &id,
            &image.tcp_ports,
            args.ready_cmd.as_deref(),
            &ports,
            Duration::from_secs(args.ready_timeout),
        )
        .await?;
    }
    for cmd in &args.exec {
        results.push(probes::exec(docker, &id, cmd).await?);
    }
    for cmd in &args.host_exec {
        results.push(probes::host_exec(cmd, &ports).await?);
    }

    steps.step(stage("stop"), "stopping the container");
    let stopped_by = match continue_after {
        ContinueAfter::Probe => {
            docker::stop(docker, &id, args.stop_timeout).await?;
            "slim"
        }
        ContinueAfter::Exit => {
            steps.step(stage("run"), "waiting for the container to exit");
            docker::wait_exit(docker, &id, None).await?;
            "itself"
        }
        ContinueAfter::Seconds(n) => {
            steps.step(stage("run"), "letting the container run");
            if docker::wait_exit(docker, &id, Some(Duration::from_secs(n))).await? {
                "itself"
            } else {
                docker::stop(docker, &id, args.stop_timeout).await?;
                "slim"
            }
        }
    };
    let (_, exit_code) = docker::state(docker, &id).await?;

    let trace = match probe {
        Some(p) => {
            steps.step("trace", "collecting the trace");
            Some(p.finish().await.context("the probe failed")?)
        }
        None => None,
    };
    cleanup.remove(docker, &id, &session).await?;
    Ok(Outcome {
        trace,
        probes: results,
        exit_code,
        stopped_by,
    })
}
