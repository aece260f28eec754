//! `slim debug CONTAINER [--image IMAGE] [-- CMD ARGS...]`: a slim image has
//! no shell, so debugging happens from a second container that shares the
//! target's pid and network namespaces. Its image is, by default, the one
//! the slim image was made from (the `io.slim.source` label slim sets), so
//! the usual tools are there; the target's root filesystem is reachable at
//! /proc/1/root. It gets CAP_SYS_PTRACE (not more) so that /proc/1/root
//! and the target's /proc entries can be read when the target runs as
//! another user. With a terminal it attaches one (an interactive shell by
//! default); otherwise it runs CMD and streams its output. It is removed
//! when it exits, and on a signal (it carries slim's session label).
use std::{
    collections::HashMap,
    io::{IsTerminal, Read, Write},
};

use anyhow::{bail, Context, Result};
use bollard::{
    container::{AttachContainerOptions, Config, LogOutput},
    models::HostConfig,
};
use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::{
    cli::EngineArgs,
    engine::{self, api, ContainerRuntime},
    exit::Exit,
    rebuild::image::SOURCE_LABEL,
    session::{self, Cleanup},
};

#[derive(Debug, Args)]
pub struct DebugArgs {
    /// The running container to debug (name or ID).
    pub container: String,
    /// The debug container's image [default: the image the target's slim
    /// image was made from, from its io.slim.source label].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The command to run instead of an interactive shell (/bin/sh).
    #[arg(last = true, value_name = "CMD ARGS")]
    pub cmd: Vec<String>,
}

pub async fn run(args: DebugArgs, cleanup: Cleanup) -> Result<()> {
    let engine = engine::connect(args.engine.engine).await?;
    cleanup.set_engine(engine.kind);
    let store = engine.kind.store();
    let target = engine
        .inspect_container(&args.container, None)
        .await
        .map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => anyhow::anyhow!(
                "no container {} in {}; name a running one (docker ps)",
                args.container,
                engine.kind.name()
            ),
            e => anyhow::anyhow!("cannot inspect container {}: {e}", args.container),
        })?;
    let id = target.id.clone().unwrap_or_default();
    if !target
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
    {
        bail!(
            "container {} is not running: slim debug joins a running container's namespaces",
            args.container
        );
    }
    let image = match &args.image {
        Some(i) => i.clone(),
        None => {
            let own = target.image.clone().unwrap_or_default();
            let inspected = api::inspect_image(&engine, &own, store).await?;
            inspected
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get(SOURCE_LABEL).cloned())
                .with_context(|| {
                    format!(
                        "the image of {} has no {SOURCE_LABEL} label (slim did not make it): pass --image IMAGE",
                        args.container
                    )
                })?
        }
    };
    api::inspect_image(&engine, &image, store)
        .await
        .with_context(|| "the debug image must be in the engine: pass --image IMAGE".to_string())?;

    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    // A shell without a terminal reads its commands from stdin.
    let stdin = tty || args.cmd.is_empty();
    let cmd = if args.cmd.is_empty() {
        vec!["/bin/sh".to_string()]
    } else {
        args.cmd.clone()
    };
    let session = session::session_name();
    cleanup.register(&session);
    let joined = format!("container:{id}");
    let config = Config {
        image: Some(image.clone()),
        // The debug image's own entrypoint would wrap CMD.
        entrypoint: Some(vec![cmd[0].clone()]),
        cmd: Some(cmd[1..].to_vec()),
        user: Some("0".into()),
        working_dir: Some("/".into()),
        tty: Some(tty),
        open_stdin: Some(stdin),
        stdin_once: Some(stdin),
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels: Some(HashMap::from([
            (api::SESSION_LABEL.to_string(), session.clone()),
            (api::PID_LABEL.to_string(), std::process::id().to_string()),
        ])),
        host_config: Some(HostConfig {
            pid_mode: Some(joined.clone()),
            network_mode: Some(joined),
            cap_add: Some(vec!["SYS_PTRACE".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let debug_id = api::create_named(&engine, &format!("slim-debug-{session}"), config)
        .await
        .with_context(|| format!("cannot create a debug container of {image}"))?;
    let result = attach_and_run(&engine, &debug_id, tty, stdin).await;
    // Removed here on every path; a signal drops this future and
    // cleanup removes it by its session label.
    let removed = api::remove(&engine, &debug_id).await;
    let code = result?;
    removed?;
    if code != 0 {
        // The command's own status, without a line of slim's own.
        return Err(Exit::new(code.clamp(1, 255) as u8, String::new()).into());
    }
    Ok(())
}

/// Attaches, starts, pumps the streams until the command ends; its exit code.
async fn attach_and_run(engine: &engine::Engine, id: &str, tty: bool, stdin: bool) -> Result<i64> {
    let attached = engine
        .attach_container(
            id,
            Some(AttachContainerOptions::<String> {
                stdin: Some(stdin),
                stdout: Some(true),
                stderr: Some(true),
                stream: Some(true),
                logs: Some(true),
                detach_keys: None,
            }),
        )
        .await
        .context("cannot attach to the debug container")?;
    engine.start(id).await?;
    let _raw = if tty { RawMode::enter() } else { None };
    if tty {
        if let Some((rows, cols)) = terminal_size() {
            let _ = engine
                .resize_container_tty(
                    id,
                    bollard::container::ResizeContainerTtyOptions {
                        height: rows,
                        width: cols,
                    },
                )
                .await;
        }
    }
    let mut input = attached.input;
    if stdin {
        // A plain thread: a blocking read of the terminal must not keep
        // the runtime from shutting down when the command ends.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if input.write_all(&chunk).await.is_err() {
                    return;
                }
                let _ = input.flush().await;
            }
            let _ = input.shutdown().await;
        });
    }
    let mut output = attached.output;
    while let Some(item) = output.next().await {
        let Ok(item) = item else { break };
        match item {
            LogOutput::StdErr { message } => {
                let mut err = std::io::stderr();
                let _ = err.write_all(&message);
                let _ = err.flush();
            }
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                let mut out = std::io::stdout();
                let _ = out.write_all(&message);
                let _ = out.flush();
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    engine.wait_exit(id, None).await?;
    let (_, code) = engine.state(id).await?;
    Ok(code.unwrap_or(1))
}

/// The terminal in raw mode while it lives (keys go to the container as
/// typed, Ctrl-C included); restored on drop.
struct RawMode(libc::termios);

impl RawMode {
    fn enter() -> Option<Self> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios they fill.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return None;
            }
            Some(Self(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in enter().
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize.
    unsafe {
        let mut w: libc::winsize = std::mem::zeroed();
        (libc::ioctl(1, libc::TIOCGWINSZ, &mut w) == 0 && w.ws_row > 0)
            .then_some((w.ws_row, w.ws_col))
    }
}
