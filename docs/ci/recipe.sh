#!/usr/bin/env bash
# The CI stage that turns APP:VERSION into APP:VERSION-slim, as the GitHub
# Actions workflow (github-actions.yml) and the GitLab job (gitlab-ci.yml)
# in this directory run it: build, slim with a verification, gate on size
# and growth, write both SBOMs, analyze the layers, keep the artifacts.
#
#   docs/ci/recipe.sh CONTEXT_DIR APP:VERSION OUT_DIR [BASELINE_REPORT]
#
# Exit status: slim's (see `slim --help`): 3 verification, 4 size,
# 5 reduction, 6 growth, 7 layer efficiency; 1 anything else.
set -euo pipefail
ctx="$1" image="$2" out="$3" baseline="${4:-}"
SLIM="${SLIM:-slim}"

mkdir -p "$out"
docker build -q -t "$image" "$ctx" >/dev/null

# Layer analysis of the image as built, gated with dive's rules.
"$SLIM" xray "$image" --json --ci --lowest-efficiency 0.9 \
    --highest-user-wasted-percent 0.2 > "$out/xray.json"

gates=(--max-size 50MB --min-reduction 2x)
if [ -n "$baseline" ] && [ -f "$baseline" ]; then
    gates+=(--baseline "$baseline" --max-growth 10)
fi
"$SLIM" build "$image" --tag "$image-slim" --artifacts "$out" --quiet \
    --verify --sbom cyclonedx --sbom spdx "${gates[@]}"

echo "$image-slim"
