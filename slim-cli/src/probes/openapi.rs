//! `--openapi FILE|PATH`: one HTTP probe per operation of an OpenAPI 3.x
//! document (read with the `openapiv3` crate) or a Swagger 2.0 one (its few
//! fields read here). For each operation:
//! - path and query parameters take the parameter's `example`, its first
//!   `examples` value, the schema's `example`, `default` or first `enum`
//!   value, else a placeholder of its type (1, 1.5, true, "x", or a valid
//!   uuid/date/date-time/email for those formats); optional query
//!   parameters are sent only when they have such a value, required header
//!   parameters always;
//! - a request body takes the media type's example (JSON preferred), else
//!   one built from its schema the same way (every property of an object);
//! - the probe expects one of the operation's declared statuses below 500
//!   (a code, or a class such as 2XX); with none declared (only
//!   `default`), any status below 500. A 5xx always fails.
//!
//! The server's base path (OpenAPI 3: the path of the first `servers` URL,
//! its variables at their defaults; Swagger: `basePath`) prefixes every path.
use std::path::Path;

use anyhow::{bail, Context, Result};
use openapiv3::{OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{
    expect::{Expect, StatusRange},
    file::{Body, Entry, Http, Origin, PortChoice, Step},
};

/// Reads a host file and generates its probes (to the first exposed port).
pub fn load(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--openapi: cannot read {}", path.display()))?;
    let ops = generate(&text).with_context(|| format!("--openapi {}", path.display()))?;
    if ops.is_empty() {
        bail!(
            "--openapi {}: the document describes no operation",
            path.display()
        );
    }
    Ok(ops
        .into_iter()
        .map(|h| Entry::new(Step::Http(h), Origin::Openapi))
        .collect())
}

/// The probes of a document (JSON or YAML), in document order.
pub fn generate(text: &str) -> Result<Vec<Http>> {
    let doc: Value = serde_yaml_ng::from_str(text).context("not JSON or YAML")?;
    if doc.get("swagger").and_then(Value::as_str) == Some("2.0") {
        return swagger(&doc, text);
    }
    // An unquoted `openapi: 3.0` reads as a number.
    let version = doc
        .get("openapi")
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    match version.as_deref() {
        Some(v) if v.starts_with("3.") => openapi3(&doc, text),
        Some(v) => bail!("OpenAPI version {v} is not one slim reads (3.x, or Swagger 2.0)"),
        None => {
            bail!("not an OpenAPI 3.x or Swagger 2.0 document (no `openapi` or `swagger` field)")
        }
    }
}

/// Follows a local `$ref` ("#/components/...") in the document.
fn pointer<'a>(doc: &'a Value, r: &str) -> Result<&'a Value> {
    let p = r
        .strip_prefix('#')
        .with_context(|| format!("$ref {r:?}: only references inside the document are followed"))?;
    doc.pointer(p)
        .with_context(|| format!("$ref {r:?} points at nothing"))
}

fn resolve<T: DeserializeOwned + Clone>(doc: &Value, r: &ReferenceOr<T>) -> Result<T> {
    match r {
        ReferenceOr::Item(t) => Ok(t.clone()),
        ReferenceOr::Reference { reference } => {
            serde_json::from_value(pointer(doc, reference)?.clone())
                .with_context(|| format!("$ref {reference:?}"))
        }
    }
}

/// `doc` (whose maps are sorted) resolves references; the operations are
/// read from `text` again, in document order.
fn openapi3(doc: &Value, text: &str) -> Result<Vec<Http>> {
    let api: OpenAPI = serde_yaml_ng::from_str(text).context("not a valid OpenAPI 3 document")?;
    let prefix = api
        .servers
        .first()
        .map(|s| {
            let mut url = s.url.clone();
            for (name, var) in s.variables.iter().flatten() {
                url = url.replace(&format!("{{{name}}}"), &var.default);
            }
            base_path(&url)
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (path, item) in api.paths.iter() {
        let item = resolve(doc, item)?;
        for (method, op) in item.iter() {
            let mut params = Vec::new();
            // Operation parameters override the path item's of the same name and place.
            for p in item.parameters.iter().chain(&op.parameters) {
                let p = resolve(doc, p)?;
                params.retain(|q: &Parameter| {
                    !(q.parameter_data_ref().name == p.parameter_data_ref().name
                        && std::mem::discriminant(q) == std::mem::discriminant(&p))
                });
                params.push(p);
            }
            let mut parts = Parts::default();
            for p in &params {
                let data = p.parameter_data_ref();
                let schema = match &data.format {
                    ParameterSchemaOrContent::Schema(s) => serde_json::to_value(s)?,
                    ParameterSchemaOrContent::Content(c) => c
                        .values()
                        .next()
                        .and_then(|m| m.schema.as_ref())
                        .map(serde_json::to_value)
                        .transpose()?
                        .unwrap_or(Value::Null),
                };
                let given = data
                    .example
                    .clone()
                    .or_else(|| {
                        data.examples
                            .values()
                            .find_map(|e| resolve(doc, e).ok().and_then(|e| e.value))
                    })
                    .or_else(|| schema_given(doc, &schema));
                let place = match p {
                    Parameter::Query { .. } => Place::Query,
                    Parameter::Path { .. } => Place::Path,
                    Parameter::Header { .. } => Place::Header,
                    Parameter::Cookie { .. } => continue,
                };
                parts.add(place, &data.name, data.required, given, || {
                    example(doc, &schema, 0)
                });
            }
            let body = match &op.request_body {
                Some(rb) => {
                    let rb = resolve(doc, rb)?;
                    let media = rb
                        .content
                        .iter()
                        .find(|(k, _)| k.contains("json"))
                        .or_else(|| rb.content.iter().next());
                    match media {
                        Some((kind, m)) => {
                            let schema = m.schema.as_ref().map(serde_json::to_value).transpose()?;
                            let value = m
                                .example
                                .clone()
                                .or_else(|| {
                                    m.examples
                                        .values()
                                        .find_map(|e| resolve(doc, e).ok().and_then(|e| e.value))
                                })
                                .or_else(|| schema.as_ref().map(|s| example(doc, s, 0)))
                                .unwrap_or(Value::Null);
                            media_body(kind, value)
                        }
                        None => Body::None,
                    }
                }
                None => Body::None,
            };
            let codes: Vec<StatusRange> = op
                .responses
                .responses
                .keys()
                .map(|c| match c {
                    StatusCode::Code(c) => StatusRange { lo: *c, hi: *c },
                    StatusCode::Range(d) => StatusRange {
                        lo: d * 100,
                        hi: d * 100 + 99,
                    },
                })
                .filter(|r| r.lo < 500 && r.lo >= 100)
                .collect();
            out.push(parts.into_http(method, &format!("{prefix}{path}"), body, codes));
        }
    }
    Ok(out)
}

/// The paths of a Swagger document, in document order.
#[derive(serde::Deserialize)]
struct SwaggerPaths {
    paths: indexmap::IndexMap<String, Value>,
}

fn swagger(doc: &Value, text: &str) -> Result<Vec<Http>> {
    let prefix = doc
        .get("basePath")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let paths = serde_yaml_ng::from_str::<SwaggerPaths>(text)
        .context("a Swagger 2.0 document needs `paths`")?
        .paths;
    let mut out = Vec::new();
    for (path, item) in &paths {
        let item = match item.get("$ref").and_then(Value::as_str) {
            Some(r) => pointer(doc, r)?,
            None => item,
        };
        for method in ["get", "put", "post", "delete", "options", "head", "patch"] {
            let Some(op) = item.get(method) else {
                continue;
            };
            let mut params: Vec<Value> = Vec::new();
            let listed = |v: &Value| {
                v.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            for p in listed(item).into_iter().chain(listed(op)) {
                let p = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => pointer(doc, r)?.clone(),
                    None => p,
                };
                params.retain(|q| !(q["name"] == p["name"] && q["in"] == p["in"]));
                params.push(p);
            }
            let mut parts = Parts::default();
            let mut body = Body::None;
            for p in &params {
                let name = p["name"].as_str().unwrap_or_default();
                let required = p["required"].as_bool().unwrap_or(false);
                let place = match p["in"].as_str() {
                    Some("query") => Place::Query,
                    Some("path") => Place::Path,
                    Some("header") => Place::Header,
                    Some("body") => {
                        let schema = p.get("schema").cloned().unwrap_or(Value::Null);
                        let value = p
                            .get("x-example")
                            .cloned()
                            .unwrap_or_else(|| example(doc, &schema, 0));
                        body = media_body("application/json", value);
                        continue;
                    }
                    _ => continue,
                };
                // A Swagger parameter is its own schema (type, format, enum, ...).
                let given = p.get("x-example").cloned().or_else(|| schema_given(doc, p));
                parts.add(place, name, required, given, || example(doc, p, 0));
            }
            let codes: Vec<StatusRange> = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.keys())
                .filter_map(|k| k.parse::<u16>().ok())
                .filter(|c| (100..500).contains(c))
                .map(|c| StatusRange { lo: c, hi: c })
                .collect();
            out.push(parts.into_http(method, &format!("{prefix}{path}"), body, codes));
        }
    }
    Ok(out)
}

/// The path of a server URL ("http://h/v1" -> "/v1", "/api/" -> "/api").
fn base_path(url: &str) -> String {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    path.trim_end_matches('/').to_string()
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Path,
    Query,
    Header,
}

#[derive(Default)]
struct Parts {
    path_values: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Parts {
    fn add(
        &mut self,
        place: Place,
        name: &str,
        required: bool,
        given: Option<Value>,
        placeholder: impl FnOnce() -> Value,
    ) {
        let value = match (given, place, required) {
            (Some(v), _, _) => v,
            (None, Place::Path, _) | (None, _, true) => placeholder(),
            (None, _, false) => return,
        };
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            v => v.to_string(),
        };
        let entry = (name.to_string(), text);
        match place {
            Place::Path => self.path_values.push(entry),
            Place::Query => self.query.push(entry),
            Place::Header => self.headers.push(entry),
        }
    }

    fn into_http(self, method: &str, template: &str, body: Body, codes: Vec<StatusRange>) -> Http {
        let mut path = template.to_string();
        for (name, value) in &self.path_values {
            path = path.replace(&format!("{{{name}}}"), &encode(value));
        }
        if !self.query.is_empty() {
            let q: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            path = format!("{path}?{}", q.join("&"));
        }
        let mut h = Http::get(&path, PortChoice::First);
        h.method = method.to_ascii_uppercase();
        h.headers = self.headers;
        h.body = body;
        h.expect = Expect {
            status: codes,
            ..Expect::default()
        };
        h
    }
}

/// Percent-encodes all but the unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn media_body(kind: &str, value: Value) -> Body {
    match value {
        Value::Null => Body::None,
        Value::String(s) if !kind.contains("json") => Body::Text(s),
        v => Body::Json(v),
    }
}

/// What a schema itself offers: its example, default or first enum value.
fn schema_given(doc: &Value, schema: &Value) -> Option<Value> {
    let schema = deref(doc, schema);
    schema
        .get("example")
        .or_else(|| schema.get("default"))
        .or_else(|| schema.get("enum").and_then(|e| e.get(0)))
        .cloned()
}

fn deref<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..16 {
        match s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| pointer(doc, r).ok())
        {
            Some(t) => s = t,
            None => break,
        }
    }
    s
}

/// A value that fits `schema`: what it offers, else built from its type.
fn example(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = deref(doc, schema);
    if let Some(v) = schema_given(doc, schema) {
        return v;
    }
    if depth > 8 {
        return Value::Null;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = serde_json::Map::new();
        for part in all {
            match example(doc, part, depth + 1) {
                Value::Object(m) => merged.extend(m),
                other if merged.is_empty() => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema.get(key).and_then(|v| v.get(0)) {
            return example(doc, first, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // 3.1 allows a list of types.
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ if schema.get("properties").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => "",
    };
    match ty {
        "object" => {
            let mut m = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    if v.get("readOnly").and_then(Value::as_bool) == Some(true) {
                        continue;
                    }
                    m.insert(k.clone(), example(doc, v, depth + 1));
                }
            }
            Value::Object(m)
        }
        "array" => {
            let item = schema
                .get("items")
                .map_or(Value::Null, |i| example(doc, i, depth + 1));
            json!([item])
        }
        "integer" => json!(schema
            .get("minimum")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1)),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "string" => json!(match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => "00000000-0000-4000-8000-000000000001",
            Some("date") => "2026-01-01",
            Some("date-time") => "2026-01-01T00:00:00Z",
            Some("email") => "probe@example.com",
            Some("uri") | Some("url") => "http://localhost/",
            Some("byte") => "eA==",
            _ => "x",
        }),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/openapi")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn summary(ops: &[Http]) -> Vec<String> {
        ops.iter()
            .map(|h| format!("{} {} [{}]", h.method, h.path, h.expect.describe()))
            .collect()
    }

    #[test]
    fn petstore_openapi_3() {
        let ops = generate(&data("petstore.yaml")).unwrap();
        assert_eq!(
            summary(&ops),
            [
                "GET /v1/pets [status 200]",
                "POST /v1/pets [status 201]",
                "GET /v1/pets/x [status 200]",
            ]
        );
        // listPets' limit is optional and has no example: not sent.
        assert!(matches!(ops[1].body, Body::None));
    }

    #[test]
    fn petstore_expanded_openapi_3() {
        let ops = generate(&data("petstore-expanded.yaml")).unwrap();
        assert_eq!(
            summary(&ops),
            [
                "GET /v2/pets [status 200]",
                "POST /v2/pets [status 200]",
                "GET /v2/pets/1 [status 200]",
                "DELETE /v2/pets/1 [status 204]",
            ]
        );
        // NewPet: name and tag, built from the schema.
        let Body::Json(body) = &ops[1].body else {
            panic!("{:?}", ops[1].body)
        };
        assert_eq!(body, &json!({"name": "x", "tag": "x"}));
    }

    #[test]
    fn petstore_swagger_2() {
        let ops = generate(&data("petstore.json")).unwrap();
        let got = summary(&ops);
        assert_eq!(
            got,
            [
                "GET /v1/pets [status 200]",
                "POST /v1/pets [status 201]",
                "GET /v1/pets/x [status 200]",
            ]
        );
    }

    #[test]
    fn examples_defaults_and_enums_come_first() {
        let doc = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "http://{host}/base/", variables: {host: {default: localhost}}}]
paths:
  /items/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}, example: 42}
    put:
      parameters:
        - {name: mode, in: query, schema: {type: string, enum: [fast, slow]}}
        - {name: page, in: query, schema: {type: integer, default: 3}}
        - {name: skipped, in: query, schema: {type: string}}
        - {name: X-Key, in: header, required: true, schema: {type: string}}
        - {name: q, in: query, required: true, schema: {type: string, format: date}}
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Item"}
      responses:
        "2XX": {description: ok}
        404: {description: missing}
        "500": {description: broken}
        default: {description: other}
components:
  schemas:
    Item:
      type: object
      required: [name]
      properties:
        id: {type: integer, readOnly: true}
        name: {type: string, example: "widget"}
        tags: {type: array, items: {type: string}}
        size: {allOf: [{$ref: "#/components/schemas/Size"}]}
    Size:
      type: object
      properties: {w: {type: number}, unit: {type: string, enum: [cm, in]}}
"##;
        let ops = generate(doc).unwrap();
        assert_eq!(ops.len(), 1);
        let h = &ops[0];
        assert_eq!(h.method, "PUT");
        assert_eq!(h.path, "/base/items/42?mode=fast&page=3&q=2026-01-01");
        assert_eq!(h.headers, [("X-Key".to_string(), "x".to_string())]);
        assert_eq!(h.expect.describe(), "status 2xx|404");
        assert!(!h.expect.status_ok(500));
        assert_eq!(
            h.body,
            Body::Json(json!({"name": "widget", "tags": ["x"], "size": {"w": 1.5, "unit": "cm"}}))
        );
    }

    #[test]
    fn operations_come_in_document_order() {
        let v3 = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /z: {get: {responses: {200: {description: ok}}}}\n  /a: {get: {responses: {200: {description: ok}}}}\n";
        let paths: Vec<String> = generate(v3).unwrap().into_iter().map(|h| h.path).collect();
        assert_eq!(paths, ["/z", "/a"]);
        let v2 = r#"{"swagger": "2.0", "paths": {"/z": {"get": {"responses": {"200": {}}}}, "/a": {"post": {"responses": {"201": {}}}}}}"#;
        let ops: Vec<String> = generate(v2)
            .unwrap()
            .into_iter()
            .map(|h| format!("{} {}", h.method, h.path))
            .collect();
        assert_eq!(ops, ["GET /z", "POST /a"]);
    }

    #[test]
    fn other_documents_are_refused_in_one_line() {
        assert!(generate("openapi: 2.5\npaths: {}")
            .unwrap_err()
            .to_string()
            .contains("2.5"));
        assert!(generate("{}")
            .unwrap_err()
            .to_string()
            .contains("not an OpenAPI"));
        assert!(generate("[").is_err());
    }
}
