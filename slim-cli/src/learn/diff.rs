//! The diff of a learn for a person to review ([`render`]): what the
//! records were and which were left out, one line per syscall with its
//! change and who made the calls, then what was lost and what was written.
//! Printed by `slim learn`, and kept as DIR/seccomp-learned.txt.
use std::path::Path;

use super::attribution::Caller;
use super::Outcome;
use crate::seccomp::learn::Change;

/// The diff for a person: one line per syscall, then what was lost and
/// what was written.
pub fn render(o: &Outcome, dir: &Path) -> String {
    let mut s = String::new();
    let scope = if o.containers.is_empty() {
        "not tied to a container (every audit profile's record)".to_string()
    } else {
        let names: Vec<&str> = o.containers.iter().map(|c| c.name.as_str()).collect();
        format!("of {}", names.join(", "))
    };
    let since = o
        .since
        .as_ref()
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    s.push_str(&format!(
        "slim learn: {} seccomp record(s) in {}{since}; {} logged by an audit profile, {} {scope}\n",
        o.records.seccomp, o.source, o.records.logged, o.records.learned_from
    ));
    if !o.records.left_out.is_empty() {
        let why: Vec<String> = o
            .records
            .left_out
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        s.push_str(&format!("  left out: {}\n", why.join(", ")));
    }
    let width = o
        .syscalls
        .iter()
        .map(|r| r.syscall.len())
        .max()
        .unwrap_or(0);
    for r in &o.syscalls {
        let calls = format!("{} call{}", r.calls, if r.calls == 1 { "" } else { "s" });
        let what = match r.change {
            Change::Added => String::new(),
            Change::AddedAnyArguments => {
                " (allowed with any arguments: slim restricts it by argument, the records carry none; re-probe to filter it)".into()
            }
            Change::Relaxed => format!(
                " (now any arguments; was {}: the records carry no arguments)",
                r.was.as_deref().unwrap_or("argument rules")
            ),
            Change::ErrnoRuleReplaced => format!(
                " (now allowed; was {})",
                r.was.as_deref().unwrap_or("an errno rule")
            ),
            Change::AlreadyAllowed => " (already allowed: nothing to do)".into(),
            Change::LeftOut => format!(
                " (left out, --keep-argument-filters: it is allowed only as {})",
                r.was.as_deref().unwrap_or("slim's argument rules say")
            ),
        };
        let by: Vec<String> = r.callers.iter().map(caller).collect();
        s.push_str(&format!(
            "{} {:width$}  {calls:>9}  {}{what}\n",
            r.change.mark(),
            r.syscall,
            by.join("; ")
        ));
    }
    if o.syscalls.is_empty() {
        s.push_str(
            "nothing to add: no record of the slim image's shows a syscall its profile refuses\n",
        );
    }
    if o.lost.serials_skipped > 0 {
        s.push_str(&format!(
            "lost: {} audit record(s) were not printed (serial numbers skipped; the kernel's printk rate limit drops records beyond 10 per 5 s): syscalls may be missing. Run the audit again with `sysctl -w kernel.printk_ratelimit=0` (or auditd), then learn again\n",
            o.lost.serials_skipped
        ));
    }
    if let Some(n) = o.lost.log_overwritten {
        s.push_str(&format!(
            "lost: the kernel log had overwritten {n} older message(s), and the window starts before the oldest one left: records may be missing (auditd keeps them in /var/log/audit)\n"
        ));
    }
    let d = dir.display();
    if o.written {
        s.push_str(&format!(
            "wrote {d}/seccomp.json (the previous one is {d}/seccomp.previous.json), seccomp-audit.json{}; this diff is {d}/seccomp-learned.txt\n",
            if o.files.iter().any(|f| f == "seccomp-profile.yaml") {
                ", seccomp-profile.yaml"
            } else {
                ""
            }
        ));
        s.push_str("the slim image's io.containers.seccomp.profile label and a pushed profile artifact still hold the previous profile: slim build renews them\n");
    } else if o.syscalls.iter().any(|r| r.change.changes_profile()) {
        s.push_str("--dry-run: nothing written\n");
    }
    s
}

fn caller(c: &Caller) -> String {
    // The command's name too when the path does not say it (a runtime's
    // init shows "/": its executable is outside the container).
    let who = match (&c.exe, &c.comm) {
        (Some(e), Some(n)) if e.rsplit('/').next() != Some(n.as_str()) => format!("{e} [{n}]"),
        (Some(e), _) => e.clone(),
        (None, Some(n)) => format!("[{n}]"),
        (None, None) => "?".into(),
    };
    let pids: Vec<String> = c.pids.iter().map(|p| p.to_string()).collect();
    let plural = if c.pids.len() == 1 { "" } else { "s" };
    let inside = c
        .container
        .as_ref()
        .map(|n| format!(" in {n}"))
        .unwrap_or_default();
    let by = match c.attributed_by {
        "pid" => "",
        "exe" => ", exited",
        _ => ", by time",
    };
    format!("{who}{inside} (pid{plural} {}{by})", pids.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        learn::{Counts, Row},
        seccomp::audit::Losses,
    };

    #[test]
    fn the_diff_says_what_changed_who_did_it_and_what_was_lost() {
        let o = Outcome {
            source: "the kernel log (/dev/kmsg)".into(),
            since: None,
            containers: Vec::new(),
            records: Counts {
                seccomp: 5,
                logged: 5,
                learned_from: 4,
                left_out: [("another process", 1)].into(),
            },
            lost: Losses {
                serials_skipped: 42,
                log_overwritten: None,
            },
            syscalls: vec![
                Row {
                    syscall: "getpriority".into(),
                    change: Change::Added,
                    was: None,
                    calls: 3,
                    callers: vec![Caller {
                        exe: Some("/learn-server".into()),
                        comm: Some("learn-server".into()),
                        container: Some("web".into()),
                        attributed_by: "pid",
                        pids: [4711].into(),
                        calls: 3,
                    }],
                },
                Row {
                    syscall: "socket".into(),
                    change: Change::Relaxed,
                    was: Some("only AF_INET/SOCK_STREAM".into()),
                    calls: 1,
                    callers: vec![Caller {
                        exe: None,
                        comm: Some("nginx".into()),
                        container: None,
                        attributed_by: "exe",
                        pids: [5, 6].into(),
                        calls: 1,
                    }],
                },
            ],
            written: true,
            files: vec!["seccomp.json".into()],
        };
        let text = render(&o, Path::new("/d"));
        assert!(text.contains("+ getpriority"), "{text}");
        assert!(
            text.contains("3 calls  /learn-server in web (pid 4711)"),
            "{text}"
        );
        assert!(text.contains("~ socket"), "{text}");
        assert!(text.contains("was only AF_INET/SOCK_STREAM"), "{text}");
        assert!(text.contains("[nginx] (pids 5, 6, exited)"), "{text}");
        assert!(text.contains("1 another process"), "{text}");
        assert!(text.contains("lost: 42 audit record(s)"), "{text}");
        assert!(text.contains("wrote /d/seccomp.json"), "{text}");
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["syscalls"][1]["change"], "relaxed");
        assert_eq!(json["syscalls"][0]["callers"][0]["attributed_by"], "pid");
        assert_eq!(json["lost"]["serials_skipped"], 42);
    }
}
