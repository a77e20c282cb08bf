"""When step link artifacts are created: not on a quick chain's path, within the delay of a
step's end otherwise, and every one at the pipeline's end (the queueing, with the Prefect
call replaced by a recorder)."""

from __future__ import annotations

import time
from typing import Any

from cumulus.flows._links import StepLinks


class Recorded(StepLinks):
    def __init__(self, delay: float) -> None:
        super().__init__(log=print, delay=delay)
        self.made: dict[str, float] = {}

    def _create(self, step: str, artifact: Any) -> None:
        self.made[step] = time.monotonic()


def test_links_wait_for_the_delay_then_all_are_made_at_the_end() -> None:
    links = Recorded(delay=0.5)
    t0 = time.monotonic()
    links.add("a", "run_a", reused=False)
    links.add("b", "run_b", reused=True)
    time.sleep(0.2)
    assert links.made == {}                        # a quick chain is not slowed by them
    deadline = time.monotonic() + 5
    while len(links.made) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(links.made) == {"a", "b"}
    assert all(t - t0 >= 0.45 for t in links.made.values())
    links.add("c", "run_c", reused=False)
    before = time.monotonic()
    links.wait()                                   # the pipeline ended: made at once
    assert "c" in links.made and links.made["c"] - before < 0.3
    links.add("d", "run_d", reused=False)          # queued after the end: still made
    links.wait()
    assert "d" in links.made
