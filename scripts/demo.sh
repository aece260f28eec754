#!/usr/bin/env bash
# The demo: builds the nginx demo image from Debian packages, has slim watch
# it serve a page, writes the minimal image, and shows it working under the
# generated seccomp profile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
OUT="${1:-/tmp/slim-demo}"
TAG="slim-demo-nginx:slim"

bash scripts/setup.sh
cargo build --release -q -p slim-cli
IMAGE="$(bash tests/fixtures/build.sh nginx)"

echo "== slim build $IMAGE --tag $TAG" >&2
target/release/slim build "$IMAGE" --tag "$TAG" --artifacts "$OUT" \
    --http-probe "GET /" --http-probe "GET /missing" --verify

echo "== docker images" >&2
docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^($IMAGE|$TAG) "

echo "== running $TAG under $OUT/seccomp.json" >&2
id="$(docker run -d -p 127.0.0.1::80 --security-opt "seccomp=$OUT/seccomp.json" "$TAG")"
trap 'docker rm -f "$id" >/dev/null' EXIT
port="$(docker port "$id" 80 | grep 127.0.0.1 | head -1 | cut -d: -f2)"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
printf 'GET /        -> %s\n' "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")"
printf 'GET /missing -> %s\n' "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/missing")"
