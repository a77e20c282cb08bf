"""An ``ssh`` compute target over real hosts: network namespaces on one machine, each with its
own address and sshd (see tests/hosts.py). Runs land on both hosts, the target scales to zero
when idle, and nothing is left running on the hosts afterwards."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosts import TestHosts, require_hosts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

require_hosts()
pytest.importorskip("asyncssh")

WHERE = """
import subprocess, sys, time
time.sleep(float(sys.argv[1]))
print("host", subprocess.check_output(["hostname", "-I"], text=True).split()[0])
"""


@pytest.fixture(scope="module")
def hosts() -> Iterator[TestHosts]:
    with TestHosts(2) as made:
        yield made


def _nodes(target) -> int:  # type: ignore[no-untyped-def]
    return int(target.get_status().current_node_count)


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:g} s: {what}")
        time.sleep(0.5)


def _workers_on(hosts: TestHosts, i: int) -> list[str]:
    import psutil

    out = []
    for pid in hosts.pids(i):
        try:
            cmd = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        if "distributed" in cmd and "sshd" not in cmd:
            out.append(cmd)
    return out


def test_runs_land_on_both_hosts_and_the_target_scales_to_zero(
        hosts: TestHosts, tmp_path: Path, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.compute import ClusterConfig

    first, second = hosts.addresses
    ws = Workspace.create("hosts", path=tmp_path / "ws")
    config = ClusterConfig(backend="ssh", min_nodes=0, max_nodes=2,
                           idle_seconds_before_scaledown=8,
                           options={"hosts": [first, first, second],
                                    "connect_options": hosts.ssh_options,
                                    "remote_python": sys.executable})
    target = ComputeTarget.create(ws, "pair", config)
    try:
        target.wait_for_completion(timeout_in_minutes=3)
        time.sleep(3)
        assert _nodes(target) == 0                    # nothing queued: no node kept
        src = script_dir({"where.py": WHERE})
        exp = Experiment(ws, "where")
        runs = [exp.submit(ScriptRunConfig(source_directory=str(src), script="where.py",
                                           arguments=["6"], compute_target="pair"))
                for _ in range(4)]
        seen = set()
        for run in runs:
            details = run.wait_for_completion(raise_on_error=False, timeout=300)
            assert details["status"] == "Completed", run.get_log()
            line = next(ln for ln in run.get_log().splitlines() if ln.startswith("host "))
            seen.add(line.split()[1])
        assert seen == {first, second}                 # both hosts ran something
        _check_tls(target, hosts)
        _wait(lambda: _nodes(target) == 0, 90, "the idle target back to 0 nodes")
        _wait(lambda: not _workers_on(hosts, 1), 30, "no worker left on the second host")
    finally:
        folder = ((ws.store.computes.get("pair") or {}).get("state") or {}).get("tls") or {}
        target.delete()
    _wait(lambda: not any(_workers_on(hosts, i) for i in range(2)), 30,
          "nothing of the target left on either host")
    assert folder.get("folder") and not os.path.exists(folder["folder"])   # keys removed


def _check_tls(target, hosts: TestHosts) -> None:  # type: ignore[no-untyped-def]
    """Across hosts the cluster talks TLS with its own key pair: a plain or a foreign-key
    client is refused, the key files are private, and no key is on any command line."""
    import stat

    import psutil
    from distributed import Client
    from distributed.security import Security

    address = target.get_status().address
    assert address.startswith("tls://"), address
    folder = target.backend.state["tls"]["folder"]
    for name in ("ca.pem", "cert.pem", "key.pem"):
        assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    import socket
    import ssl

    host, port = address[len("tls://"):].rsplit(":", 1)
    anonymous = ssl.create_default_context()
    anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=5) as raw, \
            pytest.raises((ssl.SSLError, ConnectionError)), \
            anonymous.wrap_socket(raw) as tls:     # no client certificate: refused
        tls.sendall(b"x")
        tls.recv(1)
    with pytest.raises((OSError, TimeoutError)):   # another cluster's key: refused
        Client(address, timeout=3, security=Security.temporary()).close()
    assert target.list_nodes()             # our own client gets in
    for i in range(2):
        for pid in hosts.pids(i):
            try:
                cmd = " ".join(psutil.Process(pid).cmdline())
            except psutil.Error:
                continue
            assert "PRIVATE KEY" not in cmd and "BEGIN CERT" not in cmd


LONG = """
import pathlib, subprocess, sys, time
host = subprocess.check_output(["hostname", "-I"], text=True).split()[0]
pathlib.Path(sys.argv[1]).write_text(host)
time.sleep(float(sys.argv[2]))
print("finished on", host)
"""


def _kill_node_on(hosts: TestHosts, address: str) -> int:
    """Kill the node (nanny, worker and what runs under them) on the host at ``address``."""
    import psutil

    i = hosts.addresses.index(address)
    killed = 0
    for pid in hosts.pids(i):
        try:
            proc = psutil.Process(pid)
            if "Nanny" not in " ".join(proc.cmdline()):
                continue
            for p in [*proc.children(recursive=True), proc]:
                p.kill()
                killed += 1
        except psutil.Error:
            continue
    return killed


def test_a_node_lost_mid_run_is_requeued_and_the_run_completes(
        hosts: TestHosts, tmp_path: Path, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.compute import ClusterConfig

    first, second = hosts.addresses
    ws = Workspace.create("lost", path=tmp_path / "ws")
    config = ClusterConfig(backend="ssh", min_nodes=2, max_nodes=2,
                           options={"hosts": [first, first, second],
                                    "connect_options": hosts.ssh_options,
                                    "remote_python": sys.executable})
    target = ComputeTarget.create(ws, "pair", config)
    try:
        target.wait_for_completion(min_node_count=2, timeout_in_minutes=3)
        marker = tmp_path / "where.txt"
        src = script_dir({"long.py": LONG})
        run = Experiment(ws, "lost").submit(ScriptRunConfig(
            source_directory=str(src), script="long.py", arguments=[str(marker), "8"],
            compute_target="pair"))
        _wait(marker.exists, 120, "the run started on a host")
        assert _kill_node_on(hosts, marker.read_text().strip()) >= 2
        details = run.wait_for_completion(raise_on_error=False, timeout=300)
        assert details["status"] == "Completed", run.get_log()
        events = ws.store.status_events(run.id)
        assert any("requeued" in (e["reason"] or "") for e in events), events
        assert "finished on" in run.get_log()
    finally:
        target.delete(force=True)


def test_bad_hosts_are_refused_before_anything_is_recorded(
        hosts: TestHosts, tmp_path: Path) -> None:
    from cumulus import ComputeTarget, Workspace
    from cumulus.compute import ClusterConfig
    from cumulus.errors import ComputeError

    first, second = hosts.addresses
    nobody = hosts.gateway.rsplit(".", 1)[0] + ".250"          # on the bridge, no host there
    ws = Workspace.create("bad-hosts", path=tmp_path / "ws")
    bare = os.path.join(sys.base_prefix, "bin", "python3")
    fake = tmp_path / "oldpython"                                # answers with another version
    fake.write_text("#!/bin/sh\necho 0.0.9 3.11.0\n")
    fake.chmod(0o755)
    cases = [
        ({"hosts": [first, nobody]}, f"{nobody}: unreachable over SSH"),
        ({"hosts": [first, second], "remote_python": "/nowhere/python3"},
         f"{second}: no Python at '/nowhere/python3'"),
        ({"hosts": [first, second], "remote_python": bare},     # a Python without Cumulus
         f"{second}: {bare} cannot import cumulus"),
        ({"hosts": [first, second], "remote_python": str(fake)},
         f"{second}: {fake} has cumulus 0.0.9, this client has"),
    ]
    for options, message in cases:
        opts = {"connect_options": {**hosts.ssh_options, "connect_timeout": 3},
                "remote_python": sys.executable, **options}
        with pytest.raises(ComputeError, match=message):
            ComputeTarget.create(ws, "bad", ClusterConfig(backend="ssh", max_nodes=1,
                                                          options=opts))
        assert ws.store.computes.get("bad") is None


def test_a_host_key_mismatch_is_refused_naming_the_host(hosts: TestHosts,
                                                        tmp_path: Path) -> None:
    """known_hosts holds the first host's real key and another key for the second host (as
    after a host was reinstalled, or a man in the middle): refused before anything is
    recorded, naming the second host."""
    import subprocess

    from cumulus import ComputeTarget, Workspace
    from cumulus.compute import ClusterConfig
    from cumulus.errors import ComputeError

    first, second = hosts.addresses
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    real = (hosts.dir / "host0_key.pub").read_text().split()
    fake = other.with_suffix(".pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"{first} {real[0]} {real[1]}\n{second} {fake[0]} {fake[1]}\n")
    ws = Workspace.create("hostkey", path=tmp_path / "ws")
    opts = {"hosts": [first, second], "remote_python": sys.executable,
            "connect_options": {**hosts.ssh_options, "known_hosts": str(known),
                                "connect_timeout": 5}}
    with pytest.raises(ComputeError, match=f"{second}: its host key is not the one expected"):
        ComputeTarget.create(ws, "mismatch", ClusterConfig(backend="ssh", max_nodes=1,
                                                           options=opts))
    assert ws.store.computes.get("mismatch") is None
    # with the right key for both, the same check passes
    second_real = (hosts.dir / "host1_key.pub").read_text().split()
    known.write_text(f"{first} {real[0]} {real[1]}\n"
                     f"{second} {second_real[0]} {second_real[1]}\n")
    from cumulus.compute._base import backend_class

    backend_class("ssh").preflight(ClusterConfig(backend="ssh", max_nodes=1, options=opts))


def test_compute_ssh_reaches_a_node(hosts: TestHosts, tmp_path: Path) -> None:
    import subprocess

    from cumulus import ComputeTarget, Workspace
    from cumulus.compute import ClusterConfig
    from cumulus.compute._nodes import ssh_argv

    first, second = hosts.addresses
    root = tmp_path / "ws"
    ws = Workspace.create("ssh-cli", path=root)
    target = ComputeTarget.create(ws, "pair", ClusterConfig(
        backend="ssh", min_nodes=2, max_nodes=2,
        options={"hosts": [first, first, second], "connect_options": hosts.ssh_options,
                 "remote_python": sys.executable}))
    cli = [sys.executable, "-m", "cumulus.cli._entry", "compute"]
    try:
        target.wait_for_completion(min_node_count=2, timeout_in_minutes=3)
        nodes = target.list_nodes()
        assert {n["host"] for n in nodes} == {first, second}
        assert all(isinstance(n["pid"], int) and n["cwd"] for n in nodes)
        listed = subprocess.run([*cli, "nodes", "pair"], cwd=root, capture_output=True,
                                text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
        assert listed.returncode == 0 and second in listed.stdout, listed.stderr
        which = subprocess.run([*cli, "ssh", "pair"], cwd=root, capture_output=True,
                               text=True, timeout=120)
        assert which.returncode != 0 and "has 2 nodes; name one" in which.stderr
        node = next(n["name"] for n in nodes if n["host"] == second)
        out = subprocess.run([*cli, "ssh", "pair", node, "--", "hostname", "-I"], cwd=root,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.split()[0] == second, out.stderr
        shell = subprocess.run([*ssh_argv(second, hosts.ssh_options, ["hostname", "-I"])],
                               capture_output=True, text=True, timeout=60)
        assert shell.stdout.split()[0] == second, shell.stderr   # what an interactive
    finally:                                                    # `compute ssh` execs
        target.delete(force=True)
