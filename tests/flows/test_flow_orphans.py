"""When the serve loop fails a pipeline run whose flow run's process is gone (pure rule)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cumulus.flows._serve import orphan_reason

T = datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc)


def test_a_running_flow_run_with_a_recent_heartbeat_is_left_alone() -> None:
    assert orphan_reason("f1", {"type": "RUNNING"}, T, T + timedelta(seconds=59)) is None
    assert orphan_reason("f1", {"type": "PENDING"}, None, T) is None


def test_an_ended_flow_run_orphans_the_pipeline_run_with_prefects_reason() -> None:
    assert orphan_reason("f1", {"type": "CRASHED", "name": "Crashed", "message": "killed"},
                         T, T) == ("its Prefect flow run f1 ended crashed before the pipeline "
                                   "finished: killed")
    assert orphan_reason("f1", {"type": "CANCELLED"}, T, T) == (
        "its Prefect flow run f1 ended cancelled before the pipeline finished: no message")


def test_a_deleted_flow_run_orphans_the_pipeline_run() -> None:
    assert orphan_reason("f1", None, T, T) == (
        "its Prefect flow run f1 is gone (deleted in Prefect) before the pipeline finished")


def test_silence_past_the_limit_orphans_a_run_whose_flow_run_still_looks_alive() -> None:
    # a machine that rebooted: Prefect still says Running, nobody beats
    assert orphan_reason("f1", {"type": "RUNNING"}, T, T + timedelta(seconds=61)) == (
        "no sign of life from its pipeline process for 61 s (its Prefect flow run f1 is "
        "running)")
    assert orphan_reason("f1", {"type": "RUNNING"}, T, T + timedelta(seconds=5),
                         stale_after=3) is not None
