"""Bad pipelines fail at definition or submit time, naming the step and the problem.

Nothing is recorded or scheduled when they do (the store has no runs afterwards).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.datastores import DataPath
from cumulus.errors import ComputeTargetNotFoundError, PipelineError, ValidationError
from cumulus.flows import Input, Output, Schedule, pipeline, script_step, step


@step
def prep(raw: Input, clean: Output, *, scale: float = 1.0) -> None:
    Path(clean, "x").write_text(Path(raw).read_text())


@step
def train(data: Input, model: Output, *, lr: float = 0.1, layers: list[int] | None = None) -> None:
    Path(model, "m").write_text("m")


@pipeline(name="defs")
def good(lr: float = 0.1, raw: str = "raw/data.txt"):  # type: ignore[no-untyped-def]
    clean = prep(raw=DataPath("workspacestore", raw))
    return train(data=clean, lr=lr)


def _no_runs(ws) -> None:  # type: ignore[no-untyped-def]
    assert ws.store.list_runs() == []


@pytest.fixture
def ws(fresh_workspace):  # type: ignore[no-untyped-def]
    ds = fresh_workspace.get_default_datastore()
    with ds.fs.open(ds.full_path("raw/data.txt"), "w") as fh:
        fh.write("1 2 3")
    return fresh_workspace


def test_a_valid_pipeline_validates(ws) -> None:  # type: ignore[no-untyped-def]
    good.validate(ws, {"lr": 0.5})
    trace = good.trace(good.validate_parameters({"lr": 0.5}))
    assert list(trace.graph.nodes) == ["prep", "train"]
    assert trace.graph.nodes["train"].params == {"lr": 0.5, "layers": None}


def test_parameter_of_the_wrong_type(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PipelineError, match=r"parameter 'lr' expects float, got str 'fast'"):
        Experiment(ws, "bad").submit(good, pipeline_parameters={"lr": "fast"})
    _no_runs(ws)


def test_unknown_parameter_suggests_the_right_one(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PipelineError, match="no parameter 'l_r'.*Did you mean 'lr'"):
        Experiment(ws, "bad").submit(good, pipeline_parameters={"l_r": 0.1})


def test_unknown_submit_option(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="unknown option 'regenerate_output'"):
        Experiment(ws, "bad").submit(good, regenerate_output=True)


def test_step_parameter_of_the_wrong_type_names_the_step(ws) -> None:  # type: ignore[no-untyped-def]
    @pipeline(name="defs-bad-step")
    def p():  # type: ignore[no-untyped-def]
        clean = prep(raw=DataPath("workspacestore", "raw/data.txt"))
        train(data=clean, layers=[1, "two"])

    with pytest.raises(PipelineError, match=r"Step 'train' parameter 'layers' expects "
                                            r"list\[int\] \| None"):
        Experiment(ws, "bad").submit(p)
    _no_runs(ws)


def test_unknown_compute_target_names_the_step(ws) -> None:  # type: ignore[no-untyped-def]
    gpu_prep = prep.with_options(compute_target="gpu-clustr")

    @pipeline(name="defs-target")
    def p():  # type: ignore[no-untyped-def]
        gpu_prep(raw=DataPath("workspacestore", "raw/data.txt"))

    with pytest.raises(ComputeTargetNotFoundError) as err:
        Experiment(ws, "bad").submit(p)
    assert "'gpu-clustr'" in str(err.value) and "Step(s) 'prep'" in str(err.value)
    _no_runs(ws)


def test_missing_input_data(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PipelineError, match=r"Step 'prep' input 'raw' reads "
                                            r"workspacestore:raw/missing.txt, which does not"):
        Experiment(ws, "bad").submit(good, pipeline_parameters={"raw": "raw/missing.txt"})


def test_cycle_through_named_outputs(ws) -> None:  # type: ignore[no-untyped-def]
    @step
    def a(x: Input, y: Output) -> None: ...

    @pipeline(name="defs-cycle")
    def p():  # type: ignore[no-untyped-def]
        first, second = Output("first"), Output("second")
        a.with_options(name="one")(x=second, y=first)
        a.with_options(name="two")(x=first, y=second)

    with pytest.raises(PipelineError, match="cycle: (one -> two -> one|two -> one -> two)"):
        p.validate(ws)


def test_output_read_before_any_step_writes_it(ws) -> None:  # type: ignore[no-untyped-def]
    @pipeline(name="defs-unwritten")
    def p():  # type: ignore[no-untyped-def]
        train(data=Output("features"))

    with pytest.raises(PipelineError, match="'train' input 'data' reads output 'features', "
                                            "which no step"):
        Experiment(ws, "bad").submit(p)
    _no_runs(ws)


def test_inputs_take_data_not_strings(ws) -> None:  # type: ignore[no-untyped-def]
    @pipeline(name="defs-str")
    def p():  # type: ignore[no-untyped-def]
        prep(raw="raw/data.txt")

    with pytest.raises(PipelineError, match=r"Step 'prep' input 'raw' got str .*ds.path"):
        p.validate(ws)


def test_parameters_must_be_plain_data(ws) -> None:  # type: ignore[no-untyped-def]
    @step
    def s(out: Output, *, blob: object = None) -> None: ...

    @pipeline(name="defs-json")
    def p():  # type: ignore[no-untyped-def]
        s(blob={1, 2})

    with pytest.raises(PipelineError, match="parameter 'blob': the value is a set"):
        p.validate(ws)


def test_definition_errors() -> None:
    with pytest.raises(PipelineError, match="'run_after' is reserved"):
        @step
        def s(run_after: int) -> None: ...
    with pytest.raises(PipelineError, match=r"\*args"):
        @step
        def t(*args: int) -> None: ...
    with pytest.raises(PipelineError, match="retries must be an int >= 0"):
        step(retries=-1)(lambda: None)
    with pytest.raises(PipelineError, match="Input mode 'mnt'.*Did you mean 'mount'"):
        Input(mode="mnt")
    with pytest.raises(PipelineError, match=r"uses \{run\}"):
        Output("o", path="x/{run}/y")
    with pytest.raises(PipelineError, match="name 'bad name' is invalid"):
        pipeline(name="bad name")(lambda: None)


def test_steps_outside_a_pipeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "raw.txt").write_text("abc")
    (tmp_path / "out").mkdir()
    prep(raw=str(tmp_path / "raw.txt"), clean=str(tmp_path / "out"))  # a plain call
    assert (tmp_path / "out" / "x").read_text() == "abc"
    with pytest.raises(PipelineError, match="must be called inside a @pipeline"):
        script_step(ScriptRunConfig(source_directory=str(tmp_path), script="t.py"))
    with pytest.raises(PipelineError, match="submit it with exp.submit"):
        good()


def test_script_step_validates_its_config(ws, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"train.py": "print('hi')"})

    @pipeline(name="defs-script")
    def p():  # type: ignore[no-untyped-def]
        script_step(ScriptRunConfig(source_directory=str(src), script="trian.py"), name="fit")

    with pytest.raises(PipelineError, match="Step 'fit': script 'trian.py' not found"):
        p.validate(ws)


def test_invalid_cron_is_refused_before_anything_is_recorded(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PipelineError, match=r"cron expression '61 \* \* \* \*' is invalid"):
        Schedule.create(ws, "nightly", pipeline=good, cron="61 * * * *")
    with pytest.raises(PipelineError, match="exactly one of cron"):
        Schedule.create(ws, "nightly", pipeline=good, cron="0 2 * * *", interval=60)
    with pytest.raises(PipelineError, match="timezone 'Mars/Base'"):
        Schedule.create(ws, "nightly", pipeline=good, cron="0 2 * * *", timezone="Mars/Base")
    with pytest.raises(PipelineError, match="expects float"):
        Schedule.create(ws, "nightly", pipeline=good, interval=60, parameters={"lr": "x"})
    assert Schedule.list(ws) == []


def test_a_pipeline_called_in_another_inlines_its_steps(ws) -> None:  # type: ignore[no-untyped-def]
    @pipeline(name="defs-outer")
    def outer(lr: float = 0.2):  # type: ignore[no-untyped-def]
        model = good(lr=lr)  # the inner pipeline's steps join this graph
        prep(raw=DataPath("workspacestore", "raw/data.txt"), run_after=model)

    outer.validate(ws)
    graph = outer.trace({"lr": 0.2}).graph
    assert list(graph.nodes) == ["prep", "train", "prep_2"]
    assert graph.nodes["train"].params["lr"] == 0.2
    assert graph.dependencies()["prep_2"] == ["train"]
