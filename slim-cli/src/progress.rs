//! Step progress on stderr (a spinner on a terminal, plain lines otherwise)
//! and the wall time of each step, which the report keeps.
use std::{
    collections::BTreeMap,
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Steps {
    bar: Option<ProgressBar>,
    current: Option<(&'static str, Instant)>,
    pub timings: BTreeMap<&'static str, Duration>,
    quiet: bool,
}

impl Steps {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            current: None,
            timings: BTreeMap::new(),
            quiet,
        }
    }

    /// Ends the current step and starts `name`.
    pub fn step(&mut self, name: &'static str, message: &str) {
        self.end();
        tracing::debug!(
            step = name,
            peak_rss_mb = crate::report::peak_rss_bytes() >> 20,
            "step"
        );
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None if !self.quiet => eprintln!("slim: {message}"),
            None => {}
        }
        self.current = Some((name, Instant::now()));
    }

    /// The step in progress, if any.
    pub fn current(&self) -> Option<&'static str> {
        self.current.map(|(name, _)| name)
    }

    /// Adds the step in progress to an error, so it names what failed.
    pub fn blame(&self, e: anyhow::Error) -> anyhow::Error {
        match self.current() {
            Some(step) => e.context(format!("step {step} failed")),
            None => e,
        }
    }

    /// Ends the current step.
    pub fn end(&mut self) {
        if let Some((name, start)) = self.current.take() {
            *self.timings.entry(name).or_default() += start.elapsed();
        }
    }

    pub fn finish(&mut self) {
        self.end();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    pub fn timings_ms(&self) -> BTreeMap<String, u64> {
        self.timings
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_millis() as u64))
            .collect()
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
