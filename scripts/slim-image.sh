#!/usr/bin/env bash
# Builds slim's own image from Debian packages, then slims it with slim.
#
#   sudo scripts/slim-image.sh [SLIM_BINARY] [TAG]
#
# SLIM_BINARY defaults to target/release/slim (built if missing); TAG to
# slim:latest. The full image is TAG-full; the slim one is TAG. Prints TAG.
# How to run it (capabilities, mounts) is in docs/in-a-container.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
log() { printf 'slim-image: %s\n' "$*" >&2; }

bin="${1:-target/release/slim}"
tag="${2:-slim:latest}"
if [ ! -x "$bin" ] && [ "$bin" = target/release/slim ]; then
    log "building the release binary"
    cargo build --release -p slim-cli >&2
fi
[ -x "$bin" ] || { log "error: $bin is not an executable"; exit 1; }

base="$(bash tests/fixtures/build.sh slim-base)"
ctx="$(mktemp -d)"
artifacts="$(mktemp -d)"
trap 'rm -rf "$ctx" "$artifacts"' EXIT
# Debug info is for debuggers, not for the image.
objcopy --strip-debug "$bin" "$ctx/slim"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY slim /usr/local/bin/slim
ENTRYPOINT ["/usr/local/bin/slim"]
CMD ["--help"]
DOCKERFILE
log "building ${tag}-full from $base"
docker build -q -t "${tag}-full" "$ctx" >/dev/null

# slim --help exercises the binary and its libraries; what slim needs at run
# time beyond that is named: the shell its --host-exec probes run, and the CA
# certificates for registries over TLS.
log "slimming ${tag}-full into $tag"
"$bin" build "${tag}-full" --tag "$tag" --artifacts "$artifacts" \
    --continue-after exit --include-bin sh --include-path /etc/ssl/certs >&2
echo "$tag"
