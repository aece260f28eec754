//! Issue #9/#10: a Python stdlib web service slimmed with only the default
//! `GET /` probe keeps serving paths the probe never took (a lazy import, a
//! named time zone, sqlite, a TLS context, an error that makes the standard
//! library import `traceback`), with and without its seccomp profile; with
//! `--keep minimal` the same paths break, which is what the rules are for.
use slim_tests::*;

#[test]
fn python_service_keeps_working_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-web");
    let tag = Tag::new("py-web");
    let dir = TempDir::new("keep-python");
    let r = build(&image, &tag, &dir, &[]);
    let source: u64 = r["source"]["size_bytes"].as_u64().unwrap();
    let size: u64 = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("py-web: {source} -> {size} bytes");
    assert!(size < source / 2, "slim py-web is {size} of {source} bytes");

    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        let (code, body) = http_get(port, "/");
        assert_eq!((code, body.trim()), (200, "hello from py-web"), "{mode}");
        let get = |path: &str| answer(port, path, mode, &|| c.logs());
        let (code, t) = get("/time?tz=America/New_York");
        assert_eq!(
            (code, t.trim()),
            (200, "2026-07-01T08:00:00-04:00"),
            "{mode}"
        );
        assert_eq!(get("/csv").1.trim(), "a,\"b,c\",3", "{mode}");
        assert_eq!(get("/db").1.trim(), "hits=1", "{mode}");
        let cas: u32 = get("/tls")
            .1
            .trim()
            .trim_start_matches("cas=")
            .parse()
            .unwrap();
        assert!(cas > 50, "{mode}: only {cas} CA certificates");
        assert!(get("/json").1.contains("py-web"), "{mode}");
        // The server catches the error and formats it with traceback,
        // which the standard library imports inside its error handler.
        let _ = http_once(port, "/crash");
        assert_eq!(
            get("/").0,
            200,
            "{mode}: the server died on /crash:\n{}",
            c.logs()
        );
        assert!(
            c.logs().contains("RuntimeError: crash on purpose"),
            "{mode}: {}",
            c.logs()
        );
    }

    let sqlite = kept(&r, "/usr/lib/python3.11/sqlite3/__init__.py").expect("sqlite3 kept");
    assert_eq!(sqlite["rule"], "import:python");
    assert_eq!(sqlite["from"], "/srv/app/app.py");
    // sqlite's journal syscalls come from the rule that saw libsqlite3.
    assert_eq!(
        r["seccomp"]["by_rule"]["fdatasync"], "sqlite",
        "{}",
        r["seccomp"]
    );
    assert_eq!(
        kept(&r, "/usr/share/zoneinfo/America/New_York").map(|k| k["rule"].clone()),
        Some("time-zones".into())
    );
    // Listed with the script's directory, or kept by app-files.
    assert!(kept(&r, "/srv/app/config.json").is_some());
    let rules = &r["keep"]["rules"];
    assert!(
        rules["import:python"]["bytes"].as_u64().unwrap() > 0,
        "{rules}"
    );
    assert_eq!(r["keep"]["mode"], "safe");
    assert_eq!(r["keep"]["packages"], "dpkg");
}

#[test]
fn python_minimal_breaks_where_the_rules_are_off() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-web");
    let tag = Tag::new("py-web-min");
    let dir = TempDir::new("keep-python-min");
    let r = build(&image, &tag, &dir, &["--keep", "minimal"]);
    assert_eq!(r["keep"]["mode"], "minimal");
    assert!(kept(&r, "/usr/lib/python3.11/sqlite3/__init__.py").is_none());
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    // The probed path works; a lazily imported package and a named zone do
    // not. (csv.py survives here: Python listed its directory, and listed
    // directories keep their files.)
    for path in ["/db", "/time?tz=America/New_York"] {
        let got = http_once(port, path);
        assert!(
            got.as_ref().is_none_or(|g| g.0 != 200),
            "{path}: {got:?}\n{}",
            c.logs()
        );
    }
}

#[test]
fn python_without_the_language_closure_loses_a_lazily_imported_package() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-web");
    let tag = Tag::new("py-web-noimp");
    let dir = TempDir::new("keep-python-noimp");
    let r = build(&image, &tag, &dir, &["--no-imports"]);
    assert_eq!(r["keep"]["mode"], "safe");
    assert!(
        r["keep"]["rules"].get("import:python").is_none(),
        "{}",
        r["keep"]
    );
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    // Keep-rules alone keep the zone data; only the import closure finds
    // the sqlite3 package that app.py imports inside a handler.
    assert_eq!(
        http_once(port, "/time?tz=America/New_York").map(|g| g.0),
        Some(200)
    );
    let db = http_once(port, "/db");
    assert!(
        db.as_ref().is_none_or(|g| g.0 != 200),
        "{db:?}\n{}",
        c.logs()
    );
    // (An empty sqlite3 directory imports as a namespace package.)
    assert!(c.logs().contains("sqlite3"), "{}", c.logs());
}

/// Issue #20: an app installed by pip as a distribution (run as a module,
/// no WORKDIR) imports a dependency its METADATA declares by a computed
/// name (`importlib.import_module`); the extra it declares, a distribution
/// nothing declares, and a requirement for another platform stay out, and
/// the requirement that is not installed is reported.
#[test]
fn python_app_keeps_its_declared_requirements() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-dist");
    let tag = Tag::new("py-dist");
    let dir = TempDir::new("keep-py-dist");
    let r = build(&image, &tag, &dir, &[]);
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        assert_eq!(http_get(port, "/").1.trim(), "hello from py-dist", "{mode}");
        let got = answer(port, "/plugin", mode, &|| c.logs());
        assert_eq!(got, (200, "Hej from greet_plugin\n".into()), "{mode}");
    }
    let site = "/usr/local/lib/python3.11/dist-packages";
    let plugin = kept(&r, &format!("{site}/greet_plugin/__init__.py")).expect("plugin kept");
    assert_eq!(plugin["rule"], "import:python");
    assert!(kept(&r, &format!("{site}/greet_plugin/words.py")).is_some());
    assert!(kept(&r, &format!("{site}/greet_plugin-1.0.dist-info/METADATA")).is_some());
    for not in ["greet_fancy", "greet_unused"] {
        assert!(
            kept(&r, &format!("{site}/{not}/__init__.py")).is_none(),
            "{not} kept"
        );
    }
    let unresolved = r["keep"]["unresolved_imports"].to_string();
    assert!(
        unresolved.contains(&format!(
            "declared dependency greet-missing ({site}/greet_app-1.0.dist-info/METADATA)"
        )),
        "{unresolved}"
    );
    assert!(!unresolved.contains("greet-windows"), "{unresolved}");
    assert_eq!(r["keep"]["declared_missing"], 1, "{unresolved}");
}

#[test]
fn python_app_without_the_language_closure_loses_its_plugin() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("py-dist");
    let tag = Tag::new("py-dist-noimp");
    let dir = TempDir::new("keep-py-dist-noimp");
    build(&image, &tag, &dir, &["--no-imports"]);
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    let got = http_once(port, "/plugin");
    assert!(
        got.as_ref().is_none_or(|g| g.0 != 200),
        "{got:?}\n{}",
        c.logs()
    );
}
