"""The sweep_state row: one controller at a time (compare-and-set on the pid), heartbeats,
state round trips; on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from cumulus.errors import SweepClaimedError, SweepError
from cumulus.store import Store
from cumulus.sweeps import _state


@pytest.fixture(params=["sqlite", "postgresql"])
def ids(request, tmp_path) -> tuple[Store, str, str]:  # type: ignore[no-untyped-def]
    """A store (SQLite, or a PostgreSQL schema shared by the session), a sweep id, a plain
    run id."""
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("pg_url")
    s = Store(url)
    exp = s.get_or_create_experiment("state")
    sweep_id, plain = f"sw_{uuid.uuid4().hex[:8]}", f"plain_{uuid.uuid4().hex[:8]}"
    s.create_run(run_id=sweep_id, experiment_id=exp["id"], kind="sweep", status="Running")
    s.create_run(run_id=plain, experiment_id=exp["id"])
    _state.create(s, sweep_id, {"primary_metric_name": "acc"})
    return s, sweep_id, plain


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_one_controller_at_a_time(ids: tuple[Store, str, str]) -> None:
    store, sweep_id, _ = ids
    assert sweep_id in _state.list_ids(store)
    me = os.getpid()
    assert _state.claim(store, sweep_id, me)
    record = _state.load(store, sweep_id)
    assert record.controller_pid == me and record.controller_alive()
    assert record.heartbeat_age is not None and record.heartbeat_age < 60
    other = _dead_pid()
    assert not _state.claim(store, sweep_id, other)  # a live controller (this process) owns it
    assert _state.heartbeat(store, sweep_id, me, {"pruned": {"t": "early termination: x"}})
    assert not _state.heartbeat(store, sweep_id, other)  # not the owner: refused
    _state.release(store, sweep_id, me, {"finished": "Completed"})
    record = _state.load(store, sweep_id)
    assert record.controller_pid is None and not record.controller_alive()
    assert record.state == {"finished": "Completed"}
    assert record.definition == {"primary_metric_name": "acc"}


def test_a_dead_controller_is_taken_over_at_once(ids: tuple[Store, str, str]) -> None:
    store, sweep_id, _ = ids
    dead = _dead_pid()
    _state.set_spawned(store, sweep_id, dead)  # fresh heartbeat, but the process is gone
    assert not _state.load(store, sweep_id).controller_alive()
    assert _state.claim(store, sweep_id, os.getpid())
    assert _state.load(store, sweep_id).controller_pid == os.getpid()


def test_a_run_that_is_not_a_sweep(ids: tuple[Store, str, str]) -> None:
    store, _, plain = ids
    with pytest.raises(SweepError, match="is not a sweep"):
        _state.load(store, plain)
    assert _state.find(store, "nope") is None


def test_the_submitter_records_trials_only_until_the_spawned_controller_claims(
        ids: tuple[Store, str, str]) -> None:
    store, sweep_id, _ = ids
    exp_id = store.get_run(sweep_id)["experiment_id"]
    spawned = os.getpid()
    _state.set_spawned(store, sweep_id, spawned)
    record = _state.load(store, sweep_id)
    assert record.controller_heartbeat is None           # no heartbeat before the claim
    assert record.controller_alive() and record.heartbeat_age is not None \
        and record.heartbeat_age < 60                    # its age counts from the spawn

    def trial(index: int, pid: int) -> dict[str, object]:
        return store.create_run(run_id=f"{sweep_id}_{index}", experiment_id=exp_id,
                                parent_id=sweep_id, while_unclaimed=(sweep_id, pid))

    assert trial(0, spawned)["status"] == "Queued"
    with pytest.raises(SweepClaimedError, match="claimed by its controller"):
        trial(1, spawned + 1)                  # not the controller spawned for it
    assert _state.claim(store, sweep_id, spawned)
    with pytest.raises(SweepClaimedError, match=f"run {sweep_id}_2 was not recorded"):
        trial(2, spawned)                      # claimed: the controller issues them now
    assert store.find_run(f"{sweep_id}_1") is None and store.find_run(f"{sweep_id}_2") is None
    assert [c["id"] for c in store.children(sweep_id)] == [f"{sweep_id}_0"]
    assert _state.load(store, sweep_id).controller_pid == spawned
