"""The traced pipeline graph and its validation (pure: no I/O, tested with literals).

A graph is an ordered set of step nodes. Each node reads inputs (a datastore path, or an
output *handle* written by another node), writes outputs (handles), and may be ordered after
other nodes without data (``run_after``). Validation finds outputs read but never written,
outputs written twice, unknown ``run_after`` targets and cycles, and returns a topological
order that keeps the order of the pipeline body where the dependencies allow.

Example::

    g = Graph("demo")
    g.add(Node("prep", outputs={"clean": OutputSpec("h1")}))
    g.add(Node("train", inputs={"data": DataSource("output", handle="h1")}))
    assert validate_graph(g) == ["prep", "train"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cumulus.errors import PipelineError


@dataclass
class DataSource:
    """Where one step input comes from: a datastore path or another step's output handle."""

    kind: str  # "data" | "output"
    handle: str | None = None
    datapath: dict[str, Any] | None = None
    mode: str = "download"


@dataclass
class OutputSpec:
    """One output a step writes: its handle, datastore (None: default) and path template."""

    handle: str
    datastore: str | None = None
    path: str | None = None


@dataclass
class StepOptions:
    """Per-step reuse and retry settings."""

    allow_reuse: bool = True
    retries: int = 0
    retry_delay_seconds: float = 0.0
    retry_backoff: float = 2.0

    def retry_delays(self) -> list[float]:
        """Delay before each retry: delay, delay*backoff, delay*backoff**2, ..."""
        return [self.retry_delay_seconds * self.retry_backoff ** i for i in range(self.retries)]


@dataclass
class Node:
    """One step invocation in a pipeline."""

    name: str
    step: str = ""
    kind: str = "function"
    payload: str = ""
    compute_target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, DataSource] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # node names, or "output:<handle>"
    options: StepOptions = field(default_factory=StepOptions)

    def __post_init__(self) -> None:
        self.step = self.step or self.name


@dataclass
class Graph:
    """Nodes in the order the pipeline body created them, plus display names of handles."""

    pipeline: str
    nodes: dict[str, Node] = field(default_factory=dict)
    handle_names: dict[str, str] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise PipelineError(f"Pipeline {self.pipeline!r} has two steps named "
                                f"{node.name!r}; give one of them another name.")
        self.nodes[node.name] = node
        return node

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``... when a step is called more than once."""
        if base not in self.nodes:
            return base
        i = 2
        while f"{base}_{i}" in self.nodes:
            i += 1
        return f"{base}_{i}"

    def handle_name(self, handle: str) -> str:
        return self.handle_names.get(handle, handle)

    def producers(self) -> dict[str, str]:
        """handle -> the node writing it; two writers of one handle is an error."""
        out: dict[str, str] = {}
        for node in self.nodes.values():
            for spec in node.outputs.values():
                if spec.handle in out:
                    raise PipelineError(
                        f"Output {self.handle_name(spec.handle)!r} is written by both steps "
                        f"{out[spec.handle]!r} and {node.name!r} of pipeline "
                        f"{self.pipeline!r}; an output must have exactly one writer. Create a "
                        "separate Output for each step.")
                out[spec.handle] = node.name
        return out

    def dependencies(self, producers: dict[str, str] | None = None) -> dict[str, list[str]]:
        """node -> the nodes it waits for (data first, then run_after), validated."""
        producers = self.producers() if producers is None else producers
        deps: dict[str, list[str]] = {}
        for node in self.nodes.values():
            wanted: list[str] = []
            for param, src in node.inputs.items():
                if src.kind == "output":
                    wanted.append(self._producer(producers, node, src.handle or "",
                                                 f"input {param!r} reads"))
            for ref in node.after:
                wanted.append(self._after_target(producers, node, ref))
            deps[node.name] = list(dict.fromkeys(wanted))
        return deps

    def _producer(self, producers: dict[str, str], node: Node, handle: str, what: str) -> str:
        if handle not in producers:
            name = self.handle_name(handle)
            raise PipelineError(
                f"Step {node.name!r} {what} output {name!r}, which no step of pipeline "
                f"{self.pipeline!r} writes. Pass it as an Output argument of the step that "
                f"writes it (e.g. prep(..., {name}=<the Output>)), or read a datastore path "
                "instead.")
        return producers[handle]

    def _after_target(self, producers: dict[str, str], node: Node, ref: str) -> str:
        if ref.startswith("output:"):
            return self._producer(producers, node, ref[len("output:"):], "runs after")
        if ref not in self.nodes:
            from cumulus.errors import did_you_mean

            raise PipelineError(f"Step {node.name!r} has run_after={ref!r}, which is not a step "
                                f"of pipeline {self.pipeline!r}." + did_you_mean(ref, self.nodes))
        return ref

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Graph:
        nodes = {}
        for name, n in data["nodes"].items():
            nodes[name] = Node(
                **{**n, "inputs": {k: DataSource(**v) for k, v in n["inputs"].items()},
                   "outputs": {k: OutputSpec(**v) for k, v in n["outputs"].items()},
                   "options": StepOptions(**n["options"])})
        return cls(data["pipeline"], nodes, dict(data.get("handle_names") or {}))


def validate_graph(graph: Graph) -> list[str]:
    """A topological order of the nodes, or a PipelineError naming the step and problem."""
    if not graph.nodes:
        raise PipelineError(f"Pipeline {graph.pipeline!r} has no steps: call at least one "
                            "@step function or script_step(...) in its body.")
    deps = graph.dependencies()
    order: list[str] = []
    done: set[str] = set()
    remaining = list(graph.nodes)
    while remaining:
        ready = [n for n in remaining if all(d in done for d in deps[n])]
        if not ready:
            raise PipelineError(_cycle_message(graph.pipeline, deps, remaining))
        for n in ready:
            order.append(n)
            done.add(n)
        remaining = [n for n in remaining if n not in done]
    return order


def _cycle_message(pipeline: str, deps: dict[str, list[str]], remaining: list[str]) -> str:
    cycle = find_cycle(deps, remaining)
    path = " -> ".join(cycle)
    return (f"Pipeline {pipeline!r} has a dependency cycle: {path} (each step waits for the "
            "next). A step cannot read its own output or run after a step that waits for it; "
            "remove one of these dependencies.")


def find_cycle(deps: dict[str, list[str]], nodes: list[str]) -> list[str]:
    """One cycle among ``nodes`` as [a, b, ..., a] (a waits for b, ...)."""
    for start in nodes:
        path: list[str] = []
        seen: dict[str, int] = {}
        current = start
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            nxt = [d for d in deps.get(current, []) if d in nodes]
            if not nxt:
                break
            current = nxt[0]
        else:
            loop = path[seen[current]:]
            return [*loop, loop[0]]
    return [*nodes[:2], nodes[0]]


def downstream(deps: dict[str, list[str]], failed: set[str]) -> set[str]:
    """Every node that waits, directly or not, for one of ``failed``."""
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node, wanted in deps.items():
            if node not in out and node not in failed and any(
                    d in failed or d in out for d in wanted):
                out.add(node)
                changed = True
    return out
