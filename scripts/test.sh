#!/usr/bin/env bash
# The whole test suite, for real: installs what is missing (scripts/setup.sh),
# builds, checks formatting and lints, builds the fixture images, then runs
# the unit tests and the end-to-end tests (Docker, eBPF in the kernel).
# End-to-end tests fail here, rather than skip, if a prerequisite is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Each step says how much disk is left: CI machines have little to spare.
step() { printf '\n== %s (disk free: %s)\n' "$*" "$(df -h --output=avail . | tail -n 1 | tr -d ' ')" >&2; }

step "setup"
bash scripts/setup.sh
step "fuzzing (each target ${SLIM_FUZZ_SECONDS:-30} s; scripts/fuzz.sh SECONDS for longer)"
# The readers of untrusted images (slim-image) under libFuzzer: a crash,
# a hang or a memory blow-up fails the suite, with the input to keep in
# fuzz/regressions/. SLIM_FUZZ_SECONDS=0 skips it.
if [ "${SLIM_FUZZ_SECONDS:-30}" != 0 ]; then
    bash scripts/fuzz.sh "${SLIM_FUZZ_SECONDS:-30}"
    # The instrumented build (a second copy of slim-image's dependencies)
    # is only reused by the next local run; where disk is short it goes,
    # the grown corpus stays.
    if [ "$(df -k --output=avail . | tail -n 1)" -lt $((40 * 1024 * 1024)) ]; then
        rm -rf target/fuzz/release target/fuzz/"$(rustc -vV | sed -n 's/^host: //p')"
        echo "fuzz: less than 40 GB free, removed the fuzz build (kept target/fuzz/corpus)" >&2
    fi
fi
step "format and lints"
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
step "build"
cargo build --all-targets
step "fixtures"
bash tests/fixtures/build.sh nginx cli user first-syscall helper storm neighbour \
    py-web node-svc jvm-svc postgres pg-app slim-base redis-greeter redis rb-web pl-web go-svc php-web py-api py-dist static-site learn \
    nginx-multiarch >/dev/null
step "tests"
# --all-targets: unit and end-to-end tests (no doc tests; the crates have none).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
SLIM_E2E=require cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=$?
awk '/^test result:/ {p += $4; f += $6} END {printf "\ntests: %d passed, %d failed\n", p, f}' "$log"
exit "$status"
