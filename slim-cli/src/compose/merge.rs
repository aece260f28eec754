//! Merging compose files as compose does (the compose specification's
//! "Merge and override"): mappings merge key by key, later scalars win,
//! sequences append; `command`, `entrypoint` and `healthcheck.test` are
//! replaced; `environment`, `labels`, `depends_on` and `networks` merge as
//! mappings whichever form each file uses; `volumes` merge by their target
//! path; `ports`, `expose`, `dns` and the like append without duplicates.
use serde_yaml_ng::{Mapping, Value};

/// Service keys whose sequence form is a mapping in disguise: `["K=V"]` is
/// `{K: V}`, `[db]` is `{db: null}`.
const AS_MAPPING: &[(&str, char)] = &[("environment", '='), ("labels", '=')];
const NAMES_AS_MAPPING: &[&str] = &["depends_on", "networks"];
/// Service keys that replace what an earlier file said.
const REPLACED: &[&str] = &["command", "entrypoint"];

/// Brings one service's lists that mean mappings to the mapping form.
pub fn normalize_service(service: &mut Value) {
    let Value::Mapping(map) = service else { return };
    for (key, sep) in AS_MAPPING {
        if let Some(Value::Sequence(items)) = map.get(*key) {
            let mut m = Mapping::new();
            for item in items {
                let s = scalar(item);
                match s.split_once(*sep) {
                    Some((k, v)) => {
                        m.insert(Value::String(k.to_string()), Value::String(v.to_string()))
                    }
                    None => m.insert(Value::String(s), Value::Null),
                };
            }
            map.insert(Value::String(key.to_string()), Value::Mapping(m));
        }
    }
    for key in NAMES_AS_MAPPING {
        if let Some(Value::Sequence(items)) = map.get(*key) {
            let m: Mapping = items
                .iter()
                .map(|i| (Value::String(scalar(i)), Value::Null))
                .collect();
            map.insert(Value::String(key.to_string()), Value::Mapping(m));
        }
    }
    // A single string where a list is allowed.
    for key in ["env_file", "dns", "dns_search", "tmpfs"] {
        if let Some(Value::String(s)) = map.get(key) {
            let one = Value::Sequence(vec![Value::String(s.clone())]);
            map.insert(Value::String(key.to_string()), one);
        }
    }
}

/// A scalar as text (numbers and booleans as YAML writes them).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Merges the `over` compose file into `base`.
pub fn merge_files(base: &mut Value, over: Value) {
    let (Value::Mapping(b), Value::Mapping(o)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for (k, v) in o {
        let key = scalar(&k);
        match (key.as_str(), b.get_mut(&k)) {
            ("services", Some(Value::Mapping(bs))) => {
                let Value::Mapping(os) = v else {
                    b.insert(k, v);
                    continue;
                };
                for (name, svc) in os {
                    match bs.get_mut(&name) {
                        Some(existing) => merge_service(existing, svc),
                        None => {
                            bs.insert(name, svc);
                        }
                    }
                }
            }
            (_, Some(existing)) => merge_value(existing, v),
            (_, None) => {
                b.insert(k, v);
            }
        }
    }
}

/// Merges one service definition of a later file into the earlier one.
pub fn merge_service(base: &mut Value, over: Value) {
    let (Value::Mapping(b), Value::Mapping(o)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for (k, v) in o {
        let key = scalar(&k);
        let Some(existing) = b.get_mut(&k) else {
            b.insert(k, v);
            continue;
        };
        match key.as_str() {
            _ if REPLACED.contains(&key.as_str()) => *existing = v,
            "volumes" => merge_by(existing, v, volume_target),
            "healthcheck" => {
                if let (Value::Mapping(eh), Value::Mapping(oh)) = (&mut *existing, &v) {
                    for (hk, hv) in oh {
                        // `test` is a command: replaced, not appended.
                        eh.insert(hk.clone(), hv.clone());
                    }
                } else {
                    *existing = v;
                }
            }
            _ => merge_value(existing, v),
        }
    }
}

/// Generic merge: mappings by key, sequences appended without duplicates,
/// scalars replaced.
fn merge_value(base: &mut Value, over: Value) {
    match (&mut *base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge_value(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o)) => {
            for item in o {
                if !b.contains(&item) {
                    b.push(item);
                }
            }
        }
        (_, o) => *base = o,
    }
}

/// Sequences merged by a key: a later entry with the same key replaces the
/// earlier one in place.
fn merge_by(base: &mut Value, over: Value, key: fn(&Value) -> Option<String>) {
    let (Value::Sequence(b), Value::Sequence(o)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for item in o {
        let k = key(&item);
        match b.iter_mut().find(|e| k.is_some() && key(e) == k) {
            Some(existing) => *existing = item,
            None => b.push(item),
        }
    }
}

/// A volume entry's container path, short or long syntax.
pub fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            })
        }
        Value::Mapping(m) => m.get("target").map(scalar),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        let mut v: Value = serde_yaml_ng::from_str(s).unwrap();
        if let Some(Value::Mapping(services)) = v.get_mut("services") {
            for (_, svc) in services.iter_mut() {
                normalize_service(svc);
            }
        }
        v
    }

    #[test]
    fn later_files_override_as_compose_merges() {
        let mut base = yaml(
            "services:
  app:
    image: app:1
    command: [a, b]
    environment: [A=1, B=2]
    ports: ['8080:80']
    depends_on: [db]
    volumes: ['./one:/data', 'cache:/cache']
    healthcheck: {test: [CMD, a], interval: 5s}
  db: {image: pg}
networks: {back: {driver: bridge}}
",
        );
        let over = yaml(
            "services:
  app:
    image: app:2
    command: [c]
    environment: {B: '3', C: '4'}
    ports: ['8080:80', '9090:90']
    depends_on: {cache: {condition: service_healthy}}
    volumes: [{type: bind, source: ./two, target: /data}]
    healthcheck: {test: [CMD, b]}
  cache: {image: redis}
networks: {back: {internal: true}}
",
        );
        merge_files(&mut base, over);
        let app = &base["services"]["app"];
        assert_eq!(app["image"], Value::from("app:2"));
        assert_eq!(app["command"], yaml("[c]"));
        assert_eq!(app["environment"], yaml("{A: '1', B: '3', C: '4'}"));
        assert_eq!(app["ports"], yaml("['8080:80', '9090:90']"));
        assert_eq!(
            app["depends_on"],
            yaml("{db: null, cache: {condition: service_healthy}}")
        );
        assert_eq!(
            app["volumes"],
            yaml("[{type: bind, source: ./two, target: /data}, 'cache:/cache']")
        );
        assert_eq!(app["healthcheck"], yaml("{test: [CMD, b], interval: 5s}"));
        assert_eq!(base["services"]["cache"]["image"], Value::from("redis"));
        assert_eq!(
            base["networks"]["back"],
            yaml("{driver: bridge, internal: true}")
        );
    }
}
