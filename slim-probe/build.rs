//! Builds the eBPF object (../ebpf/probe) with nightly for bpfel-unknown-none
//! and places it in OUT_DIR, where src/probe.rs includes it. Missing
//! prerequisites fail the build with one line saying how to install them.
use std::process::{exit, Command};

fn main() {
    println!("cargo:rerun-if-changed=../ebpf/probe/src");
    println!("cargo:rerun-if-changed=../ebpf/probe/Cargo.toml");
    println!("cargo:rerun-if-changed=../ebpf/common/src");
    check_prerequisites();
    // aya-build relays the nested cargo's stderr as `warning:` lines; quiet
    // keeps its progress out of every build, while compiler diagnostics and
    // errors still come through.
    std::env::set_var("CARGO_TERM_QUIET", "true");
    let pkg = aya_build::Package {
        name: "slim-ebpf",
        root_dir: "../ebpf/probe",
        ..Default::default()
    };
    if let Err(e) = aya_build::build_ebpf([pkg], aya_build::Toolchain::Nightly) {
        eprintln!("error: building the eBPF programs failed: {e:#}");
        exit(1);
    }
}

fn fail(what: &str, fix: &str) -> ! {
    eprintln!("error: {what} is missing; install it with: {fix} (or run scripts/setup.sh)");
    exit(1);
}

fn check_prerequisites() {
    let ok = |cmd: &mut Command| cmd.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok(Command::new("rustup").args(["run", "nightly", "rustc", "--version"])) {
        fail(
            "the nightly Rust toolchain",
            "rustup toolchain install nightly --profile minimal",
        );
    }
    let src = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("rust-src"))
        .unwrap_or(false);
    if !src {
        fail(
            "rust-src for nightly",
            "rustup component add rust-src --toolchain nightly",
        );
    }
    if !ok(Command::new("bpf-linker").arg("--version")) {
        fail(
            "bpf-linker (built against LLVM 22)",
            "apt-get install -y llvm-22-dev libpolly-22-dev libzstd-dev zlib1g-dev && \
             PATH=/usr/lib/llvm-22/bin:$PATH cargo install --locked bpf-linker --version 0.13.0 \
             --no-default-features --features llvm-22",
        );
    }
}
