#!/usr/bin/env bash
# Multi-host test prerequisites, idempotent: iproute2 (network namespaces, veth, bridge) and
# openssh-server (an sshd per test host) from Debian's packages. The tests start and stop their
# own sshd processes inside the namespaces; no system sshd is enabled.
#
#   bash .ci/setup_hosts.sh        # then: tests/multihost builds hosts with tests/hosts.py
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
# the package may start a system sshd on port 22: the tests do not use it
if command -v service >/dev/null && pgrep -x sshd >/dev/null 2>&1; then
  service ssh stop >/dev/null 2>&1 || true
fi
echo "hosts: $(ip -V 2>&1 | head -1); $(/usr/sbin/sshd -V 2>&1 | head -1 || true)"
