"""Where this installation of Cumulus lives, and the node-local caches it may use.

Two kinds of cache live under ``~/.cache/cumulus`` (or ``$CUMULUS_CACHE_DIR``):

* content-addressed data (code snapshots, downloaded inputs): the same bytes whoever fetched
  them, so every installation on the machine shares them (``cache_dir()``);
* anything built by or pointing into an installation (run environments whose ``.pth`` files
  reach into the interpreter's site-packages, the folder that exposes the ``cumulus`` package
  to scripts): keyed by the installation (``install_cache_dir()``), so two checkouts or
  versions used at the same time never see each other's code or packages.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from cumulus._hashing import text_digest

#: the folder holding the ``cumulus`` package of this installation
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def cache_dir() -> Path:
    """The machine's shared cache root (content-addressed entries only)."""
    base = os.environ.get("CUMULUS_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "cumulus")
    return Path(base)


@lru_cache(maxsize=1)
def install_key() -> str:
    """What decides an installation: its interpreter prefix (a venv, not the base Python it
    links to), the interpreter, the Cumulus version and where its package lives."""
    from cumulus import __version__

    parts = (os.path.realpath(sys.prefix), sys.executable, sys.version, __version__,
             PACKAGE_ROOT)
    return text_digest("|".join(parts), 16)


def install_cache_dir() -> Path:
    """This installation's own cache folder (environments, the package link)."""
    return cache_dir() / "installs" / install_key()


__all__ = ["PACKAGE_ROOT", "cache_dir", "install_cache_dir", "install_key"]
