//! What a PHP file says, from tree-sitter-php's syntax tree (a maintained
//! grammar of PHP 8, in C; the Rust parsers on crates.io either need a
//! newer Rust than 1.95 or, as mago-syntax 1.29 does through schemars,
//! turn on serde_json's `preserve_order` for the whole program).
//!
//! [`scan`] reads the paths a file includes, where they can be computed
//! without running it (literals, `__DIR__`, `__FILE__`, `dirname()`,
//! `DIRECTORY_SEPARATOR`, locals assigned such values, concatenations),
//! the class names it mentions, qualified by namespace and `use` aliases,
//! and string literals shaped like namespace names. [`returned_map`]
//! evaluates the array a Composer-generated map file returns.
use std::collections::{BTreeSet, HashMap};

use tree_sitter::{Node, Parser, Tree};

/// At most this many values per expression (a variable assigned in many
/// places, concatenated with another).
const MAX_VALUES: usize = 16;

/// What one source file names.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    /// Paths included, as evaluated (absolute, or relative as written).
    pub includes: Vec<String>,
    /// Fully qualified class (or namespace) names, without a leading `\`.
    pub names: BTreeSet<String>,
    /// String literals shaped like namespaced names (`Acme\Plugins\`).
    pub strings: BTreeSet<String>,
}

fn parse(source: &[u8]) -> Option<Tree> {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_php::LANGUAGE_PHP.into()).ok()?;
    p.parse(source, None)
}

/// Local variables and the values assigned to them.
type Vars = HashMap<String, Vec<String>>;

struct Eval<'a> {
    src: &'a [u8],
    file: &'a str,
}

fn parent_dir(path: &str) -> String {
    dirname(path, 1)
}

/// `dirname($p, $levels)` as PHP computes it.
fn dirname(path: &str, levels: u64) -> String {
    let mut p = path.to_string();
    for _ in 0..levels.max(1) {
        p = match p.trim_end_matches('/').rsplit_once('/') {
            Some(("", _)) => "/".into(),
            Some((d, _)) => d.to_string(),
            None => ".".into(),
        };
    }
    p
}

/// A string literal's value: single-quoted (`\\` and `\'` only), or
/// double-quoted without interpolation.
fn unquote(node: Node<'_>, src: &[u8]) -> Option<String> {
    let raw = node.utf8_text(src).ok()?;
    match node.kind() {
        "string" => {
            let inner = raw.strip_prefix('\'')?.strip_suffix('\'')?;
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some(n @ ('\\' | '\'')) => out.push(n),
                        Some(n) => {
                            out.push('\\');
                            out.push(n);
                        }
                        None => out.push('\\'),
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        }
        "encapsed_string" => {
            let mut out = String::new();
            let mut cursor = node.walk();
            for part in node.named_children(&mut cursor) {
                let t = part.utf8_text(src).ok()?;
                match part.kind() {
                    "string_content" => out.push_str(t),
                    "escape_sequence" => out.push_str(match t {
                        "\\n" => "\n",
                        "\\t" => "\t",
                        "\\\\" => "\\",
                        "\\$" => "$",
                        "\\\"" => "\"",
                        other => other,
                    }),
                    // `{$x}`, `$x`: computed.
                    _ => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

impl Eval<'_> {
    fn text(&self, n: Node<'_>) -> &str {
        n.utf8_text(self.src).unwrap_or("")
    }

    /// Every value expression `n` can have (none where it is computed).
    fn values(&self, n: Node<'_>, vars: &Vars) -> Vec<String> {
        match n.kind() {
            "string" | "encapsed_string" => unquote(n, self.src).into_iter().collect(),
            "name" => match self.text(n) {
                "__DIR__" => vec![parent_dir(self.file)],
                "__FILE__" => vec![self.file.to_string()],
                "DIRECTORY_SEPARATOR" => vec!["/".into()],
                _ => Vec::new(),
            },
            "parenthesized_expression" => n
                .named_child(0)
                .map(|c| self.values(c, vars))
                .unwrap_or_default(),
            "variable_name" => vars
                .get(self.text(n).trim_start_matches('$'))
                .cloned()
                .unwrap_or_default(),
            "binary_expression" => {
                let op = n.child_by_field_name("operator").map(|o| self.text(o));
                let (Some("."), Some(l), Some(r)) = (
                    op,
                    n.child_by_field_name("left"),
                    n.child_by_field_name("right"),
                ) else {
                    return Vec::new();
                };
                let (l, r) = (self.values(l, vars), self.values(r, vars));
                let mut out = Vec::new();
                for a in &l {
                    for b in &r {
                        if out.len() < MAX_VALUES {
                            out.push(format!("{a}{b}"));
                        }
                    }
                }
                out
            }
            "function_call_expression" => {
                let f = n.child_by_field_name("function").map(|f| self.text(f));
                if !f.is_some_and(|f| f.eq_ignore_ascii_case("dirname")) {
                    return Vec::new();
                }
                let Some(args) = n.child_by_field_name("arguments") else {
                    return Vec::new();
                };
                let mut cursor = args.walk();
                let args: Vec<Node<'_>> = args
                    .named_children(&mut cursor)
                    .filter(|a| a.kind() == "argument")
                    .filter_map(|a| a.named_child(a.named_child_count().saturating_sub(1)))
                    .collect();
                let levels = match args.get(1) {
                    None => 1,
                    Some(l) if l.kind() == "integer" => self.text(*l).parse().unwrap_or(1),
                    Some(_) => return Vec::new(),
                };
                args.first()
                    .map(|a| self.values(*a, vars))
                    .unwrap_or_default()
                    .iter()
                    .map(|p| dirname(p, levels))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Records `$x = <value>` in `vars`.
    fn assign(&self, n: Node<'_>, vars: &mut Vars) {
        let (Some(l), Some(r)) = (
            n.child_by_field_name("left"),
            n.child_by_field_name("right"),
        ) else {
            return;
        };
        if l.kind() != "variable_name" {
            return;
        }
        let values = self.values(r, vars);
        let slot = vars
            .entry(self.text(l).trim_start_matches('$').to_string())
            .or_default();
        for v in values {
            if slot.len() < MAX_VALUES && !slot.contains(&v) {
                slot.push(v);
            }
        }
    }
}

/// Whether `s` is shaped like a namespaced name (`Acme\Plugins\`).
fn is_namespaced(s: &str) -> bool {
    let s = s.trim_start_matches('\\');
    s.contains('\\')
        && s.len() < 256
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\\')
}

/// The namespace and `use` aliases in force while walking a file.
#[derive(Default)]
struct Scope {
    namespace: String,
    aliases: HashMap<String, String>,
}

impl Scope {
    /// The fully qualified name `raw` (as written) stands for.
    fn qualify(&self, raw: &str) -> String {
        if let Some(full) = raw.strip_prefix('\\') {
            return full.to_string();
        }
        let (first, rest) = match raw.split_once('\\') {
            Some((f, r)) => (f, Some(r)),
            None => (raw, None),
        };
        if let Some(full) = self.aliases.get(&first.to_ascii_lowercase()) {
            return match rest {
                Some(r) => format!("{full}\\{r}"),
                None => full.clone(),
            };
        }
        if self.namespace.is_empty() {
            raw.to_string()
        } else {
            format!("{}\\{raw}", self.namespace)
        }
    }
}

/// Whether a `use` declaration or clause imports functions or constants.
fn is_typed_use(n: Node<'_>) -> bool {
    let mut cursor = n.walk();
    let typed = n
        .children(&mut cursor)
        .any(|c| !c.is_named() && matches!(c.kind(), "function" | "const"));
    typed
}

/// The `use` imports of one declaration: (full name, alias).
fn use_items(n: Node<'_>, src: &[u8]) -> Vec<(String, Option<String>)> {
    if is_typed_use(n) {
        return Vec::new();
    }
    let text = |n: Node<'_>| n.utf8_text(src).unwrap_or("").to_string();
    let clause = |c: Node<'_>, prefix: &str| -> Option<(String, Option<String>)> {
        if is_typed_use(c) {
            return None;
        }
        let alias = c.child_by_field_name("alias").map(text);
        let mut cursor = c.walk();
        let name = c
            .named_children(&mut cursor)
            .find(|k| {
                matches!(k.kind(), "qualified_name" | "name")
                    && Some(*k) != c.child_by_field_name("alias")
            })
            .map(text)?;
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}\\{name}")
        };
        Some((full.trim_start_matches('\\').to_string(), alias))
    };
    let mut out = Vec::new();
    let mut cursor = n.walk();
    let children: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
    let prefix = children
        .iter()
        .find(|c| c.kind() == "namespace_name")
        .map(|c| text(*c))
        .unwrap_or_default();
    for c in children {
        match c.kind() {
            "namespace_use_clause" => out.extend(clause(c, "")),
            "namespace_use_group" => {
                let mut gc = c.walk();
                for g in c.named_children(&mut gc) {
                    if g.kind() == "namespace_use_clause" {
                        out.extend(clause(g, &prefix));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// What `source` (the file at `path`) includes and names.
pub fn scan(source: &[u8], path: &str) -> Found {
    let mut found = Found::default();
    let Some(tree) = parse(source) else {
        return found;
    };
    let ev = Eval {
        src: source,
        file: path,
    };
    let mut vars = Vars::new();
    let mut scope = Scope::default();
    // Pre-order, in source order: a namespace statement without braces
    // applies to what follows it.
    let mut cursor = tree.walk();
    loop {
        let n = cursor.node();
        let mut descend = true;
        match n.kind() {
            "namespace_definition" => {
                scope.namespace = n
                    .child_by_field_name("name")
                    .map(|x| ev.text(x).trim_start_matches('\\').to_string())
                    .unwrap_or_default();
                scope.aliases.clear();
            }
            "namespace_use_declaration" => {
                for (full, alias) in use_items(n, source) {
                    let short = alias
                        .unwrap_or_else(|| full.rsplit('\\').next().unwrap_or(&full).to_string());
                    scope
                        .aliases
                        .insert(short.to_ascii_lowercase(), full.clone());
                    found.names.insert(full);
                }
                descend = false;
            }
            "assignment_expression" => ev.assign(n, &mut vars),
            "require_expression"
            | "require_once_expression"
            | "include_expression"
            | "include_once_expression" => {
                if let Some(e) = n.named_child(0) {
                    found.includes.extend(ev.values(e, &vars));
                }
            }
            "namespace_name" => descend = false,
            "qualified_name" => {
                found.names.insert(scope.qualify(ev.text(n)));
                descend = false;
            }
            // A bare name in a class position; variables' names are not.
            "name" if n.parent().is_none_or(|p| p.kind() != "variable_name") => {
                found.names.insert(scope.qualify(ev.text(n)));
            }
            "string" | "encapsed_string" => {
                if let Some(v) = unquote(n, source).filter(|v| is_namespaced(v)) {
                    found.strings.insert(v.trim_start_matches('\\').to_string());
                }
            }
            _ => {}
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return found;
            }
        }
    }
}

/// The array a Composer-generated map file (`autoload_psr4.php`, ...)
/// returns, as key -> paths, its `$vendorDir`/`$baseDir` evaluated.
pub fn returned_map(source: &[u8], path: &str) -> Vec<(String, Vec<String>)> {
    let Some(tree) = parse(source) else {
        return Vec::new();
    };
    let ev = Eval {
        src: source,
        file: path,
    };
    let mut vars = Vars::new();
    let mut out = Vec::new();
    let root = tree.root_node();
    let mut cursor = root.walk();
    for stmt in root.named_children(&mut cursor) {
        match stmt.kind() {
            "expression_statement" => {
                if let Some(a) = stmt
                    .named_child(0)
                    .filter(|a| a.kind() == "assignment_expression")
                {
                    ev.assign(a, &mut vars);
                }
            }
            "return_statement" => {
                let Some(array) = stmt
                    .named_child(0)
                    .filter(|a| a.kind() == "array_creation_expression")
                else {
                    continue;
                };
                let mut ac = array.walk();
                for el in array.named_children(&mut ac) {
                    if el.kind() != "array_element_initializer" || el.named_child_count() != 2 {
                        continue;
                    }
                    let (Some(k), Some(v)) = (el.named_child(0), el.named_child(1)) else {
                        continue;
                    };
                    let Some(key) = ev.values(k, &vars).into_iter().next() else {
                        continue;
                    };
                    let paths = if v.kind() == "array_creation_expression" {
                        let mut vc = v.walk();
                        let items: Vec<Node<'_>> = v
                            .named_children(&mut vc)
                            .filter(|e| e.kind() == "array_element_initializer")
                            .filter_map(|e| e.named_child(e.named_child_count().saturating_sub(1)))
                            .collect();
                        items.iter().flat_map(|e| ev.values(*e, &vars)).collect()
                    } else {
                        ev.values(v, &vars)
                    };
                    out.push((
                        key,
                        paths
                            .iter()
                            .map(|p| crate::rebuild::paths::normalize(p))
                            .collect(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_names_and_strings_are_found() {
        let src = br#"<?php
namespace App\Web;
use Acme\Greeter\Greeter;
use Acme\{Clock, Money as M, function helper2};
use function Acme\helper;
require_once __DIR__ . '/../vendor/autoload.php';
$base = dirname(__FILE__) . '/handlers';
function h() {
  require __DIR__ . '/handlers/' . 'tz.php';
  include 'lib/x.php';
  require_once($base . DIRECTORY_SEPARATOR . "y.php");
  require dirname(__DIR__, 2) . '/top.php';
  require $computed;
  require "$interpolated.php";
  $g = new Greeter();
  echo \Acme\Util\Str::upper("x"), M::of(1), Local::x();
  $cls = 'Acme\\Plugins\\' . ucfirst($name);
}
"#;
        let f = scan(src, "/srv/www/public/index.php");
        assert_eq!(
            f.includes,
            [
                "/srv/www/public/../vendor/autoload.php",
                "/srv/www/public/handlers/tz.php",
                "lib/x.php",
                "/srv/www/public/handlers/y.php",
                "/srv/top.php",
            ]
        );
        for n in [
            "Acme\\Greeter\\Greeter",
            "Acme\\Clock",
            "Acme\\Money",
            "Acme\\Util\\Str",
            "App\\Web\\Local",
        ] {
            assert!(f.names.contains(n), "{n} not in {:?}", f.names);
        }
        for n in ["Acme\\helper", "Acme\\helper2", "App\\Web\\g"] {
            assert!(!f.names.contains(n), "{n} is no class: {:?}", f.names);
        }
        assert_eq!(f.strings.iter().collect::<Vec<_>>(), ["Acme\\Plugins\\"]);
    }

    #[test]
    fn a_composer_map_evaluates_its_directories() {
        let src = br#"<?php
// autoload_psr4.php @generated by Composer
$vendorDir = dirname(__DIR__);
$baseDir = dirname($vendorDir);
return array(
    'App\\' => array($baseDir . '/src'),
    'Acme\\Greeter\\' => array($vendorDir . '/acme/greeter/src', __DIR__ . '/..' . '/acme/x'),
    'Legacy' => $vendorDir . '/acme/legacy/lib/Legacy.php',
);
"#;
        let got = returned_map(src, "/srv/www/vendor/composer/autoload_psr4.php");
        assert_eq!(
            got,
            [
                ("App\\".to_string(), vec!["/srv/www/src".to_string()]),
                (
                    "Acme\\Greeter\\".into(),
                    vec![
                        "/srv/www/vendor/acme/greeter/src".into(),
                        "/srv/www/vendor/acme/x".into()
                    ]
                ),
                (
                    "Legacy".into(),
                    vec!["/srv/www/vendor/acme/legacy/lib/Legacy.php".into()]
                ),
            ]
        );
    }

    #[test]
    fn unparsable_files_import_what_parses() {
        let f = scan(b"<?php function (((", "/x.php");
        assert!(f.includes.is_empty());
    }
}
