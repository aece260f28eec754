//! Runs a [`Script`] against a started container: readiness first, then
//! every entry in order, then the probes generated from the running app
//! (`--openapi PATH`, `--http-crawl`). A probe whose expectation fails is a
//! result with `ok: false`; the run stops there unless failures are
//! accepted. An `Err` is reserved for what makes probing impossible (the
//! container exited, the app never became ready).
use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{
    crawl,
    file::{Body, Entry, Http, Origin, PortChoice, Scheme, Step, Wait},
    openapi, ProbeKind, ProbeResult,
};
use crate::engine::ContainerRuntime;

/// Everything the session sends while it watches.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub entries: Vec<Entry>,
    /// `--openapi PATH`: fetched from the app's first exposed port once it
    /// answers; one probe per operation.
    pub openapi_path: Option<String>,
    pub crawl: Option<crawl::Limits>,
    /// Record failed probes and go on (`--accept-probe-failures`).
    pub accept_failures: bool,
}

impl Script {
    /// Whether it runs anything but HTTP requests (which need a port).
    pub fn has_commands(&self) -> bool {
        self.entries
            .iter()
            .any(|e| !matches!(e.step, Step::Http(_)))
    }

    /// Whether it sends HTTP requests at all.
    pub fn sends_http(&self) -> bool {
        self.openapi_path.is_some()
            || self.crawl.is_some()
            || self.entries.iter().any(|e| matches!(e.step, Step::Http(_)))
    }

    /// The entries with every HTTP port resolved against the exposed TCP
    /// ports: the short form's "every port" in port-major order (as the
    /// flags always ran), a file's default the first port.
    pub fn expand(&self, tcp_ports: &[u16]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut i = 0;
        let entries = &self.entries;
        let every = |e: &Entry| matches!(&e.step, Step::Http(h) if h.port == PortChoice::Every);
        while i < entries.len() {
            if every(&entries[i]) {
                let run = entries[i..].iter().take_while(|e| every(e)).count();
                for &port in tcp_ports {
                    for e in &entries[i..i + run] {
                        out.push(with_port(e, port));
                    }
                }
                i += run;
                continue;
            }
            let e = &entries[i];
            if let Step::Http(h) = &e.step {
                let port = match (h.port, tcp_ports.first()) {
                    (PortChoice::Port(p), _) if tcp_ports.contains(&p) => p,
                    (PortChoice::Port(p), _) => bail!(
                        "{} sends to port {p}, which the image does not expose (it exposes {tcp_ports:?})",
                        name(e, h)
                    ),
                    (_, Some(&first)) => first,
                    (_, None) => bail!(
                        "{} needs an exposed TCP port, and the image exposes none",
                        name(e, h)
                    ),
                };
                out.push(with_port(e, port));
            } else {
                out.push(e.clone());
            }
            i += 1;
        }
        Ok(out)
    }

    /// Checks what can be checked before the container exists.
    pub fn check(&self, tcp_ports: &[u16]) -> Result<()> {
        self.expand(tcp_ports)?;
        if (self.openapi_path.is_some() || self.crawl.is_some()) && tcp_ports.is_empty() {
            bail!("--openapi PATH and --http-crawl need an exposed TCP port, and the image exposes none");
        }
        Ok(())
    }
}

fn name(e: &Entry, h: &Http) -> String {
    match e.index {
        Some(i) => format!("probe file entry {i} (http {} {})", h.method, h.path),
        None => format!("the probe http {} {}", h.method, h.path),
    }
}

fn with_port(e: &Entry, port: u16) -> Entry {
    let mut e = e.clone();
    if let Step::Http(h) = &mut e.step {
        h.port = PortChoice::Port(port);
    }
    e
}

/// What driving the probes produced.
#[derive(Debug, Default)]
pub struct Driven {
    pub results: Vec<ProbeResult>,
    /// The entries that ran, ports resolved and generated probes spelled
    /// out: what `--verify` replays.
    pub replay: Vec<Entry>,
    pub crawl: Option<crawl::Summary>,
}

struct Ctx<'a, R> {
    rt: &'a R,
    id: &'a str,
    ports: &'a HashMap<u16, u16>,
    tcp_ports: &'a [u16],
    timeout: Duration,
    /// Ports that answered HTTP.
    answered: HashSet<u16>,
    /// Whether readiness was established (by HTTP or the quiet wait).
    ready: bool,
    http: reqwest::Client,
    https: reqwest::Client,
}

/// Runs the script; `ready_cmd` and `timeout` are --ready-cmd and
/// --ready-timeout.
pub async fn drive<R: ContainerRuntime>(
    rt: &R,
    id: &str,
    tcp_ports: &[u16],
    ports: &HashMap<u16, u16>,
    script: &Script,
    ready_cmd: Option<&str>,
    timeout: Duration,
) -> Result<Driven> {
    let entries = script.expand(tcp_ports)?;
    let mut cx = Ctx {
        rt,
        id,
        ports,
        tcp_ports,
        timeout,
        answered: HashSet::new(),
        ready: false,
        http: super::client_for(Scheme::Http)?,
        https: super::client_for(Scheme::Https)?,
    };
    let mut out = Driven::default();
    if let Some(cmd) = ready_cmd {
        super::wait_ready_quiet(rt, id, tcp_ports, Some(cmd), ports, timeout).await?;
        cx.ready = true;
    }
    let failed = |r: &[ProbeResult]| !script.accept_failures && r.iter().any(|r| !r.ok);
    for e in &entries {
        let results = cx.run(e).await?;
        out.replay.push(e.clone());
        out.results.extend(results);
        if failed(&out.results) {
            return Ok(out);
        }
    }
    if let Some(path) = &script.openapi_path {
        for e in cx.openapi(path).await? {
            let results = cx.run(&e).await?;
            out.replay.push(e);
            out.results.extend(results);
            if failed(&out.results) {
                return Ok(out);
            }
        }
    }
    if let Some(limits) = script.crawl {
        // From every GET probe, else from / on the first port.
        let mut starts: Vec<Http> = Vec::new();
        for e in &entries {
            if let Step::Http(h) = &e.step {
                if h.method == "GET" && !starts.iter().any(|s| same_page(s, h)) {
                    starts.push(h.clone());
                }
            }
        }
        if starts.is_empty() {
            let first = *tcp_ports
                .first()
                .context("--http-crawl needs an exposed TCP port")?;
            starts.push(Http::get("/", PortChoice::Port(first)));
        }
        let summary = cx
            .crawl(&starts, limits, script.accept_failures, &mut out)
            .await?;
        out.crawl = Some(summary);
    }
    Ok(out)
}

fn same_page(a: &Http, b: &Http) -> bool {
    a.port == b.port && a.scheme == b.scheme && a.path == b.path
}

fn port_of(h: &Http) -> u16 {
    match h.port {
        PortChoice::Port(p) => p,
        // expand() resolved every entry.
        _ => unreachable!("an unresolved port"),
    }
}

/// One answer: the result, and the body for the crawler.
struct Answer {
    result: ProbeResult,
    body: Vec<u8>,
    content_type: String,
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An error with its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

fn base(e: &Entry, kind: ProbeKind, target: String) -> ProbeResult {
    ProbeResult {
        kind,
        target,
        port: None,
        code: -1,
        ok: false,
        millis: 0,
        origin: e.origin,
        entry: e.index,
        name: e.name.clone(),
        request: None,
        expected: String::new(),
        got: String::new(),
        body_sha256: None,
        key: String::new(),
    }
}

impl<R: ContainerRuntime> Ctx<'_, R> {
    fn host_port(&self, cport: u16) -> Result<u16> {
        self.ports
            .get(&cport)
            .copied()
            .with_context(|| format!("port {cport} of the container was not published"))
    }

    async fn ensure_answers(&mut self, cport: u16, scheme: Scheme) -> Result<()> {
        if self.answered.insert(cport) {
            let hport = self.host_port(cport)?;
            super::wait_ready(self.rt, self.id, hport, scheme, self.timeout).await?;
            self.ready = true;
        }
        Ok(())
    }

    async fn run(&mut self, e: &Entry) -> Result<Vec<ProbeResult>> {
        match &e.step {
            Step::Http(h) => {
                let cport = port_of(h);
                self.ensure_answers(cport, h.scheme).await?;
                let mut results = Vec::new();
                for _ in 0..h.repeat {
                    results.push(self.send(e, h).await?.result);
                }
                Ok(results)
            }
            Step::Exec { cmd, expect_exit } => {
                self.quiet_ready().await?;
                let start = Instant::now();
                let out = self.rt.exec(self.id, cmd).await?;
                let mut r = base(e, ProbeKind::Exec, cmd.clone());
                command_outcome(&mut r, out.exit_code, *expect_exit, &out.stderr);
                r.millis = start.elapsed().as_millis() as u64;
                Ok(vec![r])
            }
            Step::HostExec { cmd, expect_exit } => {
                self.quiet_ready().await?;
                let start = Instant::now();
                let out = super::host_command(cmd, self.ports)
                    .output()
                    .await
                    .with_context(|| format!("cannot run --host-exec {cmd:?}"))?;
                let mut r = base(e, ProbeKind::HostExec, cmd.clone());
                let code = out.status.code().unwrap_or(-1) as i64;
                command_outcome(
                    &mut r,
                    code,
                    *expect_exit,
                    &String::from_utf8_lossy(&out.stderr),
                );
                r.millis = start.elapsed().as_millis() as u64;
                Ok(vec![r])
            }
            Step::Wait(w) => {
                let start = Instant::now();
                let mut r = match w {
                    Wait::Seconds(d) => {
                        tokio::time::sleep(*d).await;
                        let mut r = base(e, ProbeKind::Wait, format!("{} s", d.as_secs_f64()));
                        r.ok = true;
                        r.expected = "time to pass".into();
                        r.got = "it passed".into();
                        r
                    }
                    Wait::Port { port, timeout } => self.wait_port(e, *port, *timeout).await?,
                };
                r.millis = start.elapsed().as_millis() as u64;
                Ok(vec![r])
            }
        }
    }

    /// Before a command: the exposed ports listen, unless readiness is known.
    async fn quiet_ready(&mut self) -> Result<()> {
        if !self.ready && !self.tcp_ports.is_empty() {
            super::wait_ready_quiet(
                self.rt,
                self.id,
                self.tcp_ports,
                None,
                self.ports,
                self.timeout,
            )
            .await?;
        }
        self.ready = true;
        Ok(())
    }

    async fn wait_port(&self, e: &Entry, port: u16, timeout: Duration) -> Result<ProbeResult> {
        let mut r = base(e, ProbeKind::Wait, format!("port {port}"));
        r.port = Some(port);
        r.expected = format!("port {port} listening within {} s", timeout.as_secs_f64());
        let pid = self.rt.pid(self.id).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let listening = pid.is_some_and(|pid| {
                ["tcp", "tcp6"].iter().any(|t| {
                    let table =
                        std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).unwrap_or_default();
                    super::listening_ports(&table).contains(&port)
                })
            });
            if listening {
                r.ok = true;
                r.got = "it listens".into();
                return Ok(r);
            }
            super::exited(self.rt, self.id, &format!("listened on port {port}")).await?;
            if Instant::now() >= deadline {
                r.got = "it does not listen".into();
                return Ok(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends one request of `h` and checks its answer.
    async fn send(&self, e: &Entry, h: &Http) -> Result<Answer> {
        let cport = port_of(h);
        let hport = self.host_port(cport)?;
        let client = match h.scheme {
            Scheme::Http => &self.http,
            Scheme::Https => &self.https,
        };
        let method = reqwest::Method::from_bytes(h.method.as_bytes())
            .with_context(|| format!("invalid HTTP method {:?}", h.method))?;
        let url = format!("{}://127.0.0.1:{hport}{}", h.scheme.name(), h.path);
        let body = h.body.bytes();
        let mut req = client.request(method, &url).timeout(h.timeout);
        let has = |name: &str| h.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if matches!(h.body, Body::Json(_)) && !has("content-type") {
            req = req.header("Content-Type", "application/json");
        }
        for (k, v) in &h.headers {
            req = req.header(k, v);
        }
        if !matches!(h.body, Body::None) {
            req = req.body(body.clone());
        }
        let mut r = base(e, ProbeKind::Http, format!("{} {}", h.method, h.path));
        r.port = Some(cport);
        r.request = Some(request_summary(h, cport, body.len()));
        r.key = format!(
            "{} {} {cport} {} {:?} {}",
            h.method,
            h.scheme.name(),
            h.path,
            h.headers,
            hex(&body)
        );
        r.expected = h.expect.describe();
        let start = Instant::now();
        let answer = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, ct, bytes))
        }
        .await;
        r.millis = start.elapsed().as_millis() as u64;
        let (body, content_type) = match answer {
            Ok((status, ct, bytes)) => {
                r.code = status as i64;
                r.body_sha256 = Some(hex(&bytes));
                match h.expect.check(status, &bytes) {
                    None => {
                        r.ok = true;
                        r.got = format!("status {status}");
                    }
                    Some(got) => r.got = got,
                }
                (bytes.to_vec(), ct)
            }
            Err(err) => {
                r.got = format!("no answer ({})", chain(&err));
                (Vec::new(), String::new())
            }
        };
        Ok(Answer {
            result: r,
            body,
            content_type,
        })
    }

    /// Fetches the app's OpenAPI document at `path` (first exposed port).
    async fn openapi(&mut self, path: &str) -> Result<Vec<Entry>> {
        let cport = *self
            .tcp_ports
            .first()
            .context("--openapi PATH needs an exposed TCP port")?;
        self.ensure_answers(cport, Scheme::Http).await?;
        let fetch = Entry::new(
            Step::Http(Http::get(path, PortChoice::Port(cport))),
            Origin::Openapi,
        );
        let Step::Http(h) = &fetch.step else {
            unreachable!()
        };
        let answer = self.send(&fetch, h).await?;
        if answer.result.code != 200 {
            bail!(
                "--openapi {path}: the app answered {} on port {cport}, not the document (status 200)",
                answer.result.got
            );
        }
        let text = String::from_utf8_lossy(&answer.body);
        let ops = openapi::generate(&text).with_context(|| format!("--openapi {path}"))?;
        if ops.is_empty() {
            bail!("--openapi {path}: the document describes no operation");
        }
        Ok(ops
            .into_iter()
            .map(|mut h| {
                h.port = PortChoice::Port(cport);
                Entry::new(Step::Http(h), Origin::Openapi)
            })
            .collect())
    }

    /// Breadth-first from `starts`, same origin only, within `limits`.
    async fn crawl(
        &mut self,
        starts: &[Http],
        limits: crawl::Limits,
        accept: bool,
        out: &mut Driven,
    ) -> Result<crawl::Summary> {
        let mut summary = crawl::Summary {
            max_depth: limits.max_depth,
            max_pages: limits.max_pages,
            pages: Vec::new(),
            truncated: false,
        };
        let mut seen: HashSet<(u16, String)> = HashSet::new();
        let mut queue: VecDeque<(Http, u32)> = VecDeque::new();
        for s in starts {
            if seen.insert((port_of(s), s.path.clone())) {
                let mut h = s.clone();
                // Crawled pages pass on the default expectation.
                h.expect = Default::default();
                h.repeat = 1;
                h.body = Body::None;
                queue.push_back((h, 0));
            }
        }
        while let Some((h, depth)) = queue.pop_front() {
            if summary.pages.len() >= limits.max_pages {
                summary.truncated = true;
                break;
            }
            let cport = port_of(&h);
            self.ensure_answers(cport, h.scheme).await?;
            let e = Entry::new(Step::Http(h.clone()), Origin::Crawl);
            let answer = self.send(&e, &h).await?;
            summary.pages.push(crawl::Page {
                path: h.path.clone(),
                port: cport,
                status: answer.result.code,
                depth,
            });
            let failed = !answer.result.ok;
            out.results.push(answer.result);
            out.replay.push(e);
            if failed && !accept {
                break;
            }
            if depth >= limits.max_depth {
                continue;
            }
            let hport = self.host_port(cport)?;
            let base = format!("{}://127.0.0.1:{hport}{}", h.scheme.name(), h.path);
            let Ok(base) = reqwest::Url::parse(&base) else {
                continue;
            };
            let text = String::from_utf8_lossy(&answer.body);
            for link in crawl::links(&base, &answer.content_type, &text) {
                if seen.insert((cport, link.clone())) {
                    let mut next = h.clone();
                    next.path = link;
                    queue.push_back((next, depth + 1));
                }
            }
        }
        Ok(summary)
    }
}

fn command_outcome(r: &mut ProbeResult, code: i64, expect: i64, stderr: &str) {
    r.code = code;
    r.expected = format!("exit {expect}");
    r.ok = code == expect;
    r.got = if code == -1 {
        "no exit status (killed by a signal)".to_string()
    } else {
        format!("exited with {code}")
    };
    if !r.ok {
        if let Some(last) = stderr.trim().lines().last() {
            r.got.push_str(&format!(" ({})", last.trim()));
        }
    }
}

/// The request in words, with the container port (host ports change
/// between runs): method, URL, header names, body kind and size.
fn request_summary(h: &Http, cport: u16, len: usize) -> String {
    let mut s = format!("{} {}://:{cport}{}", h.method, h.scheme.name(), h.path);
    if !h.headers.is_empty() {
        let names: Vec<&str> = h.headers.iter().map(|(k, _)| k.as_str()).collect();
        s.push_str(&format!(", headers {}", names.join(", ")));
    }
    match &h.body {
        Body::None => {}
        Body::Text(_) => s.push_str(&format!(", text body of {len} bytes")),
        Body::Json(_) => s.push_str(&format!(", JSON body of {len} bytes")),
        Body::File { path, .. } => {
            s.push_str(&format!(", body of {len} bytes from {}", path.display()))
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(port: PortChoice, path: &str) -> Entry {
        Entry::new(Step::Http(Http::get(path, port)), Origin::Flag)
    }

    fn ports(entries: &[Entry]) -> Vec<(u16, String)> {
        entries
            .iter()
            .filter_map(|e| match &e.step {
                Step::Http(h) => Some((port_of(h), h.path.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_short_form_goes_to_every_port_port_by_port() {
        let script = Script {
            entries: vec![
                http(PortChoice::Every, "/a"),
                http(PortChoice::Every, "/b"),
                Entry::new(
                    Step::Exec {
                        cmd: "true".into(),
                        expect_exit: 0,
                    },
                    Origin::Flag,
                ),
                http(PortChoice::First, "/c"),
                http(PortChoice::Port(90), "/d"),
            ],
            ..Script::default()
        };
        let got = script.expand(&[80, 90]).unwrap();
        assert_eq!(
            ports(&got),
            [
                (80, "/a".into()),
                (80, "/b".into()),
                (90, "/a".into()),
                (90, "/b".into()),
                (80, "/c".into()),
                (90, "/d".into())
            ]
        );
        assert!(matches!(got[4].step, Step::Exec { .. }));
        let e = script.expand(&[80]).unwrap_err().to_string();
        assert!(
            e.contains("port 90, which the image does not expose"),
            "{e}"
        );
        // The default GET / with no port: nothing to send, no error.
        let default = Script {
            entries: vec![http(PortChoice::Every, "/")],
            ..Script::default()
        };
        assert!(default.expand(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_failed_command_says_what_it_got() {
        let e = Entry::new(
            Step::Exec {
                cmd: "exit 7".into(),
                expect_exit: 0,
            },
            Origin::Flag,
        );
        let mut r = base(&e, ProbeKind::Exec, "exit 7".into());
        command_outcome(&mut r, 7, 0, "oops\nbad thing\n");
        assert!(!r.ok);
        assert_eq!(
            r.failure(),
            "--exec \"exit 7\" expected exit 0, got exited with 7 (bad thing)"
        );
    }
}
