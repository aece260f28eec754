//! `slim learn --artifacts DIR`: the audit-to-enforce loop. The slim image
//! runs for a while under DIR/seccomp-audit.json (whatever its profile
//! does not allow is allowed and logged by the kernel, SCMP_ACT_LOG); this
//! command reads those records from the kernel log or the audit log, keeps
//! the ones of the slim image's containers, adds the syscalls they show to
//! DIR/seccomp.json (the previous one kept as DIR/seccomp.previous.json),
//! writes seccomp-audit.json and seccomp-profile.yaml again from it, and
//! prints the change per syscall, with who made the calls, for a person to
//! review before enforcing (also DIR/seccomp-learned.txt and .json).
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::{
    engine::EngineKind,
    learn::{
        self,
        apply::{self, Artifacts},
        attribution::{self, ProcHost},
        diff,
        logs::{self, Source},
        time,
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

pub async fn run(args: LearnArgs) -> Result<()> {
    let since = args.since.as_deref().map(time::parse_since).transpose()?;
    let dir = &args.artifacts;
    let artifacts = Artifacts::read(dir)?;
    let scopes =
        attribution::scopes(args.engine, &args.container, args.image.as_deref(), since).await?;
    let source = Source::of(args.from.as_deref());
    let log = source.read()?;
    if let Some(w) = logs::not_logging() {
        eprintln!("slim: warning: {w}");
    }
    let options = learn::Options {
        since,
        keep_argument_filters: args.keep_argument_filters,
        dry_run: args.dry_run,
    };
    let (mut outcome, after) = learn::learn(
        &log,
        source.describe(),
        &artifacts.profile,
        &artifacts.argument_values(),
        scopes,
        &options,
        &ProcHost::new(),
    );
    if outcome.written {
        let written = apply::write(&artifacts, &after, &outcome)?;
        for w in &written.warnings {
            eprintln!("slim: warning: {w}");
        }
        outcome.files = written.files;
    }
    if outcome.lost.serials_skipped > 0 || outcome.lost.log_overwritten.is_some() {
        eprintln!(
            "slim: warning: the log misses records of the window (see \"lost\" below): what was learned may be incomplete"
        );
    }
    let diff = diff::render(&outcome, dir);
    if outcome.written {
        apply::write_learned(dir, &diff, &outcome)?;
    }
    if args.json {
        super::stdout(&(serde_json::to_string_pretty(&outcome)? + "\n"))
    } else {
        super::stdout(&diff)
    }
}
