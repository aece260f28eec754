//! Probes that exercise the container while it is watched: HTTP requests to
//! its published ports, commands inside it, commands on the host, waits.
//!
//! The plan is a [`Script`]: an ordered list of [`Entry`]s (the short flags
//! spelled out, then `--probe-file`'s entries, `file`), plus the probes
//! generated while the app runs (`openapi`, `crawl`). [`drive`] runs it and
//! returns a [`ProbeResult`] per request or command, each saying what it
//! expected (`expect`) and what it got, and the concrete entries it ran, so
//! `--verify` replays exactly the same requests.
pub mod args;
pub mod crawl;
mod drive;
pub mod expect;
pub mod file;
pub mod openapi;

use std::{collections::HashMap, time::Duration};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::time::Instant;

pub use drive::{drive, Driven, Script};
pub use file::{Entry, Origin, Step};

use crate::engine::ContainerRuntime;

/// One HTTP request to send, parsed from "METHOD PATH".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    pub method: String,
    pub path: String,
}

impl HttpProbe {
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.split_whitespace();
        let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!("--http-probe takes \"METHOD PATH\", e.g. \"GET /health\", not {s:?}");
        };
        if !path.starts_with('/') {
            bail!("the path of --http-probe {s:?} must start with /");
        }
        Ok(Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
        })
    }
}

/// What kind of probe it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    Http,
    Exec,
    HostExec,
    Wait,
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProbeKind::Http => "http",
            ProbeKind::Exec => "exec",
            ProbeKind::HostExec => "host-exec",
            ProbeKind::Wait => "wait",
        })
    }
}

/// What one probe did, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub kind: ProbeKind,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP status, or the command's exit code; -1 when there was none (no
    /// answer, a wait).
    pub code: i64,
    pub ok: bool,
    pub millis: u64,
    /// Where the probe came from: flag, file, crawl or openapi.
    pub origin: Origin,
    /// Its entry in the probe file (from 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HTTP: the request as sent (method, URL, headers by name, body size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What passes, in words ("status 2xx", "exit 0").
    pub expected: String,
    /// What came back, in words ("status 500", "exited with 3", "no answer: ...").
    pub got: String,
    /// HTTP: sha256 of the answer's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Identifies the request (everything that was sent), so `--verify`
    /// can tell a repeated request from another one.
    #[serde(skip)]
    pub key: String,
}

impl ProbeResult {
    /// How messages name the probe: its entry, origin and target.
    pub fn describe(&self) -> String {
        let on = self
            .port
            .map(|p| format!(" on port {p}"))
            .unwrap_or_default();
        let what = match self.kind {
            ProbeKind::Http => format!("http {}{on}", self.target),
            ProbeKind::Wait => format!("wait {}", self.target),
            kind => format!("{kind} {:?}", self.target),
        };
        let label = self
            .name
            .as_ref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default();
        match (self.origin, self.entry, self.kind) {
            (Origin::File, Some(i), _) => format!("probe file entry {i}{label} ({what})"),
            (Origin::Flag, _, ProbeKind::Http) => format!("--http-probe {:?}{on}", self.target),
            (Origin::Flag, _, kind) => format!("--{kind} {:?}", self.target),
            (origin, _, _) => format!("{origin} probe{label} ({what})"),
        }
    }

    /// The one line a failed probe fails the run with.
    pub fn failure(&self) -> String {
        format!(
            "{} expected {}, got {}",
            self.describe(),
            self.expected,
            self.got
        )
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Flag => "flag",
            Origin::File => "probe-file",
            Origin::Crawl => "crawl",
            Origin::Openapi => "openapi",
        })
    }
}

/// A client for `scheme`: HTTPS accepts any certificate (apps under test
/// use self-signed ones), on this client only.
pub(crate) fn client_for(scheme: file::Scheme) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .danger_accept_invalid_certs(scheme == file::Scheme::Https)
        .build()
        .context("cannot build an HTTP client")
}

/// Waits until the app answers HTTP on `host_port` (any status), polling:
/// the engine's port proxy accepts TCP connections before the app listens, so only an
/// HTTP answer says the app is ready. Fails early if the container exits.
pub async fn wait_ready<R: ContainerRuntime>(
    rt: &R,
    id: &str,
    host_port: u16,
    scheme: file::Scheme,
    timeout: Duration,
) -> Result<()> {
    let client = client_for(scheme)?;
    let url = format!("{}://127.0.0.1:{host_port}/", scheme.name());
    let answered = || async {
        client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok()
    };
    let late = || {
        format!(
            "the app did not answer HTTP on 127.0.0.1:{host_port} within {} s; \
             raise --ready-timeout or pass --no-http-probe",
            timeout.as_secs()
        )
    };
    poll(rt, id, timeout, "answered HTTP", answered, late).await
}

/// Polls `ready` with a growing delay until it holds; fails early (with the
/// exit code and last output) if the container exits before it `what`, or
/// with `late()` once `timeout` passed.
async fn poll<R: ContainerRuntime, F, Fut>(
    rt: &R,
    id: &str,
    timeout: Duration,
    what: &str,
    mut ready: F,
    late: impl Fn() -> String,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(10);
    loop {
        if ready().await {
            return Ok(());
        }
        exited(rt, id, what).await?;
        if Instant::now() >= deadline {
            bail!("{}", late());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// TCP ports in LISTEN state in a /proc/PID/net/tcp{,6} table.
pub fn listening_ports(table: &str) -> Vec<u16> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            let port = local.rsplit_once(':')?.1;
            (state == LISTEN).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

/// Waits until the app is ready without HTTP: `ready_cmd` (run on the host
/// like --host-exec) succeeds, or else every exposed TCP port listens in
/// the container's network namespace (docker-proxy accepts connections on
/// the host port before the app listens, so a connect proves nothing).
pub async fn wait_ready_quiet<R: ContainerRuntime>(
    rt: &R,
    id: &str,
    tcp_ports: &[u16],
    ready_cmd: Option<&str>,
    ports: &HashMap<u16, u16>,
    timeout: Duration,
) -> Result<()> {
    // The init's pid is fixed for the container's life: read it once.
    let pid = rt.pid(id).await?;
    let ready = || async {
        match (ready_cmd, pid) {
            (Some(cmd), _) => host_command(cmd, ports)
                .output()
                .await
                .is_ok_and(|o| o.status.success()),
            (None, Some(pid)) => {
                let mut open = Vec::new();
                for t in ["tcp", "tcp6"] {
                    let table =
                        std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).unwrap_or_default();
                    open.extend(listening_ports(&table));
                }
                tcp_ports.iter().all(|p| open.contains(p))
            }
            (None, None) => false,
        }
    };
    let late = || {
        let what = match ready_cmd {
            Some(cmd) => format!("--ready-cmd {cmd:?} did not succeed"),
            None => format!("the app did not listen on TCP ports {tcp_ports:?}"),
        };
        format!(
            "{what} within {} s; raise --ready-timeout or give --ready-cmd",
            timeout.as_secs()
        )
    };
    poll(rt, id, timeout, "was ready", ready, late).await
}

/// Fails, with the exit code and the last output, if the container exited
/// before it `what`.
pub(crate) async fn exited<R: ContainerRuntime>(rt: &R, id: &str, what: &str) -> Result<()> {
    let (running, code) = rt.state(id).await?;
    if running {
        return Ok(());
    }
    let logs = rt.logs_tail(id, 5).await;
    let code = code.map_or("unknown".to_string(), |c| c.to_string());
    bail!("the container exited (exit code {code}) before it {what}; its last output:\n{logs}");
}

pub(crate) fn host_command(cmd: &str, ports: &HashMap<u16, u16>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("SLIM_HOST", "127.0.0.1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (cport, hport) in ports {
        command.env(format!("SLIM_PORT_{cport}"), hport.to_string());
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_method_and_path() {
        let p = HttpProbe::parse("get /health").unwrap();
        assert_eq!(
            p,
            HttpProbe {
                method: "GET".into(),
                path: "/health".into()
            }
        );
        assert!(HttpProbe::parse("GET").is_err());
        assert!(HttpProbe::parse("GET health").is_err());
        assert!(HttpProbe::parse("GET / extra").is_err());
    }

    #[test]
    fn listening_ports_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
";
        assert_eq!(listening_ports(table), [5432]);
    }
}
