//! The kernel's seccomp audit records (type 1326, `SECCOMP`), as the kernel
//! log (`/dev/kmsg`, `dmesg`, `journalctl -k`) and the audit log
//! (`/var/log/audit/audit.log`, raw or `ausearch -i`) print them:
//!
//! ```text
//! [  255.40] audit: type=1326 audit(1796178679.245:2): auid=4294967295 uid=0
//!   gid=0 ses=4294967295 pid=12690 comm="t" exe="/t" sig=0 arch=c000003e
//!   syscall=306 compat=0 ip=0x438dd9 code=0x7ffc0000
//! type=SECCOMP msg=audit(1796178679.245:2): auid=... pid=12690 ... code=0x7ffc0000
//! ```
//!
//! A record names the syscall by number only (no arguments), in the table
//! of its `arch`; `pid` is the host's pid, `exe` the path as the process
//! sees it (inside its container). [`parse_line`] reads one line; every
//! other audit line is kept for its serial number, since a gap in the
//! serials is a record the kernel dropped (see [`Losses`]).
use std::collections::BTreeSet;

use serde::Serialize;
use slim_probe::Arch;

/// `code` of a record whose filter answered SECCOMP_RET_LOG: the audit
/// profile's default action (allowed, logged).
pub const RET_LOG: u32 = 0x7ffc_0000;
const ACTION_MASK: u32 = 0xffff_0000;

/// One seccomp audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Seconds since the epoch (the kernel's wall clock), when printed.
    pub time: Option<f64>,
    pub serial: Option<u64>,
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub arch: RecordArch,
    /// 32-bit (compat) call on a 64-bit kernel, or x32.
    pub compat: bool,
    pub syscall: Syscall,
    /// The filter's action (SECCOMP_RET_*, with its data).
    pub code: u32,
}

/// The record's `arch` (an AUDIT_ARCH_* value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordArch {
    Known(Arch),
    /// Another architecture (i386, arm, ...), by its AUDIT_ARCH value.
    Other(u32),
}

/// The syscall as printed: a number (raw logs) or a name (`ausearch -i`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Syscall {
    Number(u32),
    Name(String),
}

/// What one line of a log is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Seccomp(Record),
    /// Another audit record: counts for the serial numbers only.
    OtherAudit {
        time: Option<f64>,
        serial: Option<u64>,
    },
}

const AUDIT_ARCHES: &[(u32, &str, Option<Arch>)] = &[
    (0xc000_003e, "x86_64", Some(Arch::X86_64)),
    (0xc000_00b7, "aarch64", Some(Arch::Aarch64)),
    (0x4000_0003, "i386", None),
    (0x4000_0028, "arm", None),
    (0xc000_00f3, "riscv64", None),
    (0x8000_0016, "s390x", None),
    (0xc000_0015, "ppc64le", None),
];

impl RecordArch {
    fn of_hex(v: u32) -> Self {
        match AUDIT_ARCHES.iter().find(|(n, _, _)| *n == v) {
            Some((_, _, Some(a))) => RecordArch::Known(*a),
            _ => RecordArch::Other(v),
        }
    }

    fn of_name(name: &str) -> Option<Self> {
        AUDIT_ARCHES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(v, _, a)| a.map_or(RecordArch::Other(*v), RecordArch::Known))
    }

    /// The profile's name of the architecture (SCMP_ARCH_X86_64), if slim
    /// writes profiles for it.
    pub fn seccomp(self) -> Option<&'static str> {
        match self {
            RecordArch::Known(a) => Some(a.seccomp_arch()),
            RecordArch::Other(_) => None,
        }
    }

    /// The kernel's name (x86_64, i386, ...), else the AUDIT_ARCH value.
    pub fn name(self) -> String {
        let known = AUDIT_ARCHES.iter().find(|(v, _, a)| match self {
            RecordArch::Known(k) => *a == Some(k),
            RecordArch::Other(o) => *v == o,
        });
        match (known, self) {
            (Some((_, n, _)), _) => n.to_string(),
            (None, RecordArch::Other(v)) => format!("{v:#x}"),
            (None, RecordArch::Known(a)) => a.seccomp_arch().to_string(),
        }
    }
}

impl Record {
    /// Whether the audit profile's default action made it (allowed and
    /// logged), rather than another filter's kill, trap or logged errno.
    pub fn logged_by_audit_profile(&self) -> bool {
        self.code & ACTION_MASK == RET_LOG
    }

    /// The syscall's name in the record's architecture's table; `None` for
    /// a number the table does not know, a compat call, or another arch.
    pub fn syscall_name(&self) -> Option<String> {
        let RecordArch::Known(arch) = self.arch else {
            return None;
        };
        if self.compat {
            return None;
        }
        match &self.syscall {
            Syscall::Number(n) => arch.name(*n).map(str::to_string),
            Syscall::Name(n) => arch.knows(n).then(|| n.clone()),
        }
    }
}

/// The name of a seccomp action `code`, for messages.
pub fn action_name(code: u32) -> &'static str {
    match code & ACTION_MASK {
        0x8000_0000 => "kill_process",
        0 => "kill_thread",
        0x0003_0000 => "trap",
        0x0005_0000 => "errno",
        0x7fc0_0000 => "user_notif",
        0x7ff0_0000 => "trace",
        RET_LOG => "log",
        0x7fff_0000 => "allow",
        _ => "unknown",
    }
}

/// Reads one line of a log. `None` for anything that is not an audit
/// record (other kernel messages, garbage, a record cut short).
pub fn parse_line(line: &str) -> Option<Line> {
    // kmsg: "PRIO,SEQ,USEC,FLAGS;MESSAGE"; dmesg: "[  1.2] MESSAGE"; a
    // journal: "Nov 20 10:40:00 host kernel: MESSAGE": the fields are found
    // wherever they are.
    let (time, serial) = stamp(line);
    let is_audit = line.contains("audit(") || line.contains("audit[");
    if !is_audit {
        return None;
    }
    let seccomp =
        line.contains("type=1326") || line.contains("type=SECCOMP") || line.contains(" SECCOMP ");
    if !seccomp {
        return Some(Line::OtherAudit { time, serial });
    }
    // The enriched part of auditd's log (after 0x1d) repeats fields
    // interpreted, in upper case: the raw ones are enough.
    let raw = line.split('\u{1d}').next().unwrap_or(line);
    let mut f = Fields::default();
    for (k, v) in fields(raw) {
        match k {
            "pid" => f.pid = v.parse().ok(),
            "comm" => f.comm = untrusted(v),
            "exe" => f.exe = untrusted(v),
            "arch" => {
                f.arch = u32::from_str_radix(v, 16)
                    .ok()
                    .map(RecordArch::of_hex)
                    .or_else(|| RecordArch::of_name(v))
            }
            "syscall" => {
                f.syscall = Some(match v.parse() {
                    Ok(n) => Syscall::Number(n),
                    Err(_) => Syscall::Name(v.to_string()),
                })
            }
            "compat" => f.compat = v == "1",
            "code" => {
                f.code = match v.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    // ausearch -i names the action.
                    None => (v == "log").then_some(RET_LOG),
                }
            }
            _ => {}
        }
    }
    match (f.pid, f.arch, f.syscall, f.code) {
        (Some(pid), Some(arch), Some(syscall), Some(code)) => Some(Line::Seccomp(Record {
            time,
            serial,
            pid,
            comm: f.comm,
            exe: f.exe,
            arch,
            compat: f.compat,
            syscall,
            code,
        })),
        _ => Some(Line::OtherAudit { time, serial }),
    }
}

#[derive(Default)]
struct Fields {
    pid: Option<u32>,
    comm: Option<String>,
    exe: Option<String>,
    arch: Option<RecordArch>,
    syscall: Option<Syscall>,
    compat: bool,
    code: Option<u32>,
}

/// `audit(1796178679.245:2)`: seconds since the epoch and the serial.
fn stamp(line: &str) -> (Option<f64>, Option<u64>) {
    let Some(start) = line.find("audit(") else {
        return (None, None);
    };
    let rest = &line[start + 6..];
    let Some(end) = rest.find(')') else {
        return (None, None);
    };
    let Some((time, serial)) = rest[..end].rsplit_once(':') else {
        return (None, None);
    };
    // ausearch -i prints a local date here: no time then, the serial stays.
    let t = time.parse::<f64>().ok().filter(|t| t.is_finite());
    (t, serial.parse().ok())
}

/// The `key=value` pairs of a record; values may be "quoted".
fn fields(s: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = s;
    std::iter::from_fn(move || loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return None;
        }
        let token_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let Some(eq) = rest[..token_end].find('=') else {
            rest = &rest[token_end..];
            continue;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(close) => (&after[..close + 2], &q[close + 1..]),
                None => (after, ""),
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        rest = next;
        return Some((key, value));
    })
}

/// A string the kernel logged with audit_log_untrustedstring: "quoted", or
/// hex when it holds a space, a quote or a control character.
fn untrusted(v: &str) -> Option<String> {
    if let Some(q) = v.strip_prefix('"') {
        return Some(q.strip_suffix('"').unwrap_or(q).to_string());
    }
    if v == "(null)" || v == "?" {
        return None;
    }
    if v.len().is_multiple_of(2) && !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Option<Vec<u8>> = (0..v.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok())
            .collect();
        if let Some(b) = bytes {
            return Some(String::from_utf8_lossy(&b).into_owned());
        }
    }
    Some(v.to_string())
}

/// What the log shows of records the kernel dropped.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Losses {
    /// Audit serial numbers skipped between the first and the last record
    /// of the window: records (of any process) the kernel did not print,
    /// most often to its printk rate limit.
    pub serials_skipped: u64,
    /// The kernel log's ring buffer had already overwritten this many
    /// messages (kmsg only): older records are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_overwritten: Option<u64>,
}

/// Serial numbers missing between the lowest and the highest of `serials`
/// (several records of one event share a serial).
pub fn serials_skipped(serials: &BTreeSet<u64>) -> u64 {
    match (serials.first(), serials.last()) {
        (Some(lo), Some(hi)) => (hi - lo + 1) - serials.len() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KMSG: &str = "12,1034,255401237,-;audit: type=1326 audit(1796178679.245:2): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=12690 comm=\"t\" exe=\"/t\" sig=0 arch=c000003e syscall=306 compat=0 ip=0x438dd9 code=0x7ffc0000";
    const DMESG: &str = "[  255.401247] audit: type=1326 audit(1796178679.245:3): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=12690 comm=\"t\" exe=\"/t\" sig=0 arch=c000003e syscall=140 compat=0 ip=0x438dd9 code=0x7ffc0000";
    const AUDIT_LOG: &str = "type=SECCOMP msg=audit(1796178679.250:77): auid=4294967295 uid=1500 gid=1500 ses=4294967295 subj=unconfined pid=900 comm=\"python3\" exe=\"/usr/bin/python3.11\" sig=0 arch=c00000b7 syscall=167 compat=0 ip=0xffff8a8c code=0x7ffc0000\u{1d}ARCH=aarch64 SYSCALL=prctl AUID=\"unset\" UID=\"app\"";

    fn record(line: &str) -> Record {
        match parse_line(line) {
            Some(Line::Seccomp(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn reads_kmsg_dmesg_and_audit_log_records() {
        let k = record(KMSG);
        assert_eq!(k.time, Some(1796178679.245));
        assert_eq!(k.serial, Some(2));
        assert_eq!(
            (k.pid, k.comm.as_deref(), k.exe.as_deref()),
            (12690, Some("t"), Some("/t"))
        );
        assert_eq!(k.arch, RecordArch::Known(Arch::X86_64));
        assert_eq!(k.syscall_name().as_deref(), Some("syncfs"));
        assert!(k.logged_by_audit_profile());
        assert_eq!(record(DMESG).syscall_name().as_deref(), Some("getpriority"));
        let a = record(AUDIT_LOG);
        assert_eq!(a.arch, RecordArch::Known(Arch::Aarch64));
        assert_eq!(a.syscall_name().as_deref(), Some("prctl"), "167 on aarch64");
        assert_eq!(a.exe.as_deref(), Some("/usr/bin/python3.11"));
        assert_eq!(a.serial, Some(77));
        // journalctl -k puts its own prefix in front.
        let j = format!("Nov 20 10:40:00 vm kernel: {}", &DMESG[15..]);
        assert_eq!(record(&j).syscall_name().as_deref(), Some("getpriority"));
    }

    #[test]
    fn interpreted_records_name_arch_syscall_and_action() {
        let line = "type=SECCOMP msg=audit(11/24/2026 10:00:00.123:45) : auid=unset uid=root gid=root ses=unset pid=77 comm=nginx exe=/usr/sbin/nginx sig=0 arch=x86_64 syscall=getpriority compat=0 ip=0x7f code=log";
        let r = record(line);
        assert_eq!((r.time, r.serial), (None, Some(45)));
        assert_eq!(r.syscall_name().as_deref(), Some("getpriority"));
        assert!(r.logged_by_audit_profile());
        assert_eq!(r.exe.as_deref(), Some("/usr/sbin/nginx"));
    }

    #[test]
    fn other_arches_compat_calls_and_unknown_numbers_have_no_name() {
        let i386 = record(&KMSG.replace("arch=c000003e", "arch=40000003"));
        assert_eq!(i386.arch, RecordArch::Other(0x4000_0003));
        assert_eq!(i386.arch.name(), "i386");
        assert_eq!(RecordArch::Other(7).name(), "0x7");
        assert_eq!(i386.syscall_name(), None);
        let compat = record(&KMSG.replace("compat=0", "compat=1"));
        assert_eq!(compat.syscall_name(), None);
        let unknown = record(&KMSG.replace("syscall=306", "syscall=9999"));
        assert_eq!(unknown.syscall_name(), None);
        assert_eq!(record(KMSG).arch.name(), "x86_64");
    }

    #[test]
    fn hex_encoded_names_are_decoded() {
        // comm "my app" holds a space: the kernel logs it in hex.
        let r = record(&KMSG.replace("comm=\"t\"", "comm=6D7920617070"));
        assert_eq!(r.comm.as_deref(), Some("my app"));
        let r = record(&KMSG.replace("exe=\"/t\"", "exe=(null)"));
        assert_eq!(r.exe, None);
    }

    #[test]
    fn other_actions_are_not_the_audit_profiles() {
        let errno = record(&KMSG.replace("code=0x7ffc0000", "code=0x50001"));
        assert!(!errno.logged_by_audit_profile());
        assert_eq!(action_name(errno.code), "errno");
        assert_eq!(action_name(0x8000_0000), "kill_process");
        assert_eq!(action_name(RET_LOG), "log");
    }

    #[test]
    fn garbage_and_other_messages_are_not_records() {
        for line in [
            "",
            "garbage",
            "[ 927.24] eth0: renamed from veth993f9af",
            "kauditd_printk_skb: 42 callbacks suppressed",
            "audit: type=1326 audit(",
            "type=1326 audit(1.0:x): pid=",
            "\u{0}\u{1d}===",
        ] {
            assert!(
                !matches!(parse_line(line), Some(Line::Seccomp(_))),
                "{line:?}"
            );
        }
        // An audit line cut short keeps its serial, but is no record.
        assert_eq!(
            parse_line("audit: type=1326 audit(1796178679.245:9): pid=1 comm=\"x"),
            Some(Line::OtherAudit {
                time: Some(1796178679.245),
                serial: Some(9)
            })
        );
        assert_eq!(
            parse_line(
                "[ 896.33] audit: type=1700 audit(1796179320.201:5): dev=veth45ad263 prom=256"
            ),
            Some(Line::OtherAudit {
                time: Some(1796179320.201),
                serial: Some(5)
            })
        );
    }

    #[test]
    fn skipped_serials_count_dropped_records() {
        let s: BTreeSet<u64> = [14, 15, 16, 23, 66, 67].into();
        assert_eq!(serials_skipped(&s), 54 - 6);
        assert_eq!(serials_skipped(&BTreeSet::new()), 0);
        assert_eq!(serials_skipped(&[5].into()), 0);
    }
}
