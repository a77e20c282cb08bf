from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from cumulus.errors import SweepError, ValidationError
from cumulus.sweeps import (
    Choice,
    ParameterExpression,
    SearchSpace,
    Uniform,
    choice,
    expression_from_dict,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)

ALL = [choice(16, 32, 64), choice("sgd", "adam", None, True, 0.5), randint(10), uniform(0, 1),
       quniform(0, 10, 2), quniform(0.0, 1.0, 0.1), loguniform(-6, -1), qloguniform(0, 5, 1),
       normal(10, 3), qnormal(10, 3, 1), lognormal(0, 1), qlognormal(0, 1, 0.5)]


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: uniform(1, 1), "min_value=1 >= max_value=1"),
    (lambda: uniform(2, 1), "must be less than 'max_value'"),
    (lambda: quniform(0, 1, 0), "'q' must be > 0, got 0"),
    (lambda: quniform(0, 1, -0.5), "'q' must be > 0"),
    (lambda: qloguniform(0, 1, 0), "'q' must be > 0"),
    (lambda: normal(0, 0), "'sigma' must be > 0, got 0"),
    (lambda: lognormal(0, -1), "'sigma' must be > 0"),
    (lambda: qnormal(0, 1, 0), "'q' must be > 0"),
    (lambda: qlognormal(0, 0, 1), "'sigma' must be > 0"),
    (lambda: choice(), "at least one value"),
    (lambda: choice([]), "at least one value"),
    (lambda: randint(0), "'upper' must be >= 1, got 0"),
    (lambda: randint(2.5), "must be an int, got 2.5"),
    (lambda: uniform("a", 1), "must be a number, got 'a' (str)"),
    (lambda: uniform(True, 2), "must be a number, got True"),
    (lambda: uniform(0, math.inf), "finite"),
    (lambda: normal(math.nan, 1), "finite"),
    (lambda: loguniform(1, 1000), "exponents"),
    (lambda: choice([1, 2], [3]), "values must be finite str, int, float, bool or None"),
    (lambda: choice(1, 1), "distinct"),
    (lambda: choice(math.nan), "finite"),
])
def test_bad_arguments_raise_sweep_error_naming_them(make, fragment):
    with pytest.raises(SweepError) as info:
        make()
    assert fragment in str(info.value)
    assert isinstance(info.value, ValidationError)


def test_choice_accepts_varargs_a_list_a_tuple_or_a_range():
    assert choice(1, 2, 3) == choice([1, 2, 3]) == choice((1, 2, 3)) == choice(range(1, 4))
    assert choice(1, 2, 3).values == (1, 2, 3)
    assert choice("only").values == ("only",)


def test_expressions_are_frozen_and_hashable():
    expr = uniform(0, 1)
    with pytest.raises(AttributeError):
        expr.min_value = 3  # type: ignore[misc]
    assert len({uniform(0, 1), uniform(0, 1), uniform(0, 2)}) == 2
    assert normal(0, 1) != lognormal(0, 1)


def test_is_discrete():
    discrete = {e.type_name for e in ALL if e.is_discrete}
    assert discrete == {"choice", "randint", "quniform", "qloguniform", "qnormal", "qlognormal"}


# ----------------------------------------------------------------- sampling


def _draws(expr: ParameterExpression, n: int = 400, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [expr.sample(rng) for _ in range(n)]


def test_samples_stay_in_range_and_are_plain_python_scalars():
    assert set(_draws(choice(16, 32, 64))) == {16, 32, 64}
    assert set(_draws(randint(3))) == {0, 1, 2}
    assert all(0 <= v < 1 and type(v) is float for v in _draws(uniform(0, 1)))
    low, high = math.exp(-6), math.exp(-1)
    assert all(low <= v <= high for v in _draws(loguniform(-6, -1)))
    assert all(type(v) is int for v in _draws(randint(5)))


def test_loguniform_bounds_are_exponents():
    values = _draws(loguniform(-6, -1), n=2000)
    logs = np.log(values)
    assert logs.min() >= -6 and logs.max() <= -1
    assert abs(float(np.mean(logs)) + 3.5) < 0.1  # uniform in the exponent


def test_quantized_values_are_multiples_of_q_and_ints_for_int_q():
    assert set(_draws(quniform(0, 1, 0.25))) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    tenths = set(_draws(quniform(0.0, 1.0, 0.1)))
    assert tenths <= {round(i * 0.1, 1) for i in range(11)}
    assert all(type(v) is int and v % 2 == 0 for v in _draws(quniform(0, 10, 2)))
    assert all(type(v) is int for v in _draws(qloguniform(0, 3, 1)))
    assert all(v % 0.5 == 0 for v in _draws(qlognormal(0, 1, 0.5)))
    assert all(type(v) is int for v in _draws(qnormal(10, 3, 1)))


def test_normal_draws_have_the_requested_moments():
    values = np.array(_draws(normal(10, 3), n=4000))
    assert abs(values.mean() - 10) < 0.2 and abs(values.std() - 3) < 0.2


def test_sampling_is_reproducible_for_a_seed():
    for expr in ALL:
        assert _draws(expr, 20, seed=5) == _draws(expr, 20, seed=5)


def test_ppf_maps_the_unit_interval_onto_values():
    assert uniform(0, 2).ppf(0.5) == 1.0
    assert normal(3, 2).ppf(0.5) == pytest.approx(3)
    assert lognormal(0, 1).ppf(0.5) == pytest.approx(1)
    assert loguniform(-2, 2).ppf(0.5) == pytest.approx(1)
    assert choice("a", "b", "c").ppf(0.0) == "a"
    assert choice("a", "b", "c").ppf(0.5) == "b"
    assert choice("a", "b", "c").ppf(0.9999) == "c"
    assert randint(4).ppf(0.99) == 3
    assert quniform(0, 1, 0.25).ppf(0.3) == 0.25
    assert math.isfinite(normal(0, 1).ppf(0.0)) and math.isfinite(normal(0, 1).ppf(1.0))


# ----------------------------------------------------------------- serialization


@pytest.mark.parametrize("expr", ALL, ids=str)
def test_dict_form_round_trips_through_json(expr):
    data = json.loads(json.dumps(expr.to_dict()))
    assert expression_from_dict(data) == expr
    assert type(expression_from_dict(data)) is type(expr)


@pytest.mark.parametrize("expr", ALL, ids=str)
def test_string_form_round_trips(expr):
    assert expression_from_dict(str(expr)) == expr


def test_dict_form_is_the_documented_one():
    assert loguniform(-6, -1).to_dict() == {"type": "loguniform", "args": [-6, -1]}
    assert choice(16, 32).to_dict() == {"type": "choice", "args": [16, 32]}
    assert quniform(0, 1, 0.5).to_dict() == {"type": "quniform", "args": [0, 1, 0.5]}


@pytest.mark.parametrize(("data", "expected"), [
    ("loguniform(-6, -1)", loguniform(-6, -1)),
    ("  choice([16, 32, 64]) ", choice(16, 32, 64)),
    ("choice('sgd', \"adam\")", choice("sgd", "adam")),
    ("uniform(min_value=0, max_value=1)", uniform(0, 1)),
    ("uniform(min=0, max=1)", uniform(0, 1)),
    ("qnormal(-1.5, 2, q=0.5)", qnormal(-1.5, 2, 0.5)),
    ("RandInt(5)", randint(5)),
    ({"type": "uniform", "min_value": 0, "max_value": 1}, uniform(0, 1)),
    ({"type": "choice", "values": [1, 2]}, choice(1, 2)),
    ({"type": "choice", "args": [[1, 2]]}, choice(1, 2)),
    ({"type": "randint", "upper": 4}, randint(4)),
    ({"type": "Normal", "args": [0], "sigma": 2}, normal(0, 2)),
])
def test_parser_accepts_string_and_named_forms(data, expected):
    assert expression_from_dict(data) == expected


@pytest.mark.parametrize(("data", "fragment"), [
    ("__import__('os').system('true')", "cannot parse"),
    ("os.system(1)", "cannot parse"),
    ("uniform(0, 1) + 1", "cannot parse"),
    ("uniform(0, x)", "must be literals"),
    ("uniform(*[0, 1])", "cannot parse"),
    ("uniform(0,", "cannot parse"),
    ("unifrom(0, 1)", "Did you mean 'uniform'?"),
    ("uniform(0, 1, 2)", "takes arguments min_value, max_value"),
    ({"type": "uniform", "mn": 0, "max": 1}, "has no argument 'mn'"),
    ({"args": [0, 1]}, "needs a 'type' key"),
    ({"type": "uniform", "args": 3}, "must be a list"),
    (42, "cannot read a parameter expression from 42"),
])
def test_parser_rejects_anything_else(data, fragment):
    with pytest.raises(SweepError) as info:
        expression_from_dict(data)
    assert fragment in str(info.value)


def test_from_dict_on_a_class_checks_the_type():
    assert Uniform.from_dict("uniform(0, 1)") == uniform(0, 1)
    with pytest.raises(SweepError, match="expected a Uniform"):
        Uniform.from_dict("choice(1)")


# ----------------------------------------------------------------- optuna mapping


def test_optuna_distributions():
    assert choice("a", 1).optuna_distribution() == CategoricalDistribution(("a", 1))
    assert randint(5).optuna_distribution() == IntDistribution(0, 4)
    assert uniform(0, 2).optuna_distribution() == FloatDistribution(0.0, 2.0)
    assert quniform(0, 1, 0.25).optuna_distribution() == FloatDistribution(0.0, 1.0, step=0.25)
    assert quniform(3, 17, 5).optuna_distribution() == IntDistribution(5, 15, step=5)
    log = loguniform(-6, -1).optuna_distribution()
    assert log.log and log.low == pytest.approx(math.exp(-6))
    assert log.high == pytest.approx(math.exp(-1))
    assert qloguniform(0, 2, 1).optuna_distribution().log
    for expr in (normal(0, 1), qnormal(0, 1, 1), lognormal(0, 1), qlognormal(0, 1, 1)):
        assert expr.optuna_distribution() is None


def test_optuna_values_map_back_to_expression_values():
    assert qloguniform(0, 2, 1).from_optuna(2.4) == 2
    assert qloguniform(0, 2, 1).to_optuna(0) == 1.0  # clipped into [e**0, e**2]
    assert quniform(0.0, 1.0, 0.1).from_optuna(0.30000000000000004) == 0.3
    assert loguniform(-1, 1).to_optuna(100.0) == pytest.approx(math.e)


# ----------------------------------------------------------------- search space


def test_search_space_is_an_immutable_validated_mapping():
    space = SearchSpace({"--lr": loguniform(-6, -1), "--batch": [16, 32],
                         "opt": "choice('sgd', 'adam')",
                         "drop": {"type": "uniform", "args": [0, 0.5]}})
    assert space.names == ("--lr", "--batch", "opt", "drop")
    assert space["--batch"] == Choice((16, 32))
    assert space["opt"] == choice("sgd", "adam")
    assert len(space) == 4 and "drop" in space and "--drop" not in space
    with pytest.raises(AttributeError):
        space.x = 1  # type: ignore[attr-defined]
    assert SearchSpace(space) == space and SearchSpace.coerce(space) is space
    assert hash(space) == hash(SearchSpace.from_dict(space.to_dict()))


def test_search_space_round_trips_through_json():
    space = SearchSpace({"--lr": loguniform(-6, -1), "--batch": choice(16, 32, 64)})
    data = json.loads(json.dumps(space.to_dict()))
    assert data == {"--lr": {"type": "loguniform", "args": [-6, -1]},
                    "--batch": {"type": "choice", "args": [16, 32, 64]}}
    assert SearchSpace.from_dict(data) == space


def test_search_space_sample_is_reproducible_and_ordered():
    space = SearchSpace({"b": choice(1, 2), "a": uniform(0, 1)})
    point = space.sample(np.random.default_rng(3))
    assert list(point) == ["b", "a"]
    assert point == space.sample(np.random.default_rng(3))


@pytest.mark.parametrize(("params", "fragment"), [
    ({}, "empty"),
    ([("lr", uniform(0, 1))], "must be a mapping"),
    ({"": uniform(0, 1)}, "non-empty strings"),
    ({"--": uniform(0, 1)}, "non-empty strings"),
    ({3: uniform(0, 1)}, "non-empty strings"),
    ({"learning rate": uniform(0, 1)}, "whitespace"),
    ({"lr=1": uniform(0, 1)}, "'='"),
    ({"--lr": uniform(0, 1), "lr": uniform(0, 2)}, "name the same argument"),
    ({"lr": 0.1}, "parameter 'lr'"),
    ({"lr": "uniform(1, 0)"}, "parameter 'lr'"),
])
def test_search_space_rejects_bad_definitions(params, fragment):
    with pytest.raises(SweepError) as info:
        SearchSpace(params)
    assert fragment in str(info.value)


def test_search_space_and_expressions_pickle():
    space = SearchSpace({"--lr": loguniform(-6, -1), "--batch": choice(16, 32)})
    assert pickle.loads(pickle.dumps(space)) == space
    assert all(pickle.loads(pickle.dumps(expr)) == expr for expr in ALL)


def test_choice_values_equal_in_python_are_duplicates():
    with pytest.raises(SweepError, match="distinct"):
        choice(1, True)
