from __future__ import annotations

import json
import math
import pickle

import pytest

from cumulus.errors import SweepError
from cumulus.sweeps import (
    AshaPolicy,
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PolicySnapshot,
    TrialProgress,
    TruncationSelectionPolicy,
    policy_from_dict,
)


def snap(goal: str, finished: tuple[str, ...] = (), **curves: list[float]) -> PolicySnapshot:
    return PolicySnapshot.from_curves(goal, curves, finished=finished)


def cancel(policy: EarlyTerminationPolicy, snapshot: PolicySnapshot) -> set[str]:
    result = policy.trials_to_cancel(snapshot)
    assert isinstance(result, frozenset)
    return set(result)


# ----------------------------------------------------------------- snapshot


def test_snapshot_accepts_values_or_step_value_pairs():
    a = PolicySnapshot("maximize", (TrialProgress("t1", ((0, 0.5), (5, 0.7))),))
    b = PolicySnapshot.from_curves("MAXIMIZE", {"t1": [0.5, (5, 0.7)]})
    assert a.trials[0].values == b.trials[0].values == (0.5, 0.7)
    assert a.trials[0].interval == 2 and a.trials[0].running
    assert PolicySnapshot.from_curves("minimize", {"t": [1]}, finished={"t"}).trials[0].running \
        is False


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: PolicySnapshot("maximise", ()), "Did you mean 'maximize'?"),
    (lambda: PolicySnapshot("maximize", (TrialProgress("a"), TrialProgress("a"))), "twice"),
    (lambda: PolicySnapshot("maximize", ("a",)), "TrialProgress objects"),
    (lambda: snap("maximize", finished=("zz",), a=[1.0]), "have no curve"),
    (lambda: TrialProgress("a", ("high",)), "metric values must be numbers"),
])
def test_snapshot_validation(make, fragment):
    with pytest.raises(SweepError) as info:
        make()
    assert fragment in str(info.value)


def test_decision_needs_a_snapshot():
    with pytest.raises(SweepError, match="takes a PolicySnapshot"):
        NoTerminationPolicy().trials_to_cancel({"a": [1.0]})  # type: ignore[arg-type]


# ----------------------------------------------------------------- Bandit


def test_bandit_slack_factor_maximize_boundary_is_kept():
    policy = BanditPolicy(slack_factor=0.5)
    # B = 3; Y * 1.5 == 3 is exactly at the threshold: kept. 1.9 * 1.5 < 3: cancelled.
    assert cancel(policy, snap("maximize", best=[3.0], edge=[2.0], low=[1.9])) == {"low"}


def test_bandit_slack_factor_minimize_boundary_is_kept():
    policy = BanditPolicy(slack_factor=0.5)
    # B = 2; Y == 2 * 1.5 is kept, Y = 3.5 > 3 is cancelled.
    assert cancel(policy, snap("minimize", best=[2.0], edge=[3.0], high=[3.5])) == {"high"}


def test_bandit_slack_amount_both_goals():
    policy = BanditPolicy(slack_amount=0.25)
    assert cancel(policy, snap("maximize", best=[1.0], edge=[0.75], low=[0.7])) == {"low"}
    assert cancel(policy, snap("minimize", best=[1.0], edge=[1.25], high=[1.5])) == {"high"}


def test_bandit_slack_amount_works_for_negative_metrics():
    policy = BanditPolicy(slack_amount=1.0)
    assert cancel(policy, snap("maximize", best=[-1.0], edge=[-2.0], low=[-2.5])) == {"low"}


def test_bandit_uses_best_so_far_and_the_best_at_the_same_interval():
    policy = BanditPolicy(slack_factor=0.5)
    # the reference only got good at its 4th report: at interval 3 its best-so-far is 2
    reference = [2.0, 2.0, 2.0, 10.0]
    # the candidate's best-so-far at interval 3 is 3 (its current value is worse)
    assert cancel(policy, snap("maximize", ("ref",), ref=reference, cand=[1.0, 3.0, 0.1])) \
        == set()
    assert cancel(policy, snap("maximize", ("ref",), ref=reference, cand=[1.0, 1.0, 1.0])) \
        == {"cand"}
    assert cancel(policy, snap("maximize", ("ref",), ref=reference,
                               cand=[1.0, 1.0, 1.0, 1.0])) == {"cand"}


def test_finished_trials_are_never_cancelled_but_are_references():
    policy = BanditPolicy(slack_amount=0.1)
    snapshot = snap("maximize", ("best", "poor"), best=[1.0, 1.0], poor=[0.1, 0.1],
                    running=[0.5, 0.5])
    assert cancel(policy, snapshot) == {"running"}
    assert cancel(policy, snap("maximize", ("poor",), poor=[0.1], fresh=[])) == set()


def test_bandit_delay_evaluation_gates_intervals():
    policy = BanditPolicy(slack_amount=0.1, delay_evaluation=3)
    ref = [1.0] * 5
    # first evaluated at interval delay_evaluation (>=), as the managed service documents
    assert cancel(policy, snap("maximize", ("ref",), ref=ref, c=[0.0] * 2)) == set()
    assert cancel(policy, snap("maximize", ("ref",), ref=ref, c=[0.0] * 3)) == {"c"}


def test_bandit_evaluation_interval_gates_intervals():
    policy = BanditPolicy(slack_amount=0.1, evaluation_interval=2)
    ref = [1.0] * 5
    assert cancel(policy, snap("maximize", ("ref",), ref=ref, c=[0.0])) == set()
    assert cancel(policy, snap("maximize", ("ref",), ref=ref, c=[0.0] * 2)) == {"c"}
    assert cancel(policy, snap("maximize", ("ref",), ref=ref, c=[0.0] * 3)) == set()


def test_nan_values_count_as_the_worst():
    policy = BanditPolicy(slack_amount=0.1)
    assert cancel(policy, snap("maximize", ref=[1.0], bad=[math.nan])) == {"bad"}
    assert cancel(policy, snap("minimize", ref=[1.0], bad=[math.nan])) == {"bad"}
    assert cancel(policy, snap("minimize", a=[math.nan], b=[math.nan])) == set()


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({}, "exactly one of slack_factor or slack_amount"),
    ({"slack_factor": 0.1, "slack_amount": 0.1}, "exactly one"),
    ({"slack_factor": 0}, "'slack_factor' must be a number > 0, got 0"),
    ({"slack_factor": -0.2}, "'slack_factor' must be a number > 0"),
    ({"slack_amount": 0}, "'slack_amount' must be a number > 0"),
    ({"slack_factor": 0.1, "evaluation_interval": 0}, "'evaluation_interval' must be an int >= 1"),
    ({"slack_factor": 0.1, "delay_evaluation": -1}, "'delay_evaluation' must be an int >= 0"),
    ({"slack_factor": 0.1, "evaluation_interval": 1.5}, "'evaluation_interval'"),
])
def test_bandit_validation(kwargs, fragment):
    with pytest.raises(SweepError) as info:
        BanditPolicy(**kwargs)
    assert fragment in str(info.value)


# ----------------------------------------------------------------- median stopping


def test_median_compares_best_so_far_with_the_median_of_other_running_averages():
    policy = MedianStoppingPolicy()
    # running averages at interval 2: a 0.5, b 0.2, e 0.5, c 0.2, d 0.3
    snapshot = snap("maximize", ("a", "b", "e"), a=[0.4, 0.6], b=[0.2, 0.2], e=[0.5, 0.5],
                    c=[0.1, 0.3], d=[0.5, 0.1])
    # c: best 0.3 < median(0.5, 0.2, 0.5, 0.3) = 0.4; d: best 0.5 >= median(0.5, 0.2, 0.5, 0.2)
    assert cancel(policy, snapshot) == {"c"}


def test_median_boundary_is_kept_and_minimize_mirrors():
    policy = MedianStoppingPolicy()
    assert cancel(policy, snap("maximize", ("a",), a=[0.5, 0.5], edge=[0.5, 0.4])) == set()
    assert cancel(policy, snap("maximize", ("a",), a=[0.5, 0.5], low=[0.4, 0.49])) == {"low"}
    assert cancel(policy, snap("minimize", ("a",), a=[0.5, 0.5], edge=[0.6, 0.5])) == set()
    assert cancel(policy, snap("minimize", ("a",), a=[0.5, 0.5], high=[0.6, 0.51])) == {"high"}


def test_median_needs_another_trial_at_the_same_interval():
    policy = MedianStoppingPolicy()
    assert cancel(policy, snap("maximize", alone=[0.0, 0.0])) == set()
    assert cancel(policy, snap("maximize", ("short",), short=[9.0], c=[0.0, 0.0])) == set()
    assert cancel(policy, snap("maximize", ("long",), long=[9.0, 9.0], c=[0.0, 0.0])) == {"c"}


def test_median_gating():
    policy = MedianStoppingPolicy(evaluation_interval=2, delay_evaluation=2)
    ref = [1.0] * 6
    for n, expected in ((1, set()), (2, {"c"}), (3, set()), (4, {"c"}), (5, set()), (6, {"c"})):
        assert cancel(policy, snap("maximize", ("ref",), ref=ref, c=[0.0] * n)) == expected


# ----------------------------------------------------------------- truncation selection


def test_truncation_cuts_the_worst_percentage_of_trials_at_the_interval():
    policy = TruncationSelectionPolicy(40)
    # five trials at interval 1: floor(5 * 40 / 100) = 2 are cut
    snapshot = snap("maximize", ("f",), a=[5.0], b=[4.0], c=[3.0], d=[2.0], f=[1.0])
    assert cancel(policy, snapshot) == {"d"}  # f is among the worst but finished
    minimize = snap("minimize", a=[5.0], b=[4.0], c=[3.0], d=[2.0], e=[1.0])
    assert cancel(policy, minimize) == {"a", "b"}


def test_truncation_floor_and_ties_at_the_cut():
    assert cancel(TruncationSelectionPolicy(20), snap("maximize", a=[1.0], b=[2.0], c=[3.0],
                                                      d=[4.0])) == set()  # floor(0.8) = 0
    policy = TruncationSelectionPolicy(50)
    # [1, 2, 2, 3]: two are cut; the 2s tie with the last survivor and are kept
    assert cancel(policy, snap("maximize", a=[1.0], b=[2.0], c=[2.0], d=[3.0])) == {"a"}


def test_truncation_ranks_by_best_so_far_among_trials_that_reached_the_interval():
    policy = TruncationSelectionPolicy(50)
    snapshot = snap("maximize", ("r1", "r2"), r1=[1.0, 1.0], r2=[2.0, 2.0, 9.0], c=[3.0, 0.0],
                    short=[0.0])
    # at interval 2 (r1 1, r2 2, c 3 best-so-far) c survives; short is judged at interval 1
    # against all four trials (1, 2, 3, 0) and is in the worst half
    assert cancel(policy, snapshot) == {"short"}
    assert cancel(policy, snap("maximize", ("r1", "r2"), r1=[5.0, 5.0], r2=[6.0, 6.0],
                               c=[0.0, 1.0])) == {"c"}


def test_truncation_gating_and_validation():
    policy = TruncationSelectionPolicy(50, evaluation_interval=1, delay_evaluation=2)
    assert cancel(policy, snap("maximize", a=[1.0], b=[0.0])) == set()
    assert cancel(policy, snap("maximize", a=[1.0, 1.0], b=[0.0, 0.0])) == {"b"}
    for pct in (0, 100, 0.5, -5, True):
        with pytest.raises(SweepError, match="from 1 to 99"):
            TruncationSelectionPolicy(pct)


# ----------------------------------------------------------------- ASHA


def test_asha_rungs():
    assert AshaPolicy().rungs(30) == (1, 3, 9, 27)
    assert AshaPolicy(min_resource=2, reduction_factor=2).rungs(20) == (2, 4, 8, 16)
    assert AshaPolicy(max_resource=9).rungs(30) == (1, 3)


def test_asha_keeps_the_top_third_at_a_rung():
    policy = AshaPolicy(min_resource=1, reduction_factor=3)
    six = snap("maximize", a=[1.0], b=[2.0], c=[3.0], d=[4.0], e=[5.0], f=[6.0])
    assert cancel(policy, six) == {"a", "b", "c", "d"}  # floor(6 / 3) = 2 continue
    assert cancel(policy, snap("minimize", a=[1.0], b=[2.0], c=[3.0])) == {"b", "c"}


def test_asha_with_fewer_trials_than_the_reduction_factor_only_the_best_continues():
    policy = AshaPolicy(reduction_factor=3)
    assert cancel(policy, snap("maximize", first=[0.1])) == set()
    assert cancel(policy, snap("maximize", ("a",), a=[0.5], b=[0.4])) == {"b"}
    assert cancel(policy, snap("maximize", ("a",), a=[0.5], tie=[0.5])) == set()


def test_asha_only_judges_trials_that_just_reached_a_rung():
    policy = AshaPolicy(min_resource=1, reduction_factor=3, max_resource=9)
    ref = ("r1", "r2", "r3")
    curves = {"r1": [9.0] * 9, "r2": [9.0] * 9, "r3": [9.0] * 9}
    for n, expected in ((1, {"c"}), (2, set()), (3, {"c"}), (4, set()), (9, set())):
        snapshot = PolicySnapshot.from_curves("maximize", {**curves, "c": [0.0] * n},
                                              finished=ref)
        assert cancel(policy, snapshot) == expected


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"reduction_factor": 1}, "'reduction_factor' must be an int >= 2, got 1"),
    ({"reduction_factor": 2.5}, "'reduction_factor'"),
    ({"min_resource": 0}, "'min_resource' must be an int >= 1"),
    ({"min_resource": 3, "max_resource": 3}, "'max_resource' must be an int >= 4"),
])
def test_asha_validation(kwargs, fragment):
    with pytest.raises(SweepError) as info:
        AshaPolicy(**kwargs)
    assert fragment in str(info.value)


# ----------------------------------------------------------------- no termination, registry


def test_no_termination_never_cancels():
    assert cancel(NoTerminationPolicy(), snap("maximize", a=[9.0], b=[float("nan")])) == set()


POLICY_EXAMPLES = [BanditPolicy(slack_factor=0.1, evaluation_interval=2, delay_evaluation=5),
                   BanditPolicy(slack_amount=0.2), MedianStoppingPolicy(1, 5),
                   TruncationSelectionPolicy(20, evaluation_interval=3), AshaPolicy(2, 4, 32),
                   NoTerminationPolicy()]


@pytest.mark.parametrize("policy", POLICY_EXAMPLES, ids=repr)
def test_policies_round_trip_through_json(policy):
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["type"] == policy.type_name
    assert policy_from_dict(data) == policy
    assert type(policy).from_dict(data) == policy


def test_policy_dict_forms():
    assert BanditPolicy(slack_factor=0.1).to_dict() == {
        "type": "bandit", "evaluation_interval": 1, "slack_factor": 0.1, "slack_amount": None,
        "delay_evaluation": 0}
    assert policy_from_dict(None) == NoTerminationPolicy()
    assert policy_from_dict("none") == NoTerminationPolicy()
    assert policy_from_dict({"type": "BanditPolicy", "slack_amount": 1}) == BanditPolicy(
        slack_amount=1)
    assert policy_from_dict({"type": "median"}) == MedianStoppingPolicy()
    assert policy_from_dict({"type": "TruncationSelectionPolicy",
                             "truncation_percentage": 10}) == TruncationSelectionPolicy(10)
    assert policy_from_dict({"type": "median-stopping-policy"}) == MedianStoppingPolicy()
    assert policy_from_dict(AshaPolicy()) == AshaPolicy()


@pytest.mark.parametrize(("data", "fragment"), [
    ({"type": "bandid", "slack_factor": 0.1}, "Did you mean 'bandit'?"),
    ({"type": "bandit", "slack_fator": 0.1}, "Did you mean 'slack_factor'?"),
    ({"slack_factor": 0.1}, "'type' key"),
    ({"type": "truncation_selection"}, "truncation_percentage"),
    ({"type": "bandit", "slack_factor": -1}, "must be a number > 0"),
])
def test_policy_from_dict_rejects_bad_definitions(data, fragment):
    with pytest.raises(SweepError) as info:
        policy_from_dict(data)
    assert fragment in str(info.value)


def test_from_dict_on_a_class_checks_the_type():
    with pytest.raises(SweepError, match="expected a 'bandit' policy"):
        BanditPolicy.from_dict({"type": "asha"})


def test_policies_and_snapshots_pickle():
    snapshot = snap("maximize", ("a",), a=[1.0, 2.0], b=[0.5, 0.1])
    assert BanditPolicy(slack_amount=0.1).trials_to_cancel(snapshot) == {"b"}  # fills caches
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot
    for policy in POLICY_EXAMPLES:
        assert pickle.loads(pickle.dumps(policy)) == policy
