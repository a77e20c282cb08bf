"""Following runs: the read clock (literals), the event channel, cancel pushed to executors."""

from __future__ import annotations

import io
import time

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.tasks.events import RUNS_TOPIC, announce_cancel, publish_event, watch_runs
from cumulus.tasks.follow import FALLBACK_READ, LIVE_READ, LOG_READ, _Clock


def test_clock_without_events_reads_every_half_second() -> None:
    clock = _Clock(live=False)
    assert clock.should_read(10.0, set()) == (True, True)       # the first read: everything
    assert clock.next_wait(10.0) == FALLBACK_READ
    assert clock.should_read(10.2, set()) == (False, False)     # woken early: nothing due
    assert clock.should_read(10.5, set()) == (True, True)


def test_clock_with_events_reads_on_status_and_coalesces_log_reads() -> None:
    clock = _Clock(live=True)
    assert clock.should_read(0.0, set()) == (True, True)
    assert clock.next_wait(0.0) == LIVE_READ                    # quiet run: a safety read
    assert clock.should_read(0.1, {"log"}) == (False, False)    # log read 0.1 s ago: wait
    assert clock.next_wait(0.1) == pytest.approx(LOG_READ - 0.1)  # ... but not for 2 s
    assert clock.should_read(0.5, set()) == (False, True)       # the deferred log read
    assert clock.next_wait(0.5) == pytest.approx(LIVE_READ - 0.5)
    assert clock.should_read(0.6, {"end"}) == (True, True)      # status news: read at once
    assert clock.should_read(0.7, {"metrics"}) == (False, False)




@pytest.mark.integration
def test_watch_runs_wakes_only_for_its_runs() -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        a = watch_runs(client, ["r1"])
        b = watch_runs(client, ["r2", "r1"])
        try:
            client.submit(publish_event, None, "r1", "end", pure=False).result(timeout=60)
            assert a.wait(60) == {"end"}
            assert b.wait(60) == {"end"}
            client.submit(publish_event, "cumulus-sweep-x", "r2", "log",
                          pure=False).result(timeout=60)
            assert b.wait(60) == {"log"}
            assert a.wait(0.3) == set()          # r2's events do not wake r1's waiter
            assert announce_cancel(client, ["r1"])
            assert a.wait(60) == {"cancel"}
        finally:
            a.close()
            b.close()
        client.log_event(RUNS_TOPIC, {"run": "r1", "what": "end"})
        assert a.wait(0.3) == set()              # closed: no longer woken


SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(120)\n"


@pytest.mark.integration
def test_cancel_is_pushed_to_the_executor_and_wakes_the_waiter(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"sleep.py": SLEEPER})
    run = Experiment(workspace, "follow-cancel").submit(
        ScriptRunConfig(source_directory=src, script="sleep.py"))
    assert run._events_client() is not None     # the submit left a client: events are live
    deadline = time.monotonic() + 120
    while "started" not in run.get_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.cancel() == "CancelRequested"
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out, raise_on_error=False,
                                      timeout=60)
    assert details["status"] == "Canceled", out.getvalue()
    assert "started" in out.getvalue()


@pytest.mark.integration
def test_wait_without_a_client_reads_the_store(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus import Run

    src = script_dir({"hello.py": "print('hello from the run', flush=True)\n"})
    submitted = Experiment(workspace, "follow-store").submit(
        ScriptRunConfig(source_directory=src, script="hello.py"))
    other = Run(Experiment(workspace, "follow-store"), submitted.id)
    other._record = {**other._record, "compute_target": "no-client-here"}
    assert other._events_client() is None
    out = io.StringIO()
    status = other.stream_log(out)
    assert status == "Completed"
    assert "hello from the run" in out.getvalue()
    assert other.stream_log(io.StringIO(), follow=False) == "Completed"
