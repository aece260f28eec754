//! Compose files, read as plain data: the probed service and, in start
//! order, the services it depends on, with what each needs to run
//! (`engine::RunOptions`, networks and aliases, healthcheck) and the networks
//! and volumes they use. `surroundings` starts and removes them.
//!
//! Read as compose reads them (the compose specification): every file is
//! parsed and interpolated (`interpolate`, with slim's environment and the
//! `.env` beside the first file), later files are merged over earlier ones
//! (`merge`), relative paths are taken from the first file's directory. The
//! spec is read with serde_yaml_ng values rather than a typed model, so
//! that an error can name its file and key and every key slim does not
//! act on can be reported (`Project::ignored`).
mod args;
pub mod interpolate;
pub mod merge;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml_ng::{Mapping, Value};

pub use args::ComposeArgs;
use merge::scalar;

use crate::engine::{Mount, MountKind, RunOptions};

/// When a dependency counts as up (`depends_on.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// A healthcheck the file declares (else the image's applies).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// The engine's form: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"].
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub retries: Option<u32>,
}

/// One service, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    /// Everything but the network: that is the engine's name of a project
    /// network, known when the surroundings start. A named volume's mount
    /// source is the file's volume key, resolved the same way.
    pub run: RunOptions,
    /// The project networks it joins (keys of the top-level `networks`),
    /// with the aliases it declares there; `default` when it names none.
    pub networks: Vec<(String, Vec<String>)>,
    pub healthcheck: Option<Healthcheck>,
    /// Container TCP ports of `ports` and `expose` (probed on the target).
    pub ports: Vec<u16>,
    pub depends_on: Vec<(String, Condition)>,
}

/// A network or volume of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its key in the file.
    pub key: String,
    /// `external: true`: it exists already, under this name; slim neither
    /// creates nor removes it.
    pub external: Option<String>,
    pub driver: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// What a compose file asks for around one service.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub target: Service,
    /// Transitively from `depends_on`, each after what it depends on.
    pub dependencies: Vec<Service>,
    pub networks: Vec<Resource>,
    pub volumes: Vec<Resource>,
    /// Keys of the file slim does not act on, like `services.app.build`.
    pub ignored: Vec<String>,
    /// Variables used but set nowhere (they read as "", as in compose).
    pub unset: Vec<String>,
}

/// Reads and merges `files` and picks `service` out of them.
pub fn load(files: &[PathBuf], service: &str) -> Result<Project> {
    load_with(files, service, std::env::vars().collect())
}

struct Ctx<'a> {
    files: String,
    dir: PathBuf,
    env: &'a BTreeMap<String, String>,
    dotenv: BTreeMap<String, String>,
    ignored: BTreeSet<String>,
}

impl Ctx<'_> {
    fn err(&self, path: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: {path}: {msg}", self.files)
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .or_else(|| self.dotenv.get(name))
            .cloned()
    }

    fn ignore(&mut self, path: String) {
        self.ignored.insert(path);
    }
}

fn load_with(files: &[PathBuf], service: &str, env: BTreeMap<String, String>) -> Result<Project> {
    let Some(first) = files.first() else {
        bail!("--service needs a --compose-file");
    };
    let first_abs = std::path::absolute(first)
        .with_context(|| format!("cannot resolve {}", first.display()))?;
    let dir = first_abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let dotenv_path = dir.join(".env");
    let dotenv: BTreeMap<String, String> = if dotenv_path.is_file() {
        interpolate::read_env_file(&dotenv_path, &|n| env.get(n).cloned())?
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut ctx = Ctx {
        files: files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        dir: dir.clone(),
        env: &env,
        dotenv,
        ignored: BTreeSet::new(),
    };
    let mut unset = BTreeSet::new();
    let mut merged: Option<Value> = None;
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read compose file {}", file.display()))?;
        let mut value: Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow!("{}: not a valid compose file: {e}", file.display()))?;
        value
            .apply_merge()
            .map_err(|e| anyhow!("{}: bad YAML merge key: {e}", file.display()))?;
        if !matches!(value, Value::Mapping(_)) {
            bail!(
                "{}: expected a mapping with `services:` at the top",
                file.display()
            );
        }
        let lookup = |n: &str| ctx.var(n);
        interpolate_all(&mut value, "", &lookup, &mut unset)
            .map_err(|e| anyhow!("{}: {e:#}", file.display()))?;
        if let Some(Value::Mapping(services)) = value.get_mut("services") {
            for (_, svc) in services.iter_mut() {
                merge::normalize_service(svc);
            }
        }
        match &mut merged {
            None => merged = Some(value),
            Some(base) => merge::merge_files(base, value),
        }
    }
    let top = merged.unwrap_or(Value::Null);
    let Value::Mapping(top) = top else {
        bail!("{}: expected a mapping at the top", ctx.files);
    };
    for (k, _) in &top {
        let k = scalar(k);
        if !["services", "networks", "volumes", "name", "version"].contains(&k.as_str())
            && !k.starts_with("x-")
        {
            ctx.ignore(k);
        }
    }
    let name = match top.get("name") {
        Some(n) => scalar(n),
        None => ctx.var("COMPOSE_PROJECT_NAME").unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
    };
    let name = project_name(&name);
    let services = match top.get("services") {
        Some(Value::Mapping(m)) => m.clone(),
        Some(_) => {
            return Err(ctx.err(
                "services",
                "expected a mapping of service names to definitions",
            ))
        }
        None => return Err(ctx.err("services", "missing: the file defines no services")),
    };
    if services.get(service).is_none() {
        let names: Vec<String> = services.keys().map(scalar).collect();
        return Err(ctx.err(
            "services",
            format!("no service {service:?} (it has: {})", names.join(", ")),
        ));
    }
    let order = start_order(&services, service, &ctx)?;
    let mut parsed = Vec::new();
    for name in &order {
        let is_target = name == service;
        let mut svc = parse_service(name, &services[name.as_str()], is_target, &mut ctx)?;
        svc.depends_on = depends_on(name, &services[name.as_str()], &services, &ctx)?;
        parsed.push(svc);
    }
    let target = parsed.pop().expect("the order ends with the target");
    let declared = |key: &str| -> Mapping {
        match top.get(key) {
            Some(Value::Mapping(m)) => m.clone(),
            _ => Mapping::new(),
        }
    };
    let (net_decl, vol_decl) = (declared("networks"), declared("volumes"));
    let mut networks = Vec::new();
    let mut volumes = Vec::new();
    for svc in parsed.iter().chain(std::iter::once(&target)) {
        for (key, _) in &svc.networks {
            if networks.iter().any(|n: &Resource| &n.key == key) {
                continue;
            }
            let def = net_decl.get(key.as_str());
            if def.is_none() && key != "default" {
                return Err(ctx.err(
                    &format!("services.{}.networks", svc.name),
                    format!("network {key:?} is not declared in the top-level networks"),
                ));
            }
            networks.push(resource("networks", key, def, &mut ctx)?);
        }
        for m in &svc.run.mounts {
            let (MountKind::Volume, Some(src)) = (m.kind, &m.source) else {
                continue;
            };
            if volumes.iter().any(|v: &Resource| &v.key == src) {
                continue;
            }
            let Some(def) = vol_decl.get(src.as_str()) else {
                return Err(ctx.err(
                    &format!("services.{}.volumes", svc.name),
                    format!("volume {src:?} is not declared in the top-level volumes"),
                ));
            };
            volumes.push(resource("volumes", src, Some(def), &mut ctx)?);
        }
    }
    Ok(Project {
        name,
        files: files.to_vec(),
        target,
        dependencies: parsed,
        networks,
        volumes,
        ignored: ctx.ignored.into_iter().collect(),
        unset: unset.into_iter().collect(),
    })
}

/// Compose's normalization of a project name: lowercase letters, digits,
/// `-` and `_`, starting with a letter or digit.
fn project_name(raw: &str) -> String {
    let s: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let s = s.trim_start_matches(['-', '_']).to_string();
    if s.is_empty() {
        "default".into()
    } else {
        s
    }
}

/// Interpolates every string of the file, naming the key on error.
fn interpolate_all(
    v: &mut Value,
    path: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    unset: &mut BTreeSet<String>,
) -> Result<()> {
    match v {
        Value::String(s) => {
            *s = interpolate::interpolate(s, vars, &mut |n| {
                unset.insert(n.to_string());
            })
            .map_err(|e| anyhow!("{path}: {e}"))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_all(item, &format!("{path}[{i}]"), vars, unset)?;
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let p = if path.is_empty() {
                    scalar(k)
                } else {
                    format!("{path}.{}", scalar(k))
                };
                interpolate_all(item, &p, vars, unset)?;
            }
        }
        Value::Tagged(t) => interpolate_all(&mut t.value, path, vars, unset)?,
        _ => {}
    }
    Ok(())
}

/// The names `depends_on` lists, with their conditions; an optional
/// (`required: false`) dependency the file lacks is left out.
fn depends_on(
    name: &str,
    svc: &Value,
    services: &Mapping,
    ctx: &Ctx<'_>,
) -> Result<Vec<(String, Condition)>> {
    let path = format!("services.{name}.depends_on");
    let Some(deps) = svc.get("depends_on") else {
        return Ok(Vec::new());
    };
    let Value::Mapping(deps) = deps else {
        return Err(ctx.err(&path, "expected a list of service names or a mapping"));
    };
    let mut out = Vec::new();
    for (dep, spec) in deps {
        let dep = scalar(dep);
        let (condition, required) = match spec {
            Value::Null => (Condition::ServiceStarted, true),
            Value::Mapping(m) => {
                let condition = match m.get("condition").map(scalar).as_deref() {
                    None | Some("service_started") => Condition::ServiceStarted,
                    Some("service_healthy") => Condition::ServiceHealthy,
                    Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                    Some(other) => {
                        return Err(ctx.err(
                            &format!("{path}.{dep}.condition"),
                            format!("{other:?} is not service_started, service_healthy or service_completed_successfully"),
                        ))
                    }
                };
                let required = !matches!(m.get("required"), Some(Value::Bool(false)));
                (condition, required)
            }
            _ => {
                return Err(ctx.err(
                    &format!("{path}.{dep}"),
                    "expected a mapping with condition",
                ))
            }
        };
        if services.get(dep.as_str()).is_none() {
            if required {
                return Err(ctx.err(&path, format!("{dep:?} is not a service of the file")));
            }
            continue;
        }
        out.push((dep, condition));
    }
    Ok(out)
}

/// The services to start, each after what it depends on, ending with
/// `target`; a cycle is an error naming it.
fn start_order(services: &Mapping, target: &str, ctx: &Ctx<'_>) -> Result<Vec<String>> {
    fn visit(
        name: &str,
        services: &Mapping,
        ctx: &Ctx<'_>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) -> Result<()> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(at) = stack.iter().position(|s| s == name) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(name.to_string());
            bail!(
                "{}: services depend on each other in a cycle: {}",
                ctx.files,
                cycle.join(" -> ")
            );
        }
        stack.push(name.to_string());
        for (dep, _) in depends_on(name, &services[name], services, ctx)? {
            visit(&dep, services, ctx, stack, done, out)?;
        }
        stack.pop();
        done.insert(name.to_string());
        out.push(name.to_string());
        Ok(())
    }
    let mut out = Vec::new();
    visit(
        target,
        services,
        ctx,
        &mut Vec::new(),
        &mut BTreeSet::new(),
        &mut out,
    )?;
    Ok(out)
}

/// Keys of a service slim acts on; the others are reported as ignored.
const SERVICE_KEYS: &[&str] = &[
    "image",
    "environment",
    "env_file",
    "volumes",
    "tmpfs",
    "networks",
    "command",
    "entrypoint",
    "user",
    "working_dir",
    "hostname",
    "extra_hosts",
    "labels",
    "ports",
    "expose",
    "depends_on",
    "healthcheck",
];

fn parse_service(name: &str, v: &Value, is_target: bool, ctx: &mut Ctx<'_>) -> Result<Service> {
    let base = format!("services.{name}");
    let Value::Mapping(m) = v else {
        return Err(ctx.err(&base, "expected a mapping"));
    };
    for (k, _) in m {
        let k = scalar(k);
        if !SERVICE_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
            ctx.ignore(format!("{base}.{k}"));
        }
    }
    let path = |k: &str| format!("{base}.{k}");
    let string = |k: &str, ctx: &Ctx<'_>| -> Result<Option<String>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Mapping(_) | Value::Sequence(_)) => {
                Err(ctx.err(&path(k), "expected a string"))
            }
            Some(s) => Ok(Some(scalar(s))),
        }
    };
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if let Some(files) = m.get("env_file") {
        let Value::Sequence(files) = files else {
            return Err(ctx.err(&path("env_file"), "expected a path or a list of paths"));
        };
        for (i, f) in files.iter().enumerate() {
            let (file, required) = match f {
                Value::Mapping(fm) => (
                    fm.get("path").map(scalar).ok_or_else(|| {
                        ctx.err(&format!("{}[{i}]", path("env_file")), "missing path")
                    })?,
                    !matches!(fm.get("required"), Some(Value::Bool(false))),
                ),
                other => (scalar(other), true),
            };
            let full = ctx.dir.join(&file);
            if !full.is_file() && !required {
                continue;
            }
            let vars = interpolate::read_env_file(&full, &|n| ctx.var(n))
                .map_err(|e| ctx.err(&path("env_file"), format!("{e:#}")))?;
            for (k, v) in vars {
                if let Some(v) = v.or_else(|| ctx.var(&k)) {
                    env.insert(k, v);
                }
            }
        }
    }
    match m.get("environment") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(e)) => {
            for (k, v) in e {
                let k = scalar(k);
                let v = match v {
                    // A bare name takes its value from slim's environment.
                    Value::Null => ctx.var(&k),
                    Value::Mapping(_) | Value::Sequence(_) => {
                        return Err(
                            ctx.err(&format!("{}.{k}", path("environment")), "expected a string")
                        )
                    }
                    v => Some(scalar(v)),
                };
                if let Some(v) = v {
                    env.insert(k, v);
                }
            }
        }
        Some(_) => {
            return Err(ctx.err(
                &path("environment"),
                "expected a mapping or a list of KEY=VALUE",
            ))
        }
    }
    let labels = match m.get("labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Mapping(l)) => l.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Some(_) => {
            return Err(ctx.err(&path("labels"), "expected a mapping or a list of KEY=VALUE"))
        }
    };
    let mut mounts = Vec::new();
    if let Some(vols) = m.get("volumes") {
        let Value::Sequence(vols) = vols else {
            return Err(ctx.err(&path("volumes"), "expected a list"));
        };
        for (i, vol) in vols.iter().enumerate() {
            mounts.push(mount(vol, &format!("{}[{i}]", path("volumes")), ctx)?);
        }
    }
    if let Some(Value::Sequence(t)) = m.get("tmpfs") {
        for item in t {
            let s = scalar(item);
            let target = s.split(':').next().unwrap_or_default().to_string();
            mounts.push(Mount {
                kind: MountKind::Tmpfs,
                source: None,
                target,
                read_only: false,
            });
        }
    }
    let extra_hosts = match m.get("extra_hosts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(h)) => h
            .iter()
            .map(|h| {
                let s = scalar(h);
                // `host=ip` is the newer spelling of docker's `host:ip`.
                match s.split_once('=') {
                    Some((host, ip)) => format!("{host}:{ip}"),
                    None => s,
                }
            })
            .collect(),
        Some(Value::Mapping(h)) => h
            .iter()
            .map(|(k, v)| format!("{}:{}", scalar(k), scalar(v)))
            .collect(),
        Some(_) => {
            return Err(ctx.err(
                &path("extra_hosts"),
                "expected a list of HOST:IP or a mapping",
            ))
        }
    };
    let networks = match m.get("networks") {
        None | Some(Value::Null) => vec![("default".to_string(), Vec::new())],
        Some(Value::Mapping(n)) => {
            let mut out = Vec::new();
            for (k, spec) in n {
                let key = scalar(k);
                let np = format!("{}.{key}", path("networks"));
                let aliases = match spec {
                    Value::Null => Vec::new(),
                    Value::Mapping(s) => {
                        for (sk, _) in s {
                            if scalar(sk) != "aliases" {
                                ctx.ignore(format!("{np}.{}", scalar(sk)));
                            }
                        }
                        match s.get("aliases") {
                            None | Some(Value::Null) => Vec::new(),
                            Some(Value::Sequence(a)) => a.iter().map(scalar).collect(),
                            Some(_) => {
                                return Err(
                                    ctx.err(&format!("{np}.aliases"), "expected a list of names")
                                )
                            }
                        }
                    }
                    _ => return Err(ctx.err(&np, "expected a mapping")),
                };
                out.push((key, aliases));
            }
            out
        }
        Some(_) => {
            return Err(ctx.err(
                &path("networks"),
                "expected a list of network names or a mapping",
            ))
        }
    };
    let mut ports = Vec::new();
    for key in ["ports", "expose"] {
        let Some(list) = m.get(key) else { continue };
        let Value::Sequence(list) = list else {
            return Err(ctx.err(&path(key), "expected a list"));
        };
        if !is_target {
            // Dependencies are reached on the project network, never from the host.
            if key == "ports" {
                ctx.ignore(path(key));
            }
            continue;
        }
        for (i, p) in list.iter().enumerate() {
            for port in
                container_ports(p).map_err(|e| ctx.err(&format!("{}[{i}]", path(key)), e))?
            {
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
        }
    }
    let healthcheck = match m.get("healthcheck") {
        None | Some(Value::Null) => None,
        Some(h) => healthcheck(h, &path("healthcheck"), ctx)?,
    };
    let run = RunOptions {
        env: env.into_iter().collect(),
        mounts,
        networks: Vec::new(),
        user: string("user", ctx)?,
        entrypoint: command(m.get("entrypoint"), &path("entrypoint"), ctx)?,
        cmd: command(m.get("command"), &path("command"), ctx)?,
        workdir: string("working_dir", ctx)?,
        add_hosts: extra_hosts,
        hostname: string("hostname", ctx)?,
        labels,
    };
    Ok(Service {
        name: name.to_string(),
        image: string("image", ctx)?,
        run,
        networks,
        healthcheck,
        ports,
        depends_on: Vec::new(),
    })
}

/// `command` or `entrypoint`: a list, or a string split as a shell would.
fn command(v: Option<&Value>, path: &str, ctx: &Ctx<'_>) -> Result<Option<Vec<String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Sequence(items)) => Ok(Some(items.iter().map(scalar).collect())),
        Some(Value::Mapping(_)) => Err(ctx.err(path, "expected a string or a list")),
        Some(s) => {
            let s = scalar(s);
            shlex::split(&s).map(Some).ok_or_else(|| {
                ctx.err(
                    path,
                    format!("cannot split {s:?} into words (unbalanced quotes?)"),
                )
            })
        }
    }
}

/// One `volumes` entry: `SRC:DST[:MODE]`, `DST` (anonymous) or the long form.
fn mount(v: &Value, path: &str, ctx: &mut Ctx<'_>) -> Result<Mount> {
    let source_kind = |src: &str| {
        if src.starts_with(['/', '.', '~']) {
            MountKind::Bind
        } else {
            MountKind::Volume
        }
    };
    let dir = ctx.dir.clone();
    let host_path = |src: &str| -> String {
        if let Some(rest) = src.strip_prefix("~/") {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            return format!("{home}/{rest}");
        }
        let p = dir.join(src);
        // Lexically: the path need not exist yet.
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out.display().to_string()
    };
    let m = match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [dst] => Mount {
                    kind: MountKind::Volume,
                    source: None,
                    target: dst.to_string(),
                    read_only: false,
                },
                [src, dst, rest @ ..] if rest.len() <= 1 => {
                    let kind = source_kind(src);
                    let read_only = rest
                        .first()
                        .is_some_and(|mode| mode.split(',').any(|o| o == "ro"));
                    let source = match kind {
                        MountKind::Bind => host_path(src),
                        _ => src.to_string(),
                    };
                    Mount {
                        kind,
                        source: Some(source),
                        target: dst.to_string(),
                        read_only,
                    }
                }
                _ => return Err(ctx.err(path, format!("{s:?} is not SRC:DST[:MODE] or DST"))),
            }
        }
        Value::Mapping(lm) => {
            for (k, _) in lm {
                let k = scalar(k);
                if !["type", "source", "target", "read_only"].contains(&k.as_str()) {
                    ctx.ignore(format!("{path}.{k}"));
                }
            }
            let target = lm
                .get("target")
                .map(scalar)
                .ok_or_else(|| ctx.err(path, "missing target"))?;
            let source = lm.get("source").map(scalar).filter(|s| !s.is_empty());
            let kind = match lm.get("type").map(scalar).as_deref() {
                Some("bind") => MountKind::Bind,
                Some("volume") | None => MountKind::Volume,
                Some("tmpfs") => MountKind::Tmpfs,
                Some(other) => {
                    return Err(ctx.err(
                        &format!("{path}.type"),
                        format!("{other:?} is not bind, volume or tmpfs"),
                    ))
                }
            };
            if kind == MountKind::Bind && source.is_none() {
                return Err(ctx.err(path, "a bind mount needs a source"));
            }
            let source = match kind {
                MountKind::Bind => source.map(|s| host_path(&s)),
                MountKind::Tmpfs => None,
                MountKind::Volume => source,
            };
            Mount {
                kind,
                source,
                target,
                read_only: matches!(lm.get("read_only"), Some(Value::Bool(true))),
            }
        }
        _ => return Err(ctx.err(path, "expected SRC:DST[:MODE] or a mapping")),
    };
    if !m.target.starts_with('/') {
        return Err(ctx.err(
            path,
            format!("the container path {:?} is not absolute", m.target),
        ));
    }
    Ok(m)
}

/// The container TCP ports of a `ports` or `expose` entry.
fn container_ports(v: &Value) -> std::result::Result<Vec<u16>, String> {
    let (spec, proto) = match v {
        Value::Number(n) => (n.to_string(), "tcp".to_string()),
        Value::String(s) => match s.rsplit_once('/') {
            Some((spec, proto)) => (spec.to_string(), proto.to_string()),
            None => (s.clone(), "tcp".to_string()),
        },
        Value::Mapping(m) => (
            m.get("target").map(scalar).ok_or("missing target")?,
            m.get("protocol")
                .map(scalar)
                .unwrap_or_else(|| "tcp".into()),
        ),
        _ => return Err("expected a port, HOST:CONTAINER or a mapping".into()),
    };
    if proto != "tcp" {
        return Ok(Vec::new());
    }
    let container = spec.rsplit(':').next().unwrap_or_default();
    let bad = || format!("{spec:?} does not end in a container port (or range)");
    let (lo, hi) = match container.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = container.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo == 0 || hi < lo || hi - lo > 100 {
        return Err(bad());
    }
    Ok((lo..=hi).collect())
}

fn healthcheck(v: &Value, path: &str, ctx: &mut Ctx<'_>) -> Result<Option<Healthcheck>> {
    let Value::Mapping(h) = v else {
        return Err(ctx.err(path, "expected a mapping"));
    };
    if matches!(h.get("disable"), Some(Value::Bool(true))) {
        return Ok(Some(Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    for (k, _) in h {
        let k = scalar(k);
        if ![
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "disable",
        ]
        .contains(&k.as_str())
        {
            ctx.ignore(format!("{path}.{k}"));
        }
    }
    let test = match h.get("test") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(t)) => {
            let t: Vec<String> = t.iter().map(scalar).collect();
            if !matches!(
                t.first().map(String::as_str),
                Some("CMD" | "CMD-SHELL" | "NONE")
            ) {
                return Err(ctx.err(
                    &format!("{path}.test"),
                    "a list must start with CMD, CMD-SHELL or NONE",
                ));
            }
            t
        }
        Some(Value::Mapping(_)) => {
            return Err(ctx.err(&format!("{path}.test"), "expected a string or a list"))
        }
        Some(s) => vec!["CMD-SHELL".into(), scalar(s)],
    };
    let duration = |k: &str| -> Result<Option<Duration>> {
        match h.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(d) => parse_duration(&scalar(d))
                .map(Some)
                .map_err(|e| ctx.err(&format!("{path}.{k}"), e)),
        }
    };
    let retries = match h.get("retries") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ctx.err(&format!("{path}.retries"), "expected a count"))?,
        ),
        Some(_) => return Err(ctx.err(&format!("{path}.retries"), "expected a count")),
    };
    Ok(Some(Healthcheck {
        test,
        interval: duration("interval")?,
        timeout: duration("timeout")?,
        start_period: duration("start_period")?,
        retries,
    }))
}

/// A duration as compose writes them (Go's): `1m30s`, `500ms`, `10s`, `2h`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 10s, 1m30s or 500ms");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// A top-level network or volume.
fn resource(kind: &str, key: &str, def: Option<&Value>, ctx: &mut Ctx<'_>) -> Result<Resource> {
    let path = format!("{kind}.{key}");
    let mut r = Resource {
        key: key.to_string(),
        external: None,
        driver: None,
        internal: false,
        labels: BTreeMap::new(),
    };
    let m = match def {
        None | Some(Value::Null) => return Ok(r),
        Some(Value::Mapping(m)) => m,
        Some(_) => return Err(ctx.err(&path, "expected a mapping")),
    };
    for (k, v) in m {
        let k = scalar(k);
        match k.as_str() {
            "external" => {
                if matches!(v, Value::Bool(true)) {
                    r.external = Some(m.get("name").map(scalar).unwrap_or_else(|| key.to_string()));
                }
            }
            "name" => {}
            "driver" => r.driver = Some(scalar(v)),
            "internal" if kind == "networks" => r.internal = matches!(v, Value::Bool(true)),
            "labels" => {
                r.labels = match v {
                    Value::Mapping(l) => l.iter().map(|(a, b)| (scalar(a), scalar(b))).collect(),
                    Value::Sequence(l) => l
                        .iter()
                        .map(|i| {
                            let s = scalar(i);
                            let (a, b) = s.split_once('=').unwrap_or((&s, ""));
                            (a.to_string(), b.to_string())
                        })
                        .collect(),
                    _ => return Err(ctx.err(&format!("{path}.labels"), "expected a mapping")),
                }
            }
            _ if k.starts_with("x-") => {}
            _ => ctx.ignore(format!("{path}.{k}")),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (name, text) into a fresh directory; returns it.
    fn project_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn load_in(
        dir: &tempfile::TempDir,
        names: &[&str],
        service: &str,
        env: &[(&str, &str)],
    ) -> Result<Project> {
        let files: Vec<PathBuf> = names.iter().map(|n| dir.path().join(n)).collect();
        load_with(
            &files,
            service,
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn env_of(s: &Service) -> BTreeMap<String, String> {
        s.run.env.iter().cloned().collect()
    }

    const APP: &str = "
name: shop
services:
  app:
    image: ${APP_IMAGE:-app:1}
    build: .
    deploy: {replicas: 2}
    profiles: [web]
    environment:
      DATABASE_HOST: db
      FROM_DOTENV: ${DOTENV_VAR}
      FROM_SLIM:
    env_file: [app.env]
    command: python3 app.py --port 8080
    volumes: ['./conf:/etc/app:ro', 'data:/data', '/cache']
    ports: ['127.0.0.1:9000:8080', '9100-9101:9100-9101/tcp', '53:53/udp']
    networks:
      front:
      back: {aliases: [api], ipv4_address: 10.0.0.2}
    depends_on:
      db: {condition: service_healthy}
      cache:
  db:
    image: pg:15
    ports: ['5432:5432']
    networks: [back]
    healthcheck: {test: pg_isready, interval: 1m30s, retries: 5}
  cache:
    image: redis
    depends_on: [db]
    networks: [back]
  unused: {image: other, build: .}
networks: {front: {}, back: {ipam: {}}}
volumes: {data: {}}
secrets: {token: {file: t}}
";

    #[test]
    fn a_service_reads_as_compose_reads_it() {
        let dir = project_dir(&[
            ("compose.yml", APP),
            (".env", "DOTENV_VAR=from-dotenv\n"),
            ("app.env", "GREETING=hi\nDATABASE_HOST=overridden\n"),
        ]);
        let p = load_in(&dir, &["compose.yml"], "app", &[("FROM_SLIM", "slim")]).unwrap();
        assert_eq!(p.name, "shop");
        let app = &p.target;
        assert_eq!(app.image.as_deref(), Some("app:1"));
        let env = env_of(app);
        assert_eq!(env["DATABASE_HOST"], "db", "environment wins over env_file");
        assert_eq!(env["GREETING"], "hi");
        assert_eq!(env["FROM_DOTENV"], "from-dotenv");
        assert_eq!(env["FROM_SLIM"], "slim");
        assert_eq!(
            app.run.cmd.as_deref(),
            Some(
                &[
                    "python3".to_string(),
                    "app.py".into(),
                    "--port".into(),
                    "8080".into()
                ][..]
            )
        );
        assert_eq!(app.ports, [8080, 9100, 9101], "container TCP ports only");
        let conf = dir.path().join("conf").display().to_string();
        assert_eq!(
            app.run.mounts,
            [
                Mount {
                    kind: MountKind::Bind,
                    source: Some(conf),
                    target: "/etc/app".into(),
                    read_only: true
                },
                Mount {
                    kind: MountKind::Volume,
                    source: Some("data".into()),
                    target: "/data".into(),
                    read_only: false
                },
                Mount {
                    kind: MountKind::Volume,
                    source: None,
                    target: "/cache".into(),
                    read_only: false
                },
            ]
        );
        assert_eq!(
            app.networks,
            [
                ("front".to_string(), vec![]),
                ("back".to_string(), vec!["api".to_string()])
            ]
        );
        assert_eq!(
            app.depends_on,
            [
                ("db".to_string(), Condition::ServiceHealthy),
                ("cache".to_string(), Condition::ServiceStarted)
            ]
        );
        // db before cache (cache depends on db), the unused service left out.
        let order: Vec<&str> = p.dependencies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(order, ["db", "cache"]);
        let db = &p.dependencies[0];
        let hc = db.healthcheck.as_ref().unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "pg_isready"]);
        assert_eq!(hc.interval, Some(Duration::from_secs(90)));
        assert_eq!(hc.retries, Some(5));
        assert_eq!(
            p.networks
                .iter()
                .map(|n| n.key.as_str())
                .collect::<Vec<_>>(),
            ["back", "front"]
        );
        assert_eq!(
            p.volumes.iter().map(|v| v.key.as_str()).collect::<Vec<_>>(),
            ["data"]
        );
        assert_eq!(
            p.ignored,
            [
                "networks.back.ipam",
                "secrets",
                "services.app.build",
                "services.app.deploy",
                "services.app.networks.back.ipv4_address",
                "services.app.profiles",
                "services.db.ports",
            ]
        );
    }

    #[test]
    fn later_files_override_earlier_ones() {
        let over = "services:\n  app:\n    image: app:2\n    environment: [EXTRA=1]\n    command: [serve]\n";
        let dir = project_dir(&[
            ("compose.yml", APP),
            ("app.env", ""),
            ("override.yml", over),
        ]);
        let p = load_in(&dir, &["compose.yml", "override.yml"], "app", &[]).unwrap();
        assert_eq!(p.target.image.as_deref(), Some("app:2"));
        assert_eq!(
            p.target.run.cmd.as_deref(),
            Some(&["serve".to_string()][..])
        );
        let env = env_of(&p.target);
        assert_eq!(
            (env["EXTRA"].as_str(), env["DATABASE_HOST"].as_str()),
            ("1", "db")
        );
        // Unset in slim's environment and .env: left out, as compose does.
        assert!(!env.contains_key("FROM_SLIM"));
        assert_eq!(p.unset, ["DOTENV_VAR"]);
        assert!(p.files[1].ends_with("override.yml"));
    }

    #[test]
    fn project_name_comes_from_the_environment_or_the_directory() {
        let text = "services:\n  app: {image: a}\n";
        let dir = project_dir(&[("compose.yml", text)]);
        let p = load_in(
            &dir,
            &["compose.yml"],
            "app",
            &[("COMPOSE_PROJECT_NAME", "My.Proj")],
        )
        .unwrap();
        assert_eq!(p.name, "myproj");
        let p = load_in(&dir, &["compose.yml"], "app", &[]).unwrap();
        assert!(
            p.name.starts_with(|c: char| c.is_ascii_alphanumeric())
                && p.name == p.name.to_lowercase(),
            "{}",
            p.name
        );
        assert_eq!(p.target.networks, [("default".to_string(), vec![])]);
        assert_eq!(p.networks[0].key, "default");
    }

    #[test]
    fn a_cycle_is_one_line_naming_it() {
        let text = "services:\n  app: {image: a, depends_on: [b]}\n  b: {image: b, depends_on: [c]}\n  c: {image: c, depends_on: {app: {condition: service_started}}}\n";
        let dir = project_dir(&[("compose.yml", text)]);
        let e = format!(
            "{:#}",
            load_in(&dir, &["compose.yml"], "app", &[]).unwrap_err()
        );
        assert!(
            e.ends_with("services depend on each other in a cycle: app -> b -> c -> app"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn malformed_files_fail_in_one_line_naming_file_and_key() {
        let cases: &[(&str, &str)] = &[
            ("services: [a, b]\n", "compose.yml: services: expected a mapping"),
            ("services:\n  app: {image: a, ports: ['x:y']}\n", "compose.yml: services.app.ports[0]: \"x:y\" does not end in a container port"),
            ("services:\n  app: {image: a, depends_on: [nope]}\n", "compose.yml: services.app.depends_on: \"nope\" is not a service of the file"),
            ("services:\n  app: {image: a, depends_on: {b: {condition: service_ready}}}\n  b: {image: b}\n", "services.app.depends_on.b.condition: \"service_ready\" is not"),
            ("services:\n  app: {image: a, healthcheck: {test: x, interval: soon}}\n", "services.app.healthcheck.interval: \"soon\" is not a duration"),
            ("services:\n  app: {image: a, volumes: [data:/data]}\n", "services.app.volumes: volume \"data\" is not declared"),
            ("services:\n  app: {image: a, networks: [n]}\n", "services.app.networks: network \"n\" is not declared"),
            ("services:\n  app: {image: a, command: \"echo 'open\"}\n", "services.app.command: cannot split"),
            ("services:\n  app: {image: \"${IMG?set IMG}\"}\n", "compose.yml: services.app.image: required variable IMG is missing a value: set IMG"),
            ("services:\n  app: {image: a, env_file: missing.env}\n", "services.app.env_file: cannot read"),
            ("services:\n  app: {image: a\n", "compose.yml: not a valid compose file"),
            ("services:\n  other: {image: a}\n", "services: no service \"app\" (it has: other)"),
            ("- just a list\n", "compose.yml: expected a mapping"),
        ];
        for (text, want) in cases {
            let dir = project_dir(&[("compose.yml", text)]);
            let e = format!(
                "{:#}",
                load_in(&dir, &["compose.yml"], "app", &[]).unwrap_err()
            );
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains("compose.yml"), "{text:?}: no file in {e}");
            assert!(!e.contains('\n'), "{text:?}: {e}");
        }
    }

    #[test]
    fn optional_dependencies_and_env_files_may_be_missing() {
        let text = "services:\n  app:\n    image: a\n    env_file: [{path: none.env, required: false}]\n    depends_on: {gone: {condition: service_started, required: false}}\n";
        let dir = project_dir(&[("compose.yml", text)]);
        let p = load_in(&dir, &["compose.yml"], "app", &[]).unwrap();
        assert!(p.dependencies.is_empty() && p.target.depends_on.is_empty());
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in ["", "10", "s", "1x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
