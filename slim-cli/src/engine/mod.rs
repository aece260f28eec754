//! The container engine that runs the probe container: Docker, or Podman
//! through its Docker-compatible API. Both speak the Engine API, so one
//! client (bollard, in `api`) serves both; what differs (the endpoint, how
//! a seccomp profile is handed over, starting Podman's API service) lives
//! here. [`ContainerRuntime`] is what the session needs of an engine.
pub mod api;
mod podman;
pub mod run_options;
pub mod stop;

use std::{collections::HashMap, future::Future, time::Duration};

use anyhow::Result;
use bollard::Docker;

pub use api::{short, split_reference, ExecOutput};
pub use run_options::{Mount, MountKind, Network, RunOptions};
pub use stop::StopRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        }
    }

    /// Whether containers on one of its networks find each other by name
    /// (service names, aliases) through the engine's DNS. Docker's
    /// user-defined networks always do. Podman's do only with netavark and
    /// aardvark-dns, or CNI with the dnsname plugin, which many installs
    /// lack (Debian's podman 4.3 on CNI, for one), and its compatible API
    /// does not say which: slim puts the names in /etc/hosts there.
    pub fn resolves_names(self) -> bool {
        match self {
            EngineKind::Docker => true,
            EngineKind::Podman => false,
        }
    }

    /// Whether it runs a container's healthcheck by itself. Podman runs
    /// them from systemd timers, so without systemd (in a container, on
    /// many CI runners) no check ever runs and the container stays
    /// "starting": slim runs the check there, as the engine would.
    pub fn runs_healthchecks(self) -> bool {
        match self {
            EngineKind::Docker => true,
            EngineKind::Podman => false,
        }
    }

    /// Where its images are, for messages.
    pub fn store(self) -> &'static str {
        match self {
            EngineKind::Docker => "the Docker daemon",
            EngineKind::Podman => "Podman's store",
        }
    }
}

/// A connected engine.
pub struct Engine {
    api: Docker,
    pub kind: EngineKind,
    pub endpoint: String,
}

impl std::ops::Deref for Engine {
    type Target = Docker;
    fn deref(&self) -> &Docker {
        &self.api
    }
}

/// Connects to the engine: Docker at DOCKER_HOST or the CLI's context;
/// Podman at CONTAINER_HOST or its root socket, starting `podman system
/// service` there when nothing answers.
pub async fn connect(kind: EngineKind) -> Result<Engine> {
    let endpoint = match kind {
        EngineKind::Docker => api::endpoint(),
        EngineKind::Podman => podman::endpoint(),
    };
    if kind == EngineKind::Podman {
        podman::ensure_service(&endpoint).await?;
    }
    let api = api::connect(&endpoint, kind.name()).await?;
    Ok(Engine {
        api,
        kind,
        endpoint,
    })
}

/// What a probe container is made of.
pub struct RunSpec<'a> {
    /// A reference or an image ID the engine holds.
    pub image: &'a str,
    /// Exposed TCP ports, published on 127.0.0.1.
    pub ports: &'a [u16],
    pub session: &'a str,
    /// A seccomp profile's JSON to run under instead of the engine's default.
    pub seccomp: Option<&'a str>,
    /// The user's `docker run` options.
    pub run: &'a RunOptions,
}

/// What a watched run needs of a container engine. Generic, not `dyn`:
/// there is one implementation per build, and the session is generic over it.
#[allow(async_fn_in_trait)]
pub trait ContainerRuntime: Sync {
    /// "Docker" or "Podman", for messages.
    fn name(&self) -> &'static str;
    /// Creates (not starts) a container; returns its ID.
    fn create(&self, spec: &RunSpec<'_>) -> impl Future<Output = Result<String>> + Send;
    fn start(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Host ports published for each container TCP port.
    fn published_ports(&self, id: &str) -> impl Future<Output = Result<HashMap<u16, u16>>> + Send;
    /// The host pid of the container's init, while it runs.
    fn pid(&self, id: &str) -> impl Future<Output = Result<Option<u32>>> + Send;
    /// Whether it runs, and its exit code once stopped.
    fn state(&self, id: &str) -> impl Future<Output = Result<(bool, Option<i64>)>> + Send;
    /// Runs `sh -c CMD` inside it.
    fn exec(&self, id: &str, cmd: &str) -> impl Future<Output = Result<ExecOutput>> + Send;
    /// Waits until it exits by itself (true) or `timeout` passes (false).
    fn wait_exit(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Stops it (see [`stop`]): its stop signal, SIGKILL once it is clear
    /// it will not exit, and how that went.
    fn stop(&self, id: &str, timeout: i64) -> impl Future<Output = Result<StopRecord>> + Send;
    fn remove(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// The last lines of its output, for error messages.
    fn logs_tail(&self, id: &str, lines: usize) -> impl Future<Output = String> + Send;
}

impl ContainerRuntime for Engine {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    async fn create(&self, spec: &RunSpec<'_>) -> Result<String> {
        // Docker takes the profile's JSON in SecurityOpt (as its CLI sends
        // it); Podman's compatible API reads that value as a path.
        let file;
        let seccomp = match (self.kind, spec.seccomp) {
            (EngineKind::Podman, Some(json)) => {
                file = podman::profile_file(json)?;
                Some(file.path().to_string_lossy().into_owned())
            }
            (_, s) => s.map(str::to_string),
        };
        api::create(&self.api, spec, seccomp.as_deref()).await
    }

    async fn start(&self, id: &str) -> Result<()> {
        api::start(&self.api, id).await
    }

    async fn published_ports(&self, id: &str) -> Result<HashMap<u16, u16>> {
        api::published_ports(&self.api, id).await
    }

    async fn pid(&self, id: &str) -> Result<Option<u32>> {
        api::pid(&self.api, id).await
    }

    async fn state(&self, id: &str) -> Result<(bool, Option<i64>)> {
        api::state(&self.api, id).await
    }

    async fn exec(&self, id: &str, cmd: &str) -> Result<ExecOutput> {
        api::exec(&self.api, id, cmd).await
    }

    async fn wait_exit(&self, id: &str, timeout: Option<Duration>) -> Result<bool> {
        api::wait_exit(&self.api, id, timeout).await
    }

    async fn stop(&self, id: &str, timeout: i64) -> Result<StopRecord> {
        api::stop(&self.api, id, timeout).await
    }

    async fn remove(&self, id: &str) -> Result<()> {
        api::remove(&self.api, id).await
    }

    async fn logs_tail(&self, id: &str, lines: usize) -> String {
        api::logs_tail(&self.api, id, lines).await
    }
}
