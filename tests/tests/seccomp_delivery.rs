//! Issue #21, delivery: beside DIR/seccomp.json, slim writes the profile as
//! a Security Profiles Operator `SeccompProfile` and a `ProfileBinding` for
//! the slim image, which follow the operator's published CRD schemas
//! (vendored in tests/schemas/spo/), and labels the slim image with the
//! profile (io.containers.seccomp.profile) so that
//! `podman run --seccomp-policy=image` enforces it.
use std::process::Command;

use serde_json::Value;
use slim_tests::*;

/// The vendored CRD schema, made strict as the API server's pruning is: an
/// object with `properties` and no `additionalProperties` takes no other
/// field (the server would drop it silently).
fn strict(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                    // metadata is the server's: it has no properties here.
                    m.insert("additionalProperties".into(), Value::Bool(false));
                }
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn check_crd(doc: &Value, schema: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/spo")
        .join(schema);
    let schema = strict(read_json(&path));
    let validator = jsonschema::validator_for(&schema).expect("the vendored schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{doc}\ndoes not follow {}:\n{}",
        path.display(),
        errors.join("\n")
    );
}

fn yaml(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A tag in Podman's store, removed on drop.
struct PodmanTag(String);

impl Drop for PodmanTag {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
    }
}

/// tests/fixtures/seccomp_args.c compiled statically with the host's gcc.
fn program(dir: &TempDir) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/seccomp_args.c");
    let out = dir.0.join("seccomp-args");
    run_ok(
        "gcc",
        &[
            "-O2",
            "-static",
            "-o",
            &out.to_string_lossy(),
            &src.to_string_lossy(),
        ],
    );
    out
}

#[test]
fn kubernetes_objects_validate_and_podman_enforces_the_image_label() {
    if !e2e_ready() {
        return;
    }
    let tag = Tag::new("seccomp-delivery");
    let dir = TempDir::new("seccomp-delivery");
    build(&fixture("nginx"), &tag, &dir, &["--http-probe", "GET /"]);
    let json = read_json(&dir.0.join("seccomp.json"));

    let sp = yaml(&dir.0.join("seccomp-profile.yaml"));
    check_crd(&sp, "seccompprofile-v1.schema.json");
    assert_eq!(sp["apiVersion"], "security-profiles-operator.x-k8s.io/v1");
    assert_eq!(sp["kind"], "SeccompProfile");
    assert_eq!(
        sp["spec"]["syscalls"], json["syscalls"],
        "the same rules as seccomp.json"
    );
    assert_eq!(sp["spec"]["defaultAction"], json["defaultAction"]);
    let binding = yaml(&dir.0.join("profile-binding.yaml"));
    check_crd(&binding, "profilebinding-v1.schema.json");
    assert_eq!(binding["spec"]["image"], tag.0.as_str());
    assert_eq!(binding["spec"]["profileRef"]["kind"], "SeccompProfile");
    assert_eq!(
        binding["spec"]["profileRef"]["name"],
        sp["metadata"]["name"]
    );
    // The strict schema refuses what the API server would prune.
    let mut extra = sp.clone();
    extra["spec"]["defaultErrnoRet"] = 1.into();
    let schema = strict(read_json(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas/spo/seccompprofile-v1.schema.json"),
    ));
    assert!(
        !jsonschema::is_valid(&schema, &extra),
        "defaultErrnoRet is not in the CRD"
    );

    let label = inspect(
        &tag.0,
        "{{index .Config.Labels \"io.containers.seccomp.profile\"}}",
    );
    let labelled: Value =
        serde_json::from_str(&label).unwrap_or_else(|e| panic!("label {label:?}: {e}"));
    assert_eq!(labelled, json, "the label is DIR/seccomp.json");

    // Podman, with the image's own policy: a writable+executable mapping
    // (which Podman's default profile allows) is refused, nginx serves.
    let ptag = PodmanTag(tag.0.clone());
    run_ok(
        "podman",
        &["pull", "-q", &format!("docker-daemon:{}", ptag.0)],
    );
    let prog = program(&dir);
    let attempt = |policy: &[&str]| {
        let mut args = vec!["-p", "127.0.0.1::80"];
        args.extend_from_slice(policy);
        args.push(&ptag.0);
        let c = Container::run_with("podman", &args);
        let port = c.port(80);
        let (code, body) = http_get(port, "/");
        assert_eq!(code, 200, "{policy:?}: {body}\n{}", c.logs());
        run_ok(
            "podman",
            &[
                "cp",
                &prog.to_string_lossy(),
                &format!("{}:/seccomp-args", c.id),
            ],
        );
        let out = Command::new("podman")
            .args(["exec", &c.id, "/seccomp-args", "wx"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(attempt(&[]), "ok", "under Podman's default profile");
    assert_eq!(
        attempt(&["--seccomp-policy=image"]),
        "EPERM",
        "under the image's label"
    );
}
