//! Exit statuses other than plain failure, so a pipeline can tell a gate
//! from a crash. An [`Exit`] anywhere in an error's chain sets the status;
//! any other error exits 1, a usage error 2 (clap's).
use std::fmt;

/// `slim --help` and the README list these.
pub const HELP: &str = "\
Exit status:
  0  the image (or profile, or analysis) was written and every gate passed
  1  an error (the line on stderr says what and what to do)
  2  a usage error
  3  --verify: the slim image failed its probes under the profile
  4  --max-size: the slim image is larger than allowed
  5  --min-reduction: the image did not shrink enough
  6  --max-growth: the slim image grew too much since --baseline
  7  xray --ci: a rule (lowestEfficiency, highestWastedBytes,
     highestUserWastedPercent) failed
  8  a probe failed its expectation (no image was written; see
     report.json, or pass --accept-probe-failures)";

pub const VERIFY: u8 = 3;
pub const MAX_SIZE: u8 = 4;
pub const MIN_REDUCTION: u8 = 5;
pub const MAX_GROWTH: u8 = 6;
pub const XRAY_CI: u8 = 7;
pub const PROBE: u8 = 8;

/// A failure with its own exit status.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The status for `e`: the outermost [`Exit`] in its chain, else 1.
pub fn code_of(e: &anyhow::Error) -> u8 {
    // anyhow's own downcast looks through every layer of context; the
    // chain finds an Exit that is an error's source.
    e.downcast_ref::<Exit>()
        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<Exit>()))
        .map_or(1, |x| x.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_survives_context() {
        let e = anyhow::Error::new(Exit::new(MAX_SIZE, "too big")).context("step gates failed");
        assert_eq!(code_of(&e), MAX_SIZE);
        let e = anyhow::anyhow!("plain").context(Exit::new(VERIFY, "tag fails verification"));
        assert_eq!(code_of(&e), VERIFY);
        let e = e.context("step verify failed");
        assert_eq!(code_of(&e), VERIFY);
        assert_eq!(code_of(&anyhow::anyhow!("plain")), 1);
    }
}
