#!/usr/bin/env bash
# Fuzzes slim's readers of untrusted images (the slim-image crate: the
# docker-archive reader, the OCI layout reader, the layer unpacker, the
# manifest and config parsers), each target in fuzz/ for SECONDS (default
# 30), with libFuzzer, seeded from fuzz/corpus/TARGET. scripts/test.sh
# runs it on every run; run it longer by hand: `scripts/fuzz.sh 600`, or
# some targets: `scripts/fuzz.sh 600 layer`.
#
# No cargo-fuzz: the targets are built by `cargo +nightly build` with the
# flags cargo-fuzz would set (its src/project.rs), without AddressSanitizer:
# slim-image has no unsafe code, so what a run can find is a panic, an
# overflow (debug assertions and overflow checks are on), a hang, or memory
# use; the allocator in fuzz/src/lib.rs stops any single allocation past
# 8 MiB, which ASan's malloc limit would otherwise be needed for. The build
# goes to target/fuzz, reused by the next run (FUZZ_TARGET_DIR moves it),
# and so does each target's grown corpus. SLIM_FUZZ_ARGS adds libFuzzer
# flags (`-jobs=2`, `-rss_limit_mb=256`: the last of a flag wins).
#
# A crash stops the script with the input's path and how to replay it;
# once fixed, the input goes to fuzz/regressions/TARGET/, which `cargo test`
# (slim-image's fuzzing tests) replays through the same entry points.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
secs="${1:-30}"
targets=(docker_archive oci_layout layer metadata)
[ $# -gt 1 ] && targets=("${@:2}")
triple="$(rustc -vV | sed -n 's/^host: //p')"
out="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"
bin="$out/$triple/release"

# cargo-fuzz's flags (sancov instrumentation for libFuzzer, --cfg fuzzing);
# --target keeps them away from build scripts, as cargo-fuzz does.
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 --cfg fuzzing -Ccodegen-units=1"
start=$SECONDS
if ! log="$(cargo +nightly build --locked --release --bins \
    --manifest-path fuzz/Cargo.toml --target "$triple" --target-dir "$out" 2>&1)"; then
    printf '%s\n' "$log" | tail -n 30 >&2
    echo "fuzz: the fuzz targets do not build (cargo +nightly build in fuzz/)" >&2
    exit 1
fi
printf 'fuzz: targets built in %d s\n' "$((SECONDS - start))" >&2

# The targets unpack each input into a temporary directory: on tmpfs that
# costs microseconds, on a disk mounted with `discard` milliseconds.
if scratch="$(mktemp -d /dev/shm/slim-fuzz.XXXXXX 2>/dev/null)"; then
    export TMPDIR="$scratch"
    trap 'rm -rf "$scratch"' EXIT
fi

for t in "${targets[@]}"; do
    work="$out/corpus/$t"
    artifacts="$out/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    # The seeds start each run; what the fuzzer found before stays in
    # $work. Past crashes are replayed by cargo test, not fuzzed from: some
    # are slow on purpose (a 12 MiB header to skip).
    cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
    log="$out/$t.log"
    start=$SECONDS
    # A failure is a panic or abort, one input taking over 10 s, or the
    # process passing 512 MiB of RSS (slim's own bound is 200 MB).
    if ! "$bin/$t" "$work" -max_total_time="$secs" -timeout=10 -rss_limit_mb=512 \
        -max_len=65536 -artifact_prefix="$artifacts/" -print_final_stats=1 \
        ${SLIM_FUZZ_ARGS:-} >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        echo "fuzz: target $t failed on ${input:-an input in $artifacts/}; replay it with" \
            "\`$bin/$t ${input:-FILE}\`, fix slim-image, then add it to fuzz/regressions/$t/" \
            "(cargo test -p slim-image replays it)" >&2
        exit 1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    printf 'fuzz: %s: %s inputs in %d s, no crash (log: %s)\n' \
        "$t" "${runs:-?}" "$((SECONDS - start))" "$log" >&2
done
