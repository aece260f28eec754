//! The Engine API operations slim needs, over bollard (Docker, and Podman's
//! compatible API). Every container slim creates carries the `slim.session`
//! label so a crash can be cleaned up.
use std::{collections::HashMap, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use bollard::{
    container::{
        Config, CreateContainerOptions, InspectContainerOptions, LogOutput, LogsOptions,
        RemoveContainerOptions, WaitContainerOptions,
    },
    exec::{CreateExecOptions, StartExecResults},
    models::{HostConfig, PortBinding},
    Docker,
};
use futures_util::StreamExt;

use super::stop::StopRecord;

/// An image reference's name and tag: the tag follows the last `:` unless
/// that colon belongs to a registry's `host:port` (a `/` comes after it).
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (reference, None),
    }
}

/// Every container slim creates carries these: its run, and the pid of the
/// slim process, so a later run can tell a dead run's leftovers.
pub const SESSION_LABEL: &str = "slim.session";
pub const PID_LABEL: &str = "slim.pid";
/// The pid namespace the pid belongs to: a run in another namespace (slim
/// in a container, another CI job) cannot be judged from here.
pub const PIDNS_LABEL: &str = "slim.pidns";

fn own_pidns() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether the slim process `pid` still runs (a reused pid runs another
/// program).
fn slim_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "slim")
}

/// Every container (running or not) with `label` (`key` or `key=value`).
async fn labelled(docker: &Docker, label: &str) -> Result<Vec<bollard::models::ContainerSummary>> {
    use bollard::container::ListContainersOptions;
    let filters = HashMap::from([("label", vec![label])]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        }))
        .await
        .context("cannot list containers")
}

/// The labels of everything a session creates (containers, and the
/// networks and volumes of compose surroundings).
pub fn session_labels(session: &str) -> HashMap<String, String> {
    HashMap::from([
        (SESSION_LABEL.to_string(), session.to_string()),
        (PID_LABEL.to_string(), std::process::id().to_string()),
        (PIDNS_LABEL.to_string(), own_pidns()),
    ])
}

/// Removes every container of one slim session (by its label), then its
/// networks and volumes.
pub async fn remove_session(docker: &Docker, session: &str) -> Result<()> {
    let label = format!("{SESSION_LABEL}={session}");
    for c in labelled(docker, &label).await? {
        if let Some(id) = c.id {
            remove(docker, &id).await?;
        }
    }
    for (name, _) in labelled_networks(docker, &label).await? {
        remove_network(docker, &name).await?;
    }
    for (name, _) in labelled_volumes(docker, &label).await? {
        remove_volume(docker, &name).await?;
    }
    Ok(())
}

/// Networks with `label`, with their labels.
async fn labelled_networks(
    docker: &Docker,
    label: &str,
) -> Result<Vec<(String, HashMap<String, String>)>> {
    let filters = HashMap::from([("label", vec![label])]);
    let list = docker
        .list_networks(Some(bollard::network::ListNetworksOptions { filters }))
        .await
        .context("cannot list networks")?;
    Ok(list
        .into_iter()
        .filter_map(|n| Some((n.name?, n.labels.unwrap_or_default())))
        .collect())
}

/// Volumes with `label`, with their labels.
async fn labelled_volumes(
    docker: &Docker,
    label: &str,
) -> Result<Vec<(String, HashMap<String, String>)>> {
    let filters = HashMap::from([("label", vec![label])]);
    let list = docker
        .list_volumes(Some(bollard::volume::ListVolumesOptions { filters }))
        .await
        .context("cannot list volumes")?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name, v.labels))
        .collect())
}

/// Removes a network slim created; containers still attached (the probe
/// container of a failed run, removed later) are disconnected first. A
/// missing network counts as removed.
pub async fn remove_network(docker: &Docker, name: &str) -> Result<()> {
    use bollard::network::{DisconnectNetworkOptions, InspectNetworkOptions};
    let gone = |e: &bollard::errors::Error| {
        matches!(
            e,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }
        )
    };
    match docker
        .inspect_network(name, None::<InspectNetworkOptions<String>>)
        .await
    {
        Ok(info) => {
            for id in info.containers.unwrap_or_default().into_keys() {
                let opts = DisconnectNetworkOptions {
                    container: id,
                    force: true,
                };
                if let Err(e) = docker.disconnect_network(name, opts).await {
                    if !gone(&e) {
                        return Err(e).with_context(|| {
                            format!("cannot disconnect a container from network {name}")
                        });
                    }
                }
            }
        }
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect network {name}")),
    }
    match docker.remove_network(name).await {
        Err(e) if !gone(&e) => Err(e).with_context(|| format!("cannot remove network {name}")),
        _ => Ok(()),
    }
}

/// Removes a volume slim created; a missing one counts as removed.
pub async fn remove_volume(docker: &Docker, name: &str) -> Result<()> {
    match docker
        .remove_volume(
            name,
            Some(bollard::volume::RemoveVolumeOptions { force: true }),
        )
        .await
    {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        })
        | Ok(()) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove volume {name}")),
    }
}

/// Whether a dead slim run made what carries `labels` (its pid is gone
/// from this pid namespace).
fn left_by_dead_run(labels: &HashMap<String, String>, pidns: &str) -> bool {
    if labels.get(PIDNS_LABEL).is_some_and(|ns| ns != pidns) {
        return false;
    }
    // Containers of slim versions before the pid label: their session
    // name starts with the pid in hex.
    let pid = labels
        .get(PID_LABEL)
        .and_then(|p| p.parse().ok())
        .or_else(|| {
            let s = labels.get(SESSION_LABEL)?;
            u32::from_str_radix(s.get(..s.len().checked_sub(8)?)?, 16).ok()
        });
    !pid.is_some_and(slim_alive)
}

/// Removes containers left by slim runs whose process is gone (killed,
/// crashed); returns their names.
pub async fn reap_leftovers(docker: &Docker) -> Result<Vec<String>> {
    let list = labelled(docker, SESSION_LABEL).await?;
    let mut reaped = Vec::new();
    let pidns = own_pidns();
    for c in list {
        let labels = c.labels.unwrap_or_default();
        if !left_by_dead_run(&labels, &pidns) {
            continue;
        }
        let Some(id) = c.id else { continue };
        remove(docker, &id).await?;
        let name = c
            .names
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| short(&id).to_string());
        reaped.push(name.trim_start_matches('/').to_string());
    }
    // Then the networks and volumes of compose surroundings.
    for (name, labels) in labelled_networks(docker, SESSION_LABEL).await? {
        if left_by_dead_run(&labels, &pidns) {
            remove_network(docker, &name).await?;
            reaped.push(format!("network {name}"));
        }
    }
    for (name, labels) in labelled_volumes(docker, SESSION_LABEL).await? {
        if left_by_dead_run(&labels, &pidns) {
            remove_volume(docker, &name).await?;
            reaped.push(format!("volume {name}"));
        }
    }
    Ok(reaped)
}

/// The engine endpoint the Docker CLI would use: DOCKER_HOST, else the
/// current context's (DOCKER_CONTEXT, or `currentContext` in the CLI's
/// config.json), else the local socket.
pub fn endpoint() -> String {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            return host;
        }
    }
    context_host().unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

fn context_host() -> Option<String> {
    let config_dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    let name = match std::env::var("DOCKER_CONTEXT") {
        Ok(n) if !n.is_empty() => n,
        _ => {
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(config_dir.join("config.json")).ok()?)
                    .ok()?;
            config.get("currentContext")?.as_str()?.to_string()
        }
    };
    if name == "default" {
        return None;
    }
    // The CLI stores a context under the sha256 of its name.
    let digest = crate::image::sha256(name.as_bytes());
    let key = digest.trim_start_matches("sha256:");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(config_dir.join("contexts/meta").join(key).join("meta.json")).ok()?,
    )
    .ok()?;
    Some(
        meta.pointer("/Endpoints/docker/Host")?
            .as_str()?
            .to_string(),
    )
}

/// How long a daemon gets to answer the first request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the Engine API at `host` (unix:// or tcp://); `name` is the
/// engine's, for messages.
pub async fn connect(host: &str, name: &str) -> Result<Docker> {
    let daemon = if name == "Docker" {
        "the Docker daemon"
    } else {
        "Podman's API service"
    };
    let docker = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
    } else if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        Docker::connect_with_http(&format!("http://{addr}"), 120, bollard::API_DEFAULT_VERSION)
    } else {
        bail!("the {name} endpoint {host} is not unix:// or tcp://, which slim connects to");
    }
    .with_context(|| format!("cannot connect to {daemon} at {host}"))?;
    let answer = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await;
    let Ok(answer) = answer else {
        bail!(
            "{daemon} at {host} did not answer within {} s; check that it runs and that this is its endpoint",
            CONNECT_TIMEOUT.as_secs()
        );
    };
    answer.map_err(|e| {
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push_str(&format!(": {s}"));
            source = s.source();
        }
        if chain.contains("Permission denied") {
            anyhow!("no access to the {name} socket {host}: run slim as root (it also needs root for eBPF)")
        } else if name == "Docker" {
            anyhow!("cannot reach the Docker daemon at {host} ({chain}); start dockerd or set DOCKER_HOST")
        } else {
            anyhow!("cannot reach Podman's API service at {host} ({chain}); start `podman system service` or set CONTAINER_HOST")
        }
    })
}

/// The engine's inspection of `image`; `store` names where it looked, in messages.
pub async fn inspect_image(
    docker: &Docker,
    image: &str,
    store: &str,
) -> Result<bollard::models::ImageInspect> {
    docker.inspect_image(image).await.map_err(|e| match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => {
            anyhow!("image {image} is not in {store}; build, load or pull it first (or name it with a transport: docker://, oci:, docker-archive:)")
        }
        e => anyhow!("cannot inspect image {image} in {store}: {e}"),
    })
}

/// A `Write` that sends what it is given, in chunks, down a bounded
/// channel: an archive is produced on a blocking thread while the engine
/// reads it, never whole in memory.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 1 << 20;

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the engine stopped reading")
        })
    }
}

/// Loads the docker-archive `produce` writes into the engine (`docker
/// load`), streaming it from a blocking thread.
pub async fn load(
    docker: &Docker,
    engine: &str,
    produce: impl FnOnce(&mut dyn std::io::Write) -> Result<()> + Send + 'static,
) -> Result<()> {
    use std::io::Write;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let producer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        produce(&mut w)?;
        w.flush()?;
        Ok(())
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut stream = docker.import_image_stream(
        bollard::image::ImportImageOptions { quiet: true },
        body,
        None,
    );
    let mut refused = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(err) = info.error {
                    refused = Some(anyhow!("{engine} refused the image: {err}"));
                }
            }
            Err(e) => refused = Some(anyhow!(e).context(format!("{engine} refused the image"))),
        }
    }
    let produced = producer.await?;
    if let Some(e) = refused {
        return Err(e);
    }
    produced.with_context(|| format!("cannot stream the image to {engine}"))
}

/// Removes an image slim loaded; a missing one counts as removed.
pub async fn remove_image(docker: &Docker, id: &str) -> Result<()> {
    match docker
        .remove_image(id, None::<bollard::image::RemoveImageOptions>, None)
        .await
    {
        Ok(_) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove image {}", short(id))),
    }
}

/// Creates (not starts) a container of `image` with its own config and the
/// user's run options (as docker run applies them), exposed TCP ports
/// published on 127.0.0.1 at free ports, and no extra privileges.
/// `seccomp` is a profile's JSON text to run under instead of Docker's default.
pub async fn create(
    docker: &Docker,
    spec: &super::RunSpec<'_>,
    seccomp: Option<&str>,
) -> Result<String> {
    let (image, ports, session) = (spec.image, spec.ports, spec.session);
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = ports
        .iter()
        .map(|p| {
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            };
            (format!("{p}/tcp"), Some(vec![binding]))
        })
        .collect();
    let config = Config {
        image: Some(image.to_string()),
        labels: Some(session_labels(session)),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            // The Engine API takes the profile's JSON itself, not a path.
            security_opt: seccomp.map(|json| vec![format!("seccomp={json}")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut config = config;
    apply_run_options(spec.run, &mut config);
    let id = create_named(docker, &format!("slim-{session}"), config)
        .await
        .with_context(|| format!("cannot create a container of {image}"))?;
    // Should this fail, the container goes with its session (registered
    // before it was created).
    connect_networks(docker, &id, spec.run).await?;
    Ok(id)
}

/// Creates a container named `name` from `config`, returning its id.
pub async fn create_named(
    docker: &Docker,
    name: &str,
    config: Config<String>,
) -> Result<String, bollard::errors::Error> {
    let options = CreateContainerOptions {
        name,
        platform: None,
    };
    Ok(docker.create_container(Some(options), config).await?.id)
}

/// `K=V` strings with one entry per name, the last value given winning (as
/// docker run does; a runtime that kept both would let getenv see the first).
fn env_list(env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (k, v) in env {
        match out.iter_mut().find(|(name, _)| name == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Applies `docker run` options to a container's config: env, mounts,
/// network and aliases, command, entrypoint, user, workdir, extra hosts,
/// hostname and labels. The minimal version the compose surroundings need
/// (their dependencies are created through it too); labels slim set
/// already are kept.
pub fn apply_run_options(run: &super::RunOptions, config: &mut Config<String>) {
    use bollard::models::{Mount as ApiMount, MountTypeEnum};
    if !run.env.is_empty() {
        // The engine merges these over the image's, as for docker run.
        let mut env: Vec<(String, String)> = config
            .env
            .take()
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend(run.env.iter().cloned());
        config.env = Some(env_list(&env));
    }
    if let Some(c) = &run.cmd {
        config.cmd = Some(c.clone());
    }
    if let Some(e) = &run.entrypoint {
        // The Engine API resets the image's entrypoint with [""].
        config.entrypoint = Some(if e.is_empty() {
            vec![String::new()]
        } else {
            e.clone()
        });
    }
    config.user = run.user.clone().or(config.user.take());
    config.working_dir = run.workdir.clone().or(config.working_dir.take());
    config.hostname = run.hostname.clone().or(config.hostname.take());
    let labels = config.labels.get_or_insert_with(HashMap::new);
    for (k, v) in &run.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    // Anonymous volumes carry slim's labels, so that reaping finds them.
    let slim_labels: HashMap<String, String> = labels
        .iter()
        .filter(|(k, _)| k.starts_with("slim."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let host = config.host_config.get_or_insert_with(HostConfig::default);
    if !run.mounts.is_empty() {
        host.mounts = Some(
            run.mounts
                .iter()
                .map(|m| ApiMount {
                    target: Some(m.target.clone()),
                    source: m.source.clone(),
                    typ: Some(match m.kind {
                        super::MountKind::Bind => MountTypeEnum::BIND,
                        super::MountKind::Volume => MountTypeEnum::VOLUME,
                        super::MountKind::Tmpfs => MountTypeEnum::TMPFS,
                    }),
                    read_only: Some(m.read_only),
                    volume_options: (m.kind == super::MountKind::Volume && m.source.is_none())
                        .then(|| bollard::models::MountVolumeOptions {
                            labels: Some(slim_labels.clone()),
                            ..Default::default()
                        }),
                    ..Default::default()
                })
                .collect(),
        );
    }
    if !run.add_hosts.is_empty() {
        host.extra_hosts = Some(run.add_hosts.clone());
    }
    // The first network at create; [`connect_networks`] joins the others
    // (Engine APIs before 1.44 take one endpoint at create).
    if let Some(net) = run.networks.first() {
        host.network_mode = Some(net.name.clone());
        config.networking_config = Some(bollard::container::NetworkingConfig {
            endpoints_config: HashMap::from([(net.name.clone(), endpoint_of(net))]),
        });
    }
}

fn endpoint_of(net: &super::Network) -> bollard::models::EndpointSettings {
    bollard::models::EndpointSettings {
        aliases: (!net.aliases.is_empty()).then(|| net.aliases.clone()),
        ..Default::default()
    }
}

/// Joins the created (not started) container `id` to the networks of
/// `run` after the first, each with its aliases, so that it starts on all
/// of them.
pub async fn connect_networks(docker: &Docker, id: &str, run: &super::RunOptions) -> Result<()> {
    for net in run.networks.iter().skip(1) {
        docker
            .connect_network(
                &net.name,
                bollard::network::ConnectNetworkOptions {
                    container: id.to_string(),
                    endpoint_config: endpoint_of(net),
                },
            )
            .await
            .with_context(|| {
                format!(
                    "cannot connect container {} to network {}",
                    short(id),
                    net.name
                )
            })?;
    }
    Ok(())
}

pub async fn start(docker: &Docker, id: &str) -> Result<()> {
    docker
        .start_container::<String>(id, None)
        .await
        .with_context(|| format!("cannot start container {}", short(id)))
}

/// The container's inspection; `None` when the engine reports a state
/// bollard cannot read: Podman's compatible API says `stopped` for a
/// container that exited, which is not one of Docker's states.
pub async fn inspect(
    docker: &Docker,
    id: &str,
) -> Result<Option<bollard::models::ContainerInspectResponse>> {
    match docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
    {
        Ok(info) => Ok(Some(info)),
        Err(bollard::errors::Error::JsonDataError { message, .. }) => {
            tracing::debug!(%message, "unreadable container state: taken as not running");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("cannot inspect container {}", short(id))),
    }
}

/// Host ports published for each container TCP port.
pub async fn published_ports(docker: &Docker, id: &str) -> Result<HashMap<u16, u16>> {
    let Some(info) = inspect(docker, id).await? else {
        return Ok(HashMap::new());
    };
    let mut out = HashMap::new();
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    for (key, bindings) in ports {
        let Some(cport) = key.strip_suffix("/tcp").and_then(|p| p.parse().ok()) else {
            continue;
        };
        let host = bindings
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.host_ip.as_deref() == Some("127.0.0.1"))
            .find_map(|b| b.host_port.and_then(|p| p.parse().ok()));
        if let Some(h) = host {
            out.insert(cport, h);
        }
    }
    Ok(out)
}

/// The host pid of the container's init process, while it runs.
pub async fn pid(docker: &Docker, id: &str) -> Result<Option<u32>> {
    let Some(info) = inspect(docker, id).await? else {
        return Ok(None);
    };
    Ok(info
        .state
        .and_then(|s| s.pid)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0))
}

/// Whether process `pid` has a handler for `signal` (SigCgt in
/// /proc/PID/status); true when that cannot be read.
pub fn catches(pid: u32, signal: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_none_or(|mask| mask & (1u64 << (signal - 1)) != 0)
}

/// The ID of image `name`, if the engine has it.
pub async fn image_id(docker: &Docker, name: &str) -> Option<String> {
    docker.inspect_image(name).await.ok().and_then(|i| i.id)
}

/// Points `tag` back at `previous` (or removes it when there was none):
/// undoes a load whose run failed afterwards.
pub async fn restore_tag(docker: &Docker, tag: &str, previous: Option<&str>) -> Result<()> {
    match previous {
        Some(id) => {
            let (repo, t) = split_reference(tag);
            let t = t.unwrap_or("latest");
            docker
                .tag_image(id, Some(bollard::image::TagImageOptions { repo, tag: t }))
                .await
                .with_context(|| format!("cannot point {tag} back at {}", short(id)))?;
        }
        None => {
            docker
                .remove_image(tag, None::<bollard::image::RemoveImageOptions>, None)
                .await
                .with_context(|| format!("cannot remove {tag} after the failure"))?;
        }
    }
    Ok(())
}

/// Whether the container runs, and its exit code once it stopped.
pub async fn state(docker: &Docker, id: &str) -> Result<(bool, Option<i64>)> {
    let Some(info) = inspect(docker, id).await? else {
        // Stopped: its exit code is what waiting for it answers at once.
        return Ok((false, wait(docker, id).await.ok().flatten()));
    };
    let state = info.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    Ok((running, if running { None } else { state.exit_code }))
}

/// Waits until the container is not running; its exit code, if the
/// engine says.
async fn wait(docker: &Docker, id: &str) -> Result<Option<i64>> {
    let opts = WaitContainerOptions {
        condition: "not-running",
    };
    match docker.wait_container(id, Some(opts)).next().await {
        None => Ok(None),
        Some(Ok(r)) => Ok(Some(r.status_code)),
        // bollard reports a non-zero exit status as this error.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(Some(code)),
        Some(Err(e)) => Err(e).with_context(|| format!("cannot wait for container {}", short(id))),
    }
}

/// Waits until the container exits by itself, or `timeout` passes.
pub async fn wait_exit(docker: &Docker, id: &str, timeout: Option<Duration>) -> Result<bool> {
    let exited = wait(docker, id);
    match timeout {
        None => exited.await.map(|_| true),
        Some(t) => match tokio::time::timeout(t, exited).await {
            Ok(r) => r.map(|_| true),
            Err(_) => Ok(false),
        },
    }
}

/// Stops the container: its stop signal, then SIGKILL as soon as it is
/// clear the app will not exit by itself (no handler for the signal, or no
/// activity for [`stop::QUIET`] after it), at the latest after `timeout`
/// seconds while it is busy shutting down. See [`super::stop`].
pub async fn stop(docker: &Docker, id: &str, timeout: i64) -> Result<StopRecord> {
    use super::stop;
    let Some(info) = inspect(docker, id).await? else {
        return Ok(already_exited());
    };
    let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    let pid = info
        .state
        .as_ref()
        .and_then(|s| s.pid)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0);
    let (true, Some(pid)) = (running, pid) else {
        return Ok(already_exited());
    };
    let signal = info
        .config
        .and_then(|c| c.stop_signal)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "SIGTERM".to_string());
    let started = std::time::Instant::now();
    let record = |outcome, reason| StopRecord {
        signal: signal.clone(),
        outcome,
        reason,
        ms: started.elapsed().as_millis() as u64,
        quiet_ms: stop::QUIET.as_millis() as u64,
    };
    // The container's init is PID 1 of its namespace: the kernel drops a
    // signal it has no handler for, so waiting would only delay the kill.
    let number = stop::signal_number(&signal);
    if number.is_some_and(|n| !catches(pid, n)) {
        kill(docker, id, "SIGKILL").await?;
        wait(docker, id).await?;
        return Ok(record("killed", "no-handler"));
    }
    kill(docker, id, &signal).await?;
    let exited = wait(docker, id);
    tokio::pin!(exited);
    let deadline = Duration::from_secs(timeout.max(0) as u64);
    let mut watch = stop::QuietWatch::new(stop::QUIET);
    let proc = std::path::Path::new("/proc");
    let reason = loop {
        match tokio::time::timeout(stop::POLL, &mut exited).await {
            Ok(r) => {
                r?;
                return Ok(record("graceful", "exited"));
            }
            Err(_) if started.elapsed() >= deadline => break "timeout",
            Err(_) => {}
        }
        // Unreadable (slim in another pid namespace): wait as docker stop does.
        if let Some(now) = stop::activity(proc, pid) {
            if watch.quiet_at(started.elapsed(), now) {
                break "quiet";
            }
        }
    };
    kill(docker, id, "SIGKILL").await?;
    exited.await?;
    tracing::debug!(
        reason,
        ms = started.elapsed().as_millis() as u64,
        "killed the container"
    );
    Ok(record("killed", reason))
}

fn already_exited() -> StopRecord {
    StopRecord {
        signal: String::new(),
        outcome: "already-exited",
        reason: "exited",
        ms: 0,
        quiet_ms: super::stop::QUIET.as_millis() as u64,
    }
}

/// Sends `signal` to the container; one that is no longer running counts
/// as done (it exited meanwhile).
async fn kill(docker: &Docker, id: &str, signal: &str) -> Result<()> {
    use bollard::container::KillContainerOptions;
    match docker
        .kill_container(id, Some(KillContainerOptions { signal }))
        .await
    {
        Ok(()) => Ok(()),
        // 409: not running; 404: gone; 500: Podman's "not running".
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if message.contains("not running") || message.contains("is not running") =>
        {
            Ok(())
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot send {signal} to container {}", short(id)))
        }
    }
}

/// Removes a container; a missing one counts as removed.
pub async fn remove(docker: &Docker, id: &str) -> Result<()> {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove container {}", short(id))),
    }
}

/// The last lines of the container's output, for error messages.
pub async fn logs_tail(docker: &Docker, id: &str, lines: usize) -> String {
    let opts = LogsOptions::<String> {
        stdout: true,
        stderr: true,
        tail: lines.to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(opts));
    let mut out = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    out.trim_end().to_string()
}

/// Output and exit code of a command run in the container.
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `sh -c CMD` inside the running container.
pub async fn exec(docker: &Docker, id: &str, cmd: &str) -> Result<ExecOutput> {
    exec_argv(docker, id, &["sh", "-c", cmd]).await
}

/// Runs `argv` inside the running container, its output collected.
pub async fn exec_argv(docker: &Docker, id: &str, argv: &[&str]) -> Result<ExecOutput> {
    let cmd = argv.join(" ");
    let created = docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(argv.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot exec {cmd:?} in the container"))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    match docker.start_exec(&created.id, None).await? {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(item) = output.next().await {
                match item? {
                    LogOutput::StdOut { message } => {
                        stdout.push_str(&String::from_utf8_lossy(&message))
                    }
                    LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    _ => {}
                }
            }
        }
        StartExecResults::Detached => bail!("exec {cmd:?} detached unexpectedly"),
    }
    let exit_code = docker
        .inspect_exec(&created.id)
        .await?
        .exit_code
        .unwrap_or(-1);
    tracing::debug!(cmd, exit_code, %stdout, "exec finished");
    Ok(ExecOutput {
        exit_code,
        stdout,
        stderr,
    })
}

pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Network, RunOptions};

    #[test]
    fn the_first_network_is_joined_at_create_with_its_aliases() {
        let net = |name: &str, alias: &str| Network {
            name: name.into(),
            aliases: vec![alias.into()],
        };
        let run = RunOptions {
            networks: vec![net("front", "web"), net("back", "api")],
            ..Default::default()
        };
        let mut config = Config::default();
        apply_run_options(&run, &mut config);
        let host = config.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("front"));
        let endpoints = config.networking_config.unwrap().endpoints_config;
        assert_eq!(endpoints.len(), 1, "one endpoint at create: {endpoints:?}");
        assert_eq!(
            endpoints["front"].aliases.as_deref(),
            Some(&["web".to_string()][..])
        );
        let mut none = Config::default();
        apply_run_options(&RunOptions::default(), &mut none);
        assert!(none.networking_config.is_none());
        assert_eq!(none.host_config.unwrap().network_mode, None);
    }
}
