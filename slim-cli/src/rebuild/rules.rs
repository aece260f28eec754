//! Keep-rules: declarative knowledge of what an image needs beyond what the
//! trace shows, read from TOML (`rules/builtin.toml`, compiled in, and the
//! user's `--rules` files). This module parses and checks rules, decides
//! which fire on the evidence, and expands their placeholders into image
//! paths; `closure` keeps what they name.
use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::paths::normalize;

/// The built-in rules, as shipped.
pub const BUILTIN: &str = include_str!("../../rules/builtin.toml");

/// When a rule applies: `required` in every mode, `safe` only with
/// `--keep safe` (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Required,
    Safe,
}

/// The image properties a rule can be triggered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageProp {
    User,
    Workdir,
    Volume,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub touched: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image: Vec<ImageProp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Not a trigger but a condition on the others: the rule fires only
    /// once the selection keeps a path matching one of these (modules
    /// only a kept library can load).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trees: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unowned: Vec<String>,
    /// Syscalls the seccomp profile allows when the rule fires: what the
    /// kept code calls on paths a probe rarely takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<String>,
}

/// How a rule's entry is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepKind {
    Path,
    Tree,
    Glob,
    Bin,
    Unowned,
}

impl Keep {
    pub fn entries(&self) -> impl Iterator<Item = (KeepKind, &str)> {
        self.paths
            .iter()
            .map(|s| (KeepKind::Path, s.as_str()))
            .chain(self.trees.iter().map(|s| (KeepKind::Tree, s.as_str())))
            .chain(self.globs.iter().map(|s| (KeepKind::Glob, s.as_str())))
            .chain(self.bins.iter().map(|s| (KeepKind::Bin, s.as_str())))
            .chain(self.unowned.iter().map(|s| (KeepKind::Unowned, s.as_str())))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub why: String,
    #[serde(default)]
    pub level: Level,
    #[serde(default)]
    pub when: When,
    pub keep: Keep,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<String>,
    /// Where the rule came from: "built-in" or the file's path.
    #[serde(default, skip_deserializing)]
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

const PLACEHOLDERS: [&str; 8] = [
    "match",
    "workdir",
    "command",
    "entrypoint_dir",
    "volume",
    "env_dir",
    "written_dir",
    "env:",
];

fn glob(pattern: &str) -> Result<Glob> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .with_context(|| format!("{pattern:?} is not a valid glob"))
}

/// The patterns as one set (`*` stays within a path component, `**` crosses).
pub fn glob_set(patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(p)?);
    }
    Ok(b.build()?)
}

/// The placeholders of `template`, e.g. `{match}/../conf` -> ["match"].
fn placeholders(template: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            bail!("unclosed {{ in {template:?}");
        };
        let name = &rest[start + 1..start + len];
        if !PLACEHOLDERS
            .iter()
            .any(|p| *p == name || (p.ends_with(':') && name.starts_with(p)))
        {
            bail!(
                "unknown placeholder {{{name}}} in {template:?} (known: {})",
                PLACEHOLDERS.join(", ")
            );
        }
        out.push(name);
        rest = &rest[start + len + 1..];
    }
    Ok(out)
}

impl Rule {
    fn check(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            bail!("a rule has no name");
        }
        if self.keep.entries().next().is_none() && self.keep.syscalls.is_empty() {
            bail!("rule {} keeps nothing", self.name);
        }
        let w = &self.when;
        let triggered = w.always
            || !w.touched.is_empty()
            || !w.executed.is_empty()
            || !w.image.is_empty()
            || !w.env.is_empty();
        if !triggered {
            bail!(
                "rule {} has no trigger (when.always, touched, executed, image or env)",
                self.name
            );
        }
        let matched = !w.touched.is_empty() || !w.executed.is_empty();
        for (_, entry) in self.keep.entries() {
            let names = placeholders(entry).with_context(|| format!("rule {}", self.name))?;
            if names.contains(&"match") && !matched {
                bail!(
                    "rule {}: {{match}} needs a when.touched or when.executed trigger",
                    self.name
                );
            }
            if !entry.starts_with(['/', '{']) {
                bail!(
                    "rule {}: {entry:?} is not an absolute path or a placeholder",
                    self.name
                );
            }
        }
        for g in w
            .touched
            .iter()
            .chain(&w.executed)
            .chain(&w.kept)
            .chain(&self.unless)
        {
            glob(g).with_context(|| format!("rule {}", self.name))?;
        }
        for g in &self.keep.globs {
            if !g.contains('{') {
                glob(g).with_context(|| format!("rule {}", self.name))?;
            }
        }
        Ok(())
    }
}

/// Parses and checks a rule file's text.
pub fn parse(text: &str, source: &str) -> Result<Vec<Rule>> {
    let file: RuleFile =
        toml::from_str(text).with_context(|| format!("cannot parse the rules in {source}"))?;
    let mut rules = file.rule;
    for r in &mut rules {
        r.source = source.to_string();
        r.check().with_context(|| format!("in {source}"))?;
    }
    Ok(rules)
}

/// The built-in rules followed by the user's files; names must be unique.
pub fn load(files: &[impl AsRef<Path>]) -> Result<Vec<Rule>> {
    let mut rules = parse(BUILTIN, "built-in")?;
    for f in files {
        let f = f.as_ref();
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the rules file {}", f.display()))?;
        rules.extend(parse(&text, &f.display().to_string())?);
    }
    let mut seen = BTreeMap::new();
    for r in &rules {
        if let Some(first) = seen.insert(r.name.clone(), r.source.clone()) {
            bail!(
                "rule {} is defined twice ({first} and {}); rename one",
                r.name,
                r.source
            );
        }
    }
    Ok(rules)
}

/// A rule ready to match: its globs compiled once.
pub struct Compiled {
    pub rule: Rule,
    touched: GlobSet,
    executed: GlobSet,
    env: GlobSet,
    kept: GlobSet,
    unless: GlobSet,
    pub uses_match: bool,
}

impl Compiled {
    pub fn new(rule: Rule) -> Result<Self> {
        let uses_match = rule.keep.entries().any(|(_, e)| e.contains("{match}"));
        Ok(Self {
            touched: glob_set(&rule.when.touched)?,
            executed: glob_set(&rule.when.executed)?,
            env: glob_set(&rule.when.env)?,
            kept: glob_set(&rule.when.kept)?,
            unless: glob_set(&rule.unless)?,
            uses_match,
            rule,
        })
    }

    /// Whether the image's properties (or `always`) fire the rule.
    pub fn fires_on_image(&self, facts: &Facts) -> bool {
        let w = &self.rule.when;
        w.always
            || w.image.iter().any(|p| match p {
                ImageProp::User => facts.user.as_deref().is_some_and(|u| !u.is_empty()),
                ImageProp::Workdir => facts.workdir.is_some(),
                ImageProp::Volume => !facts.volumes.is_empty(),
            })
            || facts.env.iter().any(|(k, _)| self.env.is_match(k))
    }

    /// Whether the rule's `when.kept` condition holds over the paths the
    /// selection keeps (it always does for a rule without one).
    pub fn condition_holds<'a>(&self, mut kept: impl Iterator<Item = &'a str>) -> bool {
        self.rule.when.kept.is_empty() || kept.any(|p| self.kept.is_match(p))
    }

    pub fn matches_touched(&self, path: &str) -> bool {
        self.touched.is_match(path)
    }

    pub fn matches_executed(&self, path: &str) -> bool {
        self.executed.is_match(path)
    }

    /// The `unless` globs, for the paths a tree brings in.
    pub fn unless(&self) -> &GlobSet {
        &self.unless
    }

    /// Whether an expanded entry is excluded by `unless`.
    pub fn excluded(&self, path: &str) -> bool {
        self.unless.is_match(path)
    }
}

/// What rules may refer to about the image and the run.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub command: Option<String>,
    pub entrypoint_dir: Option<String>,
    pub volumes: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Directories ENV values point to that no package owns.
    pub env_dirs: Vec<String>,
    /// Data directories the container wrote into.
    pub written_dirs: Vec<String>,
}

impl Facts {
    fn values(&self, name: &str, matched: Option<&str>) -> Vec<String> {
        let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
        match name {
            "match" => matched.map(str::to_string).into_iter().collect(),
            "workdir" => one(&self.workdir),
            "command" => one(&self.command),
            "entrypoint_dir" => one(&self.entrypoint_dir),
            "volume" => self.volumes.clone(),
            "env_dir" => self.env_dirs.clone(),
            "written_dir" => self.written_dirs.clone(),
            _ => match name.strip_prefix("env:") {
                Some(var) => self
                    .env
                    .iter()
                    .filter(|(k, _)| k == var)
                    .map(|(_, v)| v.clone())
                    .collect(),
                None => Vec::new(),
            },
        }
    }

    /// Every expansion of `template` (one per value of each placeholder),
    /// with `.` and `..` applied to the text.
    pub fn expand(&self, template: &str, matched: Option<&str>) -> Vec<String> {
        let Some(start) = template.find('{') else {
            return vec![normalize(template)];
        };
        let Some(len) = template[start..].find('}') else {
            return Vec::new();
        };
        let name = &template[start + 1..start + len];
        let rest = &template[start + len + 1..];
        self.values(name, matched)
            .into_iter()
            .flat_map(|v| self.expand(&format!("{}{v}{rest}", &template[..start]), matched))
            .collect()
    }
}

/// The rules for a human: name, level, trigger, what it keeps, why.
pub fn describe(rules: &[Rule]) -> String {
    let mut s = String::new();
    for r in rules {
        let level = match r.level {
            Level::Required => "required",
            Level::Safe => "safe",
        };
        s.push_str(&format!(
            "{} ({level}, {})\n  {}\n",
            r.name, r.source, r.why
        ));
        let w = &r.when;
        let mut when = Vec::new();
        if w.always {
            when.push("always".to_string());
        }
        if !w.touched.is_empty() {
            when.push(format!("touched {}", w.touched.join(" ")));
        }
        if !w.executed.is_empty() {
            when.push(format!("executed {}", w.executed.join(" ")));
        }
        if !w.image.is_empty() {
            let props: Vec<String> = w
                .image
                .iter()
                .map(|p| format!("{p:?}").to_lowercase())
                .collect();
            when.push(format!("image sets {}", props.join(" ")));
        }
        if !w.env.is_empty() {
            when.push(format!("env {}", w.env.join(" ")));
        }
        let mut when = when.join("; ");
        if !w.kept.is_empty() {
            when.push_str(&format!(", once kept: {}", w.kept.join(" ")));
        }
        s.push_str(&format!("  when: {when}\n"));
        let kinds = [
            ("paths", &r.keep.paths),
            ("trees", &r.keep.trees),
            ("globs", &r.keep.globs),
            ("bins", &r.keep.bins),
            ("unowned", &r.keep.unowned),
            ("syscalls", &r.keep.syscalls),
        ];
        for (k, v) in kinds.iter().filter(|(_, v)| !v.is_empty()) {
            s.push_str(&format!("  keep {k}: {}\n", v.join(" ")));
        }
        if !r.unless.is_empty() {
            s.push_str(&format!("  unless: {}\n", r.unless.join(" ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse_and_are_unique() {
        let rules = load(&[] as &[&Path]).unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        for n in [
            "user-database",
            "workdir",
            "entrypoint",
            "tmp",
            "volumes",
            "time-zones",
            "jvm-home",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert!(rules.iter().all(|r| Compiled::new(r.clone()).is_ok()));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let cases = [
            (
                "[[rule]]\nname='x'\nwhy='y'\nkeep.paths=['/a']\n",
                "no trigger",
            ),
            (
                "[[rule]]\nname='x'\nwhy='y'\nwhen.always=true\nkeep.paths=['{nope}']\n",
                "unknown placeholder",
            ),
            (
                "[[rule]]\nname='x'\nwhy='y'\nwhen.always=true\nkeep.paths=['{match}']\n",
                "needs a when.touched",
            ),
            (
                "[[rule]]\nname='x'\nwhy='y'\nwhen.always=true\nkeep.paths=['rel']\n",
                "not an absolute path",
            ),
            (
                "[[rule]]\nname='x'\nwhy='y'\nwhen.always=true\nkeep.paths=[]\n",
                "keeps nothing",
            ),
            (
                "[[rule]]\nname='x'\nwhy='y'\nwhen.touched=['[']\nkeep.paths=['/a']\n",
                "not a valid glob",
            ),
            (
                "[[rule]]\nname='x'\nwhy='y'\nwhen.sometimes=true\nkeep.paths=['/a']\n",
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", parse(text, "t.toml").unwrap_err());
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn user_rules_default_to_required_and_names_must_be_unique() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("r.toml");
        std::fs::write(
            &f,
            "[[rule]]\nname='mine'\nwhy='y'\nwhen.always=true\nkeep.trees=['/opt/x']\n",
        )
        .unwrap();
        let rules = load(&[&f]).unwrap();
        let mine = rules.iter().find(|r| r.name == "mine").unwrap();
        assert_eq!(mine.level, Level::Required);
        assert_eq!(mine.source, f.display().to_string());
        std::fs::write(
            &f,
            "[[rule]]\nname='tmp'\nwhy='y'\nwhen.always=true\nkeep.paths=['/x']\n",
        )
        .unwrap();
        assert!(format!("{:#}", load(&[&f]).unwrap_err()).contains("defined twice"));
    }

    #[test]
    fn placeholders_expand_per_value_and_apply_dotdot() {
        let facts = Facts {
            workdir: Some("/srv/app".into()),
            volumes: vec!["/data".into(), "/cache".into()],
            env: vec![("PGDATA".into(), "/var/lib/pg".into())],
            ..Default::default()
        };
        assert_eq!(facts.expand("{workdir}/static", None), ["/srv/app/static"]);
        assert_eq!(facts.expand("{volume}", None), ["/data", "/cache"]);
        assert_eq!(
            facts.expand("{env:PGDATA}/base", None),
            ["/var/lib/pg/base"]
        );
        assert!(facts.expand("{env:NOPE}", None).is_empty());
        assert!(facts.expand("{written_dir}", None).is_empty());
        let jvm = "/usr/lib/jvm/j17/lib/server/libjvm.so";
        assert_eq!(
            facts.expand("{match}/../..", Some(jvm)),
            ["/usr/lib/jvm/j17/lib"]
        );
        assert_eq!(
            facts.expand("{match}/../../../conf", Some(jvm)),
            ["/usr/lib/jvm/j17/conf"]
        );
        assert_eq!(normalize("/../a/./b/"), "/a/b");
    }

    #[test]
    fn triggers() {
        let rules = parse(BUILTIN, "built-in").unwrap();
        let get =
            |n: &str| Compiled::new(rules.iter().find(|r| r.name == n).unwrap().clone()).unwrap();
        let tz = get("time-zones");
        assert!(tz.matches_touched("/usr/share/zoneinfo/Europe/Paris"));
        assert!(tz.matches_touched("/usr/lib/python3.11/zoneinfo/__init__.py"));
        assert!(tz.matches_touched("/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1"));
        assert!(
            !tz.matches_touched("/etc/localtime"),
            "the local zone alone is no evidence"
        );
        let user = get("user-database");
        assert!(!user.fires_on_image(&Facts::default()));
        assert!(user.fires_on_image(&Facts {
            user: Some("app".into()),
            ..Default::default()
        }));
        let vol = get("volumes");
        assert!(vol.excluded("/") && !vol.excluded("/data"));
    }
}
