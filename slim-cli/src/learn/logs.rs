//! Reading the seccomp audit records' sources: the kernel log
//! (/dev/kmsg, read to its end without waiting), the audit log with its
//! rotated files, or a file or stdin holding either (dmesg, journalctl -k,
//! ausearch output). A [`Log`] is the lines as they are; seccomp::audit
//! parses them. From /dev/kmsg it also knows the oldest message the ring
//! buffer still held, so a window that starts before it counts as lossy.
use std::{
    io::Read,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::time;

/// Where the records are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Kmsg,
    AuditLog,
    File(PathBuf),
}

const AUDIT_LOG: &str = "/var/log/audit/audit.log";

impl Source {
    /// `--from`'s value; none: the audit log when auditd runs, else the
    /// kernel log.
    pub fn of(from: Option<&str>) -> Self {
        match from {
            Some("kmsg") => Source::Kmsg,
            Some("audit-log") => Source::AuditLog,
            Some(f) => Source::File(f.into()),
            None if auditd_runs() => Source::AuditLog,
            None => Source::Kmsg,
        }
    }

    /// The source in words, for the diff and DIR/seccomp-learned.json.
    pub fn describe(&self) -> String {
        match self {
            Source::Kmsg => "the kernel log (/dev/kmsg)".into(),
            Source::AuditLog => AUDIT_LOG.into(),
            Source::File(f) => f.display().to_string(),
        }
    }

    /// Every line the source holds (audit lines and others).
    pub fn read(&self) -> Result<Log> {
        match self {
            Source::Kmsg => read_kmsg(),
            Source::AuditLog => {
                // Rotated files first (audit.log.N is the oldest).
                let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir("/var/log/audit")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        let n = match name.strip_prefix("audit.log") {
                            Some("") => 0,
                            Some(rest) => rest.strip_prefix('.')?.parse().ok()?,
                            None => return None,
                        };
                        Some((n, e.path()))
                    })
                    .collect();
                if files.is_empty() {
                    bail!("no {AUDIT_LOG}: auditd does not run here; read the kernel log with --from kmsg");
                }
                files.sort_by_key(|f| std::cmp::Reverse(f.0));
                let mut lines = Vec::new();
                for (_, f) in files {
                    lines.extend(read_lines(&f)?);
                }
                Ok(Log { lines, kmsg: None })
            }
            Source::File(f) if f.as_os_str() == "-" => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the records from stdin")?;
                Ok(Log {
                    lines: text.lines().map(str::to_string).collect(),
                    kmsg: None,
                })
            }
            Source::File(f) => Ok(Log {
                lines: read_lines(f)?,
                kmsg: None,
            }),
        }
    }
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect())
}

/// What a source held.
#[derive(Debug, Default)]
pub struct Log {
    pub lines: Vec<String>,
    /// The kernel log's oldest message (kmsg only).
    pub kmsg: Option<KmsgStart>,
}

/// The oldest message the kernel's ring buffer still held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmsgStart {
    pub seq: u64,
    /// Seconds since the epoch (boot time plus its timestamp).
    pub time: f64,
}

impl Log {
    /// Messages overwritten before the oldest left, when the window starts
    /// before that one (then records of the window may be gone).
    pub fn overwritten_before(&self, window_start: Option<f64>) -> Option<u64> {
        let k = self.kmsg.as_ref()?;
        (k.seq > 0 && window_start.is_none_or(|w| w < k.time)).then_some(k.seq)
    }
}

/// Every message of /dev/kmsg (read without waiting for new ones).
fn read_kmsg() -> Result<Log> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .context("cannot read /dev/kmsg (run as root, or save the log with dmesg or journalctl -k and pass --from FILE)")?;
    let boot = time::boot();
    let mut lines = Vec::new();
    let mut start = None;
    // One message per read; it must fit the buffer.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]);
                let first = msg.lines().next().unwrap_or("");
                if start.is_none() {
                    let mut head = first.split(';').next().unwrap_or("").split(',');
                    let seq = head.nth(1).and_then(|s| s.parse().ok());
                    let usec: Option<f64> = head.next().and_then(|s| s.parse().ok());
                    if let (Some(seq), Some(usec)) = (seq, usec) {
                        start = Some(KmsgStart {
                            seq,
                            time: boot + usec / 1e6,
                        });
                    }
                }
                lines.push(first.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // Overwritten while reading: go on from the next one.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("cannot read /dev/kmsg"),
        }
    }
    Ok(Log { lines, kmsg: start })
}

/// A warning when the kernel will not log the audit profile's calls
/// (kernel.seccomp.actions_logged lacks `log`).
pub fn not_logging() -> Option<String> {
    let actions = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged").ok()?;
    (!actions.split_whitespace().any(|a| a == "log")).then(|| {
        format!(
            "the kernel does not log SCMP_ACT_LOG (kernel.seccomp.actions_logged is \"{}\"): under seccomp-audit.json calls were allowed without a record; add log to it and run the audit again",
            actions.trim()
        )
    })
}

fn auditd_runs() -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
                && std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "auditd")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overwritten_kernel_log_counts_when_the_window_starts_before_it() {
        let log = |seq| Log {
            lines: Vec::new(),
            kmsg: Some(KmsgStart { seq, time: 1000.0 }),
        };
        assert_eq!(log(42).overwritten_before(Some(900.0)), Some(42));
        assert_eq!(log(42).overwritten_before(None), Some(42));
        assert_eq!(log(42).overwritten_before(Some(1100.0)), None);
        assert_eq!(log(0).overwritten_before(Some(900.0)), None, "nothing lost");
        let file = Log {
            lines: Vec::new(),
            kmsg: None,
        };
        assert_eq!(file.overwritten_before(Some(0.0)), None);
    }
}
