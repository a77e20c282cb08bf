#!/usr/bin/env bash
# Docker test prerequisites, idempotent: the Docker engine (dockerd, containerd, runc) and
# debootstrap, used by tests/dockerd.py to start a private engine and build a local Python base
# image (no registry is reachable). Safe to run on every CI start; does nothing when set up.
#
#   bash .ci/setup_docker.sh        # then: CUMULUS_REQUIRE_DOCKER=1 pytest tests/models
#
# Tests never use a system-wide engine unless DOCKER_HOST names one; they start their own
# (see tests/dockerd.py). Needs root for apt-get and for running dockerd.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)

if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "setup_docker: need ${need[*]} but apt-get/root is unavailable; docker tests will skip" >&2
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

echo "dockerd: $(command -v dockerd) ($(dockerd --version 2>/dev/null || echo '?'))"
echo "debootstrap: $(command -v debootstrap)"
# the base image cache tests/dockerd.py fills on first use (rootfs tarball, ~40 s to build)
mkdir -p "${CUMULUS_DOCKER_CACHE:-/var/cache/cumulus-test}"
echo "cache: ${CUMULUS_DOCKER_CACHE:-/var/cache/cumulus-test}"
