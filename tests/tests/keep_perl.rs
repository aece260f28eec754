//! Issue #20: a Perl HTTP::Daemon service slimmed with only `GET /` keeps
//! its unprobed handlers working, with and without its seccomp profile:
//! modules required lazily, pure Perl (JSON::PP, IO::Compress::Gzip) and XS
//! with their shared objects under auto/ (Digest::SHA, MIME::Base64, POSIX,
//! Compress::Raw::Zlib under IO::Compress).
use slim_tests::*;

fn check_handlers(port: u16, mode: &str, logs: &dyn Fn() -> String) {
    let want = [
        ("/json", "{\"app\":\"pl-web\",\"n\":[1,2]}"),
        (
            "/sha",
            "ebe4136fc8889cbf55609976f5426b499cf40683b2d1117f4ef9e1ecb6993a5a",
        ),
        ("/gzip", "gzip=small"),
        ("/base64", "c2xpbQ=="),
        ("/posix", "floor=2 2026"),
    ];
    assert_answers(port, mode, logs, &want);
}

#[test]
fn perl_service_keeps_working_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("pl-web");
    let (c, port) = serve(&image, 8080, &[]);
    assert_eq!(http_get(port, "/").1.trim(), "hello from pl-web");
    check_handlers(port, "the fixture", &|| c.logs());
    drop(c);

    let tag = Tag::new("pl-web");
    let dir = TempDir::new("keep-perl");
    let r = build(&image, &tag, &dir, &[]);
    let source = r["source"]["size_bytes"].as_u64().unwrap();
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("pl-web: {source} -> {size} bytes");
    assert!(size < source / 2, "slim pl-web is {size} of {source} bytes");
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        assert_eq!(http_get(port, "/").1.trim(), "hello from pl-web", "{mode}");
        check_handlers(port, mode, &|| c.logs());
    }
    let json = kept(&r, "/usr/share/perl/5.36.0/JSON/PP.pm").expect("JSON::PP kept");
    assert_eq!(json["rule"], "import:perl");
    assert_eq!(json["from"], "/srv/app/app.pl");
    let xs = "/usr/lib/x86_64-linux-gnu/perl/5.36.0/auto/Digest/SHA/SHA.so";
    assert_eq!(
        kept(&r, xs).map(|k| k["rule"].clone()),
        Some("import:perl".into())
    );
}

#[test]
fn perl_without_the_language_closure_cannot_locate_its_modules() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("pl-web");
    let tag = Tag::new("pl-web-noimp");
    let dir = TempDir::new("keep-perl-noimp");
    build(&image, &tag, &dir, &["--no-imports"]);
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    let got = http_once(port, "/json");
    assert!(
        got.as_ref().is_none_or(|g| g.0 != 200),
        "{got:?}\n{}",
        c.logs()
    );
    assert!(c.logs().contains("Can't locate JSON/PP.pm"), "{}", c.logs());
}
