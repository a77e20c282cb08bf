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
