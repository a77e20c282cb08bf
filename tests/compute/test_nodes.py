"""Picking a node and building the ssh command line: literals."""

from __future__ import annotations

import pytest

from cumulus.compute._nodes import pick_node, ssh_argv
from cumulus.errors import ComputeError

NODES = [{"name": "node-0-10.0.0.2", "address": "tcp://10.0.0.2:1", "host": "10.0.0.2"},
         {"name": "node-1-10.0.0.3", "address": "tcp://10.0.0.3:1", "host": "10.0.0.3"}]


def test_pick_node() -> None:
    assert pick_node(NODES, "10.0.0.3", "t")["name"] == "node-1-10.0.0.3"
    assert pick_node(NODES[:1], None, "t") is NODES[0]
    with pytest.raises(ComputeError, match="has 2 nodes; name one: 'node-0-10.0.0.2'"):
        pick_node(NODES, None, "t")
    with pytest.raises(ComputeError, match="has no node 'node-9'"):
        pick_node(NODES, "node-9", "t")
    with pytest.raises(ComputeError, match="has no node now; .*--min-nodes 1"):
        pick_node([], None, "t")


def test_ssh_argv() -> None:
    argv = ssh_argv("10.0.0.3", {"username": "ml", "port": 2222, "client_keys": ["/k"],
                                 "known_hosts": None}, ["echo", "a b"])
    assert argv[:7] == ["ssh", "-l", "ml", "-p", "2222", "-i", "/k"]
    assert "StrictHostKeyChecking=no" in argv and argv[-2:] == ["10.0.0.3", "echo 'a b'"]
    assert ssh_argv("h", {}, []) == ["ssh", "h"]


def test_local_nodes_are_listed_with_their_process(workspace) -> None:  # type: ignore[no-untyped-def]
    import os

    from cumulus.compute import ComputeTarget

    nodes = ComputeTarget(workspace, "local").list_nodes()
    assert nodes and all(n["pid"] != os.getpid() and n["cwd"] for n in nodes)
