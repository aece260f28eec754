//! Issue #20: a PHP service (`php -S`, Composer packages installed from
//! path repositories, no WORKDIR) slimmed with only `GET /` keeps its
//! unprobed handlers working, with and without its seccomp profile:
//! handlers required lazily through `__DIR__`/`dirname(__FILE__)` paths,
//! classes the autoloader finds through PSR-4 (vendor and the app's own)
//! and the classmap, a plugin class whose name is computed from the
//! request (kept as a declared runtime dependency in composer.lock), a
//! named time zone, and intl with ICU's data for another locale. The
//! package only `require-dev` names stays out.
use slim_tests::*;

const HELLO: &str = "hello from php-web 1.0.0";

fn check_handlers(port: u16, mode: &str, logs: &dyn Fn() -> String) {
    let want = [
        ("/greet", "HELLO, ZÜRICH!"),
        ("/time", "21:00 JST"),
        ("/intl", "1.234.567,891 {\"n\":5}"),
        ("/plugin", "mils"),
        (
            "/legacy",
            "ebe4136fc8889cbf55609976f5426b499cf40683b2d1117f4ef9e1ecb6993a5a",
        ),
    ];
    assert_answers(port, mode, logs, &want);
}

#[test]
fn php_service_keeps_working_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("php-web");
    let (c, port) = serve(&image, 8080, &[]);
    assert_eq!(http_get(port, "/").1.trim(), HELLO);
    check_handlers(port, "the fixture", &|| c.logs());
    drop(c);

    let tag = Tag::new("php-web");
    let dir = TempDir::new("keep-php");
    let r = build(&image, &tag, &dir, &[]);
    let source = r["source"]["size_bytes"].as_u64().unwrap();
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("php-web: {source} -> {size} bytes");
    assert!(
        size < source / 2,
        "slim php-web is {size} of {source} bytes"
    );
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        assert_eq!(http_get(port, "/").1.trim(), HELLO, "{mode}");
        check_handlers(port, mode, &|| c.logs());
    }
    let handler = kept(&r, "/srv/www/handlers/time.php").expect("time.php kept");
    assert_eq!(handler["rule"], "import:php");
    assert_eq!(handler["from"], "/srv/www/public/index.php");
    let greeter = "/srv/www/vendor/acme/greeter/src/Punctuation.php";
    assert_eq!(
        kept(&r, greeter).map(|k| k["rule"].clone()),
        Some("import:php".into())
    );
    assert!(
        kept(&r, "/srv/www/vendor/acme/plugins/src/ReversePlugin.php").is_some(),
        "a declared runtime package"
    );
    assert!(
        kept(&r, "/srv/www/vendor/acme/devtools/src/Linter.php").is_none(),
        "require-dev only"
    );
    assert!(
        kept(&r, "/usr/share/zoneinfo/Asia/Tokyo").is_some(),
        "the interpreter is the evidence for named zones"
    );
    assert!(r["keep"]["rules"]["import:php"]["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn php_without_the_language_closure_loses_its_lazy_handlers() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("php-web");
    let tag = Tag::new("php-web-noimp");
    let dir = TempDir::new("keep-php-noimp");
    let r = build(&image, &tag, &dir, &["--no-imports"]);
    assert!(r["keep"]["rules"].get("import:php").is_none());
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").1.trim(), HELLO);
    for path in ["/greet", "/plugin"] {
        let got = http_once(port, path);
        assert!(
            got.as_ref().is_none_or(|g| g.0 != 200),
            "{path}: {got:?}\n{}",
            c.logs()
        );
    }
    assert!(c.logs().contains("Failed opening required"), "{}", c.logs());
}
