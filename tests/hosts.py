"""Real hosts on one machine: Linux network namespaces on a private bridge, each with its own
IP address and its own ``sshd`` (Debian's openssh-server, installed by ``.ci/setup_hosts.sh``).

The hosts share this machine's filesystem (so the same Python and Cumulus are there) but not
its network: a process on one reaches another only through the bridge, at its address, as
across machines. Needs root (``ip netns``); :func:`hosts_available` says why not otherwise.

Example::

    with TestHosts(2) as hosts:          # 10.213.<n>.2 and .3, sshd on port 22 of each
        hosts.ssh_options                # {"known_hosts": None, "client_keys": [key]}
        hosts.run(0, ["hostname", "-I"])  # a command inside host 0's namespace
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
SETUP_HINT = "run `bash .ci/setup_hosts.sh` (installs iproute2 and openssh-server)"


def hosts_available() -> str | None:
    """None when test hosts can be made here, else the reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return f"no `ip` command; {SETUP_HINT}"
    if not os.access(SSHD, os.X_OK):
        return f"no {SSHD}; {SETUP_HINT}"
    probe = f"cuprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def require_hosts() -> None:
    """For a test module: skip it when hosts cannot be made here, but fail loudly when CI
    said they must (``CUMULUS_REQUIRE_HOSTS=1``)."""
    import pytest

    why = hosts_available()
    if why and os.environ.get("CUMULUS_REQUIRE_HOSTS") == "1":
        raise RuntimeError(f"CUMULUS_REQUIRE_HOSTS=1 but test hosts cannot be made: {why}")
    if why:
        pytest.skip(f"test hosts unavailable: {why}", allow_module_level=True)


def _sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)


class TestHosts:
    """``n`` hosts (network namespaces) on a bridge, each running sshd for root."""

    __test__ = False   # not a test class

    def __init__(self, n: int = 2, env: dict[str, str] | None = None) -> None:
        tag = os.getpid() % 200 + 20
        self.env = dict(env or {})   # set in every SSH session (provisioned on the hosts)
        self.n, self.tag = n, tag
        self.bridge = f"cubr{tag}"
        self.gateway = f"10.213.{tag}.1"
        self.addresses = [f"10.213.{tag}.{i + 2}" for i in range(n)]
        self.names = [f"cuhost{tag}x{i}" for i in range(n)]
        self.dir = Path(tempfile.mkdtemp(prefix="cumulus-hosts-"))
        self.key = self.dir / "id_ed25519"
        self.sshd: list[subprocess.Popen[bytes]] = []

    # setup -------------------------------------------------------------------------------
    def __enter__(self) -> TestHosts:
        try:
            self._network()
            self._keys()
            for i in range(self.n):
                self._start_sshd(i)
            for address in self.addresses:
                _wait_port(address, 22)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _network(self) -> None:
        _sh("ip", "link", "add", self.bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        for i, (name, address) in enumerate(zip(self.names, self.addresses, strict=True)):
            outside, inside = f"cuv{self.tag}x{i}", f"cuw{self.tag}x{i}"
            _sh("ip", "netns", "add", name)
            _sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _sh("ip", "link", "set", outside, "master", self.bridge)
            _sh("ip", "link", "set", outside, "up")
            _sh("ip", "link", "set", inside, "netns", name)
            _sh("ip", "-n", name, "addr", "add", f"{address}/24", "dev", inside)
            _sh("ip", "-n", name, "link", "set", inside, "up")
            _sh("ip", "-n", name, "link", "set", "lo", "up")
            _sh("ip", "-n", name, "route", "add", "default", "via", self.gateway)

    def _keys(self) -> None:
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        (self.dir / "authorized_keys").write_text((self.dir / "id_ed25519.pub").read_text())
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)   # sshd's privilege separation

    def _start_sshd(self, i: int) -> None:
        host_key = self.dir / f"host{i}_key"
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        config = self.dir / f"sshd{i}.conf"
        config.write_text("\n".join([
            f"ListenAddress {self.addresses[i]}", "Port 22", f"HostKey {host_key}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}", "StrictModes no",
            "UsePAM no", f"PidFile {self.dir / f'sshd{i}.pid'}", "AcceptEnv *",
            "MaxStartups 100", "MaxSessions 100",
            *(f'SetEnv "{k}={v}"' for k, v in self.env.items()), ""]))
        with open(self.dir / f"sshd{i}.log", "wb") as log:
            self.sshd.append(subprocess.Popen(
                ["ip", "netns", "exec", self.names[i], SSHD, "-D", "-e", "-f", str(config)],
                stdout=subprocess.DEVNULL, stderr=log))

    # use ---------------------------------------------------------------------------------
    @staticmethod
    def plan(n: int = 2) -> list[str]:
        """The addresses ``TestHosts(n)`` made in this process will have."""
        tag = os.getpid() % 200 + 20
        return [f"10.213.{tag}.{i + 2}" for i in range(n)]

    @property
    def ssh_options(self) -> dict[str, Any]:
        """asyncssh connect options for these hosts (as root, with the test key)."""
        return {"username": "root", "known_hosts": None, "client_keys": [str(self.key)]}

    def run(self, i: int, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.names[i], *argv],
                              capture_output=True, text=True, **kwargs)

    def pids(self, i: int) -> list[int]:
        """Processes whose network namespace is host ``i``'s."""
        out = subprocess.run(["ip", "netns", "pids", self.names[i]], capture_output=True,
                             text=True).stdout
        return [int(p) for p in out.split()]

    def close(self) -> None:
        for i in range(len(self.names)):
            for pid in self.pids(i):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        for proc in self.sshd:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        for i in range(self.n):
            subprocess.run(["ip", "link", "del", f"cuv{self.tag}x{i}"], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s") \
                    from None
            time.sleep(0.1)


class TcpProxy:
    """Forward ``listen_host:port`` (e.g. the hosts' gateway) to ``target`` (e.g. a service
    that listens on 127.0.0.1 only), so the test hosts reach it as a remote server."""

    __test__ = False

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        import asyncio
        import threading

        self.listen_host, self.target = listen_host, target
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.writers: set[Any] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._listen()

    def _listen(self) -> None:
        import asyncio

        async def serve() -> None:
            self.server = await asyncio.start_server(self._handle, self.listen_host, self.port,
                                                     reuse_address=True)
            self.port = self.server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10)

    def cut(self) -> None:
        """An outage: stop listening and drop every open connection at once."""
        import asyncio

        async def stop() -> None:
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)

    def restore(self) -> None:
        """Listen again on the same port."""
        self._listen()

    async def _handle(self, reader: Any, writer: Any) -> None:
        import asyncio

        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))

        async def pipe(src: Any, dst: Any) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                if not dst.is_closing():
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        import asyncio

        async def stop() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
