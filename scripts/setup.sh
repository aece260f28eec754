#!/usr/bin/env bash
# Installs what slim's build and tests need on a Debian machine, idempotently:
# the eBPF toolchain (nightly + rust-src + bpf-linker for LLVM 22), a Docker
# engine (started in the background when no daemon answers), Podman (its API
# service is started by slim itself), a registry and skopeo for the transport
# tests, debootstrap and wrk. When everything is already there it returns in
# a few seconds.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, dockerd and eBPF need it)"

LLVM=22
# javac builds the JVM fixture's app; psql talks to the PostgreSQL fixture;
# podman, docker-registry, skopeo and htpasswd serve the engine and transport
# tests; Go (1.19) builds the static Go fixture; crun is the second runtime
# the seccomp profiles are run under (Podman keeps runc as its default); g++
# builds libFuzzer for the fuzz targets (scripts/fuzz.sh); qemu-user-static
# runs foreign platforms (the arm64 half of the multi-platform fixture, and
# slim's --platform runs), and seccomp's scmp_sys_resolver checks names.
APT_PKGS=(docker.io debootstrap "llvm-$LLVM-dev" "libpolly-$LLVM-dev" libzstd-dev zlib1g-dev wrk
    curl openjdk-17-jdk-headless postgresql-client-15 podman docker-registry skopeo jq apache2-utils golang-go openssl gcc g++
    crun qemu-user-static binfmt-support seccomp)

# --- Debian packages --------------------------------------------------------
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Rust eBPF toolchain ----------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    log "adding rust-src to nightly"
    rustup component add rust-src --toolchain nightly
fi
if ! command -v bpf-linker >/dev/null 2>&1; then
    log "building bpf-linker against LLVM $LLVM (about a minute)"
    # Without LLVM 22 first on PATH, llvm-sys picks up another llvm-config.
    PATH="/usr/lib/llvm-$LLVM/bin:$PATH" cargo install --locked bpf-linker --version 0.13.0 \
        --no-default-features --features "llvm-$LLVM" >/dev/null
fi

# --- Kernel interfaces the probe uses ---------------------------------------
[ -e /sys/kernel/btf/vmlinux ] || die "the kernel has no BTF (/sys/kernel/btf/vmlinux); slim needs CONFIG_DEBUG_INFO_BTF"
if [ ! -e /sys/kernel/tracing/events ]; then
    mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs on /sys/kernel/tracing"
fi

# --- User-mode emulation of foreign platforms -------------------------------
# Debian's qemu-user-static registers its handlers with the F (fix-binary)
# flag: a foreign container needs nothing inside its image.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
fi
if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    log "registering qemu-aarch64 with binfmt_misc"
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || update-binfmts --import qemu-aarch64 >/dev/null \
        || die "cannot register qemu-aarch64 with binfmt_misc (update-binfmts)"
fi
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || die "qemu-aarch64 is registered without the F flag: update-binfmts --disable qemu-aarch64, then re-run"

# --- Docker engine ----------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    # A dockerd killed hard leaves its pid file behind, which blocks a restart.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    log "starting dockerd (log: /var/log/slim-dockerd.log)"
    nohup dockerd >/var/log/slim-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || die "dockerd did not answer within 30 s; see /var/log/slim-dockerd.log"
fi
# --- SBOM validators for the tests (the formats' own tools, from PyPI) ------
if ! python3 -c 'import cyclonedx.validation.json, jsonschema, spdx_tools.spdx.clitools.pyspdxtools' 2>/dev/null; then
    log "installing the CycloneDX and SPDX validators (pip)"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        "cyclonedx-python-lib[json-validation]" spdx-tools >/dev/null
fi

# --- Podman on this machine -------------------------------------------------
# Podman asks for nofile 1048576 and nproc 32768 in every container; where
# the machine's hard limits are lower (sandboxed CI runners) the runtime
# refuses to start anything. crun refuses hybrid cgroup v1/v2 hierarchies,
# which runc handles. Both are this machine's facts, so they go in a drop-in.
conf=/etc/containers/containers.conf.d/50-slim-test-machine.conf
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
want="[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]
[engine]
runtime = \"runc\""
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    log "configuring Podman for this machine ($conf)"
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$want" > "$conf"
fi
log "ready"
