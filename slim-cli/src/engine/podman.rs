//! Podman as the engine: its Docker-compatible API socket, started with
//! `podman system service` when none answers (as its own remote clients
//! expect), and what its compatible API takes differently from Docker's.
use std::{path::Path, time::Duration};

use anyhow::{bail, Context, Result};

/// The socket rootful Podman serves by default.
const ROOT_SOCKET: &str = "unix:///run/podman/podman.sock";
/// How long a service slim started stays up with no client; runs within
/// that reuse it, and nothing is left running for long after the last.
const IDLE_SECONDS: u32 = 300;

/// CONTAINER_HOST (what podman's remote clients read), else the root socket.
pub fn endpoint() -> String {
    match std::env::var("CONTAINER_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ => ROOT_SOCKET.to_string(),
    }
}

async fn answers(path: &Path) -> bool {
    tokio::net::UnixStream::connect(path).await.is_ok()
}

/// Makes sure something serves `endpoint`: a unix socket with no listener
/// gets `podman system service` started on it, detached, exiting by itself
/// after it has been idle for a while.
pub async fn ensure_service(endpoint: &str) -> Result<()> {
    let Some(path) = endpoint.strip_prefix("unix://") else {
        return Ok(()); // a remote endpoint: slim cannot start it
    };
    let path = Path::new(path);
    if answers(path).await {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {} for Podman's socket", dir.display()))?;
    }
    // One starter at a time: a second service started on the same path
    // unlinks the first one's socket, and removes its own when it exits,
    // leaving the survivor serving nothing (two slim runs at once did it).
    let _lock = lock_beside(path)?;
    if answers(path).await {
        return Ok(());
    }
    let mut cmd = std::process::Command::new("podman");
    cmd.args([
        "system",
        "service",
        &format!("--time={IDLE_SECONDS}"),
        endpoint,
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    // Its own process group: slim's Ctrl-C must not stop a service that
    // slim's cleanup still needs, and later runs reuse it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    match cmd.spawn() {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "--engine podman needs podman on PATH (or CONTAINER_HOST naming a running Podman API socket)"
        ),
        Err(e) => return Err(e).context("cannot start `podman system service`"),
    }
    for _ in 0..100 {
        if answers(path).await {
            tracing::info!(endpoint, "started Podman's API service");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "Podman's API service did not come up on {endpoint} within 10 s; run `podman system service {endpoint}` to see why"
    )
}

/// An exclusive lock on `SOCKET.slim-lock`, held until dropped.
fn lock_beside(socket: &Path) -> Result<std::fs::File> {
    let mut name = socket.as_os_str().to_owned();
    name.push(".slim-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .with_context(|| format!("cannot open {}", Path::new(&name).display()))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("cannot lock {}", Path::new(&name).display()))?;
    Ok(file)
}

/// The profile as a file: Podman's compatible API reads `seccomp=` in
/// SecurityOpt as a path (Docker's reads it as the profile itself). The
/// service reads it when the container is created, so the file may go
/// after that.
pub fn profile_file(json: &str) -> Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("slim-seccomp-")
        .suffix(".json")
        .tempfile()
        .context("cannot write the seccomp profile for Podman")?;
    std::io::Write::write_all(&mut file, json.as_bytes())?;
    Ok(file)
}
