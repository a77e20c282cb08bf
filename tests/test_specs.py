"""The typed run spec: built from a configuration, JSON only at the store, read back typed."""

from __future__ import annotations

import pytest

from cumulus import ScriptRunConfig
from cumulus.errors import CumulusError
from cumulus.specs import SPEC_VERSION, ScriptSpec


def test_a_config_round_trips_through_its_stored_definition(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "train.py").write_text("print(1)\n")
    cfg = ScriptRunConfig(source_directory=str(tmp_path), script="train.py",
                          arguments=["--lr", 0.1, 3], environment_variables={"A": 1})
    spec = cfg.to_spec()
    definition = spec.to_definition()
    assert definition["type"] == "script" and definition["spec_version"] == SPEC_VERSION
    back = ScriptSpec.from_definition(definition)
    assert back == spec and back.environment_variables == {"A": "1"}
    assert back.arguments == ["--lr", 0.1, 3] and back.node_count == 1
    later = back.replace(trial={"index": 2}, priority=5)     # extras are kept
    assert ScriptSpec.from_definition(later.to_definition()).model_extra == {"trial": {"index": 2}}


def test_a_definition_from_an_older_version_still_reads() -> None:
    old = {"type": "script", "script": "x.py", "command": None, "arguments": None,
           "resources": None, "distribution": {"node_count": 2}}
    spec = ScriptSpec.from_definition(old)
    assert spec.arguments == [] and spec.resources == {} and spec.node_count == 2


def test_a_malformed_definition_is_a_clear_error() -> None:
    with pytest.raises(CumulusError, match="stored run definition does not parse"):
        ScriptSpec.from_definition({"type": "script", "priority": "high"})


def test_each_run_kind_parses_to_its_own_spec() -> None:
    from cumulus.specs import PipelineSpec, SweepSpec, parse_run_spec

    sweep = {"type": "sweep", "sampling": {"type": "random", "space": {}},
             "primary_metric_name": "acc", "primary_metric_goal": "maximize",
             "max_total_runs": 4, "max_concurrent_runs": 2, "warm_start_trials": 0}
    assert isinstance(parse_run_spec(sweep), SweepSpec)
    assert parse_run_spec(sweep).primary_metric_name == "acc"
    pipe = parse_run_spec({"type": "pipeline", "pipeline": "p", "order": ["a", "b"],
                           "blob": "pipelines/x.pkl"})
    assert isinstance(pipe, PipelineSpec) and pipe.order == ["a", "b"]
    step = parse_run_spec({"script": "t.py", "step": {"kind": "script", "code": "c1"}})
    assert isinstance(step, ScriptSpec) and step.step is not None and step.step.code == "c1"


def test_a_bad_run_definition_names_what_is_wrong() -> None:
    from cumulus.specs import parse_run_spec

    with pytest.raises(CumulusError, match="does not match any of the expected"):
        parse_run_spec({"type": "notebook"})
    with pytest.raises(CumulusError, match="max_total_runs"):
        parse_run_spec({"type": "sweep", "sampling": {}, "primary_metric_name": "m",
                        "primary_metric_goal": "maximize", "max_total_runs": 0})


def test_portal_urls_point_at_the_studio_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from cumulus.run import portal_url

    monkeypatch.delenv("CUMULUS_UI_URL", raising=False)
    assert portal_url("runs/exp_1_ab") == "http://127.0.0.1:8765/#/runs/exp_1_ab"
    monkeypatch.setenv("CUMULUS_UI_URL", "https://studio.example/")
    assert portal_url("runs/a b") == "https://studio.example/#/runs/a%20b"
    assert portal_url() == "https://studio.example/"
