"""Sweep definitions: bad input fails with a clear SweepError before anything is recorded;
arguments, YAML and the stored definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.errors import ComputeTargetNotFoundError, SweepError
from cumulus.sweeps import (
    BanditPolicy,
    BayesianSampling,
    GridSampling,
    RandomSampling,
    Sweep,
    TruncationSelectionPolicy,
    choice,
    normal,
    uniform,
)
from cumulus.sweeps._sweep import _summary
from cumulus.sweeps._trials import TrialTemplate, merge_arguments
from cumulus.sweeps._yaml import load_sweep_yaml, sweep_from_dict


@pytest.fixture
def src(script_dir) -> ScriptRunConfig:  # type: ignore[no-untyped-def]
    folder = script_dir({"train.py": "print('hi')\n"})
    return ScriptRunConfig(source_directory=folder, script="train.py", arguments=["--e", 3])


def sweep(src: ScriptRunConfig, **kw) -> Sweep:  # type: ignore[no-untyped-def]
    args = {"sampling": RandomSampling({"--lr": uniform(0, 1)}), "primary_metric_name": "acc",
            "primary_metric_goal": "maximize", "max_total_runs": 4, **kw}
    return Sweep(run_config=src, **args)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("make", "match"), [
    (lambda: GridSampling({"--lr": uniform(0, 1)}), r"GridSampling enumerates choice\(\)"),
    (lambda: BayesianSampling({"--w": normal(0, 1)}), r"cannot search parameter '--w'"),
    (lambda: uniform(1, 1), r"'min_value' must be less than 'max_value'"),
    (lambda: uniform(2, 1), r"got min_value=2"),
    (lambda: BanditPolicy(slack_factor=-0.1), r"'slack_factor' must be a number > 0"),
    (lambda: BanditPolicy(slack_factor=0.1, evaluation_interval=0), r"'evaluation_interval'"),
    (lambda: TruncationSelectionPolicy(truncation_percentage=150), r"from 1 to 99"),
])
def test_bad_expressions_samplers_and_policies(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SweepError, match=match):
        make()


@pytest.mark.parametrize(("kw", "match"), [
    ({"max_concurrent_runs": 0}, r"max_concurrent_runs must be an int >= 1.*got 0"),
    ({"max_concurrent_runs": 2.5}, r"max_concurrent_runs must be an int >= 1.*got 2.5"),
    ({"max_total_runs": -1}, r"max_total_runs must be an int >= 1"),
    ({"max_duration_minutes": 0}, r"max_duration_minutes must be a number > 0"),
    ({"primary_metric_goal": "maximise"}, r"'maximize' or 'minimize', got 'maximise'.*"
                                          r"Did you mean 'maximize'"),
    ({"primary_metric_name": " "}, r"primary_metric_name must be the name the script logs"),
    ({"max_total_runs": None}, r"never runs out of points: give max_total_runs"),
    ({"policy": {"type": "bandit", "slack_factor": 0.1, "slack": 1}},
     r"BanditPolicy has no option 'slack'"),
    ({"policy": "medain"}, r"unknown early-termination policy 'medain'"),
    ({"sampling": {"type": "grid", "space": {"--lr": "uniform(0, 1)"}}},
     r"GridSampling enumerates"),
    ({"sampling": BayesianSampling({"--lr": uniform(0, 1)}, goal="minimize")},
     r"built with goal='minimize' but primary_metric_goal is 'maximize'"),
    ({"resume_from": [3]}, r"resume_from takes earlier sweep runs"),
])
def test_bad_sweep_arguments(src: ScriptRunConfig, kw, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SweepError, match=match):
        sweep(src, **kw)


def test_run_config_must_be_a_script_run_config() -> None:
    with pytest.raises(SweepError, match="run_config must be a ScriptRunConfig, got dict"):
        Sweep(run_config={"script": "x.py"}, sampling=RandomSampling({"x": uniform(0, 1)}),  # type: ignore[arg-type]
              primary_metric_name="m", primary_metric_goal="maximize", max_total_runs=1)


def test_submit_time_errors_record_nothing(fresh_workspace, src: ScriptRunConfig,  # type: ignore[no-untyped-def]
                                           tmp_path: Path) -> None:
    exp = Experiment(fresh_workspace, "bad-sweeps")
    missing = ScriptRunConfig(source_directory=src.source_directory, script="trian.py")
    with pytest.raises(SweepError, match=r"run_config: script 'trian.py' not found.*"
                                         r"Did you mean 'train.py'"):
        exp.submit(sweep(missing))
    nowhere = ScriptRunConfig(source_directory=src.source_directory, script="train.py",
                              compute_target="gpu")
    with pytest.raises(ComputeTargetNotFoundError, match="'gpu' does not exist"):
        exp.submit(sweep(nowhere))
    with pytest.raises(Exception, match="does not exist"):
        exp.submit(sweep(src, resume_from="no-such-sweep"))
    assert list(exp.get_runs(include_children=True)) == []


# --------------------------------------------------------------------------- arguments


def test_hyperparameters_replace_and_extend_the_arguments() -> None:
    base = ["--epochs", 3, "--lr", 0.1, "--batch=8", "data.csv"]
    merged = merge_arguments(base, {"--lr": 0.01, "batch": 32, "--new": "x"})
    assert merged == ["--epochs", 3, "data.csv", "--lr", 0.01, "--batch", 32, "--new", "x"]
    assert base[3] == 0.1  # the base is not modified


def test_a_tiny_negative_value_reaches_argparse_as_a_value() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float)
    for value in (-1.2e-05, -3.0000000000000004e-09, -1e20, -0.25, 2e-08):
        args = [str(a) for a in merge_arguments([], {"x": value})]
        assert parser.parse_args(args).x == value, args


def test_trial_definition_pins_snapshot_and_topic() -> None:
    template = TrialTemplate({"type": "script", "script": "t.py", "arguments": ["--e", 1],
                              "snapshot": "abc"}, "local", {"cpus": 1.0})
    again = TrialTemplate.from_dict(template.to_dict())
    d = again.trial_definition("sw_1", 4, {"--lr": 0.5})
    assert d["arguments"] == ["--e", 1, "--lr", 0.5] and d["snapshot"] == "abc"
    assert d["event_topic"] == "cumulus-sweep-sw_1" and d["sweep"] == {"run_id": "sw_1",
                                                                      "index": 4}


def test_definition_round_trips_the_settings(src: ScriptRunConfig) -> None:
    s = sweep(src, policy=BanditPolicy(slack_factor=0.2), max_concurrent_runs=2,
              max_duration_minutes=5)
    d = s.to_definition()
    assert d["sampling"] == s.sampling.to_dict() and d["policy"]["type"] == "bandit"
    assert (d["max_total_runs"], d["max_concurrent_runs"], d["max_duration_minutes"]) == (
        4, 2, 5.0)
    assert d["run_config"]["script"] == "train.py" and d["run_config"]["source_digest"]
    assert "warm_start" not in _summary({**d, "warm_start": [{"x": 1}]})


# --------------------------------------------------------------------------- YAML


YAML = """
experiment: yaml-sweep
tags: {team: a}
run_config:
  source_directory: src
  script: train.py
  arguments: [--epochs, 2]
sampling:
  type: grid
  parameters:
    --batch: choice(16, 32)
    --opt: [sgd, adam]
primary_metric_name: loss
primary_metric_goal: minimize
policy: {type: median_stopping, delay_evaluation: 2}
max_concurrent_runs: 2
"""


def test_yaml_mirrors_the_python_api(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print(1)\n")
    (tmp_path / "sweep.yaml").write_text(YAML)
    spec = load_sweep_yaml(tmp_path / "sweep.yaml")
    s = spec.sweep
    assert spec.experiment == "yaml-sweep" and spec.tags == {"team": "a"}
    assert isinstance(s.sampling, GridSampling) and s.sampling.total_size == 4
    assert s.sampling.space["--opt"] == choice("sgd", "adam")
    assert s.primary_metric_goal == "minimize" and type(s.policy).__name__ == \
        "MedianStoppingPolicy"
    assert Path(s.run_config.source_directory) == tmp_path / "src"
    assert s.run_config.arguments == ["--epochs", 2] and s.max_concurrent_runs == 2


@pytest.mark.parametrize(("change", "match"), [
    ({"max_concurent_runs": 2}, r"unknown key 'max_concurent_runs'.*Did you mean "
                                r"'max_concurrent_runs'"),
    ({"run_config": {"script": "t.py", "scirpt": 1}}, r"run_config: unknown key 'scirpt'"),
    ({"sampling": {"type": "grid", "parameters": {"--lr": "uniform(0, 1)"}}},
     r"GridSampling enumerates"),
    ({"sampling": {"type": "random"}}, r"needs 'type' .* and 'parameters'"),
    ({"primary_metric_goal": "up"}, r"got 'up'"),
    ({"policy": {"type": "bandit", "slack_factor": 0}}, r"'slack_factor' must be a number > 0"),
])
def test_yaml_errors_name_the_key(change: dict, match: str) -> None:  # type: ignore[type-arg]
    data = {"run_config": {"script": "t.py"}, "primary_metric_name": "m",
            "sampling": {"type": "random", "parameters": {"--lr": "uniform(0, 1)"}},
            "max_total_runs": 2, **change}
    with pytest.raises(SweepError, match=match):
        sweep_from_dict(data, where="sweep.yaml")


def test_yaml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="does not exist"):
        load_sweep_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_config: [unclosed\n")
    with pytest.raises(SweepError, match="bad.yaml: not valid YAML"):
        load_sweep_yaml(bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text("primary_metric_name: acc\n")
    with pytest.raises(SweepError, match="missing.yaml.*missing 'run_config', 'sampling'"):
        load_sweep_yaml(missing)
