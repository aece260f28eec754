//! The signals that end a run early. Each one ends the command the same
//! way Ctrl-C does: the command's future is dropped and cleanup removes its
//! containers (SIGKILL cannot be caught: the next run reaps those).
use tokio::signal::unix::{signal, SignalKind};

/// Waits for SIGINT, SIGTERM or SIGHUP and names it.
pub async fn interrupted() -> &'static str {
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    tokio::select! {
        _ = next(&mut int) => "Ctrl-C",
        _ = next(&mut term) => "SIGTERM",
        _ = next(&mut hup) => "SIGHUP",
    }
}
