"""Scripts die with their node: a real node process starts real script groups (a shell and the
``sleep`` it starts), is killed, and its reaper kills the groups it still watched, then ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cumulus._procs import pid_alive

# a node process driven by lines on stdin; it answers each with one JSON line
NODE = r"""
import json, os, signal, subprocess, sys
from cumulus.tasks._guard import node_guard
guard = node_guard()
for line in sys.stdin:
    cmd, *arg = line.split()
    if cmd == "start":      # a script: a shell (its group's leader) and a sleep it started
        p = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE,
                             start_new_session=True)
        child = int(p.stdout.readline())
        guard.watch(p.pid)
        out = {"script": p.pid, "child": child}
    elif cmd == "start-term":   # a launcher that cleans up on SIGTERM (a container's)
        p = subprocess.Popen(["sh", "-c", f"trap 'echo stopped > {arg[0]}; exit 0' TERM; "
                              "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE,
                             start_new_session=True)
        child = int(p.stdout.readline())
        guard.watch(p.pid, signal.SIGTERM)
        out = {"script": p.pid, "child": child}
    elif cmd == "release":
        guard.release(int(arg[0]))
        out = {}
    elif cmd == "close":
        guard.close()
        out = {}
    elif cmd == "exit":
        os._exit(0)
    out["reaper"] = guard.reaper.pid if guard.reaper else None
    print(json.dumps(out), flush=True)
"""


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Node:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", NODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.started: list[int] = []

    def ask(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if line == "exit":
            self.proc.wait(10)
            return {}
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.started += [answer[k] for k in ("script", "child") if k in answer]
        return answer

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def node() -> Iterator[Node]:
    n = Node()
    yield n
    n.kill()
    for pid in n.started:        # whatever a test left standing
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_a_killed_node_takes_its_scripts_and_their_children_with_it(node: Node) -> None:
    a, b = node.ask("start"), node.ask("start")
    reaper = a["reaper"]
    assert reaper == b["reaper"] and pid_alive(reaper)     # one reaper per node process
    assert all(pid_alive(p) for p in (a["script"], a["child"], b["script"], b["child"]))
    node.kill()                                            # SIGKILL: nothing runs in it
    for pid in (a["script"], a["child"], b["script"], b["child"]):
        wait_for(lambda p=pid: not pid_alive(p), f"process {pid} to die with its node")
    wait_for(lambda: not pid_alive(reaper), "the reaper to end")


def test_a_launcher_registered_for_sigterm_gets_sigterm_and_cleans_up(
        node: Node, tmp_path: Any) -> None:
    marker = tmp_path / "stopped"
    launcher = node.ask(f"start-term {marker}")
    node.kill()
    wait_for(lambda: marker.exists(), "the launcher's SIGTERM handler to run")
    wait_for(lambda: not pid_alive(launcher["script"]) and not pid_alive(launcher["child"]),
             "the launcher's group to end")


def test_a_released_script_outlives_the_node(node: Node) -> None:
    kept, killed = node.ask("start"), node.ask("start")
    node.ask(f"release {kept['script']}")
    node.kill()
    wait_for(lambda: not pid_alive(killed["script"]), "the watched script to die")
    wait_for(lambda: not pid_alive(kept["reaper"]), "the reaper to end")
    assert pid_alive(kept["script"]) and pid_alive(kept["child"])


def test_a_killed_reaper_is_replaced_and_told_every_script(node: Node) -> None:
    first = node.ask("start")
    os.kill(first["reaper"], signal.SIGKILL)
    wait_for(lambda: not pid_alive(first["reaper"]), "the first reaper to die")
    second = node.ask("start")
    assert second["reaper"] != first["reaper"] and pid_alive(second["reaper"])
    node.kill()
    for pid in (first["script"], first["child"], second["script"], second["child"]):
        wait_for(lambda p=pid: not pid_alive(p), f"process {pid} to die with its node")


def test_a_node_that_exits_kills_what_still_runs_and_a_closed_guard_kills_nothing(
        node: Node) -> None:
    running = node.ask("start")
    node.ask("exit")                                       # an exit without closing
    wait_for(lambda: not pid_alive(running["script"]), "the script to die")
    other = Node()
    try:
        spared = other.ask("start")
        assert other.ask("close")["reaper"] is None
        wait_for(lambda: not pid_alive(spared["reaper"]), "the closed reaper to end")
        other.ask("exit")
        time.sleep(0.5)
        assert pid_alive(spared["script"]), "a closed guard killed a script"
    finally:
        other.kill()
        for pid in other.started:
            os.kill(pid, signal.SIGKILL)
