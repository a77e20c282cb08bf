"""``python -m cumulus.models.server`` (``python -m cumulus_scoring`` inside an image)."""

from __future__ import annotations

import signal

# An update may signal (SIGHUP) while this process is still importing: ignore it until the
# event loop installs the reload handler; the first load reads the newest spec anyway.
signal.signal(signal.SIGHUP, signal.SIG_IGN)

import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from .main import main  # noqa: E402

if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for a run() stuck past its timeout in a pool thread
