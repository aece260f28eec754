//! Stopping the probe container without waiting out the stop timeout.
//!
//! `docker stop` sends the stop signal and kills after the timeout. Many
//! apps catch SIGTERM and never exit (Node and PHP servers as PID 1: a
//! handler that does nothing, or a runtime's own), so every build paid the
//! whole timeout. slim sends the signal itself and watches what the
//! container's processes do, from /proc: their CPU time and times scheduled
//! (schedstat, stat) and whether a thread runs or waits on the disk (state R
//! or D). A container whose processes do nothing for [`QUIET`] after the
//! signal will never act on it: it is killed. One that is busy (a database
//! writing its shutdown checkpoint) is waited for up to the timeout, as
//! `docker stop` would. How it ended is recorded in the report.
use std::time::Duration;

use serde::Serialize;

/// How long a container must show no activity after its stop signal to be
/// taken as one that will not exit by itself.
pub const QUIET: Duration = Duration::from_millis(300);
/// How often its activity is read.
pub const POLL: Duration = Duration::from_millis(25);

/// How the container stopped, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopRecord {
    /// The signal sent first (the image's stop signal).
    pub signal: String,
    /// `graceful`: it exited after the signal; `killed`: SIGKILL ended it;
    /// `already-exited`: it had exited before slim stopped it.
    pub outcome: &'static str,
    /// Why: `exited`, `quiet` (no activity for `quiet_ms` after the
    /// signal), `timeout` (still busy at the stop timeout), `no-handler`
    /// (PID 1 has no handler for the signal, which the kernel then drops).
    pub reason: &'static str,
    /// From the signal until it was gone.
    pub ms: u64,
    pub quiet_ms: u64,
}

/// Signal names as images give them (`SIGTERM`, `TERM`, `15`): their numbers.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("TERM", libc::SIGTERM),
    ("WINCH", libc::SIGWINCH),
    ("PWR", libc::SIGPWR),
];

/// The number of a stop signal, if slim knows it.
pub fn signal_number(name: &str) -> Option<i32> {
    let n = name.trim().to_ascii_uppercase();
    if let Ok(num) = n.parse::<i32>() {
        return (1..=64).contains(&num).then_some(num);
    }
    let n = n.strip_prefix("SIG").unwrap_or(&n);
    SIGNALS.iter().find(|(s, _)| *s == n).map(|(_, v)| *v)
}

/// What the container's processes are doing, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Sum over its threads of CPU time and times scheduled: any change
    /// means something ran.
    pub work: u64,
    /// A thread is running or in uninterruptible (disk) sleep.
    pub busy: bool,
    /// How many threads (a process started or ended: not quiet).
    pub threads: u64,
}

/// The activity of every process in `init`'s pid namespace, read under
/// `proc` (`/proc`); None when `init` is gone or unreadable.
pub fn activity(proc: &std::path::Path, init: u32) -> Option<Activity> {
    let ns = std::fs::read_link(proc.join(init.to_string()).join("ns/pid")).ok()?;
    let mut a = Activity {
        work: 0,
        busy: false,
        threads: 0,
    };
    for entry in std::fs::read_dir(proc).ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let dir = proc.join(pid);
        if std::fs::read_link(dir.join("ns/pid")).ok().as_ref() != Some(&ns) {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(dir.join("task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let t = task.path();
            a.threads += 1;
            if let Ok(stat) = std::fs::read_to_string(t.join("stat")) {
                let (state, ticks) = parse_stat(&stat);
                a.busy |= matches!(state, Some('R' | 'D'));
                a.work = a.work.wrapping_add(ticks);
            }
            if let Ok(s) = std::fs::read_to_string(t.join("schedstat")) {
                a.work = s
                    .split_whitespace()
                    .filter_map(|f| f.parse::<u64>().ok())
                    .fold(a.work, u64::wrapping_add);
            }
        }
    }
    Some(a)
}

/// A task's state letter and utime+stime from its /proc stat line (the
/// fields after the parenthesised command, which may hold spaces).
fn parse_stat(stat: &str) -> (Option<char>, u64) {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return (None, 0);
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first().and_then(|s| s.chars().next());
    // Fields 14 and 15 of the line; the state is field 3.
    let ticks = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
        .sum();
    (state, ticks)
}

/// Decides, sample by sample, whether a container that got its stop
/// signal has gone quiet: no work, no thread running, no process started
/// or ended, for `quiet` in a row.
pub struct QuietWatch {
    last: Option<Activity>,
    quiet_since: Duration,
    quiet: Duration,
}

impl QuietWatch {
    pub fn new(quiet: Duration) -> Self {
        QuietWatch {
            last: None,
            quiet_since: Duration::ZERO,
            quiet,
        }
    }

    /// Feeds the activity read at `at` (since the signal); true once the
    /// container has been quiet for the whole window.
    pub fn quiet_at(&mut self, at: Duration, now: Activity) -> bool {
        let same = self
            .last
            .is_some_and(|l| l.work == now.work && l.threads == now.threads);
        if !same || now.busy {
            self.quiet_since = at;
        }
        self.last = Some(now);
        same && !now.busy && at.saturating_sub(self.quiet_since) >= self.quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_as_images_write_them() {
        assert_eq!(signal_number("SIGTERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("term"), Some(libc::SIGTERM));
        assert_eq!(signal_number("SIGQUIT"), Some(libc::SIGQUIT));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGBOGUS"), None);
        assert_eq!(signal_number("0"), None);
    }

    #[test]
    fn stat_lines_with_spaces_in_the_command() {
        let line = "42 (my app) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(line), (Some('S'), 10));
        assert_eq!(parse_stat("garbage"), (None, 0));
    }

    fn a(work: u64, busy: bool) -> Activity {
        Activity {
            work,
            busy,
            threads: 1,
        }
    }

    #[test]
    fn quiet_only_after_a_whole_window_without_work() {
        let ms = Duration::from_millis;
        let mut w = QuietWatch::new(ms(300));
        assert!(!w.quiet_at(ms(0), a(5, false)));
        assert!(!w.quiet_at(ms(100), a(5, false)));
        // Work at 150 ms restarts the window.
        assert!(!w.quiet_at(ms(150), a(9, false)));
        assert!(!w.quiet_at(ms(400), a(9, false)));
        assert!(w.quiet_at(ms(450), a(9, false)));
    }

    #[test]
    fn a_thread_on_the_disk_is_not_quiet() {
        let ms = Duration::from_millis;
        let mut w = QuietWatch::new(ms(300));
        // A checkpoint blocked in fsync: no CPU time moves, but state D.
        for t in (0..2000).step_by(50) {
            assert!(!w.quiet_at(ms(t), a(5, true)), "{t}");
        }
        assert!(!w.quiet_at(ms(2000), a(5, false)));
        assert!(w.quiet_at(ms(2300), a(5, false)));
    }

    #[test]
    fn this_process_is_seen_in_its_own_namespace() {
        let me = std::process::id();
        let now = activity(std::path::Path::new("/proc"), me).expect("own activity");
        assert!(now.threads >= 1);
        assert!(now.busy, "the reading thread runs");
        assert!(activity(std::path::Path::new("/proc"), u32::MAX).is_none());
    }
}
