//! `slim build`'s edits of the slim image's config: the slim image keeps
//! the source's config (never the probe's run options) unless one of these
//! asks otherwise. Names follow one pattern: `--set-X` adds or replaces,
//! `--unset-X` removes.
use clap::Args;

use crate::{rebuild::image::ConfigEdits, run_args::Words};

/// Where --help lists these (one heading: clap would carry a struct-level
/// heading on to the options that follow the flattened ones).
const CONFIG_HEADING: &str = "Slim image config (the source's unless changed here)";

#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Set an environment variable in the slim image's config (K=V).
    #[arg(help_heading = CONFIG_HEADING, long = "set-env", value_name = "K=V", value_parser = parse_kv)]
    pub set_env: Vec<(String, String)>,
    /// Remove an environment variable from the slim image's config.
    #[arg(help_heading = CONFIG_HEADING, long = "unset-env", value_name = "K")]
    pub unset_env: Vec<String>,
    /// Set a label (K=V).
    #[arg(help_heading = CONFIG_HEADING, long = "set-label", value_name = "K=V", value_parser = parse_kv)]
    pub set_label: Vec<(String, String)>,
    /// Remove a label.
    #[arg(help_heading = CONFIG_HEADING, long = "unset-label", value_name = "K")]
    pub unset_label: Vec<String>,
    /// Replace the entrypoint: one string split as a shell would ("" clears it).
    #[arg(help_heading = CONFIG_HEADING, long = "set-entrypoint", value_name = "CMD ARGS", value_parser = parse_words)]
    pub set_entrypoint: Option<Words>,
    /// Replace the command: one string split as a shell would ("" clears it).
    #[arg(help_heading = CONFIG_HEADING, long = "set-cmd", value_name = "CMD ARGS", value_parser = parse_words)]
    pub set_cmd: Option<Words>,
    /// Replace the user ("" clears it: root).
    #[arg(help_heading = CONFIG_HEADING, long = "set-user", value_name = "USER")]
    pub set_user: Option<String>,
    /// Replace the working directory (absolute).
    #[arg(help_heading = CONFIG_HEADING, long = "set-workdir", value_name = "DIR", value_parser = parse_abs)]
    pub set_workdir: Option<String>,
    /// Expose a port: PORT or PORT/tcp|udp.
    #[arg(help_heading = CONFIG_HEADING, long = "set-expose", value_name = "PORT[/PROTO]", value_parser = parse_port)]
    pub set_expose: Vec<String>,
    /// Stop exposing a port.
    #[arg(help_heading = CONFIG_HEADING, long = "unset-expose", value_name = "PORT[/PROTO]", value_parser = parse_port)]
    pub unset_expose: Vec<String>,
    /// Declare a volume (an absolute path).
    #[arg(help_heading = CONFIG_HEADING, long = "set-volume", value_name = "DIR", value_parser = parse_abs)]
    pub set_volume: Vec<String>,
    /// Remove a declared volume.
    #[arg(help_heading = CONFIG_HEADING, long = "unset-volume", value_name = "DIR", value_parser = parse_abs)]
    pub unset_volume: Vec<String>,
}

impl ConfigArgs {
    pub fn edits(&self) -> ConfigEdits {
        ConfigEdits {
            set_env: self.set_env.clone(),
            unset_env: self.unset_env.clone(),
            set_labels: self.set_label.clone(),
            unset_labels: self.unset_label.clone(),
            entrypoint: self.set_entrypoint.clone().map(|w| w.0),
            cmd: self.set_cmd.clone().map(|w| w.0),
            user: self.set_user.clone(),
            workdir: self.set_workdir.clone(),
            expose: self.set_expose.clone(),
            unexpose: self.unset_expose.clone(),
            volumes: self.set_volume.clone(),
            unvolumes: self.unset_volume.clone(),
        }
    }
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.chars().any(char::is_whitespace) => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("expected K=V with a name before '=', not {s:?}")),
    }
}

fn parse_words(s: &str) -> Result<Words, String> {
    shlex::split(s)
        .map(Words)
        .ok_or_else(|| format!("cannot split {s:?} as a shell would (an unclosed quote?)"))
}

fn parse_abs(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not an absolute path"))
    }
}

/// `80` or `80/tcp` as the config's key (`80/tcp`).
fn parse_port(s: &str) -> Result<String, String> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = proto.to_ascii_lowercase();
    match (port.parse::<u16>(), proto.as_str()) {
        (Ok(p), "tcp" | "udp" | "sctp") if p > 0 => Ok(format!("{p}/{proto}")),
        _ => Err(format!("expected PORT or PORT/tcp|udp|sctp, not {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_when_parsed() {
        assert_eq!(parse_port("8080").unwrap(), "8080/tcp");
        assert_eq!(parse_port("53/UDP").unwrap(), "53/udp");
        for bad in ["0", "x", "80/icmp", "70000"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_kv("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_kv("=x").is_err() && parse_kv("A").is_err());
        assert_eq!(parse_words("").unwrap().0, Vec::<String>::new());
        assert_eq!(parse_words("a 'b c'").unwrap().0, ["a", "b c"]);
        assert!(parse_abs("rel").is_err());
    }
}
