//! CI rules on an [`Analysis`], with dive's names, values and meaning, read
//! from flags or a `.dive-ci`-style YAML file:
//!
//! ```yaml
//! rules:
//!   lowestEfficiency: 0.95          # fail below this efficiency (0-1)
//!   highestWastedBytes: 20MB        # fail above this many wasted bytes
//!   highestUserWastedPercent: 0.2   # fail above this wasted / user bytes (0-1)
//! ```
//! A rule set to "disabled", "off", "false" or "" is skipped.
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::analysis::Analysis;

pub const LOWEST_EFFICIENCY: &str = "lowestEfficiency";
pub const HIGHEST_WASTED_BYTES: &str = "highestWastedBytes";
pub const HIGHEST_USER_WASTED_PERCENT: &str = "highestUserWastedPercent";

/// The configured value of each rule, as text (as dive keeps it).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub lowest_efficiency: String,
    pub highest_wasted_bytes: String,
    pub highest_user_wasted_percent: String,
}

impl Default for Rules {
    /// dive's defaults.
    fn default() -> Self {
        Self {
            lowest_efficiency: "0.9".into(),
            highest_wasted_bytes: "disabled".into(),
            highest_user_wasted_percent: "0.1".into(),
        }
    }
}

fn disabled(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "disabled" | "off" | "false"
    )
}

impl Rules {
    /// Reads the `rules:` map of a `.dive-ci` file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the CI rules {}", path.display()))?;
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("{} is not YAML", path.display()))?;
        let mut rules = Self::default();
        let Some(map) = doc.get("rules") else {
            return Ok(rules);
        };
        let text_of = |v: &serde_yaml_ng::Value| match v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::Bool(b) => b.to_string(),
            _ => String::new(),
        };
        if let Some(v) = map.get(LOWEST_EFFICIENCY) {
            rules.lowest_efficiency = text_of(v);
        }
        if let Some(v) = map.get(HIGHEST_WASTED_BYTES) {
            rules.highest_wasted_bytes = text_of(v);
        }
        if let Some(v) = map.get(HIGHEST_USER_WASTED_PERCENT) {
            rules.highest_user_wasted_percent = text_of(v);
        }
        rules.check()?;
        Ok(rules)
    }

    /// Fails on a value dive would refuse.
    pub fn check(&self) -> Result<()> {
        for (name, v) in [
            (LOWEST_EFFICIENCY, &self.lowest_efficiency),
            (
                HIGHEST_USER_WASTED_PERCENT,
                &self.highest_user_wasted_percent,
            ),
        ] {
            if disabled(v) {
                continue;
            }
            match v.trim().parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => {}
                _ => bail!("{name} is a fraction from 0 to 1, not {v:?}"),
            }
        }
        if !disabled(&self.highest_wasted_bytes) {
            crate::gates::parse_size(&self.highest_wasted_bytes)
                .map_err(|e| anyhow::anyhow!("{HIGHEST_WASTED_BYTES}: {e}"))?;
        }
        Ok(())
    }

    pub fn evaluate(&self, a: &Analysis) -> Vec<RuleResult> {
        let mut out = Vec::new();
        let mut rule = |name: &'static str, value: &str, failed: Option<String>| {
            let status = if disabled(value) {
                Status::Skip
            } else if failed.is_some() {
                Status::Fail
            } else {
                Status::Pass
            };
            out.push(RuleResult {
                rule: name,
                configured: value.to_string(),
                status,
                reason: if status == Status::Fail { failed } else { None },
            });
        };
        let f = |v: &str| v.trim().parse::<f64>().unwrap_or(0.0);
        let v = &self.lowest_efficiency;
        rule(
            LOWEST_EFFICIENCY,
            v,
            (f(v) > a.efficiency).then(|| {
                format!(
                    "image efficiency is too low (efficiency={:.4} < threshold={v})",
                    a.efficiency
                )
            }),
        );
        let v = &self.highest_wasted_bytes;
        let limit = crate::gates::parse_size(v).unwrap_or(u64::MAX);
        rule(
            HIGHEST_WASTED_BYTES,
            v,
            (a.wasted_bytes > limit).then(|| {
                format!(
                    "too many bytes wasted (wasted-bytes={} > threshold={v})",
                    a.wasted_bytes
                )
            }),
        );
        let v = &self.highest_user_wasted_percent;
        rule(
            HIGHEST_USER_WASTED_PERCENT,
            v,
            (a.user_wasted_percent > f(v)).then(|| {
                format!(
                    "too many bytes wasted, relative to the user bytes added (%-user-wasted-bytes={:.4} > threshold={v})",
                    a.user_wasted_percent
                )
            }),
        );
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    pub rule: &'static str,
    pub configured: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::analysis::analyze;

    fn analysis(wasted: u64, user: u64) -> Analysis {
        let mut a = analyze(&[], 0).unwrap();
        a.wasted_bytes = wasted;
        a.user_size_bytes = user;
        a.user_wasted_percent = wasted as f64 / user as f64;
        a.efficiency = 0.5;
        a
    }

    #[test]
    fn a_dive_ci_file_reads_with_dives_spelling() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(".dive-ci");
        std::fs::write(
            &p,
            "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20Mb\n  highestUserWastedPercent: disabled\n",
        )
        .unwrap();
        let r = Rules::from_file(&p).unwrap();
        assert_eq!(r.lowest_efficiency, "0.95");
        assert_eq!(r.highest_wasted_bytes, "20Mb");
        let res = r.evaluate(&analysis(30_000_000, 60_000_000));
        let st: Vec<Status> = res.iter().map(|r| r.status).collect();
        assert_eq!(st, [Status::Fail, Status::Fail, Status::Skip]);
        std::fs::write(&p, "rules:\n  lowestEfficiency: 2\n").unwrap();
        assert!(Rules::from_file(&p).is_err());
    }

    #[test]
    fn thresholds_are_strict_as_dives() {
        let r = Rules {
            lowest_efficiency: "0.5".into(),
            highest_wasted_bytes: "1000".into(),
            highest_user_wasted_percent: "0.5".into(),
        };
        let res = r.evaluate(&analysis(1000, 2000));
        assert!(res.iter().all(|r| r.status == Status::Pass), "{res:?}");
        let res = r.evaluate(&analysis(1001, 2000));
        assert_eq!(res[1].status, Status::Fail);
        assert_eq!(res[2].status, Status::Fail);
    }
}
