//! Variable interpolation and `.env`/`env_file` parsing, as compose does
//! them: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` (defaults may
//! nest), and `$$` for a literal `$`.
use std::path::Path;

use anyhow::{bail, Context, Result};

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `s` with its variables substituted; the error is one line without the
/// location (the caller adds file and key).
pub fn interpolate(
    s: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some(&n) if is_name_start(n) => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && is_name(chars[end]) {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                match vars(&name) {
                    Some(v) => out.push_str(&v),
                    None => unset(&name),
                }
                i = end;
            }
            Some('{') => {
                // The matching brace, counting nested `${`.
                let mut depth = 1;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    bail!("unterminated ${{ in {s:?}");
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, vars, unset)?);
                i = j + 1;
            }
            _ => bail!("invalid interpolation in {s:?}: write $$ for a literal $"),
        }
    }
    Ok(out)
}

/// The inside of `${...}`.
fn braced(
    inner: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
) -> Result<String> {
    let name_len = inner
        .char_indices()
        .find(|(_, c)| !is_name(*c))
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() || !name.starts_with(is_name_start) {
        bail!("invalid variable name in ${{{inner}}}");
    }
    let value = vars(name);
    let (colon, rest) = match rest.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // With a colon, an empty value counts as unset.
    let present = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
    let Some(op) = rest.chars().next() else {
        if colon {
            bail!("invalid interpolation ${{{inner}}}");
        }
        return Ok(match value {
            Some(v) => v,
            None => {
                unset(name);
                String::new()
            }
        });
    };
    let arg = &rest[op.len_utf8()..];
    match op {
        '-' => {
            if present {
                Ok(value.unwrap_or_default())
            } else {
                interpolate(arg, vars, unset)
            }
        }
        '?' => {
            if present {
                Ok(value.unwrap_or_default())
            } else {
                let msg = interpolate(arg, vars, unset)?;
                bail!("required variable {name} is missing a value: {msg}")
            }
        }
        '+' => {
            if present {
                interpolate(arg, vars, unset)
            } else {
                Ok(String::new())
            }
        }
        _ => bail!("invalid interpolation ${{{inner}}}"),
    }
}

/// The variables of a `.env` or `env_file` file: `KEY=VALUE` lines, `#`
/// comments, an optional `export `, single quotes (literal) or double
/// quotes (escapes, interpolated), unquoted values interpolated with an
/// inline ` #` comment cut. A line with a bare `KEY` takes slim's
/// environment's value (None when unset). Values may use the file's
/// earlier keys and then `outer`.
pub fn read_env_file(
    path: &Path,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_env(&text, outer).with_context(|| format!("{}", path.display()))
}

pub fn parse_env(
    text: &str,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim_start())),
            None => (line, None),
        };
        if key.is_empty()
            || !key.starts_with(is_name_start)
            || !key.chars().all(|c| is_name(c) || c == '.' || c == '-')
        {
            bail!("line {}: {key:?} is not a variable name", n + 1);
        }
        let Some(value) = value else {
            out.push((key.to_string(), std::env::var(key).ok()));
            continue;
        };
        let lookup = |name: &str| {
            out.iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone())
                .or_else(|| outer(name))
        };
        let value = if let Some(rest) = value.strip_prefix('\'') {
            let Some(end) = rest.find('\'') else {
                bail!("line {}: unterminated single quote", n + 1);
            };
            rest[..end].to_string()
        } else if let Some(rest) = value.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = rest.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some(o) => v.push(o),
                        None => {}
                    },
                    o => v.push(o),
                }
            }
            if !closed {
                bail!(
                    "line {}: unterminated double quote (values span one line)",
                    n + 1
                );
            }
            interpolate(&v, &lookup, &mut |_| {}).with_context(|| format!("line {}", n + 1))?
        } else {
            let v = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate(v.trim_end(), &lookup, &mut |_| {})
                .with_context(|| format!("line {}", n + 1))?
        };
        out.push((key.to_string(), Some(value)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn with(vars: &[(&str, &str)], s: &str) -> Result<(String, Vec<String>)> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut unset = Vec::new();
        let out = interpolate(s, &|n| map.get(n).cloned(), &mut |n| {
            unset.push(n.to_string())
        })?;
        Ok((out, unset))
    }

    #[test]
    fn variables_are_substituted_as_compose_does() {
        let v = [("A", "1"), ("E", "")];
        assert_eq!(with(&v, "x$A-${A}y").unwrap().0, "x1-1y");
        assert_eq!(with(&v, "${B:-dflt}").unwrap().0, "dflt");
        assert_eq!(with(&v, "${E:-dflt}").unwrap().0, "dflt");
        assert_eq!(with(&v, "${E-dflt}").unwrap().0, "");
        assert_eq!(with(&v, "${B-dflt}").unwrap().0, "dflt");
        assert_eq!(with(&v, "${A:+alt}|${B:+alt}").unwrap().0, "alt|");
        assert_eq!(with(&v, "${B:-${A}}").unwrap().0, "1");
        assert_eq!(with(&v, "$$A costs $$5").unwrap().0, "$A costs $5");
        let (out, unset) = with(&v, "[${B}]").unwrap();
        assert_eq!((out.as_str(), unset), ("[]", vec!["B".to_string()]));
    }

    #[test]
    fn required_and_malformed_variables_fail_in_one_line() {
        let e = with(&[], "${DB?set DB first}").unwrap_err().to_string();
        assert_eq!(e, "required variable DB is missing a value: set DB first");
        assert!(with(&[("E", "")], "${E:?x}").is_err());
        assert!(with(&[("E", "")], "${E?x}").is_ok());
        for bad in ["${", "${A", "$ 5", "${1A}", "${A!x}"] {
            let e = with(&[("A", "1")], bad).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn env_files_parse_quotes_comments_and_earlier_keys() {
        let text = "# comment\n\nexport A=1\nB = two words # note\nC='lit $A'\nD=\"q $A\\n\"\nE=${A}x\nHOME_FROM_SLIM\n";
        let got = parse_env(text, &|n| (n == "OUT").then(|| "o".to_string())).unwrap();
        let get = |k: &str| got.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("A").as_deref(), Some("1"));
        assert_eq!(get("B").as_deref(), Some("two words"));
        assert_eq!(get("C").as_deref(), Some("lit $A"));
        assert_eq!(get("D").as_deref(), Some("q 1\n"));
        assert_eq!(get("E").as_deref(), Some("1x"));
        assert!(parse_env("A=\"open\n", &|_| None)
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        assert!(parse_env("not a key=1\n", &|_| None).is_err());
    }
}
