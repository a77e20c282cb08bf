"""Sweep options automated ML builds on, tested with literals: known-good starting points for
the Bayesian sampler, and ranking trials by their last value (a running cross-validated mean)
instead of their best."""

from __future__ import annotations

import pytest

from cumulus.errors import SweepError
from cumulus.sweeps import BayesianSampling, TrialRecord, choice, sampling_from_dict, uniform
from cumulus.sweeps._plan import Trial, best_trial

SPACE = {"--model": choice("a", "b"), "--x": uniform(0, 1)}
POINTS = [{"--model": "b", "--x": 0.25}, {"--model": "a", "--x": 0.75}]


def test_initial_points_come_first_then_the_model() -> None:
    sampler = BayesianSampling(SPACE, seed=3, initial_points=POINTS)
    assert sampler.suggest([], 1, goal="maximize") == [POINTS[0]]
    history = [TrialRecord("t0", POINTS[0], value=0.5, state="complete")]
    both = sampler.suggest(history, 2, goal="maximize")
    assert both[0] == POINTS[1] and set(both[1]) == {"--model", "--x"}
    done = [*history, TrialRecord("t1", POINTS[1], value=0.7, state="complete")]
    later = sampler.suggest(done, 1, goal="maximize")[0]
    assert later not in POINTS and 0 <= later["--x"] <= 1
    again = sampling_from_dict(sampler.to_dict())            # what a controller rebuilds
    assert again.suggest([], 2, goal="maximize") == POINTS


@pytest.mark.parametrize(("point", "message"), [
    ({"--model": "c", "--x": 0.5}, r"--model='c' is outside choice"),
    ({"--model": "a", "--x": 2.0}, r"--x=2.0 is outside uniform"),
    ({"--model": "a"}, "names a value for every parameter"),
])
def test_bad_initial_points_are_refused(point, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SweepError, match=message):
        BayesianSampling(SPACE, initial_points=[point])


def test_rank_by_last_value() -> None:
    early_peak = Trial("t0", 0, {}, "Completed", ((0, 0.99), (1, 0.90)))
    steady = Trial("t1", 1, {}, "Completed", ((0, 0.93), (1, 0.94)))
    assert best_trial([early_peak, steady], "maximize") is early_peak      # best value
    last = [Trial(t.trial_id, t.index, {}, t.status, t.points, summary="last")
            for t in (early_peak, steady)]
    assert best_trial(last, "maximize").trial_id == "t1"                   # last value
    assert last[0].best("maximize") == 0.90


def test_conditional_parameters_are_shown_only_for_their_choice() -> None:
    from cumulus.sweeps import SearchSpace
    from cumulus.sweeps._plan import relevant_params

    space = SearchSpace({"--model": choice("a", "b"), "--a__x": uniform(0, 1),
                         "--b__y": uniform(0, 1), "--lr__z": uniform(0, 1)})
    params = {"--model": "b", "--a__x": 0.5, "--b__y": 0.1, "--lr__z": 0.2}
    assert relevant_params(params, space) == {"--model": "b", "--b__y": 0.1, "--lr__z": 0.2}
