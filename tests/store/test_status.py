"""Run lifecycle rules, as pure data."""

from __future__ import annotations

import pytest

from cumulus.errors import ValidationError
from cumulus.store.status import TERMINAL, RunStatus, can_transition, sources_for


def test_terminal_statuses_are_final() -> None:
    for src in TERMINAL:
        for dst in RunStatus:
            assert not can_transition(src, dst)


@pytest.mark.parametrize(("src", "dst", "ok"), [
    ("Queued", "Preparing", True), ("Preparing", "Running", True),
    ("Running", "Finalizing", True), ("Finalizing", "Completed", True),
    ("Running", "CancelRequested", True), ("CancelRequested", "Canceled", True),
    ("Running", "Queued", True),  # requeue after node loss
    ("Completed", "Running", False), ("Queued", "Finalizing", False),
    ("CancelRequested", "Running", False), ("Finalizing", "Running", False),
])
def test_transitions(src: str, dst: str, ok: bool) -> None:
    assert can_transition(src, dst) is ok


def test_parse_accepts_names_and_suggests() -> None:
    assert RunStatus.parse("running") is RunStatus.RUNNING
    assert RunStatus.parse("CANCEL_REQUESTED") is RunStatus.CANCEL_REQUESTED
    with pytest.raises(ValidationError, match="Did you mean 'Completed'"):
        RunStatus.parse("Complted")


def test_sources_for_completed() -> None:
    assert sources_for("Completed") == {RunStatus.RUNNING, RunStatus.FINALIZING}


def test_a_run_whose_node_died_while_finalizing_can_be_requeued() -> None:
    assert can_transition("Finalizing", "Queued")
    assert can_transition("Finalizing", "CancelRequested") and can_transition("CancelRequested",
                                                                              "Canceled")
