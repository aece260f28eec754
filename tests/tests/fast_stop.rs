//! Issue #17 (3): no build waits out the stop timeout for an app that
//! catches SIGTERM and never exits, while a shutdown that does work is
//! waited for. Asserted on how the report says the container stopped, not
//! on wall time. (tests/bench/stop_time.sh prints the times.)
use slim_tests::*;

/// `slim profile` of the stopper fixture in MODE (run with --cmd); its
/// report's container.stop.
fn stop_of(mode: &str) -> serde_json::Value {
    let dir = TempDir::new(&format!("stop-{mode}"));
    let r = profile(
        &fixture("redis-greeter"),
        &dir,
        &[
            "--cmd",
            &format!("python3 /srv/app/stopper.py {mode}"),
            "--stop-timeout",
            "30",
        ],
    );
    assert_eq!(r["probes"][0]["code"], 200);
    assert_eq!(r["container"]["stopped_by"], "slim");
    assert!(r["run"]["cmd_given"].as_bool().unwrap());
    r["container"]["stop"].clone()
}

#[test]
fn an_app_that_ignores_sigterm_is_killed_once_quiet() {
    if !e2e_ready() {
        return;
    }
    let stop = stop_of("ignore");
    assert_eq!(stop["signal"], "SIGTERM", "{stop}");
    assert_eq!(stop["outcome"], "killed", "{stop}");
    assert_eq!(stop["reason"], "quiet", "not the 30 s timeout: {stop}");
}

#[test]
fn a_shutdown_that_works_is_waited_for() {
    if !e2e_ready() {
        return;
    }
    // Its handler computes for 1.5 s, then exits 0: busy, so not killed.
    let stop = stop_of("work");
    assert_eq!(stop["outcome"], "graceful", "{stop}");
    assert_eq!(stop["reason"], "exited", "{stop}");
}
