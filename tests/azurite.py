"""A real Azurite blob emulator for tests and benchmarks (no mocked Azure calls).

Installed by ``bash .ci/setup_datastores.sh`` (npm ``azurite@3.35.0`` into ``.ci/azurite``);
found through ``CUMULUS_AZURITE_BIN``, ``CUMULUS_AZURITE_DIR``, ``.ci/azurite`` or ``PATH``.
The account key is read from Azurite's own package files.

Example::

    az = Azurite()              # picks a free port; nothing runs yet
    az.start()
    az.create_container("data")
    os.environ["MY_CONN"] = az.connection_string
    ...
    az.stop()
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "devstoreaccount1"
AZ_ENV = "CUMULUS_TEST_AZURE_CS"  # the tests' connection-string variable (a NAME, as stored)
SETUP_HINT = "run `bash .ci/setup_datastores.sh` (installs azurite@3.35.0 into .ci/azurite)"


def find_azurite() -> str | None:
    """Path of the ``azurite-blob`` executable, or None."""
    explicit = os.environ.get("CUMULUS_AZURITE_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    dirs = [os.environ.get("CUMULUS_AZURITE_DIR"), str(REPO / ".ci" / "azurite")]
    for d in filter(None, dirs):
        candidate = Path(d) / "node_modules" / ".bin" / "azurite-blob"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("azurite-blob")


def account_key(executable: str) -> str:
    """The emulator's well-known development key, from the installed package's sources."""
    here = Path(executable).resolve()
    for folder in here.parents:
        constants = folder / "dist" / "src" / "blob" / "utils" / "constants.js"
        if constants.is_file():
            found = re.search(r'EMULATOR_ACCOUNT_KEY_STR\s*=\s*"([^"]+)"', constants.read_text())
            if found:
                return found.group(1)
    raise RuntimeError(f"Cannot find Azurite's account key near {executable}; {SETUP_HINT}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Azurite:
    """One in-memory Azurite blob service on 127.0.0.1 (or on ``host``, started with the
    ``prefix`` command, e.g. ``ip netns exec HOST`` for a test host)."""

    def __init__(self, port: int | None = None, executable: str | None = None, *,
                 host: str = "127.0.0.1", prefix: list[str] | None = None) -> None:
        self.host, self.prefix = host, list(prefix or [])
        self.executable = executable or find_azurite()
        if self.executable is None:
            raise RuntimeError(f"Azurite is not installed; {SETUP_HINT}")
        self.port = port or free_port()
        self.key = account_key(self.executable)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"azurite-{os.getpid()}-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self.key};"
                f"BlobEndpoint={self.endpoint};")

    def start(self, timeout: float = 30.0) -> Azurite:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, self.executable, "--blobHost", self.host,
                 "--blobPort", str(self.port),
                 "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent",
                 "--disableTelemetry"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=tempfile.gettempdir())
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    text = self.log.read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(
                        f"Azurite did not start on port {self.port}: {text}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self.log.unlink(missing_ok=True)

    def service(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str) -> str:
        """Create ``name`` and check it exists (adlfs only warns when creation fails)."""
        with self.service() as svc:
            svc.create_container(name)
            if not svc.get_container_client(name).exists():
                raise RuntimeError(f"Azurite container {name!r} was not created")
        return name

    def list_blobs(self, container: str, prefix: str | None = None) -> list[str]:
        with self.service() as svc:
            return [b.name for b in
                    svc.get_container_client(container).list_blobs(name_starts_with=prefix)]

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
