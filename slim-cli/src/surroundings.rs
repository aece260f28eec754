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
    container::Config,
    models::{ContainerState, HealthConfig, HealthStatusEnum},
    network::CreateNetworkOptions,
    volume::CreateVolumeOptions,
};

use crate::{
    compose::{Condition, Project, Service},
    engine::{api, Engine, MountKind, Network, RunOptions},
    progress::Steps,
    session::{self, Cleanup},
};

/// Labels naming the compose project and service slim ran a container for.
pub const PROJECT_LABEL: &str = "slim.compose.project";
pub const SERVICE_LABEL: &str = "slim.compose.service";

/// Surroundings that are up; [`finish`] removes them.
pub struct Up {
    session: String,
    /// How the target runs in them: the service's options, on each of its
    /// project networks under its name and aliases there.
    pub target: RunOptions,
    /// Where the engine has no DNS on its networks: `NAME:IP` of each
    /// dependency name the target can reach, for its /etc/hosts (after
    /// the command line's --add-host, which wins).
    pub hosts: Vec<String>,
}

/// The engine's names of the project's networks and volumes.
struct Names {
    networks: BTreeMap<String, String>,
    volumes: BTreeMap<String, String>,
}

impl Names {
    /// A service's options with project volume names resolved, on every
    /// network it lists (the first joined at create, the others after).
    fn run_of(&self, svc: &Service) -> RunOptions {
        let mut run = svc.run.clone();
        for m in &mut run.mounts {
            if let (MountKind::Volume, Some(src)) = (m.kind, &m.source) {
                if let Some(name) = self.volumes.get(src) {
                    m.source = Some(name.clone());
                }
            }
        }
        run.networks = svc
            .networks
            .iter()
            .filter_map(|(key, aliases)| {
                Some(Network {
                    name: self.networks.get(key)?.clone(),
                    aliases: aliases_of(svc, aliases),
                })
            })
            .collect();
        run
    }
}

/// The names started services answer to, by network, for engines whose
/// networks have no DNS (`EngineKind::resolves_names`).
#[derive(Debug, Default)]
struct Hosts {
    /// (engine network, name, IP address), in start order.
    entries: Vec<(String, String, String)>,
}

impl Hosts {
    /// Records the names of container `id` (started with `run`): its
    /// aliases on each of its networks, at its address there.
    async fn add(&mut self, engine: &Engine, id: &str, run: &RunOptions) -> Result<()> {
        let Some(info) = api::inspect(engine, id).await? else {
            // It exited already: no address; waiting for it will say why.
            return Ok(());
        };
        let addresses = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        for net in &run.networks {
            let ip = addresses
                .get(&net.name)
                .and_then(|e| e.ip_address.clone())
                .filter(|ip| !ip.is_empty());
            let Some(ip) = ip else { continue };
            for name in &net.aliases {
                self.entries
                    .push((net.name.clone(), name.clone(), ip.clone()));
            }
        }
        Ok(())
    }

    /// `NAME:IP` for a container on `networks`: each name once, at its
    /// address on the first network they share.
    fn for_networks(&self, networks: &[Network]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for net in networks {
            for (on, name, ip) in &self.entries {
                if *on == net.name && !seen.contains(&name.as_str()) {
                    seen.push(name);
                    out.push(format!("{name}:{ip}"));
                }
            }
        }
        out
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
        Ok((target, hosts)) => Ok(Up {
            session,
            target,
            hosts,
        }),
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
) -> Result<(RunOptions, Vec<String>)> {
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
    let mut hosts = Hosts::default();
    for dep in &project.dependencies {
        wait_for(engine, dep, &started, timeout).await?;
        let mut run = resolved.run_of(dep);
        if !engine.kind.resolves_names() {
            run.add_hosts.extend(hosts.for_networks(&run.networks));
        }
        let id = run_dependency(engine, project, dep, &run, &prefix, &labels).await?;
        if !engine.kind.resolves_names() {
            hosts.add(engine, &id, &run).await?;
        }
        started.insert(dep.name.clone(), id);
    }
    wait_for(engine, &project.target, &started, timeout).await?;
    let mut target = resolved.run_of(&project.target);
    let names = hosts.for_networks(&target.networks);
    target
        .labels
        .insert(PROJECT_LABEL.into(), project.name.clone());
    target
        .labels
        .insert(SERVICE_LABEL.into(), project.target.name.clone());
    Ok((target, names))
}

/// Creates and starts one dependency with options `run`; returns its
/// container ID.
async fn run_dependency(
    engine: &Engine,
    project: &Project,
    dep: &Service,
    run: &RunOptions,
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
    api::apply_run_options(run, &mut config);
    let id = api::create_named(engine, &format!("{prefix}-{}", dep.name), config)
        .await
        .with_context(|| format!("cannot create the container of service {}", dep.name))?;
    api::connect_networks(engine, &id, run)
        .await
        .with_context(|| format!("service {}", dep.name))?;
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
    // Where the engine runs no healthcheck, slim runs it, on the schedule
    // the engine would.
    let mut own_check: Option<Checker> = None;
    loop {
        let (state, healthcheck) = match api::inspect(engine, id)
            .await
            .with_context(|| format!("cannot inspect the container of service {name}"))?
        {
            Some(info) => (
                info.state.unwrap_or_default(),
                info.config.and_then(|c| c.healthcheck),
            ),
            // Podman's state for a container that ran and exited.
            None => {
                let (_, code) = api::state(engine, id).await?;
                let exited = ContainerState {
                    running: Some(false),
                    exit_code: code,
                    started_at: Some("exited".into()),
                    finished_at: Some("exited".into()),
                    ..Default::default()
                };
                (exited, None)
            }
        };
        let running = state.running.unwrap_or(false);
        let exit = state.exit_code.unwrap_or(-1);
        let engine_check = || {
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
        let last_check = |own: &Option<Checker>| match own {
            Some(c) => c.last_output(),
            None => engine_check(),
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
                let no_healthcheck = || {
                    anyhow!(
                    "dependency {name} has no healthcheck (in the compose file or its image), which condition service_healthy needs; declare one or use service_started"
                )
                };
                if !engine.kind.runs_healthchecks() {
                    if own_check.is_none() {
                        let test = healthcheck.as_ref().and_then(|h| h.test.clone());
                        let argv = test
                            .as_deref()
                            .and_then(check_argv)
                            .ok_or_else(no_healthcheck)?;
                        own_check = Some(Checker::new(argv, healthcheck.as_ref()));
                    }
                    if let Some(c) = own_check.as_mut() {
                        match c.poll(engine, id).await {
                            Health::Healthy => return Ok(()),
                            Health::Unhealthy => bail!(
                                "dependency {name} is unhealthy; its healthcheck said: {}",
                                c.last_output()
                            ),
                            Health::Starting => {}
                        }
                    }
                } else {
                    match state.health.as_ref().and_then(|h| h.status) {
                        Some(HealthStatusEnum::HEALTHY) => return Ok(()),
                        Some(HealthStatusEnum::UNHEALTHY) => {
                            bail!(
                                "dependency {name} is unhealthy; its healthcheck said: {}",
                                last_check(&own_check)
                            )
                        }
                        Some(HealthStatusEnum::STARTING) => {}
                        _ => return Err(no_healthcheck()),
                    }
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let what = match condition {
                Condition::ServiceStarted => "start".to_string(),
                Condition::ServiceHealthy => {
                    format!("become healthy (last check: {})", last_check(&own_check))
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

/// The command a healthcheck's `test` runs, as the engine runs it:
/// `CMD args...` as given, `CMD-SHELL cmd` through `/bin/sh -c`; `NONE`
/// (or nothing) is no healthcheck.
fn check_argv(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        (kind, [cmd]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
        }
        (kind, _) if kind == "NONE" || kind == "CMD" || kind == "CMD-SHELL" => None,
        _ => Some(test.to_vec()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// A healthcheck slim runs itself (`EngineKind::runs_healthchecks`), with
/// the engine's rules: the first check one interval after the start, then
/// one per interval; each bounded by the timeout; unhealthy after
/// `retries` failures in a row, failures in the start period not counted.
struct Checker {
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    retries: u32,
    start_period: Duration,
    started: tokio::time::Instant,
    next: tokio::time::Instant,
    failures: u32,
    output: Option<String>,
}

impl Checker {
    fn new(argv: Vec<String>, config: Option<&HealthConfig>) -> Self {
        // The engine's defaults (nanoseconds; 0 means the default).
        let d = |ns: Option<i64>, default: u64| match ns {
            Some(n) if n > 0 => Duration::from_nanos(n as u64),
            _ => Duration::from_secs(default),
        };
        let c = config.cloned().unwrap_or_default();
        let interval = d(c.interval, 30);
        let started = tokio::time::Instant::now();
        Checker {
            argv,
            interval,
            timeout: d(c.timeout, 30),
            retries: c.retries.filter(|r| *r > 0).map_or(3, |r| r as u32),
            start_period: c
                .start_period
                .filter(|p| *p > 0)
                .map_or(Duration::ZERO, |p| Duration::from_nanos(p as u64)),
            started,
            next: started + interval,
            failures: 0,
            output: None,
        }
    }

    /// Runs the check when it is due; what the container's health is.
    async fn poll(&mut self, engine: &Engine, id: &str) -> Health {
        let now = tokio::time::Instant::now();
        if now < self.next {
            return Health::Starting;
        }
        self.next = now + self.interval;
        let argv: Vec<&str> = self.argv.iter().map(String::as_str).collect();
        let ran = tokio::time::timeout(self.timeout, api::exec_argv(engine, id, &argv)).await;
        let passed = match ran {
            Ok(Ok(out)) => {
                let text = format!("{}{}", out.stdout, out.stderr);
                self.output = Some(text.trim().replace('\n', " | "));
                out.exit_code == 0
            }
            Ok(Err(e)) => {
                self.output = Some(format!("{e:#}"));
                false
            }
            Err(_) => {
                self.output = Some(format!("timed out after {} s", self.timeout.as_secs_f32()));
                false
            }
        };
        if passed {
            return Health::Healthy;
        }
        if now.duration_since(self.started) >= self.start_period {
            self.failures += 1;
        }
        if self.failures >= self.retries {
            Health::Unhealthy
        } else {
            Health::Starting
        }
    }

    fn last_output(&self) -> String {
        match self.output.as_deref() {
            None => "none ran yet".into(),
            Some("") => "no output".into(),
            Some(o) => o.to_string(),
        }
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
/// top: lists add, what the command line sets wins. Both setting networks
/// is an error: the target must join the project's.
pub fn overlay(compose: RunOptions, cli: &RunOptions) -> Result<RunOptions> {
    if !cli.networks.is_empty() {
        return Err(anyhow!(
            "--network cannot be used with --service: the service joins its compose networks"
        ));
    }
    let mut run = compose;
    run.env.extend(cli.env.iter().cloned());
    run.mounts.extend(cli.mounts.iter().cloned());
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
        Ok(mut run) => {
            run.add_hosts.extend(up.hosts.iter().cloned());
            plan.run = run;
        }
        Err(e) => return finish(engine, Some(up), Err(e)).await,
    }
    for p in &project.target.ports {
        if !ports.contains(p) {
            ports.push(*p);
        }
    }
    Ok(Some(up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_tests_run_as_the_engine_runs_them() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_argv(&v(&["CMD", "pg_isready", "-h", "127.0.0.1"])),
            Some(v(&["pg_isready", "-h", "127.0.0.1"]))
        );
        assert_eq!(
            check_argv(&v(&["CMD-SHELL", "redis-cli ping | grep PONG"])),
            Some(v(&["/bin/sh", "-c", "redis-cli ping | grep PONG"]))
        );
        for none in [&["NONE"][..], &[], &["CMD"], &["CMD-SHELL", "a", "b"]] {
            assert_eq!(check_argv(&v(none)), None, "{none:?}");
        }
    }

    #[test]
    fn own_checks_take_the_engine_defaults() {
        let c = Checker::new(vec!["true".into()], None);
        assert_eq!(
            (c.interval, c.timeout, c.retries, c.start_period),
            (
                Duration::from_secs(30),
                Duration::from_secs(30),
                3,
                Duration::ZERO
            )
        );
        let declared = HealthConfig {
            interval: Some(1_000_000_000),
            timeout: Some(0),
            retries: Some(30),
            start_period: Some(5_000_000_000),
            ..Default::default()
        };
        let c = Checker::new(vec!["true".into()], Some(&declared));
        assert_eq!(
            (c.interval, c.timeout, c.retries, c.start_period),
            (
                Duration::from_secs(1),
                Duration::from_secs(30),
                30,
                Duration::from_secs(5)
            )
        );
        assert_eq!(
            c.next - c.started,
            Duration::from_secs(1),
            "first after one interval"
        );
        assert_eq!(c.last_output(), "none ran yet");
    }

    #[test]
    fn names_resolve_on_the_first_shared_network() {
        let entry = |net: &str, name: &str, ip: &str| (net.into(), name.into(), ip.into());
        let hosts = Hosts {
            entries: vec![
                entry("p_back", "db", "10.0.1.2"),
                entry("p_back", "database", "10.0.1.2"),
                entry("p_front", "db", "10.0.2.2"),
                entry("p_front", "cache", "10.0.2.3"),
                entry("p_other", "queue", "10.0.3.2"),
            ],
        };
        let on = |names: &[&str]| -> Vec<Network> {
            names
                .iter()
                .map(|n| Network {
                    name: n.to_string(),
                    aliases: Vec::new(),
                })
                .collect()
        };
        assert_eq!(
            hosts.for_networks(&on(&["p_front", "p_back"])),
            ["db:10.0.2.2", "cache:10.0.2.3", "database:10.0.1.2"]
        );
        assert_eq!(
            hosts.for_networks(&on(&["p_back"])),
            ["db:10.0.1.2", "database:10.0.1.2"]
        );
        assert!(hosts.for_networks(&[]).is_empty());
    }
}
