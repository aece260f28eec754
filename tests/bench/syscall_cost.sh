#!/usr/bin/env bash
# Benchmark: what the probe adds to one syscall, in ns, for a task it
# records (inside the traced container) and for one it does not (on the
# host while a container is traced), next to the floor: the same with a
# do-nothing program on both syscall hooks. Each figure is the best of 7
# rounds, over CYCLES alternating cycles (the machine's speed drifts).
#   sudo tests/bench/syscall_cost.sh [CYCLES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
CYCLES="${1:-3}"

bash scripts/setup.sh
cargo build --release -q -p slim-probe --example trace_run
IMAGE="$(bash tests/fixtures/build.sh nginx)" # any image with /etc/hostname and sh
TRACE=target/release/examples/trace_run
TMP="$(mktemp -d)"
NAME="slim-bench-$$"
cleanup() {
    [ -n "${noop:-}" ] && kill "$noop" 2>/dev/null
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
gcc -O2 -static -o "$TMP/loop" tests/bench/syscall_loop.c
gcc -O2 -o "$TMP/noop" tests/bench/noop_hooks.c

in_container() { docker run --rm -v "$TMP:/b:ro" --entrypoint /b/loop "$IMAGE"; }
with_noop() {
    "$TMP/noop" sys_enter sys_exit 2>/dev/null & noop=$!
    sleep 0.5
    "$@"
    kill "$noop"; wait "$noop" 2>/dev/null || true; noop=
}
traced_container() {
    "$TRACE" -v "$TMP:/b:ro" --entrypoint /b/loop "$IMAGE" 2>/dev/null | grep '^getppid'
}
host_while_traced() {
    "$TRACE" --name "$NAME" --entrypoint sleep "$IMAGE" 30 >/dev/null 2>&1 &
    local tracer=$!
    # Attached once the container runs.
    for _ in $(seq 100); do docker top "$NAME" >/dev/null 2>&1 && break; sleep 0.1; done
    "$TMP/loop"
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    wait "$tracer" 2>/dev/null || true
}

# Appends the three figures of one run to FILE.
record() { local f="$1"; shift; "$@" | awk '{print $2, $4, $6}' >>"$TMP/$f"; }
best() { awk '{for (i = 1; i <= 3; i++) if (NR == 1 || $i < m[i]) m[i] = $i} END {print m[1], m[2], m[3]}' "$TMP/$1"; }
minus() { paste -d' ' <(echo "$1") <(echo "$2") | awk '{printf "%+6d %+6d %+6d\n", $1-$4, $2-$5, $3-$6}'; }

for c in $(seq "$CYCLES"); do
    echo "cycle $c of $CYCLES" >&2
    record c_plain in_container
    record c_noop with_noop in_container
    record c_probe traced_container
    record h_plain "$TMP/loop"
    record h_noop with_noop "$TMP/loop"
    record h_probe host_while_traced
done

report() {
    local plain noop probe
    plain="$(best "$1_plain")"; noop="$(best "$1_noop")"; probe="$(best "$1_probe")"
    printf '  %-26s %6s %6s %6s\n' "" getppid stat open+close
    printf '  %-26s %6d %6d %6d\n' "no probe" $plain
    printf '  %-26s %6d %6d %6d\n' "no-op hooks" $noop
    printf '  %-26s %6d %6d %6d\n' "slim's probe" $probe
    printf '  %-26s %s\n' "floor (no-op - none)" "$(minus "$noop" "$plain")"
    printf '  %-26s %s\n' "probe's work (probe-no-op)" "$(minus "$probe" "$noop")"
}
echo "ns per call, best of 7 rounds x $CYCLES cycles"
echo "in the traced container (recorded):"; report c
echo "on the host (not recorded):"; report h
