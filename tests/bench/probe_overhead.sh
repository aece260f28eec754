#!/usr/bin/env bash
# Benchmark: nginx requests per second under wrk (a second process, against
# the port published on 127.0.0.1), without and with slim's probe attached,
# and with a do-nothing program on the syscall hooks: the floor any probe
# built on them pays here.
#   sudo tests/bench/probe_overhead.sh [ROUNDS] [SECONDS]
#
# Each round measures all three back to back, in rotating order: on a shared
# VM the machine's speed drifts by tens of percent within minutes, and a
# ratio of neighbouring runs cancels part of that drift. Prints every round,
# the medians, and for the per-round ratios (target: with/without >= 0.95)
# their median, quartiles, and geometric mean with a 95% confidence
# interval. Runs of the same container already differ by about 8% here, so
# it takes tens of rounds to pin a ratio down to a few percent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
ROUNDS="${1:-30}"
SECS="${2:-3}"
WRK=(wrk -t1 -c32 -d"${SECS}s")

bash scripts/setup.sh
cargo build --release -q -p slim-cli
IMAGE="$(bash tests/fixtures/build.sh nginx)"
SLIM=target/release/slim
TMP="$(mktemp -d)"
cleanup() {
    [ -n "${noop:-}" ] && kill "$noop" 2>/dev/null
    [ -n "${id:-}" ] && docker rm -f "$id" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
gcc -O2 -o "$TMP/noop" tests/bench/noop_hooks.c

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }

without() {
    id="$(docker run -d -p 127.0.0.1::80 "$IMAGE")"
    local port; port="$(docker port "$id" 80 | grep 127.0.0.1 | head -1 | cut -d: -f2)"
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
    "${WRK[@]}" "http://127.0.0.1:$port/" >"$TMP/without" 2>&1
    docker rm -f "$id" >/dev/null; id=
    rps "$TMP/without"
}

noop_hooks() {
    "$TMP/noop" sys_enter sys_exit 2>/dev/null & noop=$!
    sleep 0.3
    without
    kill "$noop"; wait "$noop" 2>/dev/null || true; noop=
}

with() {
    "$SLIM" profile "$IMAGE" --artifacts "$TMP/art" \
        --host-exec "${WRK[*]} http://\$SLIM_HOST:\$SLIM_PORT_80/ >$TMP/with 2>&1" >/dev/null 2>"$TMP/slim.err" \
        || { cat "$TMP/slim.err" >&2; exit 1; }
    rps "$TMP/with"
}

# Geometric mean of the ratios on stdin and its 95% confidence interval
# (mean of the logs plus or minus 1.96 standard errors).
geo_ci() {
    awk '{l = log($1); s += l; q += l * l; n++}
        END {m = s / n; sd = n > 1 ? sqrt((q - n * m * m) / (n - 1)) : 0; e = 1.96 * sd / sqrt(n);
             printf "%.3f (95%% CI %.3f..%.3f)", exp(m), exp(m - e), exp(m + e)}'
}

# quantile Q (0..1) of the numbers on stdin, by linear interpolation.
quantile() { sort -g | awk -v q="$1" '{a[NR]=$1} END {p=1+(NR-1)*q; i=int(p); f=p-i; print (i<NR) ? a[i]+f*(a[i+1]-a[i]) : a[i]}'; }

: >"$TMP/a"; : >"$TMP/b"; : >"$TMP/n"; : >"$TMP/r"; : >"$TMP/rn"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b/a}'; }
for i in $(seq "$ROUNDS"); do
    case $((i % 3)) in
        1) a="$(without)"; n="$(noop_hooks)"; b="$(with)" ;;
        2) n="$(noop_hooks)"; b="$(with)"; a="$(without)" ;;
        0) b="$(with)"; a="$(without)"; n="$(noop_hooks)" ;;
    esac
    echo "round $i: without probe $a, no-op hooks $n, with probe $b req/s;" \
        "ratios $(ratio "$a" "$n") $(ratio "$a" "$b")" >&2
    echo "$a" >>"$TMP/a"; echo "$b" >>"$TMP/b"; echo "$n" >>"$TMP/n"
    echo "$(ratio "$a" "$b")" >>"$TMP/r"; echo "$(ratio "$a" "$n")" >>"$TMP/rn"
done
read -r dropped deduped < <(python3 -c "import json;e=json.load(open('$TMP/art/report.json'))['events'];print(e['dropped'],e['duplicates'])")
printf 'nginx under wrk (%s s, 32 connections), %s rounds\n' "$SECS" "$ROUNDS"
printf '  without probe:  median %s req/s\n' "$(quantile 0.5 <"$TMP/a")"
printf '  no-op hooks:    median %s req/s\n' "$(quantile 0.5 <"$TMP/n")"
printf '  with probe:     median %s req/s\n' "$(quantile 0.5 <"$TMP/b")"
printf '  ratio no-op/without per round: median %.3f, quartiles %.3f..%.3f (the floor)\n' \
    "$(quantile 0.5 <"$TMP/rn")" "$(quantile 0.25 <"$TMP/rn")" "$(quantile 0.75 <"$TMP/rn")"
printf '  ratio with/without per round:  median %.3f, quartiles %.3f..%.3f (target >= 0.95)\n' \
    "$(quantile 0.5 <"$TMP/r")" "$(quantile 0.25 <"$TMP/r")" "$(quantile 0.75 <"$TMP/r")"
printf '  geometric mean of ratios: no-op/without %s\n' "$(geo_ci <"$TMP/rn")"
printf '                            with/without  %s\n' "$(geo_ci <"$TMP/r")"
printf '  last run: %s events dropped, %s repeats skipped\n' "$dropped" "$deduped"
