//! `slim learn --artifacts DIR`: the audit-to-enforce loop. The slim image
//! runs for a while under DIR/seccomp-audit.json (whatever its profile
//! does not allow is allowed and logged by the kernel, SCMP_ACT_LOG); this
//! command reads those records from the kernel log or the audit log, keeps
//! the ones of the slim image's containers, adds the syscalls they show to
//! DIR/seccomp.json (the previous one kept as DIR/seccomp.previous.json),
//! writes seccomp-audit.json and seccomp-profile.yaml again from it, and
//! prints the change per syscall, with who made the calls, for a person to
//! review before enforcing (also DIR/seccomp-learned.txt and .json).
use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::{
    engine::{self, EngineKind},
    report,
    seccomp::{
        audit::{self, Line, Losses, Record},
        learn::{self, rfc3339, Caller, Change, Host, JsonProfile, Scope, Verdict},
        spo,
    },
};

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// The artifacts directory of `slim build` or `slim profile`: its
    /// seccomp.json is extended (seccomp-audit.json and
    /// seccomp-profile.yaml follow).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    /// Where the records are: kmsg (the kernel log, /dev/kmsg), audit-log
    /// (/var/log/audit/audit.log and its rotated files, where auditd puts
    /// them), or a FILE holding either (dmesg, journalctl -k, ausearch
    /// output; - for stdin). [default: audit-log when auditd runs, else
    /// kmsg]
    #[arg(long, value_name = "kmsg|audit-log|FILE")]
    pub from: Option<String>,
    /// Only records since TIME: RFC 3339 (2026-11-24T10:00:00Z) or a
    /// duration ago (90s, 30m, 2h, 1d). With --container, it replaces the
    /// container's start as the start of the window.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records of this container (name or ID; repeatable): made
    /// while it ran, by its processes (or, once they exited, by an
    /// executable it holds).
    #[arg(long, value_name = "CONTAINER")]
    pub container: Vec<String>,
    /// Only records of the containers of this image (running or stopped).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The engine --container and --image ask.
    #[arg(long, value_enum, default_value_t = EngineKind::Docker)]
    pub engine: EngineKind,
    /// Leave out a syscall the profile restricts by argument (or that slim
    /// would): the records carry no arguments, so adding it would allow
    /// any. Listed in the diff for a person to decide.
    #[arg(long)]
    pub keep_argument_filters: bool,
    /// Print what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON (DIR/seccomp-learned.json) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// DIR/seccomp-learned.json, and `--json`'s output.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub containers: Vec<Scope>,
    pub records: Counts,
    pub lost: Losses,
    /// One row per syscall the records showed.
    pub syscalls: Vec<Row>,
    /// Whether DIR's profiles were rewritten.
    pub written: bool,
    pub files: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    /// Seccomp audit records in the source.
    pub seccomp: u64,
    /// Of those, made by an audit profile's default action (SCMP_ACT_LOG).
    pub logged: u64,
    /// Of those, the slim image's.
    pub learned_from: u64,
    /// Records not used, by reason.
    pub left_out: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub syscall: String,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    pub calls: u64,
    pub callers: Vec<Caller>,
}

pub async fn run(args: LearnArgs) -> Result<()> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let dir = &args.artifacts;
    let profile_path = dir.join("seccomp.json");
    let text = std::fs::read_to_string(&profile_path).with_context(|| {
        format!(
            "cannot read {} (run slim build or slim profile with --artifacts {} first)",
            profile_path.display(),
            dir.display()
        )
    })?;
    let before: JsonProfile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a seccomp profile (defaultAction, syscalls)",
            profile_path.display()
        )
    })?;
    let report_path = dir.join("report.json");
    let report: Option<serde_json::Value> = std::fs::read_to_string(&report_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());

    let scopes = scopes(&args, since).await?;
    let source = Source::of(args.from.as_deref());
    let log = source.read()?;
    warn_if_not_logging();

    let window_start = since.or_else(|| {
        scopes
            .iter()
            .map(|s| s.started - learn::SLACK_SECONDS)
            .reduce(f64::min)
    });
    let host = ProcHost::new();
    let mut counts = Counts::default();
    let mut serials = BTreeSet::new();
    let mut seen: BTreeMap<String, Vec<Caller>> = BTreeMap::new();
    let left = |why: &'static str, counts: &mut Counts| {
        *counts.left_out.entry(why).or_default() += 1;
    };
    for line in &log.lines {
        let (rec, time, serial) = match audit::parse_line(line) {
            None => continue,
            Some(Line::OtherAudit { time, serial }) => (None, time, serial),
            Some(Line::Seccomp(r)) => {
                let (t, s) = (r.time, r.serial);
                (Some(r), t, s)
            }
        };
        let in_window = match (window_start, time) {
            (Some(start), Some(t)) => t >= start,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if let (true, Some(s)) = (in_window, serial) {
            serials.insert(s);
        }
        let Some(r) = rec else { continue };
        counts.seccomp += 1;
        if !r.logged_by_audit_profile() {
            left("other action (not an audit profile's log)", &mut counts);
            continue;
        }
        counts.logged += 1;
        let Some(name) = r.syscall_name() else {
            left(unnamed(&r, &before), &mut counts);
            continue;
        };
        if !arch_in_profile(&r, &before) {
            left("architecture not in the profile", &mut counts);
            continue;
        }
        match learn::attribute(&r, &scopes, since, &host) {
            Verdict::Claimed { container, by } => {
                counts.learned_from += 1;
                learn::add_caller(seen.entry(name).or_default(), &r, container, by);
            }
            Verdict::OutsideWindow => left("outside the window", &mut counts),
            Verdict::OtherProcess => left("another process", &mut counts),
            Verdict::NoTime => left("no time stamp", &mut counts),
        }
    }
    let lost = Losses {
        serials_skipped: audit::serials_skipped(&serials),
        log_overwritten: log.overwritten_before(window_start),
    };

    let names: BTreeSet<String> = seen.keys().cloned().collect();
    let mut after = before.clone();
    let merged = learn::merge(
        &mut after,
        &names,
        args.keep_argument_filters,
        &argument_values(report.as_ref()),
    );
    let rows: Vec<Row> = merged
        .into_iter()
        .map(|(syscall, m)| {
            let callers = seen.remove(&syscall).unwrap_or_default();
            Row {
                calls: callers.iter().map(|c| c.calls).sum(),
                syscall,
                change: m.change,
                was: m.was,
                callers,
            }
        })
        .collect();
    let changed = rows.iter().any(|r| r.change.changes_profile());
    let mut outcome = Outcome {
        source: source.describe(),
        since: since.map(rfc3339),
        containers: scopes,
        records: counts,
        lost,
        syscalls: rows,
        written: changed && !args.dry_run,
        files: Vec::new(),
    };
    if outcome.written {
        outcome.files = write(dir, &text, &after, report, &outcome)?;
    }
    if outcome.lost.serials_skipped > 0 || outcome.lost.log_overwritten.is_some() {
        eprintln!(
            "slim: warning: the log misses records of the window (see \"lost\" below): what was learned may be incomplete"
        );
    }
    let diff = render(&outcome, dir);
    if outcome.written {
        crate::atomic::write_atomically(&dir.join("seccomp-learned.txt"), |out| {
            out.write_all(diff.as_bytes())?;
            Ok(())
        })?;
        report::write_json(dir, "seccomp-learned.json", &outcome)?;
    }
    if args.json {
        stdout(&(serde_json::to_string_pretty(&outcome)? + "\n"))
    } else {
        stdout(&diff)
    }
}

/// Results to stdout; a reader that went away (`| head`) is no error.
fn stdout(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}

/// Why a logged record names no syscall slim can add.
fn unnamed(r: &Record, profile: &JsonProfile) -> &'static str {
    if !arch_in_profile(r, profile) {
        "architecture not in the profile"
    } else if r.compat {
        "32-bit (compat) call"
    } else {
        "unknown syscall number"
    }
}

fn arch_in_profile(r: &Record, profile: &JsonProfile) -> bool {
    match r.arch.seccomp() {
        Some(a) => profile.architectures.is_empty() || profile.architectures.iter().any(|p| p == a),
        None => false,
    }
}

/// Writes the new profile and what follows from it; returns the files.
fn write(
    dir: &Path,
    previous: &str,
    after: &JsonProfile,
    report: Option<serde_json::Value>,
    outcome: &Outcome,
) -> Result<Vec<String>> {
    let put = |name: &str, bytes: &[u8]| {
        crate::atomic::write_atomically(&dir.join(name), |out| {
            out.write_all(bytes)?;
            Ok(())
        })
    };
    put("seccomp.previous.json", previous.as_bytes())?;
    let json = serde_json::to_string_pretty(after)? + "\n";
    put("seccomp.json", json.as_bytes())?;
    report::write_json(dir, "seccomp-audit.json", &after.audit())?;
    let mut files = vec![
        "seccomp.json".to_string(),
        "seccomp.previous.json".into(),
        "seccomp-audit.json".into(),
    ];
    let yaml_path = dir.join("seccomp-profile.yaml");
    let existing = std::fs::read_to_string(&yaml_path).ok();
    let image = report.as_ref().and_then(|r| {
        r["result"]["image"]
            .as_str()
            .or(r["source"]["image"].as_str())
            .map(str::to_string)
    });
    if existing.is_some() || image.is_some() {
        let dropped: usize = after
            .syscalls
            .iter()
            .filter(|r| r.other.keys().any(|k| k != "comment"))
            .count();
        if dropped > 0 {
            eprintln!(
                "slim: warning: seccomp-profile.yaml: {dropped} rule(s) of seccomp.json have includes/excludes, which the operator's SeccompProfile has not: written without them"
            );
        }
        let yaml = spo::updated_seccomp_profile(
            existing.as_deref(),
            after,
            image.as_deref().unwrap_or("image"),
        )?;
        put("seccomp-profile.yaml", yaml.as_bytes())?;
        files.push("seccomp-profile.yaml".into());
    }
    if let Some(mut r) = report {
        note_in_report(&mut r, after, outcome);
        report::write_json(dir, "report.json", &r)?;
        files.push("report.json".into());
    }
    files.extend(["seccomp-learned.txt".into(), "seccomp-learned.json".into()]);
    Ok(files)
}

/// report.json's `seccomp` after a learn: `allowed` as the profile now
/// is, argument rules that gave way, and the learn itself.
fn note_in_report(r: &mut serde_json::Value, after: &JsonProfile, outcome: &Outcome) {
    let Some(sec) = r.get_mut("seccomp").and_then(|s| s.as_object_mut()) else {
        return;
    };
    sec.insert("allowed".into(), serde_json::json!(after.allowed()));
    let reason = "slim learn: the audit profile logged calls outside the values seen, and its records carry no arguments";
    for row in &outcome.syscalls {
        if !matches!(row.change, Change::Relaxed | Change::AddedAnyArguments) {
            continue;
        }
        let args = sec
            .entry("arguments")
            .or_insert_with(|| serde_json::json!([]));
        let Some(list) = args.as_array_mut() else {
            continue;
        };
        let entry = match list
            .iter_mut()
            .find(|a| a["syscall"] == row.syscall.as_str())
        {
            Some(e) => e,
            None => {
                let meaning = slim_probe::arg_syscalls::by_name(&row.syscall)
                    .map_or("arguments", |a| a.meaning);
                list.push(
                    serde_json::json!({"syscall": row.syscall, "argument": meaning, "seen": []}),
                );
                list.last_mut().expect("just pushed")
            }
        };
        if let Some(e) = entry.as_object_mut() {
            e.insert("rule".into(), "name".into());
            e.remove("allowed");
            e.remove("denied");
            e.insert("reason".into(), reason.into());
        }
    }
    let of = |change: &[Change]| -> Vec<&str> {
        outcome
            .syscalls
            .iter()
            .filter(|r| change.contains(&r.change))
            .map(|r| r.syscall.as_str())
            .collect()
    };
    let learned = sec
        .entry("learned")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = learned.as_array_mut() {
        list.push(serde_json::json!({
            "at": rfc3339(now()),
            "source": outcome.source,
            "records": outcome.records.learned_from,
            "added": of(&[Change::Added, Change::AddedAnyArguments, Change::ErrnoRuleReplaced]),
            "relaxed": of(&[Change::Relaxed]),
        }));
    }
}

/// From report.json, what each argument-filtered syscall's rules allowed,
/// in words, for the diff ("only AF_INET/SOCK_STREAM, ...").
fn argument_values(report: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(list) = report.and_then(|r| r["seccomp"]["arguments"].as_array()) else {
        return out;
    };
    let names = |v: &serde_json::Value| -> String {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    for a in list {
        let Some(s) = a["syscall"].as_str() else {
            continue;
        };
        let words = match a["rule"].as_str() {
            Some("values") => format!("only {}", names(&a["allowed"])),
            Some("except") => format!("any but {}", names(&a["denied"])),
            _ => continue,
        };
        out.insert(s.to_string(), words);
    }
    out
}

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

/// The containers of --container and --image, as the engine and /proc
/// describe them.
async fn scopes(args: &LearnArgs, since: Option<f64>) -> Result<Vec<Scope>> {
    if args.container.is_empty() && args.image.is_none() {
        return Ok(Vec::new());
    }
    let engine = engine::connect(args.engine).await?;
    let mut ids = args.container.clone();
    if let Some(image) = &args.image {
        use bollard::container::ListContainersOptions;
        let filters = std::collections::HashMap::from([("ancestor", vec![image.as_str()])]);
        let found = engine
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .with_context(|| format!("cannot list the containers of {image}"))?;
        if found.is_empty() {
            bail!(
                "no container of image {image} in {}: name one with --container, or leave both out",
                engine.kind.name()
            );
        }
        ids.extend(found.into_iter().filter_map(|c| c.id));
    }
    let mut out = Vec::new();
    for id in ids {
        let c = engine
            .inspect_container(&id, None)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => anyhow::anyhow!(
                    "no container {id} in {}: name one that ran the slim image (docker ps -a)",
                    engine.kind.name()
                ),
                e => anyhow::anyhow!("cannot inspect container {id}: {e}"),
            })?;
        let state = c.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let time = |t: Option<String>| {
            t.filter(|t| !t.starts_with("0001"))
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_micros() as f64 / 1e6)
        };
        let Some(started) = time(state.started_at) else {
            bail!("container {id} never started: nothing of it can be in the log");
        };
        let pid = state.pid.filter(|p| running && *p > 0).map(|p| p as u32);
        out.push(Scope {
            name: c
                .name
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| engine::short(&id).to_string()),
            id: c.id.unwrap_or(id),
            running,
            started: since.unwrap_or(started),
            finished: if running {
                None
            } else {
                time(state.finished_at)
            },
            mnt_ns: pid.and_then(mnt_ns),
            pid,
        });
    }
    Ok(out)
}

/// Where the records are read from.
enum Source {
    Kmsg,
    AuditLog,
    File(PathBuf),
}

const AUDIT_LOG: &str = "/var/log/audit/audit.log";

impl Source {
    fn of(from: Option<&str>) -> Self {
        match from {
            Some("kmsg") => Source::Kmsg,
            Some("audit-log") => Source::AuditLog,
            Some(f) => Source::File(f.into()),
            None if auditd_runs() => Source::AuditLog,
            None => Source::Kmsg,
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Kmsg => "the kernel log (/dev/kmsg)".into(),
            Source::AuditLog => AUDIT_LOG.into(),
            Source::File(f) => f.display().to_string(),
        }
    }

    fn read(&self) -> Result<Log> {
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
struct Log {
    lines: Vec<String>,
    kmsg: Option<KmsgStart>,
}

/// The oldest message the kernel's ring buffer still held.
struct KmsgStart {
    seq: u64,
    /// Seconds since the epoch (boot time plus its timestamp).
    time: f64,
}

impl Log {
    /// Messages overwritten before the oldest left, when the window starts
    /// before that one (then records of the window may be gone).
    fn overwritten_before(&self, window_start: Option<f64>) -> Option<u64> {
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
    let boot = now() - uptime();
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

/// Says so when the kernel will not log the audit profile's calls.
fn warn_if_not_logging() {
    if let Ok(actions) = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged") {
        if !actions.split_whitespace().any(|a| a == "log") {
            eprintln!(
                "slim: warning: the kernel does not log SCMP_ACT_LOG (kernel.seccomp.actions_logged is \"{}\"): under seccomp-audit.json calls were allowed without a record; add log to it and run the audit again",
                actions.trim()
            );
        }
    }
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

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// --since: RFC 3339, or a duration ago (90s, 30m, 2h, 1d).
fn parse_since(s: &str) -> Result<f64> {
    parse_since_at(s, now())
}

fn parse_since_at(s: &str, now: f64) -> Result<f64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros() as f64 / 1e6);
    }
    let unit = s.chars().last().unwrap_or(' ');
    let n: Option<f64> = s[..s.len() - unit.len_utf8().min(s.len())].parse().ok();
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => 0.0,
    };
    match n {
        Some(n) if scale > 0.0 && n >= 0.0 => Ok(now - n * scale),
        _ => bail!(
            "--since {s}: give a time (2026-11-24T10:00:00Z) or a duration ago (90s, 30m, 2h, 1d)"
        ),
    }
}

fn mnt_ns(pid: u32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    link.to_str()?
        .strip_prefix("mnt:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The host, as /proc shows it.
struct ProcHost {
    boot: f64,
    ticks: f64,
}

impl ProcHost {
    fn new() -> Self {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcHost {
            boot: now() - uptime(),
            ticks: if ticks > 0 { ticks as f64 } else { 100.0 },
        }
    }

    /// When process `pid` started, in seconds since the epoch.
    fn started(&self, pid: u32) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 22, counted after the command's closing parenthesis.
        let rest = &stat[stat.rfind(')')? + 2..];
        let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(self.boot + ticks / self.ticks)
    }
}

impl Host for ProcHost {
    fn mnt_ns_at(&self, pid: u32, time: f64) -> Option<u64> {
        // Started after the record (with a second for the clocks): the pid
        // was reused, the record's process is gone.
        if self.started(pid)? > time + 1.0 {
            return None;
        }
        mnt_ns(pid)
    }

    fn has_exe(&self, scope: &Scope, exe: &str) -> bool {
        let Some(pid) = scope.pid else {
            return false;
        };
        let inside = exe.trim_start_matches('/');
        !inside.is_empty()
            && !exe.split('/').any(|c| c == "..")
            && std::fs::symlink_metadata(format!("/proc/{pid}/root/{inside}")).is_ok()
    }
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

    #[test]
    fn records_that_cannot_be_added_say_why() {
        let profile: JsonProfile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"]
        }))
        .unwrap();
        let line = "audit: type=1326 audit(1.0:1): pid=1 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e syscall=9999 compat=0 ip=0x1 code=0x7ffc0000";
        let rec = |l: &str| match audit::parse_line(l) {
            Some(Line::Seccomp(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(unnamed(&rec(line), &profile), "unknown syscall number");
        let compat = line.replace("compat=0", "compat=1");
        assert_eq!(unnamed(&rec(&compat), &profile), "32-bit (compat) call");
        for arch in ["c00000b7", "40000003"] {
            let other = line.replace("c000003e", arch);
            assert_eq!(
                unnamed(&rec(&other), &profile),
                "architecture not in the profile"
            );
            assert!(!arch_in_profile(&rec(&other), &profile));
        }
        assert!(arch_in_profile(&rec(line), &profile));
    }

    #[test]
    fn since_takes_a_time_or_a_duration_ago() {
        let now = 1_800_000_000.0;
        assert_eq!(parse_since_at("90s", now).unwrap(), now - 90.0);
        assert_eq!(parse_since_at("2h", now).unwrap(), now - 7200.0);
        assert_eq!(parse_since_at("1d", now).unwrap(), now - 86400.0);
        assert_eq!(
            parse_since_at("2026-11-24T10:00:00Z", now).unwrap(),
            1_795_514_400.0
        );
        for bad in ["", "x", "10", "-5m", "5w", "yesterday", "é"] {
            assert!(parse_since_at(bad, now).is_err(), "{bad}");
        }
    }

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

    #[test]
    fn the_report_learns_the_new_allow_list_and_the_relaxed_rules() {
        let mut r = serde_json::json!({"seccomp": {"allowed": ["read"], "arguments": [
            {"syscall": "socket", "argument": "domain and type", "seen": [], "rule": "values",
             "allowed": [{"value": 2, "name": "AF_INET/SOCK_STREAM"}]}]}});
        assert_eq!(
            argument_values(Some(&r))["socket"],
            "only AF_INET/SOCK_STREAM"
        );
        let after: JsonProfile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "socket", "unshare"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        let row = |s: &str, change| Row {
            syscall: s.into(),
            change,
            was: None,
            calls: 1,
            callers: Vec::new(),
        };
        let o = Outcome {
            source: "f".into(),
            since: None,
            containers: Vec::new(),
            records: Counts::default(),
            lost: Losses::default(),
            syscalls: vec![
                row("socket", Change::Relaxed),
                row("unshare", Change::AddedAnyArguments),
            ],
            written: true,
            files: Vec::new(),
        };
        note_in_report(&mut r, &after, &o);
        let sec = &r["seccomp"];
        assert_eq!(
            sec["allowed"],
            serde_json::json!(["read", "socket", "unshare"])
        );
        assert_eq!(sec["arguments"][0]["rule"], "name");
        assert!(sec["arguments"][0].get("allowed").is_none());
        assert_eq!(sec["arguments"][1]["syscall"], "unshare");
        assert_eq!(sec["learned"][0]["relaxed"], serde_json::json!(["socket"]));
        assert_eq!(sec["learned"][0]["added"], serde_json::json!(["unshare"]));
    }
}
