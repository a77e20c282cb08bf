"""The controller's pure decisions (``_plan.decide``), tested with literal sweep views."""

from __future__ import annotations

from dataclasses import replace

from cumulus.sweeps import (
    BanditPolicy,
    GridSampling,
    NoTerminationPolicy,
    RandomSampling,
    TrialRecord,
    choice,
    uniform,
)
from cumulus.sweeps._plan import (
    FAIL_FAST,
    REPLAY_MAX,
    Limits,
    SweepView,
    Trial,
    best_trial,
    decide,
    history,
    primary_metric_warning,
)

RANDOM = RandomSampling({"--x": uniform(0, 1)}, seed=3)
GRID = GridSampling({"--b": choice(1, 2, 3)})


def view(trials: tuple[Trial, ...] = (), *, sampler=RANDOM, policy=None,  # type: ignore[no-untyped-def]
         total: int | None = 6, concurrent: int = 2, **kw) -> SweepView:
    return SweepView(goal=kw.pop("goal", "maximize"), trials=trials,
                     limits=Limits(total, concurrent, kw.pop("duration", None)),
                     sampler=sampler, policy=policy or NoTerminationPolicy(), **kw)


def test_first_decision_launches_up_to_the_concurrency_limit() -> None:
    decision = decide(view())
    assert decision.launch == tuple(RANDOM.suggest((), 2))
    assert not decision.cancel and decision.finish is None


def test_launches_only_into_free_slots_and_within_the_total() -> None:
    running = Trial("s_0", 0, {"--x": 0.1}, "Running")
    assert len(decide(view((running,))).launch) == 1
    full = (running, Trial("s_1", 1, {"--x": 0.2}, "Queued"))
    assert decide(view(full)).launch == ()
    done = tuple(Trial(f"s_{i}", i, {"--x": 0.1}, "Completed", ((0, 0.5),)) for i in range(5))
    assert len(decide(view(done, concurrent=4)).launch) == 1  # 6 in all, 5 issued


def test_launched_points_continue_the_samplers_sequence() -> None:
    issued = tuple(Trial(f"s_{i}", i, p, "Completed", ((0, 0.5),))
                   for i, p in enumerate(RANDOM.suggest((), 3)))
    assert decide(view(issued)).launch == tuple(RANDOM.suggest((), 5)[3:])


def test_finishes_completed_when_everything_issued_has_ended() -> None:
    done = tuple(Trial(f"s_{i}", i, {"--x": i / 10}, "Completed", ((0, i / 10),))
                 for i in range(6))
    decision = decide(view(done))
    assert decision.finish == "Completed" and decision.launch == ()
    assert "best metric = 0.5 by s_5" in decision.message


def test_grid_exhaustion_ends_the_sweep_without_a_total() -> None:
    done = tuple(Trial(f"s_{i}", i, {"--b": b}, "Completed", ((0, 1.0),))
                 for i, b in enumerate((1, 2, 3)))
    assert decide(view(done, sampler=GRID, total=None)).finish == "Completed"
    two = done[:2]
    decision = decide(view(two, sampler=GRID, total=None, concurrent=3))
    assert decision.launch == ({"--b": 3},) and decision.finish is None


def test_bandit_cancels_the_trailing_running_trial_with_a_recorded_reason() -> None:
    policy = BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=1)
    good = Trial("s_0", 0, {"--x": 0.9}, "Completed", ((0, 0.9), (1, 0.9), (2, 0.9)))
    bad = Trial("s_1", 1, {"--x": 0.1}, "Running", ((0, 0.1), (1, 0.1)))
    decision = decide(view((good, bad), policy=policy))
    assert set(decision.cancel) == {"s_1"} and decision.pruned == {"s_1"}
    assert decision.cancel["s_1"].startswith("early termination: BanditPolicy(")
    assert "at interval 2" in decision.cancel["s_1"]


def test_intervals_skipped_by_a_batch_of_metrics_are_judged_too() -> None:
    policy = BanditPolicy(slack_amount=0.2, evaluation_interval=5, delay_evaluation=0)
    good = Trial("s_0", 0, {}, "Completed", tuple((i, 0.9) for i in range(10)))
    # 8 values arrived at once: not due at 8, but it trailed at the due interval 5
    points = tuple((i, 0.1) for i in range(5)) + tuple((i, 0.95) for i in range(5, 8))
    bad = Trial("s_1", 1, {}, "Running", points)
    reason = decide(view((good, bad), policy=policy)).cancel["s_1"]
    assert "at interval 5 (best metric so far: 0.1)" in reason
    judged = replace(bad, judged=5)  # interval 5 was judged already (and passed, say)
    assert decide(view((good, judged), policy=policy)).cancel == {}
    late = replace(bad, points=points + tuple((i, 0.95) for i in range(8, 8 + REPLAY_MAX)))
    assert decide(view((good, late), policy=policy)).cancel == {}  # only the latest replayed


def test_no_second_cancel_and_no_cancel_of_finalizing_trials() -> None:
    policy = BanditPolicy(slack_amount=0.1, evaluation_interval=1, delay_evaluation=0)
    good = Trial("s_0", 0, {}, "Completed", ((0, 0.9),))
    asked = Trial("s_1", 1, {}, "Running", ((0, 0.1),), cancel_reason="early termination: x")
    requested = Trial("s_2", 2, {}, "CancelRequested", ((0, 0.1),))
    finalizing = Trial("s_3", 3, {}, "Finalizing", ((0, 0.1),))
    assert decide(view((good, asked, requested, finalizing), policy=policy,
                       concurrent=5)).cancel == {}


def test_cancel_of_the_sweep_winds_down_then_ends_canceled() -> None:
    running = Trial("s_0", 0, {}, "Running")
    decision = decide(view((running,), cancel_requested=True))
    assert decision.cancel == {"s_0": "the sweep was canceled"} and decision.finish is None
    assert decision.launch == ()
    ended = (Trial("s_0", 0, {}, "Canceled"),)
    assert decide(view(ended, cancel_requested=True)).finish == "Canceled"


def test_max_duration_cancels_running_trials_and_completes() -> None:
    trials = (Trial("s_0", 0, {}, "Completed", ((0, 1.0),)), Trial("s_1", 1, {}, "Running"))
    decision = decide(view(trials, duration=60.0, elapsed_seconds=61.0))
    assert decision.cancel == {"s_1": "max_duration_minutes (1) reached"}
    assert decision.finish is None and decision.launch == ()
    stopped = (trials[0], Trial("s_1", 1, {}, "Canceled"))
    assert decide(view(stopped, duration=60.0, elapsed_seconds=62.0)).finish == "Completed"


def test_fail_fast_stops_issuing_when_every_trial_fails() -> None:
    failed = tuple(Trial(f"s_{i}", i, {}, "Failed") for i in range(FAIL_FAST))
    decision = decide(view(failed, total=50, concurrent=4))
    assert decision.launch == () and decision.finish == "Failed"
    assert "cumulus runs logs s_0" in decision.message
    one_ok = (*failed, Trial("s_9", 9, {}, "Completed", ((0, 1.0),)))
    assert len(decide(view(one_ok, total=50, concurrent=4)).launch) == 4


def test_history_maps_statuses_to_sampler_states() -> None:
    trials = (Trial("a", 0, {"--x": 0.1}, "Completed", ((0, 0.3), (1, 0.4))),
              Trial("b", 1, {"--x": 0.2}, "Canceled", ((0, 0.1),), "early termination",
                    pruned=True),
              Trial("c", 2, {"--x": 0.3}, "Canceled"),
              Trial("d", 3, {"--x": 0.4}, "Failed"),
              Trial("e", 4, {"--x": 0.5}, "Preparing"))
    warm = (TrialRecord("old", {"--x": 0.9}, value=0.8, state="complete"),)
    records = history(view(trials, warm_start=warm))
    assert [(r.trial_id, r.state, r.value) for r in records] == [
        ("old", "complete", 0.8), ("a", "complete", 0.4), ("b", "pruned", 0.1),
        ("c", "failed", None), ("d", "failed", None), ("e", "running", None)]


def test_best_trial_uses_each_trials_best_value_and_the_goal() -> None:
    a = Trial("a", 0, {}, "Completed", ((0, 0.2), (1, 0.9), (2, 0.5)))
    b = Trial("b", 1, {}, "Completed", ((0, 0.8),))
    c = Trial("c", 2, {}, "Failed", ((0, float("nan")),))
    assert best_trial((a, b, c), "maximize").trial_id == "a"  # type: ignore[union-attr]
    assert best_trial((a, b, c), "minimize").trial_id == "a"  # 0.2 is the lowest
    assert best_trial((b, c), "minimize", statuses={"Failed"}) is None


def test_primary_metric_warning_names_what_was_logged() -> None:
    text = primary_metric_warning("accuracy", {"s_0": {"acc", "loss"}})
    assert text is not None and "'acc', 'loss'" in text and "Did you mean 'acc'" in text
    assert primary_metric_warning("accuracy", {"s_0": {"accuracy"}, "s_1": {"x"}}) is None
    assert primary_metric_warning("accuracy", {}) is None


def test_quiet_trials_are_active_ones_without_a_recent_sign_of_life() -> None:
    from datetime import datetime, timedelta, timezone

    from cumulus.sweeps._controller import _quiet_trials

    now = datetime.now(timezone.utc)
    old, fresh = now - timedelta(seconds=90), now - timedelta(seconds=5)
    trials = {i: Trial(i, n, {}, s) for n, (i, s) in enumerate(
        [("a", "Running"), ("b", "Running"), ("c", "Completed"), ("d", "Queued")])}
    records = [{"id": "a", "heartbeat_at": old, "status_changed_at": old},
               {"id": "b", "heartbeat_at": fresh, "status_changed_at": old},
               {"id": "c", "heartbeat_at": None, "status_changed_at": old},
               {"id": "d", "heartbeat_at": None, "status_changed_at": old.replace(tzinfo=None)},
               {"id": "x", "heartbeat_at": None, "status_changed_at": old}]
    assert [t.trial_id for t in _quiet_trials(records, trials, 30.0)] == ["a", "d"]
