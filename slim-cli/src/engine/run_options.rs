//! How the probed container is started beyond the image's own config: the
//! `docker run` options a user gives (or a compose service declares). Plain
//! data, filled from clap (`cli`) or a compose file (`compose`), consumed
//! by the engine when it creates the container, and by the rebuilder (what
//! is mounted is not the image). Values of `env` are secrets: they go to
//! the engine and nowhere else (the report holds names only).
use std::collections::BTreeMap;

/// `docker run` options for the probe container (and `--verify`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--env`/`--env-file`, in order; later ones win, as with docker run.
    pub env: Vec<(String, String)>,
    /// `--volume` and `--mount`.
    pub mounts: Vec<Mount>,
    /// `--network` (repeatable): the networks the container joins instead
    /// of the default bridge, each with its aliases. The first is joined
    /// when it is created, the others before it starts.
    pub networks: Vec<Network>,
    pub user: Option<String>,
    /// `--entrypoint` (an empty vector clears the image's).
    pub entrypoint: Option<Vec<String>>,
    /// `--cmd`, split as a shell would.
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    /// `--add-host HOST:IP`.
    pub add_hosts: Vec<String>,
    pub hostname: Option<String>,
    /// Extra labels on the probe container (compose project labels).
    pub labels: BTreeMap<String, String>,
}

/// One network the container joins, and the names it answers to there.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Network {
    /// The engine's name of the network.
    pub name: String,
    /// `--network-alias`, or compose's service name and `aliases`.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// One mount: a host path (bind), a named or anonymous volume, or a tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    /// Host path for a bind, volume name (None: anonymous) for a volume,
    /// None for a tmpfs.
    pub source: Option<String>,
    /// The absolute path in the container.
    pub target: String,
    pub read_only: bool,
}

#[cfg(test)]
impl Mount {
    /// A read-write mount of `kind` at `target`, with no source (tests).
    pub(crate) fn at(kind: MountKind, target: &str) -> Self {
        Self {
            kind,
            source: None,
            target: target.into(),
            read_only: false,
        }
    }
}

impl RunOptions {
    /// The container paths under which files come from a mount, not the image.
    pub fn mount_targets(&self) -> impl Iterator<Item = &str> {
        self.mounts.iter().map(|m| m.target.as_str())
    }

    /// The env names given, for the report (never the values).
    pub fn env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.env.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Whether `path` is `target` or lies under it.
fn covers(target: &str, path: &str) -> bool {
    path.strip_prefix(target)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl RunOptions {
    /// The mount `path` comes from in the container, if any (the innermost
    /// when mounts nest).
    pub fn mount_of(&self, path: &str) -> Option<&Mount> {
        self.mounts
            .iter()
            .filter(|m| covers(&m.target, path))
            .max_by_key(|m| m.target.len())
    }

    /// Whether `path` of the image stays out of the slim image because a
    /// mount covers it: everything under a mount point, and the mount point
    /// itself unless it is a directory (`is_dir`), which stays.
    pub fn hides(&self, path: &str, is_dir: impl Fn(&str) -> bool) -> bool {
        self.mount_of(path)
            .is_some_and(|m| m.target != path || !is_dir(path))
    }

    /// Env values worth scrubbing from what slim writes: values this short
    /// would match everywhere and are no secret.
    pub fn secret_values(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(_, v)| v.chars().count() >= MIN_SECRET_LEN)
            .cloned()
            .collect();
        // Longest first: a value inside another is replaced after it.
        v.sort_by_key(|(_, s)| std::cmp::Reverse(s.len()));
        v.dedup_by(|a, b| a.1 == b.1);
        v
    }

    /// What report.json says of the run: names, never env values; no
    /// --cmd or --entrypoint either (they may carry secrets), only whether
    /// they were given.
    pub fn summary(&self, used: &[&str]) -> RunSummary {
        RunSummary {
            env_names: self.env_names(),
            mounts: self
                .mounts
                .iter()
                .map(|m| MountSummary {
                    kind: m.kind,
                    source: m.source.clone(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                    files: used
                        .iter()
                        .filter(|p| self.mount_of(p).is_some_and(|o| o.target == m.target))
                        .map(|p| p.to_string())
                        .collect(),
                })
                .collect(),
            network: self.networks.first().map(|n| n.name.clone()),
            network_aliases: self
                .networks
                .first()
                .map(|n| n.aliases.clone())
                .unwrap_or_default(),
            networks: self.networks.clone(),
            user: self.user.clone(),
            workdir: self.workdir.clone(),
            hostname: self.hostname.clone(),
            add_hosts: self.add_hosts.clone(),
            entrypoint_given: self.entrypoint.is_some(),
            cmd_given: self.cmd.is_some(),
        }
    }
}

/// Values shorter than this are not scrubbed from report.json.
pub const MIN_SECRET_LEN: usize = 4;

/// report.json's `run`: how the probed container was run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// Names set with --env/--env-file (their values are never written).
    pub env_names: Vec<String>,
    pub mounts: Vec<MountSummary>,
    /// The first network (`networks[0]`), and its aliases.
    pub network: Option<String>,
    pub network_aliases: Vec<String>,
    /// Every network joined, in order, with its aliases.
    pub networks: Vec<Network>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    pub add_hosts: Vec<String>,
    pub entrypoint_given: bool,
    pub cmd_given: bool,
}

/// One mount, and the paths the container used under it: they came from
/// the mount, so the slim image does not carry them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MountSummary {
    #[serde(rename = "type")]
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub files: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        let m = Mount::at;
        RunOptions {
            env: vec![
                ("TOKEN".into(), "s3cret-value".into()),
                ("N".into(), "1".into()),
            ],
            mounts: vec![
                m(MountKind::Bind, "/etc/app/app.conf"),
                m(MountKind::Volume, "/data"),
                m(MountKind::Tmpfs, "/data/cache"),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn what_is_mounted_is_not_the_image() {
        let o = opts();
        let dirs = |p: &str| p == "/data" || p == "/data/cache";
        assert!(o.hides("/etc/app/app.conf", dirs), "a file mount point");
        assert!(!o.hides("/etc/app", dirs));
        assert!(!o.hides("/etc/app/app.conf.d", dirs), "a sibling");
        assert!(!o.hides("/data", dirs), "a directory mount point stays");
        assert!(o.hides("/data/db/1", dirs));
        assert!(!o.hides("/database", dirs));
        assert_eq!(o.mount_of("/data/cache/x").unwrap().target, "/data/cache");
    }

    #[test]
    fn the_summary_names_env_but_holds_no_values() {
        let o = opts();
        let s = o.summary(&["/data/a", "/data/cache/b", "/etc/app/app.conf", "/bin/sh"]);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert_eq!(s.env_names, ["N", "TOKEN"]);
        assert_eq!(s.mounts[0].files, ["/etc/app/app.conf"]);
        assert_eq!(s.mounts[1].files, ["/data/a"]);
        assert_eq!(s.mounts[2].files, ["/data/cache/b"]);
        assert_eq!(
            o.secret_values(),
            [("TOKEN".to_string(), "s3cret-value".to_string())]
        );
    }
}
