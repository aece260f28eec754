//! `docker run`'s options on `slim build` and `slim profile`, with docker
//! run's names and meanings, turned into [`RunOptions`] (plain data the
//! engine applies). Syntax is checked when clap parses (a malformed
//! `--mount` fails before anything runs); what needs the filesystem or
//! slim's environment (env files, bind sources, `--env K`) is read by
//! [`RunArgs::options`], also before anything starts.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::engine::{Mount, MountKind, Network, RunOptions};

/// How the probed container (and `--verify`'s) is run, as with docker run.
/// Where --help lists these (one heading: clap would carry a struct-level
/// heading on to the options that follow the flattened ones).
const RUN_HEADING: &str = "Run options (docker run's, for the probe and --verify)";

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Set an environment variable in the container: K=V, or K alone to
    /// pass slim's own value (not set when slim has none). Values never
    /// reach report.json or the slim image.
    #[arg(help_heading = RUN_HEADING, long = "env", value_name = "K=V|K", value_parser = parse_env)]
    pub env: Vec<EnvArg>,
    /// Read environment variables from FILE (docker's format: K=V or K per
    /// line, # comments); --env wins over it.
    #[arg(help_heading = RUN_HEADING, long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Mount SRC (a host path, or a volume name) at DST; nothing used under
    /// DST goes into the slim image. DST alone: an anonymous volume.
    #[arg(help_heading = RUN_HEADING, long = "volume", value_name = "SRC:DST[:ro]", value_parser = parse_volume)]
    pub volume: Vec<Mount>,
    /// A mount in docker run's --mount syntax:
    /// type=bind|volume|tmpfs,source=SRC,target=DST[,readonly].
    #[arg(help_heading = RUN_HEADING, long = "mount", value_name = "SPEC", value_parser = parse_mount)]
    pub mount: Vec<Mount>,
    /// Connect the container to this network (instead of the default
    /// bridge); repeatable, to join several. name=NET,alias=A[,alias=B]
    /// gives a network its own aliases.
    #[arg(help_heading = RUN_HEADING, long, value_name = "NAME|name=NET,alias=A", value_parser = parse_network)]
    pub network: Vec<Network>,
    /// A name the container answers to on the first --network.
    #[arg(help_heading = RUN_HEADING, long = "network-alias", value_name = "NAME", requires = "network")]
    pub network_alias: Vec<String>,
    /// Run as this user (NAME, UID, NAME:GROUP or UID:GID).
    #[arg(help_heading = RUN_HEADING, long, value_name = "USER")]
    pub user: Option<String>,
    /// Replace the image's entrypoint (one program, as docker run's
    /// --entrypoint; "" clears it).
    #[arg(help_heading = RUN_HEADING, long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Replace the image's command: one string, split as a shell would
    /// ("app --port 8080"). Not recorded in report.json.
    #[arg(help_heading = RUN_HEADING, long, value_name = "CMD ARGS", value_parser = parse_cmd)]
    pub cmd: Option<Words>,
    /// The working directory in the container (absolute).
    #[arg(help_heading = RUN_HEADING, long, value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,
    /// Add HOST:IP to the container's /etc/hosts.
    #[arg(help_heading = RUN_HEADING, long = "add-host", value_name = "HOST:IP", value_parser = parse_add_host)]
    pub add_host: Vec<String>,
    /// The container's host name.
    #[arg(help_heading = RUN_HEADING, long, value_name = "NAME")]
    pub hostname: Option<String>,
}

/// A command line split as a shell would (a newtype: clap reads a bare
/// `Vec` as many values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words(pub Vec<String>);

/// One `--env`: a value, or a name to take from slim's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvArg {
    Set(String, String),
    Inherit(String),
}

impl RunArgs {
    /// The options, with env files read, `--env K` looked up in slim's
    /// environment and bind sources made absolute and checked.
    pub fn options(&self) -> Result<RunOptions> {
        self.options_with(&|k| std::env::var(k).ok())
    }

    fn options_with(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<RunOptions> {
        let mut env = Vec::new();
        // Docker reads the files first: --env overrides them.
        for file in &self.env_file {
            env.extend(read_env_file(file, lookup)?);
        }
        for e in &self.env {
            match e {
                EnvArg::Set(k, v) => env.push((k.clone(), v.clone())),
                // Unset in slim's environment: docker run sets nothing.
                EnvArg::Inherit(k) => {
                    if let Some(v) = lookup(k) {
                        env.push((k.clone(), v));
                    }
                }
            }
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let mut mounts = Vec::new();
        for (flag, m) in self
            .volume
            .iter()
            .map(|m| ("--volume", m))
            .chain(self.mount.iter().map(|m| ("--mount", m)))
        {
            mounts.push(resolve_bind(flag, m, &cwd)?);
        }
        let mut targets: Vec<&str> = mounts.iter().map(|m| m.target.as_str()).collect();
        targets.sort();
        if let Some(w) = targets.windows(2).find(|w| w[0] == w[1]) {
            bail!(
                "two mounts have the target {}: docker refuses duplicate mount points",
                w[0]
            );
        }
        Ok(RunOptions {
            env,
            mounts,
            networks: networks(&self.network, &self.network_alias)?,
            user: self.user.clone(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            cmd: self.cmd.clone().map(|w| w.0),
            workdir: self.workdir.clone(),
            add_hosts: self.add_host.clone(),
            hostname: self.hostname.clone(),
            labels: Default::default(),
        })
    }
}

/// The networks of `--network`, `--network-alias` on the first (as docker
/// run puts it). Docker refuses what it cannot do: an alias given both
/// ways, a network twice, and several networks when one of them is a
/// network mode (bridge, host, none, container:ID) rather than a network
/// of the user's.
fn networks(given: &[Network], aliases: &[String]) -> Result<Vec<Network>> {
    let mut out = given.to_vec();
    if let Some(first) = out.first_mut() {
        if !aliases.is_empty() {
            if !first.aliases.is_empty() {
                bail!(
                    "conflicting options: cannot specify both --network-alias and per-network alias (on {})",
                    first.name
                );
            }
            first.aliases = aliases.to_vec();
        }
    }
    let mut names: Vec<&str> = out.iter().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!("--network {} is given twice", w[0]);
    }
    let is_mode =
        |n: &str| ["default", "bridge", "host", "none"].contains(&n) || n.starts_with("container:");
    if out.len() > 1 {
        if let Some(mode) = out.iter().find(|n| is_mode(&n.name)) {
            bail!(
                "conflicting options: --network {} cannot be combined with other networks (docker run refuses it too)",
                mode.name
            );
        }
    }
    Ok(out)
}

/// `--network NAME`, or docker's `name=NET,alias=A,...` form (the keys
/// slim applies: name and alias).
fn parse_network(s: &str) -> Result<Network, String> {
    if !s.contains('=') {
        if s.is_empty() {
            return Err("--network needs a name".into());
        }
        return Ok(Network {
            name: s.to_string(),
            aliases: Vec::new(),
        });
    }
    let mut net = Network::default();
    for field in split_csv(s)? {
        match field.split_once('=') {
            Some(("name", v)) if !v.is_empty() => net.name = v.to_string(),
            Some(("alias", v)) if !v.is_empty() => net.aliases.push(v.to_string()),
            Some((k @ ("name" | "alias"), _)) => return Err(format!("{k} needs a value in {s:?}")),
            Some((
                k @ ("ip" | "ip6" | "link-local-ip" | "driver-opt" | "mac-address" | "gw-priority"),
                _,
            )) => {
                return Err(format!(
                    "--network {k}= is docker's but not supported by slim (name and alias are)"
                ))
            }
            _ => return Err(format!("invalid field {field:?} in --network {s:?}")),
        }
    }
    if net.name.is_empty() {
        return Err(format!("--network {s:?} names no network (name=NET)"));
    }
    Ok(net)
}

/// A bind's source made absolute (against `cwd`) and checked: the engine
/// would otherwise refuse it after the probe is attached, or (for -v)
/// create an empty directory in its place.
fn resolve_bind(flag: &str, m: &Mount, cwd: &Path) -> Result<Mount> {
    let mut m = m.clone();
    if m.kind != MountKind::Bind {
        return Ok(m);
    }
    let Some(src) = &m.source else {
        bail!("{flag} {}: a bind mount needs a source", m.target);
    };
    // Without `.` components, for the message and the engine.
    let path: PathBuf = cwd.join(src).components().collect();
    if !path.exists() {
        bail!(
            "{flag}: the bind source {} does not exist; create it or fix the path",
            path.display()
        );
    }
    let abs = std::fs::canonicalize(&path)
        .with_context(|| format!("{flag}: cannot resolve {}", path.display()))?;
    m.source = Some(abs.to_string_lossy().into_owned());
    Ok(m)
}

/// An env variable name as docker accepts it: not empty, no whitespace.
fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an environment variable needs a name before '='".into());
    }
    if name.chars().any(char::is_whitespace) {
        return Err(format!("variable {name:?} contains whitespace"));
    }
    Ok(())
}

fn parse_env(s: &str) -> Result<EnvArg, String> {
    match s.split_once('=') {
        Some((k, v)) => check_env_name(k).map(|_| EnvArg::Set(k.to_string(), v.to_string())),
        None => check_env_name(s).map(|_| EnvArg::Inherit(s.to_string())),
    }
}

/// Docker's env-file format: one `K=V` or `K` per line (K alone: slim's
/// own value, skipped when unset), `#` comments and blank lines skipped,
/// leading whitespace trimmed, values taken as they are (no quotes).
fn read_env_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("--env-file {}: cannot read it", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        anyhow::anyhow!(
            "--env-file {}: invalid UTF-8 on line {line}",
            path.display()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| anyhow::anyhow!("--env-file {} line {}: {e}", path.display(), n + 1);
        match line.split_once('=') {
            Some((k, v)) => {
                check_env_name(k).map_err(at)?;
                out.push((k.to_string(), v.to_string()));
            }
            None => {
                let k = line.trim_end();
                check_env_name(k).map_err(at)?;
                if let Some(v) = lookup(k) {
                    out.push((k.to_string(), v));
                }
            }
        }
    }
    Ok(out)
}

fn check_target(t: &str) -> Result<(), String> {
    if !t.starts_with('/') {
        return Err(format!("the mount target {t:?} is not an absolute path"));
    }
    if t == "/" {
        return Err("the mount target cannot be /".into());
    }
    Ok(())
}

/// A target without a trailing slash (`/data/` and `/data` are one mount point).
fn clean_target(t: &str) -> String {
    let t = t.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

/// A volume name as docker accepts it.
fn is_volume_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `--volume SRC:DST[:OPTS]` or `DST`: SRC is a host path when it starts
/// with `/` or `.`, else a volume name.
fn parse_volume(s: &str) -> Result<Mount, String> {
    let bad = |why: &str| format!("invalid volume specification {s:?}: {why}");
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => (None, *t, None),
        [src, t] => (Some(*src), *t, None),
        [src, t, o] => (Some(*src), *t, Some(*o)),
        _ => return Err(bad("expected SRC:DST[:ro]")),
    };
    check_target(target).map_err(|e| bad(&e))?;
    let mut read_only = false;
    for o in opts.into_iter().flat_map(|o| o.split(',')) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(bad(&format!(
                    "slim supports the options ro and rw, not {other:?}"
                )))
            }
        }
    }
    let kind = match source {
        None => MountKind::Volume,
        Some(src) if src.starts_with('/') || src.starts_with('.') => MountKind::Bind,
        Some(src) if is_volume_name(src) => MountKind::Volume,
        Some(src) => {
            return Err(bad(&format!(
                "{src:?} is neither a path (start it with / or ./) nor a volume name"
            )))
        }
    };
    if source == Some("") {
        return Err(bad("empty source"));
    }
    Ok(Mount {
        kind,
        source: source.map(str::to_string),
        target: clean_target(target),
        read_only,
    })
}

/// docker run's `--mount` syntax (comma-separated key=value fields, as CSV)
/// and its error messages.
fn parse_mount(s: &str) -> Result<Mount, String> {
    let mut kind = MountKind::Volume; // docker's default type
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut read_only = false;
    for field in split_csv(s)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("readonly" | "ro", None) => read_only = true,
            ("readonly" | "ro", Some(v)) => {
                read_only = match v.to_ascii_lowercase().as_str() {
                    "1" | "t" | "true" => true,
                    "0" | "f" | "false" => false,
                    _ => return Err(format!("invalid value for {key}: {v}")),
                }
            }
            (_, None) => return Err(format!("invalid field '{field}' must be a key=value pair")),
            ("type", Some(v)) => {
                kind = match v.to_ascii_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(format!(
                            "invalid mount type {other:?}: slim runs bind, volume and tmpfs mounts"
                        ))
                    }
                }
            }
            ("source" | "src", Some(v)) => source = Some(v),
            ("target" | "dst" | "destination", Some(v)) => target = Some(v),
            // Docker Desktop's, ignored by docker on Linux too.
            ("consistency", Some(_)) => {}
            (
                "bind-propagation" | "bind-nonrecursive" | "volume-nocopy" | "volume-label"
                | "volume-driver" | "volume-opt" | "tmpfs-size" | "tmpfs-mode",
                Some(_),
            ) => {
                return Err(format!(
                    "--mount {key} is docker's but not supported by slim (type, source, target and readonly are)"
                ))
            }
            (_, Some(_)) => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return Err("target is required".into());
    };
    check_target(&target)?;
    match kind {
        MountKind::Tmpfs if source.is_some() => {
            return Err(
                "invalid mount config for type \"tmpfs\": source must not be specified".into(),
            )
        }
        MountKind::Bind if source.as_deref().unwrap_or("").is_empty() => {
            return Err(
                "invalid mount config for type \"bind\": field Source must not be empty".into(),
            )
        }
        MountKind::Volume => {
            if let Some(src) = source.as_deref().filter(|s| !s.is_empty()) {
                if !is_volume_name(src) {
                    return Err(format!(
                        "invalid mount config for type \"volume\": invalid volume name {src:?}"
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(Mount {
        kind,
        source: source.filter(|s| !s.is_empty()),
        target: clean_target(&target),
        read_only,
    })
}

/// One CSV record (docker reads --mount with encoding/csv): fields split at
/// commas, a field in double quotes may hold commas, "" is a quote.
fn split_csv(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if cur.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in {s:?}"));
    }
    fields.push(cur);
    Ok(fields)
}

fn parse_cmd(s: &str) -> Result<Words, String> {
    match shlex::split(s) {
        Some(words) if !words.is_empty() => Ok(Words(words)),
        Some(_) => Err("--cmd needs a command".into()),
        None => Err(format!(
            "cannot split {s:?} as a shell would (an unclosed quote?)"
        )),
    }
}

fn parse_workdir(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!(
            "the working directory {s:?} is invalid, it needs to be an absolute path"
        ))
    }
}

fn parse_add_host(s: &str) -> Result<String, String> {
    let Some((host, ip)) = s.split_once(':') else {
        return Err(format!("bad format for add-host: {s:?} (expected HOST:IP)"));
    };
    if host.is_empty() {
        return Err(format!("bad format for add-host: {s:?} (no host name)"));
    }
    // Docker also accepts [v6] and the special name host-gateway.
    let bare = ip.trim_start_matches('[').trim_end_matches(']');
    if ip != "host-gateway" && bare.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address in add-host: {ip:?}"));
    }
    Ok(format!("{host}:{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(a: &[&str]) -> Result<RunArgs, clap::Error> {
        T::try_parse_from(std::iter::once("t").chain(a.iter().copied())).map(|t| t.run)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn env_values_names_and_files_in_docker_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.env");
        std::fs::write(
            &file,
            "\u{feff}# comment\n\n  A=from-file\nB=x=y \nINHERITED\nMISSING\nEMPTY=\n",
        )
        .unwrap();
        let a = args(&[
            "--env",
            "A=from-flag",
            "--env",
            "HOME_ISH",
            "--env",
            "GONE",
            "--env-file",
            file.to_str().unwrap(),
        ])
        .unwrap();
        let lookup = |k: &str| match k {
            "INHERITED" => Some("i".to_string()),
            "HOME_ISH" => Some("h".to_string()),
            _ => None,
        };
        let o = a.options_with(&lookup).unwrap();
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            o.env,
            [
                kv("A", "from-file"),
                kv("B", "x=y "),
                kv("INHERITED", "i"),
                kv("EMPTY", ""),
                kv("A", "from-flag"),
                kv("HOME_ISH", "h"),
            ]
        );
        assert_eq!(o.env_names(), ["A", "B", "EMPTY", "HOME_ISH", "INHERITED"]);
    }

    #[test]
    fn bad_env_input_fails_with_the_file_and_line() {
        assert!(args(&["--env", "=x"]).is_err());
        assert!(args(&["--env", "A B=x"]).is_err());
        let missing = args(&["--env-file", "/nonexistent/app.env"]).unwrap();
        let e = format!("{:#}", missing.options_with(&no_env).unwrap_err());
        assert!(
            e.starts_with("--env-file /nonexistent/app.env: cannot read it"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.env");
        std::fs::write(&file, "A=1\nNO GOOD=2\n").unwrap();
        let a = args(&["--env-file", file.to_str().unwrap()]).unwrap();
        let e = format!("{:#}", a.options_with(&no_env).unwrap_err());
        assert!(e.contains("line 2") && e.contains("whitespace"), "{e}");
        std::fs::write(&file, b"A=1\nB=\xff\n").unwrap();
        let e = format!("{:#}", a.options_with(&no_env).unwrap_err());
        assert!(e.contains("invalid UTF-8 on line 2"), "{e}");
    }

    #[test]
    fn volumes_are_binds_volumes_or_anonymous() {
        let m = parse_volume("/etc/app.conf:/etc/app/app.conf:ro").unwrap();
        assert_eq!(
            m,
            Mount {
                kind: MountKind::Bind,
                source: Some("/etc/app.conf".into()),
                target: "/etc/app/app.conf".into(),
                read_only: true
            }
        );
        let m = parse_volume("data:/var/lib/app/").unwrap();
        assert_eq!(
            (m.kind, m.target.as_str()),
            (MountKind::Volume, "/var/lib/app")
        );
        let m = parse_volume("/scratch").unwrap();
        assert_eq!((m.kind, m.source), (MountKind::Volume, None));
        assert_eq!(parse_volume("./conf:/c").unwrap().kind, MountKind::Bind);
        for bad in [
            "a:b:c:d",
            "/x:relative",
            "/x:/",
            "/x:/y:z",
            "no good:/y",
            ":/y",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts_follow_docker_syntax_and_errors() {
        let m = parse_mount("type=bind,source=/srv/conf,target=/etc/app,readonly").unwrap();
        assert_eq!(
            m,
            Mount {
                kind: MountKind::Bind,
                source: Some("/srv/conf".into()),
                target: "/etc/app".into(),
                read_only: true
            }
        );
        let m = parse_mount("type=tmpfs,dst=/run/app").unwrap();
        assert_eq!(
            (m.kind, m.source, m.read_only),
            (MountKind::Tmpfs, None, false)
        );
        let m = parse_mount("target=/data,src=appdata,ro=false").unwrap();
        assert_eq!(
            (m.kind, m.source.as_deref()),
            (MountKind::Volume, Some("appdata"))
        );
        let m = parse_mount("type=bind,\"source=/a,b\",target=/c").unwrap();
        assert_eq!(m.source.as_deref(), Some("/a,b"));
        for (bad, says) in [
            ("type=bind,source=/a", "target is required"),
            ("type=bind,target=/a", "field Source must not be empty"),
            (
                "type=tmpfs,source=/a,target=/b",
                "source must not be specified",
            ),
            (
                "type=bind,source=/a,target=/b,bogus=1",
                "unexpected key 'bogus'",
            ),
            (
                "type=bind,source=/a,target=/b,bogus",
                "must be a key=value pair",
            ),
            (
                "type=bind,source=/a,target=/b,readonly=maybe",
                "invalid value for readonly",
            ),
            ("type=npipe,target=/b", "invalid mount type"),
            ("type=bind,source=/a,target=rel", "not an absolute path"),
            (
                "type=tmpfs,target=/b,tmpfs-size=1m",
                "not supported by slim",
            ),
            ("type=bind,\"source=/a,target=/b", "unterminated quote"),
        ] {
            let e = parse_mount(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn bind_sources_are_resolved_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.conf"), "x").unwrap();
        let rel = Mount {
            kind: MountKind::Bind,
            source: Some("./app.conf".into()),
            target: "/etc/app.conf".into(),
            read_only: true,
        };
        let m = resolve_bind("--volume", &rel, dir.path()).unwrap();
        let want = std::fs::canonicalize(dir.path().join("app.conf")).unwrap();
        assert_eq!(m.source.as_deref(), Some(want.to_str().unwrap()));
        let missing = Mount {
            source: Some("./nope".into()),
            ..rel
        };
        let e = resolve_bind("--mount", &missing, dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn networks_repeat_with_aliases_on_each() {
        let net = |name: &str, aliases: &[&str]| Network {
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        };
        let a = args(&[
            "--network",
            "front",
            "--network",
            "name=back,alias=api,alias=app",
            "--network-alias",
            "web",
        ])
        .unwrap();
        assert_eq!(
            a.options_with(&no_env).unwrap().networks,
            [net("front", &["web"]), net("back", &["api", "app"])]
        );
        for (bad, says) in [
            (
                &["--network", "name=a,alias=x", "--network-alias", "y"][..],
                "conflicting options",
            ),
            (&["--network", "a", "--network", "name=a"], "given twice"),
            (
                &["--network", "host", "--network", "b"],
                "cannot be combined",
            ),
            (
                &["--network", "a", "--network", "container:x"],
                "cannot be combined",
            ),
        ] {
            let e = args(bad).unwrap().options_with(&no_env).unwrap_err();
            assert!(e.to_string().contains(says), "{bad:?}: {e}");
        }
        for bad in [
            "name=a,ip=10.0.0.2",
            "alias=x",
            "name=",
            "name=a,bogus=1",
            "name=a,alias",
            "",
        ] {
            assert!(parse_network(bad).is_err(), "{bad}");
        }
        // One network mode alone is docker run's --network as always.
        let host = args(&["--network", "host"]).unwrap();
        assert_eq!(
            host.options_with(&no_env).unwrap().networks,
            [net("host", &[])]
        );
    }

    #[test]
    fn the_rest_as_docker_run_takes_them() {
        let a = args(&[
            "--network",
            "net1",
            "--network-alias",
            "app",
            "--user",
            "1000:1000",
            "--entrypoint",
            "/bin/sh -c",
            "--cmd",
            "app --greet 'hello world'",
            "--workdir",
            "/srv",
            "--add-host",
            "db:10.0.0.5",
            "--add-host",
            "v6:[::1]",
            "--hostname",
            "box",
        ])
        .unwrap();
        let o = a.options_with(&no_env).unwrap();
        assert_eq!(
            o.networks,
            [Network {
                name: "net1".into(),
                aliases: vec!["app".into()]
            }]
        );
        assert_eq!(o.entrypoint, Some(vec!["/bin/sh -c".to_string()]));
        assert_eq!(
            o.cmd,
            Some(vec!["app".into(), "--greet".into(), "hello world".into()])
        );
        assert_eq!(o.add_hosts, ["db:10.0.0.5", "v6:::1"]);
        assert_eq!(o.hostname.as_deref(), Some("box"));
        let cleared = args(&["--entrypoint", ""]).unwrap();
        assert_eq!(
            cleared.options_with(&no_env).unwrap().entrypoint,
            Some(vec![])
        );
        for bad in [
            &["--network-alias", "x"][..],
            &["--workdir", "rel"],
            &["--add-host", "nohost"],
            &["--add-host", "h:999.1.1.1"],
            &["--cmd", "unclosed 'quote"],
            &["--cmd", ""],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
        let dup = args(&["--volume", "/a", "--mount", "type=tmpfs,target=/a/"]).unwrap();
        assert!(dup.options_with(&no_env).is_err());
    }
}
