//! Helpers of the compose tests (tests/tests/compose_*.rs): the fixture
//! compose project, slim run on it, and what a run may have left.
use std::{
    path::PathBuf,
    process::{Command, Output},
    time::Duration,
};

use crate::{fixture, repo_root, slim_bin, slim_containers, Tag, TempDir};

/// tests/fixtures/compose/NAME.
pub fn compose_file(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/compose").join(name)
}

/// A compose project name of its own for one test (the project's engine
/// objects are found by it afterwards).
pub fn project_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("slimtest{test}{}x{nanos:x}", std::process::id())
}

/// `slim ARGS` with the fixture images and `project` in its environment,
/// as tests/fixtures/compose/compose.yml reads them.
pub fn slim_compose(project: &str) -> Command {
    let mut cmd = Command::new(slim_bin());
    cmd.env("APP_IMAGE", fixture("pg-app"))
        .env("PG_IMAGE", fixture("postgres"))
        .env("COMPOSE_PROJECT_NAME", project);
    cmd
}

fn names(cli: &str, args: &[&str]) -> Vec<String> {
    let out: Output = Command::new(cli).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cli} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Containers, networks and volumes named after `project` or labelled
/// with it in Docker: none may be left after a run, whatever its end.
pub fn leftovers(project: &str) -> Vec<String> {
    leftovers_in("docker", project)
}

/// [`leftovers`] in the engine of `cli` (docker or podman).
pub fn leftovers_in(cli: &str, project: &str) -> Vec<String> {
    let by_label = format!("label=slim.compose.project={project}");
    let by_name = format!("name={project}");
    let mut left = Vec::new();
    for filter in [&by_label, &by_name] {
        for c in names(
            cli,
            &["ps", "-a", "--format", "{{.Names}}", "--filter", filter],
        ) {
            left.push(format!("container {c}"));
        }
        for n in names(
            cli,
            &["network", "ls", "--format", "{{.Name}}", "--filter", filter],
        ) {
            left.push(format!("network {n}"));
        }
        for v in names(
            cli,
            &["volume", "ls", "--format", "{{.Name}}", "--filter", filter],
        ) {
            left.push(format!("volume {v}"));
        }
    }
    left.sort();
    left.dedup();
    left
}

/// Removes what `leftovers_in` finds, so a failing test leaves nothing either.
pub fn remove_leftovers(cli: &str, project: &str) {
    for item in leftovers_in(cli, project) {
        let (kind, name) = item.split_once(' ').unwrap();
        let args: Vec<&str> = match kind {
            "container" => vec!["rm", "-f", "-v", name],
            "network" => vec!["network", "rm", name],
            _ => vec!["volume", "rm", "-f", name],
        };
        let _ = Command::new(cli).args(&args).output();
    }
}

/// A compose project's name, and the engine CLI (docker or podman) whose
/// leftovers of it [`remove_leftovers`] removes on drop.
pub struct Project(pub String, pub &'static str);

impl Drop for Project {
    fn drop(&mut self) {
        remove_leftovers(self.1, &self.0);
    }
}

/// One compose test's tag, artifacts directory and project, named after
/// `name`; dropped in that order (the project's leftovers go last).
pub struct Scenario {
    pub tag: Tag,
    pub dir: TempDir,
    pub project: Project,
}

impl Scenario {
    pub fn new(name: &str) -> Self {
        Scenario {
            tag: Tag::new(&format!("compose-{name}")),
            dir: TempDir::new(&format!("compose-{name}")),
            project: Project(project_name(name), "docker"),
        }
    }

    /// A scenario whose slim runs use Podman (`--engine podman`).
    pub fn podman(name: &str) -> Self {
        let mut s = Self::new(name);
        s.project.1 = "podman";
        s
    }

    /// The engine CLI the project's objects are in.
    pub fn cli(&self) -> &'static str {
        self.project.1
    }

    /// `slim build [SOURCE] --tag .. --artifacts .. --compose-file FILE..
    /// --service app`; the test adds its own flags.
    pub fn build(&self, source: Option<&str>, files: &[&str]) -> Command {
        let mut cmd = slim_compose(&self.project.0);
        cmd.arg("build");
        if let Some(source) = source {
            cmd.arg(source);
        }
        cmd.args(["--tag", &self.tag.0, "--artifacts"])
            .arg(&self.dir.0);
        if self.cli() == "podman" {
            cmd.args(["--engine", "podman"]);
        }
        for file in files {
            cmd.arg("--compose-file").arg(compose_file(file));
        }
        cmd.args(["--service", "app"]);
        cmd
    }

    /// Asserts the project left nothing in the engine `after` something.
    pub fn assert_no_leftovers(&self, after: &str) {
        assert_eq!(
            leftovers_in(self.cli(), &self.project.0),
            Vec::<String>::new(),
            "left in the engine after {after}"
        );
    }

    /// Asserts a failed build left neither the project's objects nor a
    /// probe container.
    pub fn assert_nothing_left(&self, after: &str) {
        self.assert_no_leftovers(after);
        assert!(
            slim_containers(&fixture("pg-app")).is_empty(),
            "probe container left"
        );
    }

    /// The compose services of the project that run now.
    pub fn running_services(&self) -> Vec<String> {
        let label = format!("label=slim.compose.project={}", self.project.0);
        names(
            self.cli(),
            &[
                "ps",
                "--format",
                "{{.Label \"slim.compose.service\"}}",
                "--filter",
                &label,
            ],
        )
    }

    /// Waits up to a minute for all of `services` to run; false if they
    /// never did.
    pub fn wait_for_services(&self, services: &[&str]) -> bool {
        for _ in 0..600 {
            let up = self.running_services();
            if services.iter().all(|s| up.iter().any(|u| u == s)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// The `slim: error:` line of `err`; panics if there is none.
pub fn error_line(err: &str) -> &str {
    err.lines()
        .find(|l| l.starts_with("slim: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{err}"))
}
