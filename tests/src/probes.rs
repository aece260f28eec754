//! Helpers of the probe tests (tests/tests/probe_*.rs, debug_*.rs).
use std::process::Command;

/// One request with curl (`-k`: self-signed certificates pass): (status,
/// body). `headers` are "Name: value" lines; `body` is sent as is.
pub fn request(url: &str, method: &str, headers: &[&str], body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "-m", "10", "-w", "\n%{http_code}", "-X", method]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.arg(url).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Waits until `url` answers (any status), for a container just started.
pub fn wait_answer(url: &str) {
    for _ in 0..100 {
        if request(url, "GET", &[], None).0 != 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no answer from {url}");
}

/// The probes of a report whose `field` is `value`.
pub fn probes_where<'a>(
    report: &'a serde_json::Value,
    field: &str,
    value: &str,
) -> Vec<&'a serde_json::Value> {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[field] == value)
        .collect()
}
