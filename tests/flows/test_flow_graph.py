"""Graph validation, topological order and cycle reports (pure, literals)."""

from __future__ import annotations

import pytest

from cumulus.errors import PipelineError
from cumulus.flows._graph import (
    DataSource,
    Graph,
    Node,
    OutputSpec,
    StepOptions,
    downstream,
    find_cycle,
    validate_graph,
)


def _graph(*nodes: Node, names: dict[str, str] | None = None) -> Graph:
    g = Graph("demo", handle_names=names or {})
    for n in nodes:
        g.add(n)
    return g


def _reads(h: str) -> DataSource:
    return DataSource("output", handle=h)


def test_order_follows_data_not_call_order() -> None:
    g = _graph(Node("train", inputs={"data": _reads("h1")}),
               Node("prep", outputs={"clean": OutputSpec("h1")}),
               Node("other"))
    assert validate_graph(g) == ["prep", "other", "train"]


def test_run_after_orders_without_data() -> None:
    g = _graph(Node("a"), Node("b", after=["c"]), Node("c"))
    assert validate_graph(g) == ["a", "c", "b"]
    assert g.dependencies() == {"a": [], "b": ["c"], "c": []}


def test_run_after_an_output_means_its_producer() -> None:
    g = _graph(Node("a", outputs={"x": OutputSpec("h1")}), Node("b", after=["output:h1"]))
    assert g.dependencies()["b"] == ["a"]


def test_output_read_but_never_written_names_step_and_output() -> None:
    g = _graph(Node("train", inputs={"data": _reads("h9")}), names={"h9": "clean"})
    with pytest.raises(PipelineError) as err:
        validate_graph(g)
    msg = str(err.value)
    assert "'train'" in msg and "'data'" in msg and "'clean'" in msg and "no step" in msg


def test_output_written_twice() -> None:
    g = _graph(Node("a", outputs={"o": OutputSpec("h1")}),
               Node("b", outputs={"o": OutputSpec("h1")}), names={"h1": "model"})
    with pytest.raises(PipelineError, match="'model' is written by both steps 'a' and 'b'"):
        validate_graph(g)


def test_cycle_is_reported_as_a_path() -> None:
    g = _graph(Node("a", inputs={"x": _reads("hb")}, outputs={"o": OutputSpec("ha")}),
               Node("b", inputs={"x": _reads("ha")}, outputs={"o": OutputSpec("hb")}),
               Node("c"))
    with pytest.raises(PipelineError) as err:
        validate_graph(g)
    assert "cycle" in str(err.value)
    assert "a -> b -> a" in str(err.value) or "b -> a -> b" in str(err.value)


def test_step_reading_its_own_output_is_a_cycle() -> None:
    g = _graph(Node("a", inputs={"x": _reads("h1")}, outputs={"o": OutputSpec("h1")}))
    with pytest.raises(PipelineError, match="a -> a"):
        validate_graph(g)


def test_unknown_run_after_target_suggests_a_name() -> None:
    g = _graph(Node("prepare"), Node("b", after=["prepar"]))
    with pytest.raises(PipelineError, match="Did you mean 'prepare'"):
        validate_graph(g)


def test_empty_pipeline_is_an_error() -> None:
    with pytest.raises(PipelineError, match="no steps"):
        validate_graph(Graph("empty"))


def test_duplicate_node_names_and_unique_name() -> None:
    g = _graph(Node("a"))
    assert g.unique_name("a") == "a_2"
    assert g.unique_name("b") == "b"
    with pytest.raises(PipelineError, match="two steps named 'a'"):
        g.add(Node("a"))


def test_round_trip_through_dict() -> None:
    g = _graph(Node("p", outputs={"o": OutputSpec("h1", "blob", "x/{step}")},
                    options=StepOptions(retries=2)),
               Node("q", inputs={"i": _reads("h1")}, params={"lr": 0.1}))
    again = Graph.from_dict(g.to_dict())
    assert again == g


def test_retry_delays_grow_by_backoff() -> None:
    assert StepOptions(retries=3, retry_delay_seconds=2, retry_backoff=3).retry_delays() == \
        [2, 6, 18]
    assert StepOptions(retries=0).retry_delays() == []


def test_find_cycle_and_downstream() -> None:
    deps = {"a": ["c"], "b": ["a"], "c": ["b"], "d": []}
    assert find_cycle(deps, ["a", "b", "c"]) == ["a", "c", "b", "a"]
    assert downstream({"a": [], "b": ["a"], "c": ["b"], "d": []}, {"a"}) == {"b", "c"}
