//! Issue #18: a static site whose pages, stylesheets, scripts and images
//! are reached only by following links from / (`--http-crawl`, no probe
//! named): each is in the report's crawl and served by the slim image
//! under its profile; a page nothing links to is not kept (--keep minimal,
//! so only what the crawl touched is there).
use std::path::Path;

use slim_tests::{probes::*, *};

/// Every path the links reach from /, and the fixture file that serves it.
const LINKED: &[(&str, &str)] = &[
    ("/", "index.html"),
    ("/css/site.css", "css/site.css"),
    ("/js/app.js?v=1", "js/app.js"),
    ("/img/logo.svg", "img/logo.svg"),
    ("/img/logo-2x.svg", "img/logo-2x.svg"),
    ("/about.html", "about.html"),
    ("/css/fonts.css", "css/fonts.css"),
    ("/img/bg.svg", "img/bg.svg"),
    ("/img/heading.svg", "img/heading.svg"),
    ("/docs/guide.html?lang=en", "docs/guide.html"),
    ("/css/guide.css", "css/guide.css"),
    ("/img/diagram.svg", "img/diagram.svg"),
    ("/img/guide-bg.svg", "img/guide-bg.svg"),
];

#[test]
fn crawling_from_the_root_reaches_every_linked_page_and_asset() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("static-site");
    let dir = TempDir::new("crawl");
    let tag = Tag::new("crawl");
    let r = build(&image, &tag, &dir, &["--http-crawl", "--keep", "minimal"]);

    let pages: Vec<&str> = r["crawl"]["pages"]
        .as_array()
        .expect("the crawl in the report")
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    for (path, _) in LINKED {
        assert!(pages.contains(path), "{path} not crawled: {pages:?}");
    }
    assert!(!pages.contains(&"/unlinked.html"), "{pages:?}");
    assert!(
        !pages.iter().any(|p| p.contains("elsewhere")),
        "another origin's page was followed: {pages:?}"
    );
    assert_eq!(r["crawl"]["truncated"], false);
    assert!(!probes_where(&r, "origin", "crawl").is_empty());

    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps/static-site");
    let (c, port) = serve(&tag.0, 80, &["--security-opt".into(), seccomp_opt(&dir)]);
    wait_answer(&format!("http://127.0.0.1:{port}/"));
    for (path, file) in LINKED {
        let want = std::fs::read_to_string(site.join(file)).unwrap();
        let (code, body) = request(&format!("http://127.0.0.1:{port}{path}"), "GET", &[], None);
        assert_eq!(code, 200, "{path} on the slim image\n{}", c.logs());
        assert_eq!(body, want, "{path}");
    }
    let (code, _) = request(
        &format!("http://127.0.0.1:{port}/unlinked.html"),
        "GET",
        &[],
        None,
    );
    assert_eq!(code, 404, "a page the crawl never reached is not kept");
}
