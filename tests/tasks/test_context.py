"""The script-side run context: encoding, validation, offline mode, the control file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cumulus.errors import ValidationError
from cumulus.tasks import context
from cumulus.tasks.context import RunContext, _FileSink, _PrintSink, encode_scalar


@pytest.mark.parametrize(("value", "expected"), [
    (3, ("int", 3.0, None)), (0.5, ("scalar", 0.5, None)), (True, ("scalar", 1.0, "true")),
    ("a", ("scalar", None, '"a"')), (float("nan"), ("scalar", float("nan"), '"nan"')),
])
def test_encode_scalar(value: object, expected: tuple) -> None:  # type: ignore[type-arg]
    kind, num, data = encode_scalar("m", value)
    assert (kind, data) == (expected[0], expected[2])
    assert num == expected[1] or (num != num and expected[1] != expected[1])


@pytest.mark.parametrize("bad", [{"a": 1}, [1, 2], object(), None])
def test_wrong_metric_type(bad: object) -> None:
    with pytest.raises(ValidationError, match="log_list|must be a number"):
        encode_scalar("m", bad)


def test_table_validation() -> None:
    run = RunContext(_PrintSink(), None)
    with pytest.raises(ValidationError, match="differ in length"):
        run.log_table("t", {"a": [1, 2], "b": [1]})
    with pytest.raises(ValidationError, match="must be a list"):
        run.log_table("t", {"a": 1})
    with pytest.raises(ValidationError, match="exactly one of"):
        run.log_image("img")


def test_offline_run_prints(capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUMULUS_RUN_ID", raising=False)
    monkeypatch.setattr(context, "_context", None)
    run = context.get_context()
    run.log("loss", 0.25)
    with run.child_run("c") as child:
        child.log("x", 1)
    out = capsys.readouterr().out
    assert "loss = 0.25" in out and "x = 1" in out


def test_file_sink_batches_and_flushes(tmp_path: Path) -> None:
    sink = _FileSink(str(tmp_path), "r1")
    run = RunContext(sink, None)
    for i in range(10):
        run.log("m", i)
    sink.flush()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    assert [r[3] for r in rows] == list(range(10))  # automatic steps
    assert rows[0][:3] == [None, "m", "int"]


def test_context_needs_only_stdlib(tmp_path: Path) -> None:
    """A script in a bare interpreter (-S: no site-packages) can still log."""
    src = Path(__file__).resolve().parents[2] / "src"
    code = ("import sys; from cumulus import Run; r = Run.get_context(); r.log('a', 1);"
            "r.flush(); bad = [m for m in ('sqlalchemy','pydantic','dask','yaml') "
            "if m in sys.modules]; print('LOADED', bad)")
    env = {"PYTHONPATH": str(src), "CUMULUS_RUN_ID": "r", "CUMULUS_CONTROL_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "LOADED []" in out
    assert (tmp_path / "events.jsonl").read_text().count("\n") == 1
