//! A reader that goes away (`slim ... | head -c 1`) is no error: slim
//! writes its results through one function that takes EPIPE quietly
//! (`println!` panicked on it, as Rust ignores SIGPIPE), and exits with
//! the status it would have had, 0 here, as ripgrep does.
//!
//! Each command runs twice: with stdout a pipe whose read end is closed
//! before slim starts (every write fails, so the test cannot pass by
//! luck), and into `head -c 1` as a user would.
use std::process::{Command, Output, Stdio};

use slim_tests::*;

/// `slim ARGS` with stdout a pipe nobody reads.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(slim_bin())
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run slim")
}

/// `slim ARGS | head -c 1`, with the pipeline's status slim's (pipefail).
fn into_head(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; "$0" "$@" | head -c 1 >/dev/null"#)
        .arg(slim_bin())
        .args(args)
        .output()
        .expect("run bash")
}

fn assert_quiet(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("slim: bug") && !stderr.contains("error"),
        "{what}: stderr says {stderr:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{what}: stderr {stderr:?}");
}

#[test]
fn rules_into_a_closed_pipe_exits_quietly() {
    for args in [&["rules"][..], &["rules", "--json"]] {
        assert_quiet(&format!("{args:?} closed"), &into_closed_pipe(args));
        assert_quiet(&format!("{args:?} | head"), &into_head(args));
    }
}

#[test]
fn xray_json_into_a_closed_pipe_exits_quietly() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("nginx");
    for args in [&["xray", image.as_str(), "--json"][..], &["xray", &image]] {
        assert_quiet(&format!("{args:?} closed"), &into_closed_pipe(args));
        assert_quiet(&format!("{args:?} | head"), &into_head(args));
    }
}

#[test]
fn completions_into_a_closed_pipe_exit_quietly() {
    assert_quiet("completions", &into_closed_pipe(&["completions", "bash"]));
}
