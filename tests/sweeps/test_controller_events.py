"""The executor -> controller wake-up path over a real Dask cluster's event topics."""

from __future__ import annotations

import pytest

from cumulus.compute import ComputeTarget
from cumulus.tasks.events import Wakeup, publish_event

pytestmark = pytest.mark.integration


def test_a_worker_event_wakes_the_subscriber_with_its_kind(workspace) -> None:  # type: ignore[no-untyped-def]
    client = ComputeTarget(workspace, "local").backend.client()
    wakeup = Wakeup()
    wakeup.subscribe(client, "cumulus-sweep-test-events")
    try:
        assert wakeup.live
        client.submit(publish_event, "cumulus-sweep-test-events", "r1", "metrics",
                      pure=False).result(timeout=60)
        assert wakeup.wait(60) == {"metrics"}
        client.submit(publish_event, "cumulus-sweep-test-events", "r1", "end",
                      pure=False).result(timeout=60)
        assert wakeup.wait(60) == {"end"}
        client.submit(publish_event, "other-topic", "r2", "end", pure=False).result(timeout=60)
        assert wakeup.wait(0.5) == set()  # another sweep's topic does not wake this one
    finally:
        wakeup.close()
    assert not wakeup.live


def test_publishing_outside_a_worker_or_without_a_topic_is_a_no_op() -> None:
    publish_event(None, "r1", "end")
    publish_event("cumulus-sweep-x", "r1", "end")  # not in a Dask worker: silently nothing
