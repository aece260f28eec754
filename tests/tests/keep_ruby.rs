//! Issue #20: a Ruby WEBrick service slimmed with only `GET /` keeps its
//! unprobed handlers working, with and without its seccomp profile: lazily
//! required standard libraries (digest through a local variable and
//! const_missing, zlib as a C extension with libz, yaml through psych and
//! libyaml) and a time in a named zone (TZ set by the handler), which
//! without zoneinfo silently comes out in UTC; and a gem of the app's
//! Gemfile.lock (installed in the system gem path, outside WORKDIR)
//! required by a computed name, which requires its own dependency so.
use slim_tests::*;

fn check_handlers(port: u16, mode: &str, logs: &dyn Fn() -> String) {
    let want = [
        (
            "/digest",
            "ebe4136fc8889cbf55609976f5426b499cf40683b2d1117f4ef9e1ecb6993a5a",
        ),
        ("/zlib", "crc=2654940961 len=400"),
        ("/yaml", "{\"app\"=>\"rb-web\", \"n\"=>[1, 2]}"),
        ("/time", "21:00 JST"),
        ("/gem", "Konnichiwa"),
    ];
    assert_answers(port, mode, logs, &want);
}

#[test]
fn ruby_service_keeps_working_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("rb-web");
    // The fixture itself answers every handler.
    let (c, port) = serve(&image, 8080, &[]);
    assert_eq!(http_get(port, "/").1.trim(), "hello from rb-web");
    check_handlers(port, "the fixture", &|| c.logs());
    drop(c);

    let tag = Tag::new("rb-web");
    let dir = TempDir::new("keep-ruby");
    let r = build(&image, &tag, &dir, &[]);
    let source = r["source"]["size_bytes"].as_u64().unwrap();
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("rb-web: {source} -> {size} bytes");
    assert!(size < source / 2, "slim rb-web is {size} of {source} bytes");
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        assert_eq!(http_get(port, "/").1.trim(), "hello from rb-web", "{mode}");
        check_handlers(port, mode, &|| c.logs());
    }
    // (WEBrick loads digest itself at start-up; yaml only the handler.)
    let yaml = kept(&r, "/usr/lib/ruby/3.1.0/yaml.rb").expect("yaml.rb kept");
    assert_eq!(yaml["rule"], "import:ruby");
    assert_eq!(yaml["from"], "/srv/app/app.rb");
    // A C extension from the arch directory, and the one digest.rb names
    // through a local variable.
    assert!(kept(&r, "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/zlib.so").is_some());
    assert!(kept(&r, "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/digest/sha2.so").is_some());
    assert_eq!(
        kept(&r, "/usr/share/zoneinfo/Asia/Tokyo").map(|k| k["rule"].clone()),
        Some("time-zones".into()),
        "the interpreter is the evidence for named zones"
    );
    assert!(r["keep"]["rules"]["import:ruby"]["bytes"].as_u64().unwrap() > 0);
    // Gemfile.lock's runtime gems, named by no literal; not the development group's.
    let gems = "/var/lib/gems/3.1.0";
    let words = kept(
        &r,
        &format!("{gems}/gems/greet_words-1.0/lib/greet_words.rb"),
    )
    .expect("greet_words kept");
    assert_eq!(words["rule"], "import:ruby");
    assert_eq!(words["from"], "/srv/app/app.rb");
    assert!(kept(&r, &format!("{gems}/gems/greet_data-1.0/lib/greet_data.rb")).is_some());
    assert!(kept(
        &r,
        &format!("{gems}/specifications/greet_words-1.0.gemspec")
    )
    .is_some());
    assert!(kept(&r, &format!("{gems}/gems/dev_tools-1.0/lib/dev_tools.rb")).is_none());
}

#[test]
fn ruby_without_the_language_closure_loses_lazily_required_libraries() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("rb-web");
    let tag = Tag::new("rb-web-noimp");
    let dir = TempDir::new("keep-ruby-noimp");
    let r = build(&image, &tag, &dir, &["--no-imports"]);
    assert!(r["keep"]["rules"].get("import:ruby").is_none());
    let (c, port) = serve(&tag.0, 8080, &[]);
    assert_eq!(http_get(port, "/").0, 200);
    // WEBrick answers a LoadError with an empty 200.
    for path in ["/zlib", "/yaml", "/gem"] {
        let got = http_once(port, path);
        assert!(
            got.as_ref().is_none_or(|g| g.1.trim().is_empty()),
            "{path}: {got:?}\n{}",
            c.logs()
        );
    }
    assert!(c.logs().contains("LoadError"), "{}", c.logs());
}

/// The parse cache: a second build of the same image (here with its own
/// SLIM_CACHE) parses no Ruby or Python file again, and selects the same
/// files as the first.
#[test]
fn a_second_build_parses_nothing_again() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("rb-web");
    let cache = TempDir::new("parse-cache");
    let mut reports = Vec::new();
    for round in 0..2 {
        let tag = Tag::new(&format!("rb-web-parse-{round}"));
        let dir = TempDir::new("keep-ruby-parse");
        reports.push(build_env(&image, &tag, &dir, &[("SLIM_CACHE", &cache.0)]));
    }
    let counts = |r: &serde_json::Value| {
        (
            r["keep"]["parsed_files"].as_u64().unwrap(),
            r["keep"]["parsed_from_cache"].as_u64().unwrap(),
        )
    };
    let (first, second) = (counts(&reports[0]), counts(&reports[1]));
    assert!(first.0 > 100, "only {} files parsed", first.0);
    assert_eq!(first.1, 0, "a new cache answered {first:?}");
    assert_eq!(second, (first.0, first.0), "the second build parsed again");
    let paths = |r: &serde_json::Value| -> Vec<String> {
        r["kept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths(&reports[0]), paths(&reports[1]));
}
