#!/usr/bin/env bash
# The demo: builds the nginx demo image from Debian packages, has slim watch
# it serve a page, and shows the result working under the generated profile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
OUT="${1:-/tmp/slim-demo}"

bash scripts/setup.sh
cargo build --release -q -p slim-cli
IMAGE="$(bash tests/fixtures/build.sh nginx)"
SLIM=target/release/slim

echo "== slim profile $IMAGE" >&2
"$SLIM" profile "$IMAGE" --artifacts "$OUT" --http-probe "GET /" --http-probe "GET /missing"

echo "== running $IMAGE under $OUT/seccomp.json" >&2
id="$(docker run -d -p 127.0.0.1::80 --security-opt "seccomp=$OUT/seccomp.json" "$IMAGE")"
trap 'docker rm -f "$id" >/dev/null' EXIT
port="$(docker port "$id" 80 | grep 127.0.0.1 | head -1 | cut -d: -f2)"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
printf 'GET /        -> %s\n' "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")"
printf 'GET /missing -> %s\n' "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/missing")"
