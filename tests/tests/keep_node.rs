//! Issue #9: a Node service slimmed with only `GET /` still reads its data
//! file per request, formats with Intl (ICU), and requires a module lazily,
//! with and without its seccomp profile. Issue #20: and it loads a package
//! its package.json declares by a computed name (`require(engine)`), from
//! the node_modules hoisted above the app, outside WORKDIR.
use slim_tests::*;

#[test]
fn node_service_keeps_working_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("node-svc");
    let tag = Tag::new("node-svc");
    let dir = TempDir::new("keep-node");
    let r = build(&image, &tag, &dir, &[]);
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("node-svc: {} -> {size} bytes", r["source"]["size_bytes"]);
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 3000, &extra);
        assert_eq!(
            http_get(port, "/").1.trim(),
            "hello from node-svc",
            "{mode}"
        );
        let get = |path: &str| answer(port, path, mode, &|| c.logs());
        assert_eq!(
            get("/quote?n=1"),
            (200, "small and safe\n".into()),
            "{mode}"
        );
        let (code, intl) = get("/intl");
        assert_eq!(code, 200, "{mode}: {intl}");
        assert!(
            intl.contains("Juli 2026") && intl.contains("21:00"),
            "{mode}: {intl}"
        );
        assert!(intl.contains('€'), "{mode}: {intl}");
        assert_eq!(get("/report").1.trim(), "report: { ok: true }", "{mode}");
        assert_eq!(
            get("/semver").1.trim(),
            "satisfies=true max=1.5.2",
            "{mode}"
        );
        assert_eq!(get("/engine"), (200, "Hallo, slim\n".into()), "{mode}");
    }
    assert_eq!(
        kept(&r, "/srv/node/data/quotes.json").unwrap()["rule"],
        "app-files"
    );
    let semver = kept(&r, "/usr/share/nodejs/semver/index.js").expect("semver kept");
    assert_eq!(semver["rule"], "import:javascript");
    assert_eq!(semver["from"], "/srv/node/server.js");
    // Declared in package.json, named by no literal: the engine, and the
    // word list it loads by a computed name (declared in its own manifest).
    let engine = kept(&r, "/srv/node_modules/greet-engine/lib/engine.js").expect("engine kept");
    assert_eq!(engine["rule"], "import:javascript");
    assert_eq!(engine["from"], "/srv/node/server.js");
    let words = kept(&r, "/srv/node_modules/greet-words/index.js").expect("words kept");
    assert_eq!(
        words["from"],
        "/srv/node_modules/greet-engine/lib/engine.js"
    );
    assert!(
        kept(&r, "/srv/node_modules/dev-only/index.js").is_none(),
        "a devDependency is not kept"
    );
}

#[test]
fn node_without_the_language_closure_loses_a_lazily_required_package() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("node-svc");
    let tag = Tag::new("node-svc-noimp");
    let dir = TempDir::new("keep-node-noimp");
    build(&image, &tag, &dir, &["--no-imports"]);
    let (c, port) = serve(&tag.0, 3000, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    let got = http_once(port, "/semver");
    assert!(
        got.as_ref().is_none_or(|g| g.0 != 200),
        "{got:?}\n{}",
        c.logs()
    );
    assert!(
        c.logs().contains("Cannot find module 'semver'"),
        "{}",
        c.logs()
    );
    let got = http_once(port, "/engine");
    assert!(
        got.as_ref().is_none_or(|g| g.0 != 200),
        "{got:?}\n{}",
        c.logs()
    );
}
