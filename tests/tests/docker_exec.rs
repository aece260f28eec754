//! Issue #3: processes started in the container with `docker exec` (--exec)
//! are part of it; --host-exec gets SLIM_HOST and SLIM_PORT_<port>; an HTTP
//! probe sees a 404 for a missing page.
use slim_tests::*;

#[test]
fn exec_and_host_exec_probes_run_and_are_traced() {
    if !e2e_ready() {
        return;
    }
    let dir = TempDir::new("exec");
    let r = profile(
        &fixture("nginx"),
        &dir,
        &[
            "--http-probe",
            "GET /",
            "--http-probe",
            "GET /missing",
            "--exec",
            "cat /etc/debian_version",
            "--host-exec",
            "curl -sf http://$SLIM_HOST:$SLIM_PORT_80/ | grep -q 'slim fixture'",
        ],
    );
    let f = file(&r, "/etc/debian_version").expect("the exec'd cat's open");
    assert_eq!(f["ok"], true);
    let cat = file(&r, "/usr/bin/cat").expect("the exec of cat");
    assert!(lists(&cat["access"], "exec"), "{cat}");
    let probes = r["probes"].as_array().unwrap();
    let codes: Vec<_> = probes
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["code"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [("http", 200), ("http", 404), ("exec", 0), ("host-exec", 0)]
    );
    assert!(file(&r, "/var/www/html/index.html").is_some());
    assert_eq!(r["container"]["stopped_by"], "slim");
}
