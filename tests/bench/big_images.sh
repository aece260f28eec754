#!/usr/bin/env bash
# Peak memory and wall time of `slim build` on two images that used to
# exhaust memory: one 1.5 GB file, and 50,000 small files (all read by the
# app, so all kept). slim's peak RSS comes from report.json (getrusage);
# the target is under 150 MB whatever the sizes.
#   tests/bench/big_images.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p slim-cli
BASE="$(bash tests/fixtures/build.sh cli)"
TMP="$(mktemp -d)"
cleanup() {
    rm -rf "$TMP"
    docker rm -f slim-bench-big-setup >/dev/null 2>&1 || true
    docker rmi -f slim-bench-big:file slim-bench-big:files slim-bench-big:file-slim slim-bench-big:files-slim >/dev/null 2>&1 || true
}
trap cleanup EXIT

make_image() { # tag setup entrypoint
    docker rm -f slim-bench-big-setup >/dev/null 2>&1 || true
    docker run --name slim-bench-big-setup --entrypoint sh "$BASE" -c "$2" >/dev/null
    docker commit --change "ENTRYPOINT [\"sh\", \"-c\", \"$3\"]" slim-bench-big-setup "$1" >/dev/null
    docker rm -f slim-bench-big-setup >/dev/null
}

echo "building the images (a minute or two)" >&2
make_image slim-bench-big:file "head -c 1536M /dev/zero > /big" "wc -c < /big"
make_image slim-bench-big:files \
    "mkdir /data && cd /data && i=0; while [ \$i -lt 50000 ]; do echo \$i > f\$i; i=\$((i+1)); done" \
    "find /data -type f -exec cat {} + | wc -l"

printf '%-28s %10s %10s %12s\n' image "wall (s)" "peak RSS" "layer"
for name in file files; do
    start=$(date +%s%N)
    target/release/slim build "slim-bench-big:$name" --tag "slim-bench-big:$name-slim" \
        --artifacts "$TMP/$name" --keep minimal >/dev/null 2>"$TMP/$name.log" \
        || { cat "$TMP/$name.log" >&2; exit 1; }
    end=$(date +%s%N)
    python3 - "$TMP/$name/report.json" "$name" "$(( (end - start) / 1000000 ))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
label = {"file": "one 1.5 GB file", "files": "50,000 small files"}[sys.argv[2]]
print(f'{label:<28} {int(sys.argv[3]) / 1000:>10.1f} {r["peak_rss_bytes"] / 2**20:>7.0f} MB '
      f'{r["layer"]["size_bytes"] / 1e6:>9.0f} MB')
PY
done
