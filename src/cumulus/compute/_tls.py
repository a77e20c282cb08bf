"""TLS for clusters that span hosts: certificates made per cluster, files never argv.

A target whose nodes run on other machines (``ssh``) talks TLS between scheduler, nodes and
clients, with a certificate made for that cluster when its manager starts
(``Security.temporary``: one self-signed key pair, the only one the cluster trusts), and a
plain connection is refused (``require_encryption``). The PEM files are written 0600 in a
0700 folder at the same path on this machine and on every host (over the SSH connection the
nodes start through), and Dask's configuration names their *paths*, so no key reaches a
command line. Clients on this machine find the paths in the target's state; the folder is
removed when the manager stops.

Example::

    files = TLSFiles.create()                  # in the manager
    files.copy_to(hosts, connect_options)      # before nodes start
    with dask.config.set(files.dask_config()):
        cluster = SpecCluster(..., security=files.security())
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cumulus.errors import ComputeError

NAMES = ("ca.pem", "cert.pem", "key.pem")


@dataclass(frozen=True)
class TLSFiles:
    """The folder holding one cluster's CA, certificate and key."""

    folder: str

    @property
    def ca(self) -> str:
        return os.path.join(self.folder, "ca.pem")

    @property
    def cert(self) -> str:
        return os.path.join(self.folder, "cert.pem")

    @property
    def key(self) -> str:
        return os.path.join(self.folder, "key.pem")

    @classmethod
    def create(cls) -> TLSFiles:
        """A fresh key pair for one cluster, written 0600 under a new 0700 folder."""
        from distributed.security import Security

        made = Security.temporary()
        folder = tempfile.mkdtemp(prefix="cumulus-tls-")      # 0700
        files = cls(folder)
        for path, text in zip((files.ca, files.cert, files.key), files_text(made), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        return files

    def texts(self) -> list[str]:
        return [Path(p).read_text() for p in (self.ca, self.cert, self.key)]

    def security(self) -> Any:
        """A ``distributed.security.Security`` for any role, requiring encryption."""
        from distributed.security import Security

        for path in (self.ca, self.cert, self.key):
            if not os.access(path, os.R_OK):
                raise ComputeError(
                    f"This compute target talks TLS and its certificate {path} cannot be read "
                    "here. Connect from the machine running its manager (or as its user), "
                    "or restart the target there with `cumulus compute update`.")
        return Security(tls_ca_file=self.ca, tls_client_cert=self.cert,
                        tls_client_key=self.key, tls_scheduler_cert=self.cert,
                        tls_scheduler_key=self.key, tls_worker_cert=self.cert,
                        tls_worker_key=self.key, require_encryption=True)

    def dask_config(self) -> dict[str, Any]:
        """The same as Dask configuration (paths only), inherited by the remote processes."""
        config: dict[str, Any] = {"distributed.comm.tls.ca-file": self.ca,
                                  "distributed.comm.require-encryption": True}
        for role in ("client", "scheduler", "worker"):   # dotted: the other defaults stay
            config[f"distributed.comm.tls.{role}.cert"] = self.cert
            config[f"distributed.comm.tls.{role}.key"] = self.key
        return config

    def copy_to(self, hosts: list[str], connect_options: dict[str, Any]) -> None:
        """Write the files at the same path on each host (0700 folder, 0600 files)."""
        import asyncio

        asyncio.run(self._copy(sorted(set(hosts)), connect_options))

    async def _copy(self, hosts: list[str], connect_options: dict[str, Any]) -> None:
        import asyncssh

        folder = shlex.quote(self.folder)
        for host in hosts:
            async with asyncssh.connect(host, **connect_options) as conn:
                await conn.run(f"umask 077 && mkdir -p {folder}", check=True)
                for name, text in zip(NAMES, self.texts(), strict=True):
                    target = shlex.quote(os.path.join(self.folder, name))
                    await conn.run(f"umask 077 && cat > {target}.new && mv {target}.new "
                                   f"{target}", input=text, check=True)

    def remove(self, hosts: list[str] = (), connect_options: dict[str, Any] | None = None  # type: ignore[assignment]
               ) -> None:
        """Delete the folder here and, best effort, on the hosts."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if not hosts:
            return
        import asyncio

        async def rm() -> None:
            import asyncssh

            for host in sorted(set(hosts)):
                try:
                    async with asyncssh.connect(host, **(connect_options or {})) as conn:
                        await conn.run(f"rm -rf {shlex.quote(self.folder)}")
                except (OSError, asyncssh.Error):
                    continue

        try:
            asyncio.run(rm())
        except Exception:
            pass


def files_text(security: Any) -> tuple[str, str, str]:
    """(CA, certificate, key) PEM texts of a temporary Security (one key pair)."""
    return security.tls_ca_file, security.tls_scheduler_cert, security.tls_scheduler_key


def security_from_state(state: dict[str, Any]) -> Any:
    """The client Security of a target whose state names TLS files; None for plain TCP."""
    folder = (state.get("tls") or {}).get("folder")
    return TLSFiles(str(folder)).security() if folder else None


__all__ = ["TLSFiles", "security_from_state"]
