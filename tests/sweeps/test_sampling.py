from __future__ import annotations

import importlib.util
import json
import pickle

import pytest

from cumulus.errors import MissingDependencyError, SweepError
from cumulus.sweeps import (
    BayesianSampling,
    CmaEsSampling,
    GridSampling,
    RandomSampling,
    Sampling,
    SearchSpace,
    SobolSampling,
    TrialRecord,
    choice,
    loguniform,
    normal,
    qloguniform,
    quniform,
    randint,
    sampling_from_dict,
    uniform,
)

HAS_CMAES = importlib.util.find_spec("cmaes") is not None
MIXED = {"x": uniform(-2, 2), "opt": choice("sgd", "adam"), "q": quniform(0, 10, 1),
         "n": randint(5), "lr": loguniform(-3, 0), "qf": quniform(0, 1, 0.1)}


def _objective(p: dict) -> float:
    return ((p["x"] - 1) ** 2 + (0 if p["opt"] == "adam" else 1) + abs(p["q"] - 3) * 0.1
            + p["n"] * 0.01 + p["lr"] + p["qf"])


def _complete(points: list[dict], start: int = 0, f=_objective) -> tuple[TrialRecord, ...]:
    return tuple(TrialRecord(f"t{start + i}", p, f(p), "complete") for i, p in enumerate(points))


def _run(sampler: Sampling, rounds: int, batch: int, goal: str = "minimize", f=_objective):
    history: tuple[TrialRecord, ...] = ()
    for _ in range(rounds):
        history += _complete(sampler.suggest(history, batch, goal=goal), len(history), f)
    return history


# ----------------------------------------------------------------- TrialRecord


def test_trial_record_normalizes_and_validates():
    record = TrialRecord("t1", {"a": 1}, 3, "COMPLETE")
    assert record.state == "complete" and record.value == 3.0 and type(record.value) is float
    assert TrialRecord("t", {}, float("nan")).usable_value is None
    with pytest.raises(SweepError, match="Did you mean 'pruned'"):
        TrialRecord("t1", {}, None, "prunned")
    with pytest.raises(SweepError, match="value must be a number"):
        TrialRecord("t1", {}, True)
    with pytest.raises(SweepError, match="params must be a mapping"):
        TrialRecord("t1", [1, 2])  # type: ignore[arg-type]


def test_history_and_count_are_validated():
    sampler = RandomSampling({"x": uniform(0, 1)}, seed=0)
    assert sampler.suggest((), 0) == []
    with pytest.raises(SweepError, match="n >= 0"):
        sampler.suggest((), -1)
    with pytest.raises(SweepError, match="appears twice"):
        sampler.suggest((TrialRecord("a", {}), TrialRecord("a", {})), 1)
    with pytest.raises(SweepError, match="TrialRecord objects"):
        sampler.suggest(({"x": 1},), 1)  # type: ignore[arg-type]


# ----------------------------------------------------------------- grid


def test_grid_enumerates_the_cartesian_product_in_order():
    grid = GridSampling({"--batch": choice(16, 32), "--opt": choice("sgd", "adam", "rms")})
    assert grid.total_size == 6
    points = grid.suggest((), 10)
    assert len(points) == 6
    assert points[:4] == [{"--batch": 16, "--opt": "sgd"}, {"--batch": 16, "--opt": "adam"},
                          {"--batch": 16, "--opt": "rms"}, {"--batch": 32, "--opt": "sgd"}]


def test_grid_skips_issued_points_in_any_state_and_reports_exhaustion():
    grid = GridSampling({"a": choice(1, 2), "b": randint(2)})
    history = (TrialRecord("t1", {"a": 1, "b": 1}, None, "failed"),
               TrialRecord("t2", {"a": 2, "b": 0}, 0.5, "running"))
    assert grid.suggest(history, 5) == [{"a": 1, "b": 0}, {"a": 2, "b": 1}]
    assert not grid.exhausted(history)
    full = (*history, TrialRecord("t3", {"a": 1, "b": 0}), TrialRecord("t4", {"a": 2, "b": 1}))
    assert grid.exhausted(full) and grid.suggest(full, 3) == []


def test_grid_rejects_continuous_parameters_by_name():
    with pytest.raises(SweepError, match=r"parameter '--lr' is loguniform\(-6, -1\)"):
        GridSampling({"--batch": choice(16, 32), "--lr": loguniform(-6, -1)})
    with pytest.raises(SweepError, match="'q'"):
        GridSampling({"q": quniform(0, 1, 0.5)})


# ----------------------------------------------------------------- random and Sobol


def test_random_is_reproducible_and_independent_of_batching():
    space = {"--lr": loguniform(-6, -1), "--batch": choice(16, 32, 64)}
    first = RandomSampling(space, seed=42).suggest((), 6)
    assert first == RandomSampling(space, seed=42).suggest((), 6)
    assert first != RandomSampling(space, seed=43).suggest((), 6)
    sampler = RandomSampling(space, seed=42)
    history = _complete(sampler.suggest((), 2), f=lambda p: 0.0)
    assert sampler.suggest(history, 4) == first[2:]  # continues where the history stops
    assert sampler.point(5) == first[5]


def test_random_without_seed_stores_the_drawn_seed_for_resuming():
    sampler = RandomSampling({"x": uniform(0, 1)})
    assert isinstance(sampler.seed, int)
    clone = sampling_from_dict(json.loads(json.dumps(sampler.to_dict())))
    assert clone.suggest((), 3) == sampler.suggest((), 3)


def test_seed_is_validated():
    with pytest.raises(SweepError, match="non-negative int"):
        RandomSampling({"x": uniform(0, 1)}, seed=-1)
    with pytest.raises(SweepError, match="non-negative int"):
        SobolSampling({"x": uniform(0, 1)}, seed="1")  # type: ignore[arg-type]


def test_sobol_stratifies_and_continues_from_the_history():
    sampler = SobolSampling({"x": uniform(0, 1), "y": normal(0, 1)}, seed=3)
    points = sampler.suggest((), 8)
    assert sorted(int(p["x"] * 8) for p in points) == list(range(8))
    history = _complete(points[:5], f=lambda p: 0.0)
    assert sampler.suggest(history, 3) == points[5:]


# ----------------------------------------------------------------- Bayesian


def test_bayesian_rejects_expressions_without_an_optuna_mapping():
    with pytest.raises(SweepError, match=r"parameter 'w' = normal\(0, 1\)"):
        BayesianSampling({"x": uniform(0, 1), "w": normal(0, 1)})


def test_bayesian_needs_a_goal():
    sampler = BayesianSampling({"x": uniform(0, 1)}, seed=0)
    with pytest.raises(SweepError, match="needs the primary metric goal"):
        sampler.suggest((), 1)
    with pytest.raises(SweepError, match="'maximize' or 'minimize'"):
        sampler.suggest((), 1, goal="maximise")
    assert len(BayesianSampling({"x": uniform(0, 1)}, goal="MAXIMIZE").suggest((), 2)) == 2


def test_bayesian_values_belong_to_their_expressions():
    sampler = BayesianSampling(MIXED, seed=1, n_startup_trials=3)
    for p in _run(sampler, rounds=5, batch=2):
        assert -2 <= p.params["x"] <= 2 and p.params["opt"] in ("sgd", "adam")
        assert type(p.params["q"]) is int and p.params["n"] in range(5)
        assert round(p.params["qf"], 1) == p.params["qf"]


def test_bayesian_beats_random_on_a_smooth_objective():
    bayes = _run(BayesianSampling(MIXED, seed=0), rounds=40, batch=1)
    rand = _run(RandomSampling(MIXED, seed=0), rounds=40, batch=1)
    assert min(r.value for r in bayes) < min(r.value for r in rand)


def _finish(record: TrialRecord, round_: int) -> TrialRecord:
    if record.state != "running" or round_ == 7:
        return record
    state = "pruned" if record.trial_id == "r5_0" else "complete"
    return TrialRecord(record.trial_id, record.params, _objective(record.params), state)


def test_bayesian_is_rebuilt_from_the_history_alone():
    live = BayesianSampling(MIXED, seed=3, goal="minimize")
    history: tuple[TrialRecord, ...] = ()
    for round_ in range(8):
        batch = live.suggest(history, 4)
        history += tuple(TrialRecord(f"r{round_}_{i}", p, None, "running")
                         for i, p in enumerate(batch[:3]))  # the 4th is never submitted
        history = tuple(_finish(r, round_) for r in history)
    assert [r.state for r in history].count("pruned") == 1
    assert [r.state for r in history].count("running") == 3
    fresh = BayesianSampling(MIXED, seed=3, goal="minimize")
    # the same answer from a sampler that followed the sweep and one that only sees its history
    assert live.suggest(history, 3) == fresh.suggest(history, 3)


def test_bayesian_batches_are_diverse_and_failed_or_foreign_trials_are_harmless():
    sampler = BayesianSampling({"x": uniform(0, 1), "y": uniform(0, 1)}, seed=0, goal="maximize")
    history = _complete([{"x": i / 12, "y": 0.5} for i in range(12)],
                        f=lambda p: -abs(p["x"] - 0.3))
    history += (TrialRecord("bad", {"x": 0.9, "y": 0.9}, None, "failed"),
                TrialRecord("old", {"z": 1}, 1e9, "complete"),
                TrialRecord("out", {"x": 7.0, "y": 0.5}, 1e9, "complete"))
    batch = sampler.suggest(history, 4)
    assert len({(p["x"], p["y"]) for p in batch}) == 4
    assert all(0 <= p["x"] <= 1 for p in batch)


def test_bayesian_follows_a_goal_change_by_rebuilding():
    space = {"x": uniform(0, 1), "y": uniform(0, 1)}
    sampler = BayesianSampling(space, seed=0, n_startup_trials=5)
    history = _run(sampler, rounds=20, batch=1, goal="maximize", f=lambda p: p["x"])
    assert sampler.suggest(history, 2, goal="minimize") == BayesianSampling(
        space, seed=0, n_startup_trials=5).suggest(history, 2, goal="minimize")


def test_bayesian_handles_qloguniform():
    sampler = BayesianSampling({"u": qloguniform(0, 4, 1), "x": uniform(0, 1)}, seed=0,
                               n_startup_trials=2)
    history = _run(sampler, rounds=6, batch=2, f=lambda p: abs(p["u"] - 10) + p["x"])
    assert all(type(r.params["u"]) is int and 1 <= r.params["u"] <= 55 for r in history)


# ----------------------------------------------------------------- CMA-ES


@pytest.mark.skipif(not HAS_CMAES, reason="needs the cmaes package")
def test_cmaes_converges_and_rebuilds():
    space = {"x": uniform(-2, 2), "y": uniform(-2, 2)}
    sampler = CmaEsSampling(space, seed=0, goal="minimize")
    history = _run(sampler, rounds=60, batch=1,
                   f=lambda p: (p["x"] - 1) ** 2 + (p["y"] + 0.5) ** 2)
    assert min(r.value for r in history) < 0.05
    resumed = CmaEsSampling(space, seed=0, goal="minimize").suggest(history, 3)
    assert len(resumed) == 3 and all(-2 <= p["x"] <= 2 for p in resumed)


@pytest.mark.skipif(not HAS_CMAES, reason="needs the cmaes package")
def test_cmaes_rejects_choice_and_one_dimension():
    with pytest.raises(SweepError, match="numeric parameters only"):
        CmaEsSampling({"x": uniform(0, 1), "c": choice(1, 2)})
    with pytest.raises(SweepError, match="at least 2 parameters"):
        CmaEsSampling({"x": uniform(0, 1)})


@pytest.mark.skipif(HAS_CMAES, reason="cmaes is installed")
def test_cmaes_without_the_package_says_what_to_install():
    with pytest.raises(MissingDependencyError, match="pip install cmaes"):
        CmaEsSampling({"x": uniform(0, 1), "y": uniform(0, 1)})


# ----------------------------------------------------------------- serialization


def _samplers() -> list[Sampling]:
    space = SearchSpace({"a": uniform(0, 1), "b": uniform(0, 1)})
    out: list[Sampling] = [GridSampling({"c": choice(1, 2)}), RandomSampling(space, seed=1),
                           SobolSampling(space, seed=2),
                           BayesianSampling(space, seed=3, goal="minimize", n_startup_trials=4)]
    if HAS_CMAES:
        out.append(CmaEsSampling(space, seed=4))
    return out


@pytest.mark.parametrize("sampler", _samplers(), ids=lambda s: s.type_name)
def test_samplers_round_trip_through_json(sampler):
    data = json.loads(json.dumps(sampler.to_dict()))
    assert data["type"] == sampler.type_name and "space" in data
    clone = sampling_from_dict(data)
    assert clone == sampler and type(clone).from_dict(data) == sampler
    if not isinstance(sampler, GridSampling):
        assert data["seed"] == sampler.seed  # type: ignore[attr-defined]
    assert clone.suggest((), 2, goal="minimize") == sampler.suggest((), 2, goal="minimize")


@pytest.mark.parametrize(("name", "cls"), [
    ("RandomSampling", RandomSampling), ("random_sampling", RandomSampling),
    ("tpe", BayesianSampling), ("BayesianParameterSampling", BayesianSampling),
    ("GRID", GridSampling), ("qmc", SobolSampling),
])
def test_sampling_from_dict_accepts_class_style_names(name, cls):
    assert type(sampling_from_dict({"type": name, "space": {"c": "choice(1, 2)"}})) is cls


@pytest.mark.parametrize(("data", "fragment"), [
    ({"type": "randon", "space": {"x": "uniform(0, 1)"}}, "Did you mean 'random'?"),
    ({"type": "random", "space": {"x": "uniform(0, 1)"}, "sed": 1}, "Did you mean 'seed'?"),
    ({"type": "grid", "space": {"x": "uniform(0, 1)"}, "seed": 1}, "has no option 'seed'"),
    ({"type": "random"}, "'type' and 'space' keys"),
    ({"type": "random", "space": {"x": "uniform(1, 0)"}}, "parameter 'x'"),
])
def test_sampling_from_dict_rejects_bad_definitions(data, fragment):
    with pytest.raises(SweepError) as info:
        sampling_from_dict(data)
    assert fragment in str(info.value)


def test_from_dict_on_a_class_checks_the_type():
    with pytest.raises(SweepError, match="expected a 'grid' sampler"):
        GridSampling.from_dict({"type": "random", "space": {"x": "uniform(0, 1)"}})


@pytest.mark.parametrize("sampler", _samplers(), ids=lambda s: s.type_name)
def test_samplers_pickle_without_their_study(sampler):
    sampler.suggest((), 2, goal="minimize")  # builds the Optuna study of model-based samplers
    clone = pickle.loads(pickle.dumps(sampler))
    assert clone == sampler
    assert clone.suggest((), 2, goal="minimize") == type(sampler).from_dict(
        sampler.to_dict()).suggest((), 2, goal="minimize")
