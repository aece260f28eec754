//! Command-line interface: the contract of `../shared/notes/design.md`.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{
    engine::EngineKind,
    image::source::ReadLayers,
    probes::HttpProbe,
    session::{ContinueAfter, Plan},
    transport::ImageName,
};

/// slim makes container images small and safe by watching them run: an eBPF
/// probe records every file and syscall of the running container, from the
/// outside, with no privileged sensor inside it.
#[derive(Debug, Parser)]
#[command(name = "slim", version, about, long_about = None, after_help = crate::exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log more (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run IMAGE, probe it, and write a minimal image TAG with a seccomp profile.
    Build(Box<BuildArgs>),
    /// Run IMAGE and probe it; write DIR/report.json and DIR/seccomp.json only.
    Profile(Box<ProfileArgs>),
    /// Add to DIR/seccomp.json what the kernel logged while the slim image
    /// ran under DIR/seccomp-audit.json; print the change for review.
    Learn(crate::commands::learn::LearnArgs),
    /// Print the keep-rules: the built-in ones and those of --rules files.
    Rules(RulesArgs),
    /// Analyze an image's layers without running it: sizes, files added,
    /// changed and removed, wasted bytes, efficiency, largest files (dive's
    /// questions); --ci gates on them with dive's rule names.
    Xray(XrayArgs),
    /// Start a debug container in a running container's pid and network
    /// namespaces (its root filesystem at /proc/1/root), from the image its
    /// slim image was made from; a shell, or CMD after --.
    Debug(crate::commands::debug::DebugArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (slim.1 and one per subcommand) into DIR.
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct XrayArgs {
    /// The image, with the transports of `slim build`.
    pub image: ImageName,
    /// Print the analysis as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// How many of the largest files, directories and wasted paths to list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Gate on the analysis (exit 7 when a rule fails): the rules come from
    /// the flags below, else --ci-config, else ./.dive-ci, else dive's
    /// defaults (lowestEfficiency 0.9, highestUserWastedPercent 0.1).
    #[arg(long)]
    pub ci: bool,
    /// A .dive-ci-style YAML file with the rules.
    #[arg(long, value_name = "FILE")]
    pub ci_config: Option<PathBuf>,
    /// lowestEfficiency: fail below this efficiency (0-1, or "disabled").
    #[arg(long, value_name = "FRACTION")]
    pub lowest_efficiency: Option<String>,
    /// highestWastedBytes: fail above this many wasted bytes (20MB, bytes,
    /// or "disabled").
    #[arg(long, value_name = "SIZE")]
    pub highest_wasted_bytes: Option<String>,
    /// highestUserWastedPercent: fail above wasted / user bytes (0-1, or
    /// "disabled").
    #[arg(long, value_name = "FRACTION")]
    pub highest_user_wasted_percent: Option<String>,
    /// Write an SBOM of the image (every package it holds) into --sbom-dir:
    /// sbom.cdx.json (CycloneDX 1.5) or sbom.spdx.json (SPDX 2.3).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sbom: Vec<crate::image::sbom::Format>,
    /// Where --sbom writes.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub sbom_dir: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Also check and list the rules of this file (the built-in rules' format).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Print them as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the minimal image keeps beyond the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepMode {
    /// The trace and its closure, and the rules the image needs to start.
    Minimal,
    /// Also state (volumes, data directories), the app's own files, data
    /// loaded on demand, and what kept code can import.
    Safe,
}

/// How the seccomp profile is drawn from the observed syscalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeccompMode {
    /// Exactly the observed syscalls (plus the runtime's base set).
    Strict,
    /// Each observed syscall brings its family (read -> pread64, readv,
    /// ...), so an unprobed path does not die on a sibling call.
    Families,
}

/// Where images are run, pulled from and pushed to.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// The engine that runs the probe container (and holds docker-daemon:
    /// images): Docker (DOCKER_HOST, the CLI's context) or Podman
    /// (CONTAINER_HOST, else its root socket, started when none answers).
    #[arg(long, value_enum, default_value_t = EngineKind::Docker)]
    pub engine: EngineKind,
    /// --tls-verify=false: reach registries over plain HTTP (for a registry
    /// on localhost).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls_verify: bool,
}

/// Which platform of a multi-platform source (an image index) is used.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// The platform of an image index to use (OS/ARCH[/VARIANT], such as
    /// linux/arm64); a foreign one runs under user-mode emulation. A
    /// single-platform source must be of this platform [default: this
    /// machine's].
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        conflicts_with = "all_platforms"
    )]
    pub platform: Option<crate::image::platform::Platform>,
    /// Every platform the source's image index lists, each into
    /// DIR/<os>-<arch>/ (foreign ones under emulation); build writes one
    /// slim image index to each --output (oci: or docker://). A
    /// single-platform source is slimmed as without it.
    #[arg(long)]
    pub all_platforms: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The image to minify (it is never modified): REF or docker-daemon:REF
    /// (in the engine), docker://REF (a registry), oci:DIR[:TAG],
    /// docker-archive:FILE. With --service, it replaces the service's image
    /// (which is used when SOURCE is left out).
    #[arg(value_name = "SOURCE", required_unless_present = "service")]
    pub image: Option<ImageName>,
    /// Tag of the minimal image written to the engine.
    #[arg(long, value_parser = parse_tag)]
    pub tag: String,
    /// Directory for report.json and seccomp.json (created if missing).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    #[command(flatten)]
    pub probe: ProbeArgs,
    #[command(flatten)]
    pub config: crate::config_args::ConfigArgs,
    /// Keep this path of the image too: a file, or a directory with all it
    /// holds (an absolute path; one missing from the image fails the build).
    #[arg(long = "include-path", value_name = "PATH", value_parser = parse_image_path)]
    pub include_path: Vec<String>,
    /// Keep this binary (a path, or a name looked up in the usual PATH) and
    /// the libraries it loads.
    #[arg(long = "include-bin", value_name = "BIN")]
    pub include_bin: Vec<String>,
    /// Keep a shell and basic tools (sh, ls, cat, ...), for debugging.
    #[arg(long)]
    pub include_shell: bool,
    /// What to keep beyond the trace: minimal (the trace and its closure) or
    /// safe (also state, app files, on-demand data and language imports).
    #[arg(long, value_enum, default_value_t = KeepMode::Safe)]
    pub keep: KeepMode,
    /// With --keep safe, skip the language closure (what kept Python code
    /// can import); keep-rules still apply.
    #[arg(long)]
    pub no_imports: bool,
    /// Extra keep-rules (TOML, the format `slim rules` describes); repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Leave out paths matching this glob (`**` crosses directories); a path
    /// the container used is left out with a warning.
    #[arg(long, value_name = "GLOB", value_parser = parse_glob)]
    pub exclude: Vec<String>,
    /// Also write the image here (repeatable): oci:DIR[:TAG],
    /// docker-archive:FILE, docker://REF (push), docker-daemon:REF.
    #[arg(long, value_name = "TRANSPORT:NAME")]
    pub output: Vec<ImageName>,
    /// How to read the files of an image in the engine: in place from the
    /// overlay layer store (fast, cost grows with what is kept), from the
    /// engine's export stream (any storage driver, reads the whole image),
    /// or auto: in place when possible.
    #[arg(long, value_enum, default_value_t = ReadLayers::Auto)]
    pub read_layers: ReadLayers,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// After building, run TAG under the profile, replay the probes, and fail
    /// (exit 3) if one that passed on IMAGE fails or answers differently.
    #[arg(long)]
    pub verify: bool,
    /// Write an SBOM of the slim image: DIR/sbom.cdx.json (CycloneDX 1.5) or
    /// DIR/sbom.spdx.json (SPDX 2.3); repeatable.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sbom: Vec<crate::image::sbom::Format>,
    /// Fail (exit 4) when the slim image is larger than SIZE (50MB, 1.5GiB,
    /// or bytes).
    #[arg(long, value_name = "SIZE", value_parser = crate::gates::parse_size)]
    pub max_size: Option<u64>,
    /// Fail (exit 5) unless the image shrinks by RATIO: a factor (3x: to a
    /// third or less) or a percentage removed (70%).
    #[arg(long, value_name = "RATIO")]
    pub min_reduction: Option<crate::gates::Reduction>,
    /// The report.json of an earlier build, for --max-growth.
    #[arg(long, value_name = "REPORT", requires = "max_growth")]
    pub baseline: Option<PathBuf>,
    /// Fail (exit 6) when the slim image is more than PERCENT larger than
    /// the one --baseline records.
    #[arg(long, value_name = "PERCENT", requires = "baseline",
          value_parser = parse_percent)]
    pub max_growth: Option<f64>,
}

/// An image reference Docker accepts: lowercase path components of
/// [a-z0-9] joined by `.`, `_`, `__` or `-`, `/`-separated, an optional
/// registry host[:port] first, and an optional `:tag`.
fn parse_tag(s: &str) -> Result<String, String> {
    let s = s.strip_prefix("docker-daemon:").unwrap_or(s);
    let bad = || format!("{s:?} is not a valid image reference (like name:tag, lowercase)");
    let (name, tag) = crate::engine::split_reference(s);
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(bad());
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        parts.remove(0); // a registry host, checked by the daemon
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        return Err(bad());
    }
    Ok(s.to_string())
}

fn parse_percent(s: &str) -> Result<f64, String> {
    s.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .ok_or_else(|| format!("expected a percentage like 5 or 5%, not {s:?}"))
}

fn parse_image_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an absolute path in the image (like /etc/app)"
        ))
    }
}

fn parse_glob(s: &str) -> Result<String, String> {
    globset::Glob::new(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

fn parse_http_probe(s: &str) -> Result<String, String> {
    HttpProbe::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The image to probe (it is never modified), with the transports of
    /// `slim build`; with --service, the service's image when left out.
    #[arg(value_name = "SOURCE", required_unless_present = "service")]
    pub image: Option<ImageName>,
    /// Directory for report.json and seccomp.json (created if missing).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    #[command(flatten)]
    pub probe: ProbeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
}

/// How the container is exercised while the probe watches.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// An HTTP request "METHOD PATH" sent to every published TCP port once the
    /// app answers [default: "GET /" on every exposed TCP port].
    #[arg(long = "http-probe", value_name = "METHOD PATH", value_parser = parse_http_probe)]
    pub http_probe: Vec<String>,
    /// Send no HTTP requests at all.
    #[arg(long, conflicts_with = "http_probe")]
    pub no_http_probe: bool,
    /// A command run inside the container (sh -c CMD); non-zero fails the run.
    #[arg(long = "exec", value_name = "CMD")]
    pub exec: Vec<String>,
    /// A command run on the host (sh -c CMD) with SLIM_HOST=127.0.0.1 and
    /// SLIM_PORT_<container port>=<published host port>; non-zero fails the run.
    #[arg(long = "host-exec", value_name = "CMD")]
    pub host_exec: Vec<String>,
    /// When to stop the container: "probe" (after the probes), "exit" (when it
    /// exits by itself) or SECONDS after the probes [default: probe when the
    /// image exposes ports or probes are given, else exit].
    #[arg(long, value_name = "probe|exit|SECONDS", value_parser = parse_continue_after)]
    pub continue_after: Option<ContinueAfter>,
    /// Seconds the app gets to stop after its stop signal before it is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(i64).range(0..=3600))]
    pub stop_timeout: i64,
    /// Seconds to wait for the app to answer HTTP before failing.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub ready_timeout: u64,
    /// Accept a trace with lost events instead of failing (they are reported).
    #[arg(long)]
    pub accept_dropped: bool,
    /// A command run on the host (like --host-exec) until it succeeds,
    /// before any probe: readiness for apps that do not speak HTTP. Without
    /// it, --exec and --host-exec wait until the exposed TCP ports listen.
    #[arg(long = "ready-cmd", value_name = "CMD")]
    pub ready_cmd: Option<String>,
    /// How the seccomp profile is drawn: strict (exactly what was observed)
    /// or families (each observed syscall allows its siblings).
    #[arg(long, value_enum, default_value_t = SeccompMode::Families)]
    pub seccomp: SeccompMode,
    /// Argument filters in the profile: socket families, namespace flags,
    /// personality, prctl options, risky ioctls and writable+executable
    /// memory allowed only as observed (on), or syscall names only (off).
    #[arg(long = "seccomp-args", value_enum, default_value_t = crate::seccomp::ArgFilters::On)]
    pub seccomp_args: crate::seccomp::ArgFilters,
    /// Print the report as JSON on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors (and --json output).
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub run: crate::run_args::RunArgs,
    #[command(flatten)]
    pub compose: crate::compose::ComposeArgs,
    #[command(flatten)]
    pub script: crate::probes::args::ScriptArgs,
}

impl ProbeArgs {
    /// The session's plan: the short forms spelled out as entries (the
    /// default GET / unless other probes replace it), then the probe file's
    /// and an --openapi FILE's; the run
    /// options read (env files, bind sources).
    pub fn plan(&self) -> anyhow::Result<Plan> {
        use crate::probes::{
            file::{Http, PortChoice},
            Entry, Origin, Step,
        };
        let http = if self.no_http_probe
            || (self.http_probe.is_empty() && self.script.replaces_default())
        {
            Vec::new()
        } else if self.http_probe.is_empty() {
            vec![HttpProbe {
                method: "GET".into(),
                path: "/".into(),
            }]
        } else {
            // Checked when parsed.
            self.http_probe
                .iter()
                .filter_map(|s| HttpProbe::parse(s).ok())
                .collect()
        };
        let flag = |step| Entry::new(step, Origin::Flag);
        let mut entries: Vec<Entry> = http
            .iter()
            .map(|p| {
                let mut h = Http::get(&p.path, PortChoice::Every);
                h.method = p.method.clone();
                flag(Step::Http(h))
            })
            .collect();
        entries.extend(self.exec.iter().map(|c| {
            flag(Step::Exec {
                cmd: c.clone(),
                expect_exit: 0,
            })
        }));
        entries.extend(self.host_exec.iter().map(|c| {
            flag(Step::HostExec {
                cmd: c.clone(),
                expect_exit: 0,
            })
        }));
        let (more, openapi_path) = self.script.entries()?;
        entries.extend(more);
        Ok(Plan {
            script: crate::probes::Script {
                entries,
                openapi_path,
                crawl: self.script.crawl(),
                accept_failures: self.script.accept_probe_failures,
            },
            http_given: !self.http_probe.is_empty(),
            ready_cmd: self.ready_cmd.clone(),
            continue_after: self.continue_after,
            stop_timeout: self.stop_timeout,
            ready_timeout: std::time::Duration::from_secs(self.ready_timeout),
            run: self.run.options()?,
        })
    }
}

fn parse_continue_after(s: &str) -> Result<ContinueAfter, String> {
    match s {
        "probe" => Ok(ContinueAfter::Probe),
        "exit" => Ok(ContinueAfter::Exit),
        n => n
            .parse()
            .ok()
            .filter(|s| *s <= 86400)
            .map(ContinueAfter::Seconds)
            .ok_or_else(|| {
                format!("expected probe, exit or a number of seconds up to 86400, not {n:?}")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_flags_parse() {
        let cli = Cli::try_parse_from([
            "slim",
            "build",
            "app:1",
            "--tag",
            "app:1-slim",
            "--artifacts",
            "out",
            "--http-probe",
            "GET /",
            "--http-probe",
            "POST /x",
            "--exec",
            "true",
            "--host-exec",
            "curl $SLIM_HOST",
            "--continue-after",
            "5",
        ])
        .unwrap();
        let Command::Build(b) = cli.command else {
            panic!("not build")
        };
        assert_eq!(b.probe.http_probe, ["GET /", "POST /x"]);
        assert_eq!(b.probe.continue_after, Some(ContinueAfter::Seconds(5)));
    }

    #[test]
    fn tags_are_checked_before_any_work() {
        for ok in [
            "app:1.4-slim",
            "app",
            "reg.example:5000/team/app:v1",
            "a_b/c-d.e:latest",
        ] {
            assert!(parse_tag(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Bad Tag!", "App:1", "app:", "app:-x", "/app", "app//x", "-app",
        ] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs_and_http_probes_are_checked_when_parsed() {
        let r = Cli::try_parse_from([
            "slim",
            "profile",
            "x",
            "--artifacts",
            "d",
            "--http-probe",
            "GET",
        ]);
        assert!(r.is_err());
        let r = Cli::try_parse_from([
            "slim",
            "build",
            "x",
            "--tag",
            "t",
            "--artifacts",
            "d",
            "--exclude",
            "[",
        ]);
        assert!(r.is_err());
    }

    #[test]
    fn timeouts_out_of_range_are_rejected_when_parsed() {
        for (flag, value) in [
            ("--ready-timeout", "18446744073709551615"),
            ("--ready-timeout", "0"),
            ("--stop-timeout", "-1"),
            ("--continue-after", "18446744073709551615"),
        ] {
            let r = Cli::try_parse_from(["slim", "profile", "x", "--artifacts", "d", flag, value]);
            assert!(r.is_err(), "{flag} {value}");
        }
    }

    #[test]
    fn bad_continue_after_is_rejected() {
        let r = Cli::try_parse_from([
            "slim",
            "profile",
            "x",
            "--artifacts",
            "d",
            "--continue-after",
            "soon",
        ]);
        assert!(r.is_err());
    }
}
