//! What an HTTP probe must answer to pass. Written in a probe file as
//! `expect:`: a status (`200`), a class (`"2xx"`), a range
//! (`"200-299"`), a list of those, or a mapping that adds body checks:
//!
//! ```yaml
//! expect: {status: [200, 201], body: "ok", json: {path: /items/0/name, equals: "a"}}
//! ```
//!
//! `body` is a substring of the answer; `json` is one check or a list, each
//! an RFC 6901 pointer into the answer's JSON that must exist, and with
//! `equals` must hold that value. Without `expect`, any status below 500
//! passes.
use serde_json::Value;

/// An inclusive range of statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub lo: u16,
    pub hi: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonCheck {
    /// An RFC 6901 JSON pointer ("" is the whole document).
    pub pointer: String,
    /// None: the value only has to exist.
    pub equals: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    /// Empty: the default, any status below 500.
    pub status: Vec<StatusRange>,
    pub body_contains: Vec<String>,
    pub json: Vec<JsonCheck>,
}

impl Expect {
    /// Exactly these statuses.
    pub fn statuses(codes: impl IntoIterator<Item = u16>) -> Self {
        Self {
            status: codes
                .into_iter()
                .map(|c| StatusRange { lo: c, hi: c })
                .collect(),
            ..Self::default()
        }
    }

    /// Parses a probe file's `expect` value.
    pub fn parse(v: &Value) -> Result<Self, String> {
        match v {
            Value::Object(map) => {
                let mut e = Expect::default();
                for (k, v) in map {
                    match k.as_str() {
                        "status" => e.status = status_list(v)?,
                        "body" => {
                            e.body_contains = match v {
                                Value::String(s) => vec![s.clone()],
                                Value::Array(a) => a
                                    .iter()
                                    .map(|s| {
                                        s.as_str().map(str::to_string).ok_or_else(|| {
                                            format!("expect.body: {s} is not a string")
                                        })
                                    })
                                    .collect::<Result<_, _>>()?,
                                other => {
                                    return Err(format!(
                                        "expect.body must be a string (a substring of the answer), not {other}"
                                    ))
                                }
                            }
                        }
                        "json" => {
                            e.json = match v {
                                Value::Array(a) => {
                                    a.iter().map(json_check).collect::<Result<_, _>>()?
                                }
                                one => vec![json_check(one)?],
                            }
                        }
                        other => {
                            return Err(format!(
                                "unknown field `{other}` in expect, expected one of `status`, `body`, `json`"
                            ))
                        }
                    }
                }
                Ok(e)
            }
            other => Ok(Expect {
                status: status_list(other)?,
                ..Expect::default()
            }),
        }
    }

    /// What it expects, for messages and the report.
    pub fn describe(&self) -> String {
        let mut parts = vec![if self.status.is_empty() {
            "status < 500".to_string()
        } else {
            let list: Vec<String> = self
                .status
                .iter()
                .map(|r| match (r.lo, r.hi) {
                    (lo, hi) if lo == hi => lo.to_string(),
                    (lo, hi) if lo % 100 == 0 && hi == lo + 99 => format!("{}xx", lo / 100),
                    (lo, hi) => format!("{lo}-{hi}"),
                })
                .collect();
            format!("status {}", list.join("|"))
        }];
        for s in &self.body_contains {
            parts.push(format!("body containing {s:?}"));
        }
        for j in &self.json {
            parts.push(match &j.equals {
                Some(v) => format!("json {} = {v}", j.pointer),
                None => format!("json {} present", j.pointer),
            });
        }
        parts.join(", ")
    }

    pub fn status_ok(&self, status: u16) -> bool {
        if self.status.is_empty() {
            status < 500
        } else {
            self.status.iter().any(|r| (r.lo..=r.hi).contains(&status))
        }
    }

    /// Checks an answer: None when it passes, else what was wrong with it.
    pub fn check(&self, status: u16, body: &[u8]) -> Option<String> {
        if !self.status_ok(status) {
            return Some(format!("status {status}"));
        }
        let text = String::from_utf8_lossy(body);
        if let Some(s) = self
            .body_contains
            .iter()
            .find(|s| !text.contains(s.as_str()))
        {
            return Some(format!(
                "status {status}, a body without {s:?} ({})",
                excerpt(&text)
            ));
        }
        if !self.json.is_empty() {
            let doc: Value = match serde_json::from_slice(body) {
                Ok(d) => d,
                Err(e) => return Some(format!("status {status}, a body that is not JSON ({e})")),
            };
            for j in &self.json {
                match (doc.pointer(&j.pointer), &j.equals) {
                    (None, _) => return Some(format!("status {status}, no json {}", j.pointer)),
                    (Some(got), Some(want)) if got != want => {
                        return Some(format!("status {status}, json {} = {got}", j.pointer))
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

/// The start of a body, on one line, for messages.
pub fn excerpt(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 80 {
        format!("{}...", one.chars().take(80).collect::<String>())
    } else {
        one
    }
}

fn json_check(v: &Value) -> Result<JsonCheck, String> {
    let Value::Object(map) = v else {
        return Err(format!(
            "expect.json takes {{path: /a/b, equals: VALUE}} (or a list of them), not {v}"
        ));
    };
    if let Some(k) = map.keys().find(|k| *k != "path" && *k != "equals") {
        return Err(format!(
            "unknown field `{k}` in expect.json, expected `path` or `equals`"
        ));
    }
    let pointer = match map.get("path") {
        Some(Value::String(p)) if p.is_empty() || p.starts_with('/') => p.clone(),
        Some(p) => {
            return Err(format!(
                "expect.json.path must be a JSON pointer like /a/0/b, not {p}"
            ))
        }
        None => return Err("expect.json needs a `path` (a JSON pointer like /a/0/b)".into()),
    };
    Ok(JsonCheck {
        pointer,
        equals: map.get("equals").cloned(),
    })
}

fn status_list(v: &Value) -> Result<Vec<StatusRange>, String> {
    match v {
        Value::Array(a) if a.is_empty() => Err("expect: an empty list of statuses".into()),
        Value::Array(a) => a.iter().map(status_range).collect(),
        one => Ok(vec![status_range(one)?]),
    }
}

/// 200, "200", "2xx", "200-299".
fn status_range(v: &Value) -> Result<StatusRange, String> {
    let bad = || {
        format!(
            "expect: {v} is not a status (like 200), a class (\"2xx\") or a range (\"200-299\")"
        )
    };
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    let range = match v {
        Value::Number(n) => {
            let c = n
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(bad)?;
            StatusRange { lo: c, hi: c }
        }
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            if let Some(class) = s.strip_suffix("xx") {
                let d = class
                    .parse::<u16>()
                    .ok()
                    .filter(|d| (1..=5).contains(d))
                    .ok_or_else(bad)?;
                StatusRange {
                    lo: d * 100,
                    hi: d * 100 + 99,
                }
            } else if let Some((lo, hi)) = s.split_once('-') {
                let (lo, hi) = (code(lo).ok_or_else(bad)?, code(hi).ok_or_else(bad)?);
                if lo > hi {
                    return Err(bad());
                }
                StatusRange { lo, hi }
            } else {
                let c = code(&s).ok_or_else(bad)?;
                StatusRange { lo: c, hi: c }
            }
        }
        _ => return Err(bad()),
    };
    Ok(range)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn statuses_classes_and_ranges() {
        let e = Expect::parse(&json!([200, "3xx", "401-403"])).unwrap();
        assert!(e.status_ok(200) && e.status_ok(302) && e.status_ok(403));
        assert!(!e.status_ok(201) && !e.status_ok(404));
        assert_eq!(e.describe(), "status 200|3xx|401-403");
        let e = Expect::parse(&json!("2xx")).unwrap();
        assert!(e.status_ok(204) && !e.status_ok(500));
        for bad in [
            json!(99),
            json!("6xx"),
            json!("300-200"),
            json!([]),
            json!(true),
        ] {
            assert!(Expect::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_fails_server_errors_only() {
        let e = Expect::default();
        assert!(e.check(404, b"").is_none());
        assert_eq!(e.check(500, b"").as_deref(), Some("status 500"));
    }

    #[test]
    fn body_and_json_checks() {
        let e = Expect::parse(&json!({
            "status": 200, "body": "alice",
            "json": [{"path": "/items/0/name", "equals": "alice"}, {"path": "/n"}]
        }))
        .unwrap();
        assert!(e
            .check(200, br#"{"items": [{"name": "alice"}], "n": 1}"#)
            .is_none());
        let got = e.check(200, br#"{"items": [{"name": "alice"}]}"#).unwrap();
        assert!(got.contains("no json /n"), "{got}");
        let got = e.check(200, b"bob").unwrap();
        assert!(got.contains("without \"alice\""), "{got}");
        assert!(Expect::parse(&json!({"json": {"path": "a"}})).is_err());
        assert!(Expect::parse(&json!({"stat": 200})).is_err());
    }
}
