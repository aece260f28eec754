#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ (slim's readers of untrusted images:
# docker-archive, OCI layout, layer unpacker, manifest/config parsing) for
# SECONDS (default 30), seeded from fuzz/corpus/TARGET and the regression
# inputs in fuzz/regressions/TARGET. A crash stops it with the input's
# path: once fixed, copy that input into fuzz/regressions/TARGET/, where
# `cargo test -p slim-cli --lib fuzzing` replays it without the fuzzer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
secs="${1:-30}"
targets=(docker_archive oci_layout layer metadata)
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (about a minute)" >&2
    cargo install --locked cargo-fuzz >/dev/null
fi
# One build of all targets first, so the time budget is spent fuzzing.
cargo +nightly fuzz build -O >/dev/null 2>&1 || cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
    work="target/corpus/$t"
    mkdir -p "$work" "artifacts/$t"
    cp -n corpus/"$t"/* "$work"/ 2>/dev/null || true
    cp -n regressions/"$t"/* "$work"/ 2>/dev/null || true
    printf 'fuzz %s for %s s\n' "$t" "$secs" >&2
    # Past 1 GiB of RSS or 10 s on one input is a failure too.
    if ! cargo +nightly fuzz run -O "$t" "$work" -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=0 >"target/$t.log" 2>&1; then
        tail -n 40 "target/$t.log" >&2
        echo "fuzz: target $t failed; the input is in fuzz/artifacts/$t/ (after the fix, keep it in fuzz/regressions/$t/)" >&2
        exit 1
    fi
    grep -E '^Done|#[0-9]+.*DONE' "target/$t.log" | tail -n 1 >&2 || true
done
