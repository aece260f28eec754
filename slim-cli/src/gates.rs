//! CI gates on the slim image's size: an absolute ceiling, a minimum
//! reduction, and a maximum growth against an earlier run's report. Each
//! has its own exit status (`exit`), and each result goes in the report.
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit;

/// How much smaller the slim image must be, as a factor (source / result).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reduction {
    pub factor: f64,
}

impl std::str::FromStr for Reduction {
    type Err = String;

    /// `3x` or `3` (a third of the size or less), or `70%` (70% removed).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("expected a factor like 3x or a percentage removed like 70%, not {s:?}");
        let t = s.trim();
        let factor = if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..100.0).contains(&p) {
                return Err(format!(
                    "{s:?}: a percentage removed is from 0 to below 100"
                ));
            }
            100.0 / (100.0 - p)
        } else {
            let f: f64 = t.trim_end_matches(['x', 'X']).parse().map_err(|_| bad())?;
            if !(f >= 1.0 && f.is_finite()) {
                return Err(format!("{s:?}: a reduction factor is 1 or more"));
            }
            f
        };
        Ok(Self { factor })
    }
}

/// A size like `50MB`, `1.5GiB`, `20Mb` (dive's spelling) or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    // bytesize reads SI and IEC units; dive writes "Mb" for megabytes.
    let normal = match t.strip_suffix('b') {
        Some(head) if !head.ends_with('i') => format!("{head}B"),
        _ => t.to_string(),
    };
    normal
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("expected a size like 50MB, 1.5GiB or bytes, not {s:?}"))
}

/// The limits asked for.
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub max_size: Option<u64>,
    pub min_reduction: Option<Reduction>,
    /// The baseline report's path and the growth allowed, in percent.
    pub max_growth: Option<(std::path::PathBuf, f64)>,
}

/// One gate's outcome, as the report keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub name: &'static str,
    pub limit: String,
    pub value: String,
    pub passed: bool,
    #[serde(skip)]
    pub code: u8,
    #[serde(skip)]
    pub reason: String,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The size of the slim image an earlier run's report records.
pub fn baseline_size(path: &Path) -> Result<u64> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read --baseline {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("--baseline {} is not a report.json", path.display()))?;
    v.pointer("/result/size_bytes")
        .and_then(|s| s.as_u64())
        .with_context(|| {
            format!(
                "--baseline {} records no slim image (result.size_bytes): give the report of a slim build",
                path.display()
            )
        })
}

/// Checks every limit; `baseline` is the baseline's size when asked for.
pub fn check(limits: &Limits, source: u64, result: u64, baseline: Option<u64>) -> Vec<Gate> {
    let mut gates = Vec::new();
    if let Some(max) = limits.max_size {
        let passed = result <= max;
        gates.push(Gate {
            name: "max-size",
            limit: mb(max),
            value: mb(result),
            passed,
            code: exit::MAX_SIZE,
            reason: format!(
                "the slim image is {}, above --max-size {}",
                mb(result),
                mb(max)
            ),
        });
    }
    if let Some(r) = limits.min_reduction {
        let factor = source as f64 / result.max(1) as f64;
        let passed = factor >= r.factor;
        gates.push(Gate {
            name: "min-reduction",
            limit: format!("{:.2}x", r.factor),
            value: format!("{factor:.2}x"),
            passed,
            code: exit::MIN_REDUCTION,
            reason: format!(
                "the image shrank {factor:.2}x ({} -> {}), less than --min-reduction {:.2}x",
                mb(source),
                mb(result),
                r.factor
            ),
        });
    }
    if let (Some((_, pct)), Some(base)) = (&limits.max_growth, baseline) {
        let growth = (result as f64 - base as f64) / base.max(1) as f64 * 100.0;
        let passed = growth <= *pct;
        gates.push(Gate {
            name: "max-growth",
            limit: format!("{pct}%"),
            value: format!("{growth:+.1}%"),
            passed,
            code: exit::MAX_GROWTH,
            reason: format!(
                "the slim image grew {growth:+.1}% ({} -> {}) since the baseline, more than --max-growth {pct}%",
                mb(base),
                mb(result)
            ),
        });
    }
    gates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_and_sizes_parse_as_documented() {
        assert_eq!("3x".parse::<Reduction>().unwrap().factor, 3.0);
        assert_eq!("4".parse::<Reduction>().unwrap().factor, 4.0);
        assert!(("75%".parse::<Reduction>().unwrap().factor - 4.0).abs() < 1e-9);
        for bad in ["0.5x", "100%", "x", "-3"] {
            assert!(bad.parse::<Reduction>().is_err(), "{bad}");
        }
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("50MB").unwrap(), 50_000_000);
        assert_eq!(parse_size("20Mb").unwrap(), 20_000_000);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn each_gate_passes_and_fails_at_its_limit() {
        let limits = Limits {
            max_size: Some(10_000_000),
            min_reduction: Some(Reduction { factor: 10.0 }),
            max_growth: Some(("b.json".into(), 5.0)),
        };
        let g = check(&limits, 100_000_000, 10_000_000, Some(10_000_000));
        assert!(g.iter().all(|g| g.passed), "{g:?}");
        let g = check(&limits, 100_000_000, 10_600_000, Some(10_000_000));
        let failed: Vec<u8> = g.iter().filter(|g| !g.passed).map(|g| g.code).collect();
        assert_eq!(
            failed,
            [exit::MAX_SIZE, exit::MIN_REDUCTION, exit::MAX_GROWTH]
        );
    }
}
