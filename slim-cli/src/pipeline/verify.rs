//! Step five (build --verify): run the slim image under its profile, in the
//! same surroundings as the probe run (started again), replay the probes
//! that ran on the source, and compare the answers.
use anyhow::{bail, Result};

use crate::{
    compose::Project,
    engine::Engine,
    probes::{Entry, ProbeResult, Script},
    progress::Steps,
    report::Report,
    session::{self, Cleanup, Options},
    surroundings,
};

/// What verifying needs of the probe run.
pub struct Replay<'a> {
    /// The slim image.
    pub tag: &'a str,
    /// The source's exposed TCP ports.
    pub ports: &'a [u16],
    /// The probe run's report: its probes and how its container ended.
    pub original: &'a Report,
    /// The probes that ran (crawled and generated ones spelled out).
    pub entries: &'a [Entry],
    /// The seccomp profile's JSON to run under.
    pub profile: String,
    /// The session plan of the probe run, before its surroundings.
    pub plan: &'a session::Plan,
    pub project: Option<&'a Project>,
}

/// Runs TAG under the profile with the same requests and commands; every
/// probe that passed must pass, answer the same status, and, where the
/// source answered the same request twice with the same body, that body.
pub async fn verify(
    engine: &Engine,
    r: Replay<'_>,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<Vec<ProbeResult>> {
    let opts = Options {
        trace: false,
        seccomp: Some(r.profile),
    };
    let mut plan = r.plan.clone();
    plan.script = Script {
        entries: r.entries.to_vec(),
        openapi_path: None,
        crawl: None,
        // Every answer is compared below, not just the first failure.
        accept_failures: true,
    };
    let mut ports = r.ports.to_vec();
    let up =
        surroundings::prepare(engine, r.project, &mut plan, &mut ports, cleanup, steps).await?;
    let outcome = session::run(engine, r.tag, &ports, &plan, &opts, cleanup, steps).await;
    let outcome = surroundings::finish(engine, up, outcome).await?;
    let (tag, original) = (r.tag, r.original);
    let source = &original.source.image;
    if let Some(why) = compare(&original.probes, &outcome.probes) {
        bail!("{why} on {tag} (it did on {source})");
    }
    if original.container.stopped_by == "itself"
        && outcome.exit_code != original.container.exit_code
    {
        bail!(
            "{} exited with {:?}, {} with {:?}",
            source,
            original.container.exit_code,
            tag,
            outcome.exit_code
        );
    }
    Ok(outcome.probes)
}

/// How the replay differs from the original, if it does.
pub fn compare(before: &[ProbeResult], after: &[ProbeResult]) -> Option<String> {
    if before.len() != after.len() {
        return Some(format!(
            "{} probes ran instead of {}",
            after.len(),
            before.len()
        ));
    }
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if b.ok && !a.ok {
            return Some(format!(
                "{} expected {}, got {}",
                a.describe(),
                a.expected,
                a.got
            ));
        }
        if b.code != a.code {
            return Some(format!(
                "{} answered {} instead of {}",
                a.describe(),
                a.code,
                b.code
            ));
        }
        // A body is expected again only where the original answered the
        // same request twice with the same body: otherwise it may change
        // by itself (a time, a counter, an id).
        let stable = b.body_sha256.is_some()
            && before
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.key == b.key && o.body_sha256 == b.body_sha256);
        if stable && a.body_sha256 != b.body_sha256 {
            return Some(format!(
                "{} answered a different body (sha256 {} instead of {})",
                a.describe(),
                a.body_sha256.as_deref().unwrap_or("none"),
                b.body_sha256.as_deref().unwrap_or("none")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::probe;

    fn with_body(path: &str, body: &str) -> ProbeResult {
        let mut p = probe(true, path);
        p.body_sha256 = Some(body.into());
        p
    }

    #[test]
    fn the_replay_must_pass_and_answer_the_same() {
        let before = [probe(true, "/"), probe(false, "/missing")];
        assert_eq!(compare(&before, &before), None);
        let fewer = compare(&before, &before[..1]).unwrap();
        assert_eq!(fewer, "1 probes ran instead of 2");
        let failed = [probe(false, "/"), probe(false, "/missing")];
        let why = compare(&before, &failed).unwrap();
        assert!(why.starts_with("--http-probe \"/\""), "{why}");
        assert!(
            why.ends_with("expected status 2xx, got status 500"),
            "{why}"
        );
        // One that failed on the source may fail again, with its status.
        let mut other = before.clone();
        other[1].code = 404;
        let why = compare(&before, &other).unwrap();
        assert!(why.ends_with("answered 404 instead of 500"), "{why}");
    }

    #[test]
    fn a_body_must_match_only_where_it_was_stable() {
        let once = [with_body("/", "a"), with_body("/n", "b")];
        let changed = [with_body("/", "c"), with_body("/n", "d")];
        assert_eq!(compare(&once, &changed), None, "seen once: may change");
        let twice = [with_body("/", "a"), with_body("/", "a")];
        let why = compare(&twice, &[with_body("/", "a"), with_body("/", "c")]).unwrap();
        assert!(
            why.ends_with("answered a different body (sha256 c instead of a)"),
            "{why}"
        );
    }
}
