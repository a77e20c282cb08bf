#!/usr/bin/env bash
# Datastore test prerequisites, idempotent: the Azurite blob emulator (npm, project-local) and
# libfuse for read-only mounts. Safe to run on every CI start; does nothing when already set up.
#
#   bash .ci/setup_datastores.sh        # then: tests find .ci/azurite/node_modules/.bin/azurite-blob
#
# Override the install folder with CUMULUS_AZURITE_DIR (tests read the same variable).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AZURITE_VERSION="3.35.0"   # 3.36+ needs Node 22 (../shared/PLATFORM.md)
AZURITE_DIR="${CUMULUS_AZURITE_DIR:-$here/azurite}"
bin="$AZURITE_DIR/node_modules/.bin/azurite-blob"
pkg="$AZURITE_DIR/node_modules/azurite/package.json"

installed_version() {
  [ -f "$pkg" ] && node -p "require('$pkg').version" 2>/dev/null || true
}

if [ ! -x "$bin" ] || [ "$(installed_version)" != "$AZURITE_VERSION" ]; then
  command -v npm >/dev/null || { echo "setup_datastores: npm is required (Node 20)" >&2; exit 1; }
  mkdir -p "$AZURITE_DIR"
  # node_modules/ is git-ignored; --no-save/--no-package-lock leave nothing else behind
  npm install --prefix "$AZURITE_DIR" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "azurite@$AZURITE_VERSION"
fi
echo "azurite $(installed_version): $bin"

# libfuse2 (fusepy loads libfuse.so.2) and fusermount for unmounting
if ! ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2' || ! command -v fusermount >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends libfuse2 fuse3 >/dev/null 2>&1 || {
      apt-get update >/dev/null && apt-get install -y --no-install-recommends libfuse2 fuse3 >/dev/null; }
  else
    echo "setup_datastores: libfuse2 missing and apt-get unavailable; mount tests will skip" >&2
  fi
fi
if command -v fusermount >/dev/null || command -v fusermount3 >/dev/null; then
  echo "fuse: $(ldconfig -p | grep -o 'libfuse\.so\.2' | head -1) $(command -v fusermount || command -v fusermount3)"
fi
