//! The profile for Kubernetes: a Security Profiles Operator `SeccompProfile`
//! (DIR/seccomp-profile.yaml) and a `ProfileBinding` that applies it to the
//! containers of the slim image (DIR/profile-binding.yaml), both in the
//! operator's `v1` API (its storage version). `kubectl apply -n NS -f` both;
//! the binding works in namespaces the operator watches for bindings.
use serde::Serialize;

use super::{Profile, Rule};

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
struct SeccompSpec<'a> {
    default_action: &'static str,
    architectures: &'a [&'static str],
    syscalls: &'a [Rule],
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
