//! The profile for Kubernetes: a Security Profiles Operator `SeccompProfile`
//! (DIR/seccomp-profile.yaml) and a `ProfileBinding` that applies it to the
//! containers of the slim image (DIR/profile-binding.yaml), both in the
//! operator's `v1` API (its storage version). `kubectl apply -n NS -f` both;
//! the binding works in namespaces the operator watches for bindings.
use serde::Serialize;

use super::Profile;

pub const API_VERSION: &str = "security-profiles-operator.x-k8s.io/v1";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    labels: std::collections::BTreeMap<&'static str, &'static str>,
}

/// The CRD's spec: Docker's fields without `defaultErrnoRet`, which the
/// operator does not have (SCMP_ACT_ERRNO then answers EPERM, as slim's
/// JSON profile says explicitly).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeccompSpec<'a, A: Serialize, R: Serialize> {
    default_action: &'a str,
    architectures: &'a [A],
    syscalls: &'a [R],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BindingSpec {
    image: String,
    profile_ref: ProfileRef,
}

#[derive(Serialize)]
struct ProfileRef {
    kind: &'static str,
    name: String,
}

/// A Kubernetes object name (DNS-1123 subdomain) for `image`'s profile:
/// `slim-` and the reference, lower case, other characters as `-`, at most
/// 253 characters, ending in an alphanumeric.
pub fn object_name(image: &str) -> String {
    let mut name: String = format!("slim-{image}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(253)
        .collect();
    while name.ends_with(['-', '.']) {
        name.pop();
    }
    name
}

fn metadata(name: &str) -> Metadata {
    Metadata {
        name: name.to_string(),
        labels: [("app.kubernetes.io/managed-by", "slim")].into(),
    }
}

/// DIR/seccomp-profile.yaml for `profile`, named after `image`.
pub fn seccomp_profile(profile: &Profile, image: &str) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&Object {
        api_version: API_VERSION,
        kind: "SeccompProfile",
        metadata: metadata(&object_name(image)),
        spec: SeccompSpec {
            default_action: profile.default_action,
            architectures: &profile.architectures,
            syscalls: &profile.syscalls,
        },
    })
}

/// DIR/seccomp-profile.yaml again after `slim learn` changed `profile`:
/// `existing` (the file as it was) keeps its metadata and every other
/// field, with the spec's defaultAction, architectures and syscalls
/// replaced; without one, a new object named after `image`.
pub fn updated_seccomp_profile(
    existing: Option<&str>,
    profile: &super::learn::JsonProfile,
    image: &str,
) -> Result<String, serde_yaml_ng::Error> {
    let rules: Vec<SpoRule> = profile.syscalls.iter().map(SpoRule::of).collect();
    let spec = SeccompSpec {
        default_action: &profile.default_action,
        architectures: &profile.architectures,
        syscalls: &rules,
    };
    let parsed = existing
        .and_then(|t| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(t).ok())
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("SeccompProfile"));
    let Some(mut object) = parsed else {
        return serde_yaml_ng::to_string(&Object {
            api_version: API_VERSION,
            kind: "SeccompProfile",
            metadata: metadata(&object_name(image)),
            spec,
        });
    };
    let new_spec = serde_yaml_ng::to_value(&spec)?;
    match object.get_mut("spec").and_then(|s| s.as_mapping_mut()) {
        Some(old) => {
            // In place, so the fields keep their order.
            for key in ["defaultAction", "architectures", "syscalls"] {
                match new_spec.get(key) {
                    Some(v) => {
                        old.insert(key.into(), v.clone());
                    }
                    None => {
                        old.shift_remove(key);
                    }
                }
            }
        }
        None => {
            if let Some(m) = object.as_mapping_mut() {
                m.insert("spec".into(), new_spec);
            }
        }
    }
    serde_yaml_ng::to_string(&object)
}

/// A rule in the operator's fields (names, action, errnoRet, args): it has
/// no `comment`, `includes` or `excludes`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpoRule<'a> {
    names: Vec<&'a str>,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    args: &'a [super::learn::JsonArg],
}

impl<'a> SpoRule<'a> {
    fn of(r: &'a super::learn::JsonRule) -> Self {
        SpoRule {
            names: r
                .names
                .iter()
                .map(String::as_str)
                .chain(r.name.as_deref())
                .collect(),
            action: &r.action,
            errno_ret: r.errno_ret,
            args: &r.args,
        }
    }
}

/// DIR/profile-binding.yaml: `image`'s containers get the profile.
pub fn profile_binding(image: &str) -> Result<String, serde_yaml_ng::Error> {
    let name = object_name(image);
    serde_yaml_ng::to_string(&Object {
        api_version: API_VERSION,
        kind: "ProfileBinding",
        metadata: metadata(&name),
        spec: BindingSpec {
            image: image.to_string(),
            profile_ref: ProfileRef {
                kind: "SeccompProfile",
                name,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learned_profile_replaces_the_spec_and_keeps_the_rest() {
        let p = super::super::profile(&["read".into()], None, "SCMP_ARCH_X86_64", false).profile;
        let old = seccomp_profile(&p, "app:1").unwrap();
        // A field somebody added, which must survive.
        let old = old.replace("spec:\n", "spec:\n  baseProfileName: runc-v1.1.5\n");
        let mut learned: super::super::learn::JsonProfile =
            serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        learned.syscalls[0].names.push("getpriority".into());
        let new = updated_seccomp_profile(Some(&old), &learned, "other:2").unwrap();
        let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&new).unwrap();
        assert_eq!(y["metadata"]["name"], "slim-app-1", "the old name stays");
        assert_eq!(y["spec"]["baseProfileName"], "runc-v1.1.5");
        assert!(y["spec"].get("defaultErrnoRet").is_none());
        let names = y["spec"]["syscalls"][0]["names"].as_sequence().unwrap();
        assert!(names.iter().any(|n| n == "getpriority"), "{new}");
        let keys: Vec<&str> = y["spec"]
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "baseProfileName",
                "defaultAction",
                "architectures",
                "syscalls"
            ]
        );
        // Without one, a new object.
        let fresh: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&updated_seccomp_profile(None, &learned, "other:2").unwrap())
                .unwrap();
        assert_eq!(fresh["metadata"]["name"], "slim-other-2");
        assert_eq!(fresh["kind"], "SeccompProfile");
    }

    #[test]
    fn names_are_dns_subdomains() {
        assert_eq!(object_name("Reg:5000/App_x:1.2"), "slim-reg-5000-app-x-1.2");
        assert_eq!(object_name("nginx:"), "slim-nginx");
        assert!(object_name(&"a".repeat(400)).len() <= 253);
    }

    #[test]
    fn the_objects_carry_the_profile_and_bind_the_image() {
        let p = super::super::profile(&["read".into()], None, "SCMP_ARCH_X86_64", false).profile;
        let y: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&seccomp_profile(&p, "app:1").unwrap()).unwrap();
        assert_eq!(y["kind"], "SeccompProfile");
        assert_eq!(y["spec"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(y["spec"].get("defaultErrnoRet").is_none());
        let b: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&profile_binding("app:1").unwrap()).unwrap();
        assert_eq!(b["spec"]["image"], "app:1");
        assert_eq!(b["spec"]["profileRef"]["name"], y["metadata"]["name"]);
    }
}
