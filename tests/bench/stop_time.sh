#!/usr/bin/env bash
# How long slim takes to stop the probed container (issue #17, fast stop):
# apps that catch SIGTERM and never exit (Node's server, a Python app with a
# handler that ignores it) and apps that shut down on it (PostgreSQL's
# shutdown checkpoint, a Python handler that works 1.5 s first). For each,
# `docker stop` (10 s timeout) as the baseline, then what slim's report
# records (container.stop) and its `stop` step.
#
#   tests/bench/stop_time.sh            (uses target/debug/slim; SLIM=... to change)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SLIM="${SLIM:-$ROOT/target/debug/slim}"
[ -x "$SLIM" ] || { echo "stop_time: $SLIM is missing: cargo build -p slim-cli" >&2; exit 1; }
command -v jq >/dev/null || { echo "stop_time: jq is missing" >&2; exit 1; }

fixture() { bash "$ROOT/tests/fixtures/build.sh" "$1"; }
NODE="$(fixture node-svc)"
GREETER="$(fixture redis-greeter)"
POSTGRES="$(fixture postgres)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# name | image | slim flags | docker run flags (the same app)
cases=(
    "node-svc (a Node server as PID 1)|$NODE||"
    "python, SIGTERM ignored by a handler|$GREETER|--cmd|python3 /srv/app/stopper.py ignore"
    "python, handler works 1.5 s then exits|$GREETER|--cmd|python3 /srv/app/stopper.py work"
    "postgres (shutdown checkpoint)|$POSTGRES|--no-http-probe --host-exec|sleep 1"
)

ms() { date +%s%3N; }

printf '%-42s %14s %10s %-8s %-10s %8s\n' "app" "docker stop ms" "slim ms" "outcome" "reason" "step ms"
for c in "${cases[@]}"; do
    IFS='|' read -r name image flag arg <<<"$c"
    # Baseline: docker stop with its default 10 s timeout.
    if [ "$flag" = "--cmd" ]; then
        # shellcheck disable=SC2086
        id="$(docker run -d "$image" $arg)"
    else
        id="$(docker run -d "$image")"
    fi
    sleep 2
    t0="$(ms)"; docker stop -t 10 "$id" >/dev/null; t1="$(ms)"
    docker rm -f "$id" >/dev/null
    dir="$WORK/$RANDOM"
    args=(profile "$image" --artifacts "$dir" --quiet)
    if [ -n "$flag" ]; then
        read -r -a extra <<<"$flag"
        args+=("${extra[@]}" "$arg")
    fi
    "$SLIM" "${args[@]}" >/dev/null
    r="$dir/report.json"
    printf '%-42s %14s %10s %-8s %-10s %8s\n' "$name" "$((t1 - t0))" \
        "$(jq -r '.container.stop.ms' "$r")" "$(jq -r '.container.stop.outcome' "$r")" \
        "$(jq -r '.container.stop.reason' "$r")" "$(jq -r '.timings_ms.stop' "$r")"
done
