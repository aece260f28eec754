//! Issue #11 (5): slim connects where the Docker CLI would (DOCKER_HOST,
//! unix or tcp), and a daemon that accepts but never answers fails within
//! seconds, naming the endpoint (it used to hang 120 s and name another).
use std::{
    process::Command,
    time::{Duration, Instant},
};

use slim_tests::*;

fn profile_with_host(host: &str, dir: &TempDir) -> (bool, String, Duration) {
    let start = Instant::now();
    let out = Command::new(slim_bin())
        .args(["profile", &fixture("first-syscall"), "--artifacts"])
        .arg(&dir.0)
        .env("DOCKER_HOST", host)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        start.elapsed(),
    )
}

#[test]
fn docker_host_is_honoured_and_a_silent_daemon_fails_fast() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("endpoint");
    // The real daemon, named explicitly.
    let (ok, err, _) = profile_with_host("unix:///var/run/docker.sock", &dir);
    assert!(ok, "{err}");

    // Sockets that accept connections and never answer.
    let sock = dir.0.join("silent.sock");
    let unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = unix.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    std::thread::spawn(move || {
        let held: Vec<_> = tcp.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    for host in [
        format!("unix://{}", sock.display()),
        format!("tcp://127.0.0.1:{port}"),
    ] {
        let (ok, err, took) = profile_with_host(&host, &dir);
        assert!(!ok);
        assert!(
            err.contains(&host) && err.contains("did not answer"),
            "{host}: {err}"
        );
        assert!(took < Duration::from_secs(20), "{host}: took {took:?}");
    }
}
