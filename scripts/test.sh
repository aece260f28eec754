#!/usr/bin/env bash
# The whole test suite, for real: installs what is missing (scripts/setup.sh),
# builds, checks formatting and lints, builds the fixture images, then runs
# the unit tests and the end-to-end tests (Docker, eBPF in the kernel).
# End-to-end tests fail here, rather than skip, if a prerequisite is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n== %s\n' "$*" >&2; }

step "setup"
bash scripts/setup.sh
step "format and lints"
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
step "build"
cargo build --all-targets
step "fixtures"
bash tests/fixtures/build.sh nginx cli user first-syscall helper storm neighbour >/dev/null
step "tests"
SLIM_E2E=require cargo test --no-fail-fast
