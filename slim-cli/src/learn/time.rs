//! Times as `slim learn` reads and writes them: seconds since the epoch
//! (`f64`, as the audit records stamp them), the host's boot time, and
//! `--since` (RFC 3339 or a duration ago).
use anyhow::{bail, Result};

/// The wall clock, in seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// When the host booted, in seconds since the epoch: kernel timestamps
/// (/dev/kmsg's, /proc's) count from there.
pub fn boot() -> f64 {
    now() - uptime()
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// --since: RFC 3339, or a duration ago (90s, 30m, 2h, 1d).
pub fn parse_since(s: &str) -> Result<f64> {
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

/// Seconds since the epoch as RFC 3339, to the millisecond.
pub fn rfc3339(t: f64) -> String {
    chrono::DateTime::from_timestamp_micros((t * 1e6) as i64)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| t.to_string())
}

/// serde: a time as RFC 3339.
pub fn as_rfc3339<S: serde::Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// serde: a time, if any, as RFC 3339.
pub fn option_as_rfc3339<S: serde::Serializer>(t: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => as_rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
