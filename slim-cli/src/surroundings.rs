//! What a compose service needs around it while it is probed: the
//! project's networks and volumes, and its dependencies started in order
//! and waited for (`service_started`, `service_healthy`,
//! `service_completed_successfully`). Everything is created on the probe's
//! engine under a session of its own, registered in [`Cleanup`] before
//! anything exists and labelled like the probe containers, so an error, a
//! signal (cleanup in main) or a killed run (the next run's reaping)
//! removes it all. Dependencies are not traced: the probe keeps the
//! events of the target's mount namespace only.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use bollard::{
    container::{Config, InspectContainerOptions},
    models::{EndpointSettings, HealthConfig, HealthStatusEnum},
    network::{ConnectNetworkOptions, CreateNetworkOptions},
    volume::CreateVolumeOptions,
};

use crate::{
    compose::{Condition, Project, Service},
    engine::{api, Engine, MountKind, RunOptions},
    progress::Steps,
    session::{self, Cleanup},
};

/// Labels naming the compose project and service slim ran a container for.
pub const PROJECT_LABEL: &str = "slim.compose.project";
pub const SERVICE_LABEL: &str = "slim.compose.service";

/// Surroundings that are up; [`finish`] removes them.
pub struct Up {
    session: String,
    /// How the target runs in them: the service's options, on its first
    /// project network under its name and aliases.
    pub target: RunOptions,
}

/// The engine's names of the project's networks and volumes.
struct Names {
    networks: BTreeMap<String, String>,
    volumes: BTreeMap<String, String>,
}

impl Names {
    /// A service's options with project volume names resolved, on its
    /// first network (the others are joined after create).
    fn run_of(&self, svc: &Service) -> RunOptions {
        let mut run = svc.run.clone();
        for m in &mut run.mounts {
            if let (MountKind::Volume, Some(src)) = (m.kind, &m.source) {
                if let Some(name) = self.volumes.get(src) {
                    m.source = Some(name.clone());
                }
            }
        }
        if let Some((key, aliases)) = svc.networks.first() {
            run.network = self.networks.get(key).cloned();
            run.network_aliases = aliases_of(svc, aliases);
        }
        run
    }
}

/// Compose makes every service reachable by its name on each network.
fn aliases_of(svc: &Service, declared: &[String]) -> Vec<String> {
    let mut a = vec![svc.name.clone()];
    a.extend(declared.iter().filter(|d| **d != svc.name).cloned());
    a
}

/// Starts `project`'s networks, volumes and the target's dependencies, and
/// waits for the target's own `depends_on` conditions. `timeout` bounds each
/// wait.
pub async fn start(
    engine: &Engine,
    project: &Project,
    timeout: Duration,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Up> {
    let names: Vec<&str> = project
        .dependencies
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    steps.step(
        "surroundings",
        &if names.is_empty() {
            format!("creating the networks of compose project {}", project.name)
        } else {
            format!(
                "starting {} (compose project {})",
                names.join(", "),
                project.name
            )
        },
    );
    let session = session::session_name();
    // Before anything exists: a signal from here on removes what was made.
    cleanup.register(&session);
    match bring_up(engine, project, &session, timeout).await {
        Ok(target) => Ok(Up { session, target }),
        Err(e) => {
            // What was started so far goes now, not at the command's end.
            if let Err(r) = api::remove_session(engine, &session).await {
                eprintln!("slim: warning: {r:#}");
            }
            Err(e)
        }
    }
}

async fn bring_up(
    engine: &Engine,
    project: &Project,
    session: &str,
    timeout: Duration,
) -> Result<RunOptions> {
    let prefix = format!("slim-{session}-{}", project.name);
    let mut labels = api::session_labels(session);
    labels.insert(PROJECT_LABEL.into(), project.name.clone());
    let mut resolved = Names {
        networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
    };
    for net in &project.networks {
        let name = match &net.external {
            Some(n) => n.clone(),
            None => {
                let name = format!("{prefix}_{}", net.key);
                let mut l = labels.clone();
                l.extend(net.labels.clone());
                engine
                    .create_network(CreateNetworkOptions {
                        name: name.clone(),
                        check_duplicate: true,
                        driver: net.driver.clone().unwrap_or_else(|| "bridge".into()),
                        internal: net.internal,
                        labels: l,
                        ..Default::default()
                    })
                    .await
                    .with_context(|| {
                        format!(
                            "cannot create network {} of compose project {}",
                            net.key, project.name
                        )
                    })?;
                name
            }
        };
        resolved.networks.insert(net.key.clone(), name);
    }
    for vol in &project.volumes {
        let name = match &vol.external {
            Some(n) => n.clone(),
            None => {
                let name = format!("{prefix}_{}", vol.key);
                let mut l = labels.clone();
                l.extend(vol.labels.clone());
                engine
                    .create_volume(CreateVolumeOptions {
                        name: name.clone(),
                        driver: vol.driver.clone().unwrap_or_else(|| "local".into()),
                        labels: l,
                        ..Default::default()
                    })
                    .await
                    .with_context(|| {
                        format!(
                            "cannot create volume {} of compose project {}",
                            vol.key, project.name
                        )
                    })?;
                name
            }
        };
        resolved.volumes.insert(vol.key.clone(), name);
    }
    let mut started: BTreeMap<String, String> = BTreeMap::new();
    for dep in &project.dependencies {
        wait_for(engine, dep, &started, timeout).await?;
        let id = run_dependency(engine, project, dep, &resolved, &prefix, &labels).await?;
        started.insert(dep.name.clone(), id);
    }
    wait_for(engine, &project.target, &started, timeout).await?;
    let mut target = resolved.run_of(&project.target);
    target
        .labels
        .insert(PROJECT_LABEL.into(), project.name.clone());
    target
        .labels
        .insert(SERVICE_LABEL.into(), project.target.name.clone());
    Ok(target)
}

/// Creates and starts one dependency; returns its container ID.
async fn run_dependency(
    engine: &Engine,
    project: &Project,
    dep: &Service,
    names: &Names,
    prefix: &str,
    labels: &std::collections::HashMap<String, String>,
) -> Result<String> {
    let Some(image) = &dep.image else {
        bail!(
            "service {} of compose project {} has no image: slim does not build, so build it and name it in `image:`",
            dep.name,
            project.name
        );
    };
    if engine.inspect_image(image).await.is_err() {
        bail!(
            "image {image} of service {} is not in {}; pull or build it first (slim does not pull dependencies)",
            dep.name,
            engine.kind.store()
        );
    }
    let mut l = labels.clone();
    l.insert(SERVICE_LABEL.into(), dep.name.clone());
    let mut config = Config {
        image: Some(image.clone()),
        labels: Some(l),
        healthcheck: dep.healthcheck.as_ref().map(|h| {
            let ns = |d: Option<Duration>| d.map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
            HealthConfig {
                test: (!h.test.is_empty()).then(|| h.test.clone()),
                interval: ns(h.interval),
                timeout: ns(h.timeout),
                start_period: ns(h.start_period),
                retries: h.retries.map(i64::from),
                ..Default::default()
            }
        }),
        ..Default::default()
    };
    api::apply_run_options(&names.run_of(dep), &mut config);
    let id = api::create_named(engine, &format!("{prefix}-{}", dep.name), config)
        .await
        .with_context(|| format!("cannot create the container of service {}", dep.name))?;
    for (key, aliases) in dep.networks.iter().skip(1) {
        let Some(net) = names.networks.get(key) else {
            continue;
        };
        let endpoint_config = EndpointSettings {
            aliases: Some(aliases_of(dep, aliases)),
            ..Default::default()
        };
        engine
            .connect_network(
                net,
                ConnectNetworkOptions {
                    container: id.clone(),
                    endpoint_config,
                },
            )
            .await
            .with_context(|| format!("cannot connect service {} to network {key}", dep.name))?;
    }
    api::start(engine, &id)
        .await
        .with_context(|| format!("cannot start service {}", dep.name))?;
    Ok(id)
}

/// Waits until what `svc` depends on meets its conditions.
async fn wait_for(
    engine: &Engine,
    svc: &Service,
    started: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<()> {
    for (dep, condition) in &svc.depends_on {
        let Some(id) = started.get(dep) else {
            // Ordered before svc by construction.
            bail!("service {dep} was not started before {}", svc.name);
        };
        wait_one(engine, dep, id, *condition, timeout)
            .await
            .with_context(|| format!("service {} depends on {dep}", svc.name))?;
    }
    Ok(())
}

const POLL: Duration = Duration::from_millis(250);

async fn wait_one(
    engine: &Engine,
    name: &str,
    id: &str,
    condition: Condition,
    timeout: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let info = engine
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("cannot inspect the container of service {name}"))?;
        let state = info.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let exit = state.exit_code.unwrap_or(-1);
        let last_check = || {
            state
                .health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|l| l.last())
                .and_then(|r| r.output.clone())
                .map(|o| o.trim().replace('\n', " | "))
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| "no output".into())
        };
        match condition {
            Condition::ServiceStarted => {
                if running
                    || state
                        .finished_at
                        .as_deref()
                        .is_some_and(|f| !f.starts_with("0001"))
                {
                    return Ok(());
                }
            }
            Condition::ServiceCompletedSuccessfully
                if !running
                    && state
                        .started_at
                        .as_deref()
                        .is_some_and(|s| !s.starts_with("0001")) =>
            {
                if exit == 0 {
                    return Ok(());
                }
                let logs = api::logs_tail(engine, id, 3).await.replace('\n', " | ");
                bail!("dependency {name} exited with code {exit}, not 0 (service_completed_successfully); its last output: {logs}");
            }
            Condition::ServiceCompletedSuccessfully => {}
            Condition::ServiceHealthy => {
                if !running
                    && state
                        .started_at
                        .as_deref()
                        .is_some_and(|s| !s.starts_with("0001"))
                {
                    let logs = api::logs_tail(engine, id, 3).await.replace('\n', " | ");
                    bail!("dependency {name} exited (code {exit}) before it was healthy; its last output: {logs}");
                }
                match state.health.as_ref().and_then(|h| h.status) {
                    Some(HealthStatusEnum::HEALTHY) => return Ok(()),
                    Some(HealthStatusEnum::UNHEALTHY) => {
                        bail!("dependency {name} is unhealthy; its healthcheck said: {}", last_check())
                    }
                    Some(HealthStatusEnum::STARTING) => {}
                    _ => bail!(
                        "dependency {name} has no healthcheck (in the compose file or its image), which condition service_healthy needs; declare one or use service_started"
                    ),
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let what = match condition {
                Condition::ServiceStarted => "start".to_string(),
                Condition::ServiceHealthy => {
                    format!("become healthy (last check: {})", last_check())
                }
                Condition::ServiceCompletedSuccessfully => "complete".to_string(),
            };
            bail!(
                "dependency {name} did not {what} within {} s (--ready-timeout)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Removes the surroundings (when there are any) after the run, whatever
/// its result; the run's own error comes first.
pub async fn finish<T>(engine: &Engine, up: Option<Up>, result: Result<T>) -> Result<T> {
    let Some(up) = up else { return result };
    let removed = api::remove_session(engine, &up.session)
        .await
        .context("cannot remove the compose dependencies");
    match (result, removed) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), removed) => {
            if let Err(r) = removed {
                eprintln!("slim: warning: {r:#}");
            }
            Err(e)
        }
    }
}

/// The target's options from the compose file with the command line's on
/// top: lists add, what the command line sets wins. Both setting the
/// network is an error: the target must join the project's.
pub fn overlay(compose: RunOptions, cli: &RunOptions) -> Result<RunOptions> {
    if cli.network.is_some() {
        return Err(anyhow!(
            "--network cannot be used with --service: the service joins its compose networks"
        ));
    }
    let mut run = compose;
    run.env.extend(cli.env.iter().cloned());
    run.mounts.extend(cli.mounts.iter().cloned());
    run.network_aliases
        .extend(cli.network_aliases.iter().cloned());
    run.add_hosts.extend(cli.add_hosts.iter().cloned());
    run.labels.extend(cli.labels.clone());
    macro_rules! wins {
        ($($f:ident),*) => { $( if cli.$f.is_some() { run.$f = cli.$f.clone(); } )* };
    }
    wins!(user, entrypoint, cmd, workdir, hostname);
    Ok(run)
}

/// Starts surroundings when a compose project is given, and fits the plan
/// and ports to it: the target's options and its compose ports added to
/// the image's.
pub async fn prepare(
    engine: &Engine,
    project: Option<&Project>,
    plan: &mut session::Plan,
    ports: &mut Vec<u16>,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Option<Up>> {
    let Some(project) = project else {
        return Ok(None);
    };
    let up = start(engine, project, plan.ready_timeout, cleanup, steps).await?;
    match overlay(up.target.clone(), &plan.run) {
        Ok(run) => plan.run = run,
        Err(e) => return finish(engine, Some(up), Err(e)).await,
    }
    for p in &project.target.ports {
        if !ports.contains(p) {
            ports.push(*p);
        }
    }
    Ok(Some(up))
}
