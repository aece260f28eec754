#!/usr/bin/env bash
# Sizes per fixture with --keep minimal and the default (safe), against the
# file-level lower bound (bytes of files the container opened or ran, with
# their ELF closure), and the bytes each keep-rule and language closure
# added, the select step's time in the safe build, and how many entries of
# listed directories safe mode left out (modules a language resolver decides
# about). Each fixture is probed with one trivial request, as a new user would.
#
#   tests/bench/keep_sizes.sh [FIXTURE...]   (default: all app fixtures)
#   SLIM=target/debug/slim tests/bench/keep_sizes.sh ...   (sizes without a
#   release build; the select times are then the debug build's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${SLIM:-}" ]; then
    cargo build --release -q -p slim-cli
    SLIM=target/release/slim
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"; docker rmi -f $(docker images -q "slim-bench-keep") >/dev/null 2>&1 || true' EXIT

fixtures=("$@")
[ ${#fixtures[@]} -gt 0 ] || fixtures=(nginx py-web node-svc jvm-svc postgres rb-web pl-web go-svc php-web py-dist)
printf '%-10s %10s %12s %10s %10s %8s %8s %8s %8s  %s\n' fixture source lower-bound minimal safe min/lb safe/lb select dropped "added by rules and imports (safe)"
for f in "${fixtures[@]}"; do
    image="$(bash tests/fixtures/build.sh "$f")"
    for mode in minimal safe; do
        case "$f" in
            # Not HTTP: one query from the host once the port listens.
            postgres) args=(--no-http-probe --host-exec 'psql -h $SLIM_HOST -p $SLIM_PORT_5432 -U postgres -X -c "select 1"') ;;
            *) args=() ;;
        esac
        "$SLIM" build "$image" --tag "slim-bench-keep:$f-$mode" --artifacts "$OUT/$f-$mode" \
            --keep "$mode" "${args[@]}" >"$OUT/$f-$mode.log" 2>&1 \
            || { cat "$OUT/$f-$mode.log" >&2; exit 1; }
    done
    python3 - "$OUT/$f-minimal/report.json" "$OUT/$f-safe/report.json" "$f" "$OUT/$f-safe.log" <<'PY'
import json, re, sys
mn, sf = (json.load(open(p)) for p in sys.argv[1:3])
sel = re.search(r"select ([0-9.]+s)", open(sys.argv[4]).read())
mb = lambda b: f"{b / 1e6:.1f} MB"
lb = mn["keep"]["lower_bound_bytes"]
rules = sorted(((u["bytes"], n) for n, u in sf["keep"]["rules"].items()
                if u["bytes"] > 0 and n not in ("trace", "include")), reverse=True)
print(f'{sys.argv[3]:<10} {mb(mn["source"]["size_bytes"]):>10} {mb(lb):>12} '
      f'{mb(mn["result"]["size_bytes"]):>10} {mb(sf["result"]["size_bytes"]):>10} '
      f'{mn["result"]["size_bytes"] / max(lb, 1):>7.2f}x '
      f'{sf["result"]["size_bytes"] / max(lb, 1):>7.2f}x {sel.group(1) if sel else "?":>8} '
      f'{sf["keep"].get("listed_dropped", "-"):>8}  '
      + ", ".join(f"{n} {mb(b)}" for b, n in rules))
PY
done
