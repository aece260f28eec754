//! Issue #11 (7, 9): --host-exec waits until the app listens (it used to
//! race the app's start: 3 failures in 10 concurrent runs), and an app that
//! has no SIGTERM handler as PID 1 is stopped at once, not after the stop
//! timeout.
use std::thread;

use slim_tests::*;

#[test]
fn concurrent_host_probes_wait_for_the_app() {
    if !e2e_ready() {
        return;
    }
    // Python takes a moment to listen; four runs at once make it longer.
    let image = fixture("py-web");
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let image = image.clone();
            thread::spawn(move || {
                let dir = TempDir::new(&format!("ready-{i}"));
                let r = profile(
                    &image,
                    &dir,
                    &[
                        "--no-http-probe",
                        "--host-exec",
                        "curl -sf http://$SLIM_HOST:$SLIM_PORT_8080/",
                        // A Python PID 1 ignores SIGTERM: without the fast
                        // stop this run would wait the whole 30 s.
                        "--stop-timeout",
                        "30",
                    ],
                );
                r["timings_ms"]["stop"].as_u64().unwrap()
            })
        })
        .collect();
    for run in runs {
        let stop_ms = run.join().expect("a concurrent run failed");
        assert!(
            stop_ms < 10_000,
            "stopping took {stop_ms} ms with a 30 s stop timeout"
        );
    }
}
