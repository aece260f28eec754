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
    /// `--network NAME`: the container joins it (instead of the default bridge).
    pub network: Option<String>,
    /// `--network-alias`: names on `network`.
    pub network_aliases: Vec<String>,
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
