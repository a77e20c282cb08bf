"""Service keys: random tokens whose SHA-256 hashes go to the store and the server.

The plaintext keys live only in a 0600 file under the workspace's ``.cumulus/secrets/`` (the
owner reads them with ``get_keys``); the store, the spec file, logs and argument lists hold
hashes at most.

Example::

    keys = KeyFile(ws, "digits-svc")
    primary, secondary = keys.create()
    keys.hashes()        # ["sha256:...", "sha256:..."]
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from cumulus.errors import DeploymentError, ValidationError
from cumulus.models.server.handler import hash_key

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

KEY_NAMES = ("primary", "secondary")


def new_key() -> str:
    return secrets.token_urlsafe(32)


def key_slot(key: str) -> str:
    """'Primary' / 'secondary' -> 'primary'; anything else is a ValidationError."""
    slot = str(key).strip().lower()
    if slot not in KEY_NAMES:
        raise ValidationError(f"key must be 'Primary' or 'Secondary', got {key!r}.")
    return slot


def write_private(path: Path, text: str, dir_mode: int | None = 0o700) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (its folder ``dir_mode``)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode or 0o777)
    if dir_mode is not None:
        os.chmod(path.parent, dir_mode)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class KeyFile:
    """The plaintext keys of one service, in ``.cumulus/secrets/services/<name>.json``."""

    def __init__(self, ws: Workspace, service: str) -> None:
        self.path = ws.state_dir / "secrets" / "services" / f"{service}.json"
        self.service = service

    def create(self) -> tuple[str, str]:
        keys = {name: new_key() for name in KEY_NAMES}
        self._write(keys)
        return keys["primary"], keys["secondary"]

    def read(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            raise DeploymentError(
                f"The keys of service {self.service!r} are not on this machine ({self.path} is "
                "missing): only the workspace that deployed it holds them. Create new ones "
                "with svc.regen_key('Primary') and svc.regen_key('Secondary').") from None

    def regen(self, slot: str) -> str:
        try:
            keys = self.read()
        except DeploymentError:
            keys = {name: new_key() for name in KEY_NAMES}
        keys[slot] = new_key()
        self._write(keys)
        return keys[slot]

    def hashes(self) -> list[str]:
        keys = self.read()
        return [hash_key(keys[name]) for name in KEY_NAMES]

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self, keys: dict[str, str]) -> None:
        write_private(self.path, json.dumps(keys))
