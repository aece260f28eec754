#!/usr/bin/env bash
# Benchmark: `slim build` of the nginx fixture (probes GET / and GET /missing),
# ROUNDS times; prints the wall time of each stage (median) and the total,
# and the sizes before and after. Target: the whole build under 4 s.
#   sudo tests/bench/build_nginx.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
ROUNDS="${1:-5}"

bash scripts/setup.sh
cargo build --release -q -p slim-cli
IMAGE="$(bash tests/fixtures/build.sh nginx)"
TMP="$(mktemp -d)"
TAG="slim-bench-nginx:latest"
trap 'rm -rf "$TMP"; docker rmi -f "$TAG" >/dev/null 2>&1 || true' EXIT

for i in $(seq "$ROUNDS"); do
    start=$(date +%s%N)
    target/release/slim build "$IMAGE" --tag "$TAG" --artifacts "$TMP/a" \
        --http-probe "GET /" --http-probe "GET /missing" --json >"$TMP/r$i.json"
    end=$(date +%s%N)
    echo $(((end - start) / 1000000)) >"$TMP/wall$i"
done

python3 - "$TMP" "$ROUNDS" <<'PY'
import json, statistics, sys
tmp, n = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{tmp}/r{i}.json")) for i in range(1, n + 1)]
walls = [int(open(f"{tmp}/wall{i}").read()) for i in range(1, n + 1)]
r = reports[-1]
print(f"slim build of {r['source']['image']}, median of {n} runs")
print(f"  size: {r['source']['size_bytes']/1e6:.1f} MB -> {r['result']['size_bytes']/1e6:.1f} MB, "
      f"{len(r['kept'])} paths kept, {len(r['seccomp']['allowed'])} syscalls allowed")
for stage in r["timings_ms"]:
    print(f"  {stage:<8} {statistics.median(x['timings_ms'].get(stage, 0) for x in reports):6.0f} ms")
print(f"  {'total':<8} {statistics.median(walls):6.0f} ms wall (target < 4000 ms)")
PY
