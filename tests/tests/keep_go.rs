//! Issue #20: a static Go service (CGO off) loads no library, so no
//! library-triggered rule fires for it; the paths its binary names are the
//! evidence. Slimmed with only `GET /`, it still finds a named time zone,
//! the system's CA roots and its data file under /var/lib, with and without
//! its seccomp profile; without that evidence (--no-imports) the zone is
//! gone.
use slim_tests::*;

fn check_handlers(port: u16, mode: &str, logs: &dyn Fn() -> String) {
    let get = |path: &str| answer(port, path, mode, logs);
    assert_eq!(get("/time"), (200, "22:00 AEST\n".into()), "{mode}");
    let (code, roots) = get("/tls");
    assert_eq!(code, 200, "{mode}: {roots}");
    let n: u32 = roots.trim().trim_start_matches("roots=").parse().unwrap();
    assert!(n > 50, "{mode}: only {n} CA roots");
    assert_eq!(get("/data"), (200, "small and static\n".into()), "{mode}");
}

#[test]
fn static_go_service_keeps_what_its_binary_names() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("go-svc");
    let (c, port) = serve(&image, 8080, &[]);
    assert_eq!(http_get(port, "/").1.trim(), "hello from go-svc");
    check_handlers(port, "the fixture", &|| c.logs());
    drop(c);

    let tag = Tag::new("go-svc");
    let dir = TempDir::new("keep-go");
    let r = build(&image, &tag, &dir, &[]);
    let source = r["source"]["size_bytes"].as_u64().unwrap();
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("go-svc: {source} -> {size} bytes");
    assert!(size < source / 2, "slim go-svc is {size} of {source} bytes");
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        assert_eq!(http_get(port, "/").1.trim(), "hello from go-svc", "{mode}");
        check_handlers(port, mode, &|| c.logs());
    }
    // The report says which binary named the data file.
    let data = kept(&r, "/var/lib/go-svc/quotes.txt").expect("the data file kept");
    assert_eq!(data["rule"], "import:binary");
    assert_eq!(data["from"], "/srv/go/go-svc");
    assert_eq!(
        kept(&r, "/usr/share/zoneinfo/Australia/Sydney").map(|k| k["rule"].clone()),
        Some("time-zones".into())
    );
}

#[test]
fn static_go_service_without_the_binary_evidence_loses_its_zone() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("go-svc");
    let tag = Tag::new("go-svc-noimp");
    let dir = TempDir::new("keep-go-noimp");
    build(&image, &tag, &dir, &["--no-imports"]);
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    let got = http_once(port, "/time");
    assert!(
        got.as_ref().is_none_or(|g| g.0 != 200),
        "{got:?}\n{}",
        c.logs()
    );
}
