"""Dask clients shared per process and scheduler address.

Example::

    client = get_client("tcp://127.0.0.1:8786")     # the same object on the next call
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

#: Dask settings of the processes Cumulus starts that hold a client or are nodes (a target's
#: manager and its nodes, sweep controllers), in their environment: Dask reads this one when it
#: is imported. Their messages are small; Dask would size each one, walking it item by item,
#: to decide whether to serialize it on another thread (10-24% of their event loops' CPU).
OWN_PROCESS_ENV = {"DASK_DISTRIBUTED__COMM__OFFLOAD": "False"}

_clients: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()
_targets: dict[tuple[str, str], str] = {}   # (store URL, target) -> scheduler address


def get_client(address: str, timeout: float = 10, security: Any = None) -> Any:
    """The process's client of ``address`` (``security`` for a ``tls://`` scheduler)."""
    from distributed import Client

    key = (os.getpid(), address)
    with _lock:
        client = _clients.get(key)
        if client is not None and client.status == "running":
            return client
        client = Client(address, timeout=timeout, set_as_default=False, security=security)
        _clients[key] = client
        return client


def cached_client(address: str) -> Any:
    """This process's connected client of ``address``, or None (never connects)."""
    with _lock:
        client = _clients.get((os.getpid(), address))
    return client if client is not None and client.status == "running" else None


def remember_target(store_url: str, target: str, address: str) -> None:
    """Note that ``target`` of the store at ``store_url`` is served by ``address``."""
    with _lock:
        _targets[(store_url, target)] = address


def target_client(store_url: str, target: str | None) -> Any:
    """This process's connected client of ``target``'s scheduler, or None: never connects
    (followers of runs use it to hear the run's events when it is there for free)."""
    with _lock:
        address = _targets.get((store_url, str(target)))
    return cached_client(address) if address else None


def drop_client(address: str) -> None:
    with _lock:
        client = _clients.pop((os.getpid(), address), None)
    if client is not None:
        try:
            client.close(timeout=2)
        except Exception:
            pass


def close_all() -> None:
    with _lock:
        items = list(_clients.values())
        _clients.clear()
    for c in items:
        try:
            c.close(timeout=2)
        except Exception:
            pass


atexit.register(close_all)   # closing flushes anything still in a client's send buffer
