#!/usr/bin/env bash
# Benchmark: nginx requests per second under wrk (a second process, against
# the port published on 127.0.0.1), without and with slim's probe attached.
# Alternates the two ROUNDS times and prints the medians and their ratio
# (target: with/without >= 0.95).
#   sudo tests/bench/probe_overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
ROUNDS="${1:-3}"
SECS="${2:-8}"
WRK=(wrk -t1 -c32 -d"${SECS}s")

bash scripts/setup.sh
cargo build --release -q -p slim-cli
IMAGE="$(bash tests/fixtures/build.sh nginx)"
SLIM=target/release/slim
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"; [ -n "${id:-}" ] && docker rm -f "$id" >/dev/null 2>&1 || true' EXIT

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }

without() {
    id="$(docker run -d -p 127.0.0.1::80 "$IMAGE")"
    local port; port="$(docker port "$id" 80 | grep 127.0.0.1 | head -1 | cut -d: -f2)"
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
    "${WRK[@]}" "http://127.0.0.1:$port/" >"$TMP/without" 2>&1
    docker rm -f "$id" >/dev/null; id=
    rps "$TMP/without"
}

with() {
    "$SLIM" profile "$IMAGE" --artifacts "$TMP/art" \
        --host-exec "${WRK[*]} http://\$SLIM_HOST:\$SLIM_PORT_80/ >$TMP/with 2>&1" >/dev/null 2>"$TMP/slim.err" \
        || { cat "$TMP/slim.err" >&2; exit 1; }
    rps "$TMP/with"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: >"$TMP/a"; : >"$TMP/b"
for i in $(seq "$ROUNDS"); do
    a="$(without)"; b="$(with)"
    echo "round $i: without probe $a req/s, with probe $b req/s" >&2
    echo "$a" >>"$TMP/a"; echo "$b" >>"$TMP/b"
done
A="$(median <"$TMP/a")"; B="$(median <"$TMP/b")"
dropped="$(python3 -c "import json;print(json.load(open('$TMP/art/report.json'))['events']['dropped'])")"
printf 'nginx under wrk (%s s, 32 connections), median of %s rounds\n' "$SECS" "$ROUNDS"
printf '  without probe: %s req/s\n  with probe:    %s req/s\n' "$A" "$B"
printf '  ratio with/without: %s (target >= 0.95); events dropped in the last run: %s\n' \
    "$(awk -v a="$A" -v b="$B" 'BEGIN {printf "%.3f", b/a}')" "$dropped"
