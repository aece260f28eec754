//! Issue #9: a JVM service slimmed with only `GET /` still hashes
//! (MessageDigest reads the java.security configuration), zips (libzip) and
//! converts to a named zone (tzdb.dat), with and without its profile.
use slim_tests::*;

#[test]
fn jvm_service_keeps_working_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("jvm-svc");
    let tag = Tag::new("jvm-svc");
    let dir = TempDir::new("keep-jvm");
    let r = build(&image, &tag, &dir, &[]);
    let source = r["source"]["size_bytes"].as_u64().unwrap();
    let size = r["result"]["size_bytes"].as_u64().unwrap();
    eprintln!("jvm-svc: {source} -> {size} bytes");
    assert!(size < source, "{size} of {source}");
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 8080, &extra);
        assert_eq!(http_get(port, "/").1.trim(), "hello from jvm-svc", "{mode}");
        let get = |path: &str| answer(port, path, mode, &|| c.logs());
        // sha256("slim")
        assert_eq!(
            get("/hash"),
            (
                200,
                "ebe4136fc8889cbf55609976f5426b499cf40683b2d1117f4ef9e1ecb6993a5a\n".into()
            ),
            "{mode}"
        );
        assert_eq!(get("/zip"), (200, "zip=true\n".into()), "{mode}");
        assert_eq!(
            get("/time").1.trim(),
            "2026-07-01T08:00-04:00[America/New_York]",
            "{mode}"
        );
    }
    let jvm_lib = r["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"].as_str().unwrap().ends_with("/lib/libzip.so"))
        .expect("libzip.so kept");
    assert_eq!(jvm_lib["rule"], "jvm-home");
}
