//! The probe file (`--probe-file FILE`, YAML or JSON), schema version 1: a
//! list of entries run in order, or `{version: 1, probes: [...]}`. Each
//! entry has exactly one of `http`, `exec`, `host-exec`, `wait`:
//!
//! ```yaml
//! - http: {method: POST, path: /echo, port: 5000, scheme: http,
//!          headers: {Authorization: "Bearer t"}, json: {"k": [1, 2]},
//!          timeout: 10, repeat: 2, expect: [200, 201]}
//! - exec: "CMD"          # expect_exit: 0
//! - host-exec: "CMD"     # expect_exit: 0
//! - wait: 2              # or {port: 5432, timeout: 30}
//! ```
//!
//! Unknown fields are errors; every error names the entry (from 1). The
//! full description is docs/probes.md.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use super::expect::Expect;

/// The probe file versions this slim reads.
pub const VERSION: u32 = 1;

/// Where an entry came from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// --http-probe, --exec, --host-exec (and the default GET /).
    Flag,
    /// --probe-file.
    File,
    /// --http-crawl.
    Crawl,
    /// --openapi.
    Openapi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Which exposed port an HTTP entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChoice {
    /// The image's first exposed TCP port.
    First,
    /// Every exposed TCP port, in turn (the short --http-probe form).
    Every,
    Port(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    Text(String),
    Json(Value),
    /// A host file's bytes, read when the probe file is loaded.
    File {
        path: PathBuf,
        data: Vec<u8>,
    },
}

impl Body {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Body::None => Vec::new(),
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            Body::File { data, .. } => data.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    pub method: String,
    /// The path with its query string.
    pub path: String,
    pub port: PortChoice,
    pub scheme: Scheme,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub timeout: Duration,
    pub repeat: u32,
    pub expect: Expect,
}

impl Http {
    pub fn get(path: &str, port: PortChoice) -> Self {
        Self {
            method: "GET".into(),
            path: path.into(),
            port,
            scheme: Scheme::Http,
            headers: Vec::new(),
            body: Body::None,
            timeout: DEFAULT_TIMEOUT,
            repeat: 1,
            expect: Expect::default(),
        }
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    Seconds(Duration),
    /// Until the container listens on this TCP port.
    Port {
        port: u16,
        timeout: Duration,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Http(Http),
    Exec { cmd: String, expect_exit: i64 },
    HostExec { cmd: String, expect_exit: i64 },
    Wait(Wait),
}

/// One step of the plan, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub step: Step,
    pub origin: Origin,
    /// Its place in the probe file (from 1).
    pub index: Option<usize>,
    /// The name the file gave it.
    pub name: Option<String>,
}

impl Entry {
    pub fn new(step: Step, origin: Origin) -> Self {
        Self {
            step,
            origin,
            index: None,
            name: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    http: Option<RawHttp>,
    exec: Option<String>,
    #[serde(rename = "host-exec")]
    host_exec: Option<String>,
    wait: Option<RawWait>,
    expect_exit: Option<i64>,
    /// A label for messages and the report.
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default = "get")]
    method: String,
    path: String,
    port: Option<u16>,
    scheme: Option<Scheme>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    json: Option<Value>,
    file: Option<PathBuf>,
    /// Seconds.
    timeout: Option<f64>,
    repeat: Option<u32>,
    expect: Option<Value>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawWait {
    Seconds(f64),
    Port(RawWaitPort),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitPort {
    port: u16,
    timeout: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Versioned {
    version: u32,
    probes: Vec<Value>,
}

/// Reads and checks a probe file; relative `file:` bodies are read from
/// the probe file's directory.
pub fn load(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the probe file {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| anyhow::anyhow!("probe file {}: {e}", path.display()))
}

/// Parses a probe file's text (YAML, of which JSON is a subset).
pub fn parse(text: &str, base: &Path) -> Result<Vec<Entry>> {
    let doc: Value = serde_yaml_ng::from_str(text).context("not YAML or JSON")?;
    let items = match doc {
        Value::Array(items) => items,
        Value::Object(_) => {
            let v: Versioned = serde_json::from_value(doc)
                .context("a probe file is a list of entries, or {version: 1, probes: [...]}")?;
            if v.version != VERSION {
                bail!(
                    "version {} is not one this slim reads (it reads version {VERSION})",
                    v.version
                );
            }
            v.probes
        }
        _ => bail!("a probe file is a list of entries, or {{version: 1, probes: [...]}}"),
    };
    if items.is_empty() {
        bail!("it holds no entries");
    }
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mut e = entry(item, base).map_err(|e| anyhow::anyhow!("entry {}: {e:#}", i + 1))?;
        e.index = Some(i + 1);
        entries.push(e);
    }
    Ok(entries)
}

fn seconds(field: &str, s: f64) -> Result<Duration> {
    if !(s.is_finite() && (0.0..=86400.0).contains(&s)) {
        bail!("{field} must be between 0 and 86400 seconds, not {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn entry(item: Value, base: &Path) -> Result<Entry> {
    if !item.is_object() {
        bail!("an entry is a mapping with one of `http`, `exec`, `host-exec`, `wait`, not {item}");
    }
    let raw: RawEntry = serde_json::from_value(item)?;
    let kinds = [
        raw.http.is_some(),
        raw.exec.is_some(),
        raw.host_exec.is_some(),
        raw.wait.is_some(),
    ];
    match kinds.iter().filter(|k| **k).count() {
        1 => {}
        0 => bail!("it needs one of `http`, `exec`, `host-exec`, `wait`"),
        _ => bail!("it has more than one of `http`, `exec`, `host-exec`, `wait`: split it"),
    }
    if raw.expect_exit.is_some() && raw.exec.is_none() && raw.host_exec.is_none() {
        bail!("`expect_exit` belongs to `exec` and `host-exec` entries (http has `expect`)");
    }
    let expect_exit = raw.expect_exit.unwrap_or(0);
    let step = if let Some(h) = raw.http {
        Step::Http(http(h, base)?)
    } else if let Some(cmd) = raw.exec {
        Step::Exec { cmd, expect_exit }
    } else if let Some(cmd) = raw.host_exec {
        Step::HostExec { cmd, expect_exit }
    } else {
        match raw.wait {
            Some(RawWait::Seconds(s)) => Step::Wait(Wait::Seconds(seconds("wait", s)?)),
            Some(RawWait::Port(p)) => Step::Wait(Wait::Port {
                port: p.port,
                timeout: seconds("wait.timeout", p.timeout.unwrap_or(60.0))?,
            }),
            None => unreachable!("one kind was checked"),
        }
    };
    Ok(Entry {
        step,
        origin: Origin::File,
        index: None,
        name: raw.name,
    })
}

fn http(h: RawHttp, base: &Path) -> Result<Http> {
    let method = h.method.to_ascii_uppercase();
    if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
        bail!("http.method {:?} is not an HTTP method", h.method);
    }
    if !h.path.starts_with('/') {
        bail!("http.path {:?} must start with /", h.path);
    }
    for (k, v) in &h.headers {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(v).is_err()
        {
            bail!("http.headers: {k:?}: {v:?} is not a valid header");
        }
    }
    let body = match (h.body, h.json, h.file) {
        (None, None, None) => Body::None,
        (Some(t), None, None) => Body::Text(t),
        (None, Some(j), None) => Body::Json(j),
        (None, None, Some(f)) => {
            let path = base.join(&f);
            let data = std::fs::read(&path)
                .with_context(|| format!("http.file: cannot read {}", path.display()))?;
            Body::File { path, data }
        }
        _ => bail!("http takes one of `body`, `json`, `file`"),
    };
    let expect = match &h.expect {
        Some(v) => Expect::parse(v).map_err(|e| anyhow::anyhow!("http.{e}"))?,
        None => Expect::default(),
    };
    let repeat = h.repeat.unwrap_or(1);
    if !(1..=1000).contains(&repeat) {
        bail!("http.repeat must be between 1 and 1000, not {repeat}");
    }
    let timeout = match h.timeout {
        Some(s) if s > 0.0 => seconds("http.timeout", s)?,
        Some(s) => bail!("http.timeout must be more than 0 seconds, not {s}"),
        None => DEFAULT_TIMEOUT,
    };
    Ok(Http {
        method,
        path: h.path,
        port: h.port.map_or(PortChoice::First, PortChoice::Port),
        scheme: h.scheme.unwrap_or(Scheme::Http),
        headers: h.headers.into_iter().collect(),
        body,
        timeout,
        repeat,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, Path::new(".")).unwrap_err())
    }

    #[test]
    fn the_contract_entries_parse() {
        let entries = parse(
            r#"
- http: {method: POST, path: /echo, port: 5000, scheme: http,
         headers: {Authorization: "Bearer t"}, json: {"k": [1, 2]}, expect: [200, 201]}
- http: {path: /, body: "text", expect: "2xx", repeat: 2, timeout: 1.5}
- exec: "true"
  expect_exit: 0
- host-exec: "curl $SLIM_HOST"
  expect_exit: 3
- wait: 2
- wait: {port: 5432}
"#,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(entries.len(), 6);
        let Step::Http(h) = &entries[0].step else {
            panic!("{:?}", entries[0])
        };
        assert_eq!(h.method, "POST");
        assert_eq!(h.port, PortChoice::Port(5000));
        assert_eq!(h.headers, [("Authorization".into(), "Bearer t".into())]);
        assert_eq!(h.body.bytes(), br#"{"k":[1,2]}"#);
        assert!(h.expect.status_ok(201) && !h.expect.status_ok(202));
        let Step::Http(h) = &entries[1].step else {
            panic!()
        };
        assert_eq!(
            (h.method.as_str(), h.port, h.repeat),
            ("GET", PortChoice::First, 2)
        );
        assert_eq!(h.timeout, Duration::from_millis(1500));
        assert_eq!(
            entries[3].step,
            Step::HostExec {
                cmd: "curl $SLIM_HOST".into(),
                expect_exit: 3
            }
        );
        assert_eq!(
            entries[4].step,
            Step::Wait(Wait::Seconds(Duration::from_secs(2)))
        );
        assert!(matches!(
            entries[5].step,
            Step::Wait(Wait::Port { port: 5432, .. })
        ));
        assert_eq!(entries[5].index, Some(6));
    }

    #[test]
    fn json_and_the_versioned_form_parse() {
        let e = parse(
            r#"{"version": 1, "probes": [{"exec": "ls"}]}"#,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        assert!(err(r#"{"version": 2, "probes": [{"exec": "ls"}]}"#).contains("version 2"));
    }

    #[test]
    fn bad_entries_are_named() {
        let e = err("- exec: ls\n- http: {path: /, bogus: 1}\n");
        assert!(e.starts_with("entry 2: "), "{e}");
        assert!(e.contains("unknown field `bogus`"), "{e}");
        let e = err("- exec: ls\n  wait: 1\n");
        assert!(e.contains("entry 1") && e.contains("more than one"), "{e}");
        let e = err("- http: {path: nope}\n");
        assert!(e.contains("must start with /"), "{e}");
        let e = err("- http: {path: /, expect: \"7xx\"}\n");
        assert!(e.contains("entry 1: http.expect"), "{e}");
        let e = err("- http: {path: /, body: a, json: 1}\n");
        assert!(e.contains("one of `body`, `json`, `file`"), "{e}");
        let e = err("- wait: -1\n");
        assert!(e.contains("between 0 and 86400"), "{e}");
        let e = err("- http: {path: /}\n  expect_exit: 1\n");
        assert!(e.contains("expect_exit"), "{e}");
        assert!(err("- {}\n").contains("needs one of"));
        assert!(err("[]").contains("no entries"));
        assert!(err("- 3\n").contains("entry 1"));
        assert!(err("- http: {path: /, file: /nonexistent/x}\n").contains("cannot read"));
        assert!(err("- http: {path: /, method: \"G T\"}\n").contains("not an HTTP method"));
        assert!(err(": : :").contains("not YAML"));
    }
}
