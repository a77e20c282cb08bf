"""One step in the pipeline process: resolve its data, decide reuse, submit, wait, collect.

Called from the step's Prefect task. The reuse decision follows this order:
``regenerate_outputs=True`` and ``allow_reuse=False`` force a run; else the newest completed
step run with the same key whose outputs still exist is reused (a new step run is recorded
directly as Completed, pointing at the earlier outputs); else the step runs, and the reason
says what changed since the step's latest completed run. The key's components and the
input fingerprints are kept in each step run's ``definition["reuse"]`` for that comparison;
the reason, the inputs and the outputs are in its properties (``cumulus runs show``).

Example (inside the engine)::

    outputs = StepExecutor(engine).run("prep", upstream={})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cumulus.flows._data import (
    data_fingerprint,
    data_identity,
    missing_outputs,
    output_datapath,
)
from cumulus.flows._io import DEFAULT_OUTPUT_PATH
from cumulus.flows._reuse import components, explain, reuse_key

if TYPE_CHECKING:
    from cumulus.datastores import DataPath
    from cumulus.flows._engine import Engine
    from cumulus.flows._graph import Node


class StepFailed(Exception):
    """A step's run failed (or its outputs are missing); Prefect may retry the task."""


class StepCanceled(Exception):
    """The pipeline was canceled or aborted while the step waited."""


@dataclass
class Decision:
    reused: dict[str, Any] | None
    reason: str


class StepExecutor:
    """Runs steps of one pipeline run; shared by all its Prefect tasks (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ws = engine.ws
        self.store = engine.ws.store
        self.default_datastore = engine.ws.get_default_datastore().name

    # inputs and outputs ------------------------------------------------------------------
    def resolve_inputs(self, node: Node, upstream: dict[str, dict[str, Any]],
                       ) -> dict[str, tuple[DataPath, str]]:
        """param -> (DataPath in the consumer's mode, identity for the reuse key)."""
        from cumulus.datastores import DataPath

        producers = self.engine.producers
        out = {}
        for param, src in node.inputs.items():
            if src.kind == "data" and src.datapath is not None:
                dp = DataPath.from_dict(src.datapath)
                ident = data_identity(src.datapath)
            else:
                producer = producers[src.handle or ""]
                pnode = self.engine.graph.nodes[producer]
                oname = next(k for k, s in pnode.outputs.items() if s.handle == src.handle)
                dp = DataPath.from_dict(upstream[producer][oname])
                ident = f"output {producer}.{oname}"
            dp = {"download": dp.as_download, "mount": dp.as_mount,
                  "direct": dp.as_direct}[src.mode]()
            out[param] = (dp.named(param), ident)
        return out

    def output_paths(self, node: Node) -> dict[str, DataPath]:
        return {name: output_datapath(self.ws, spec, self.default_datastore,
                                      pipeline=self.engine.prepared.pipeline,
                                      pipeline_run_id=self.engine.run_id, step=node.name,
                                      output=name)
                for name, spec in node.outputs.items()}

    def _output_decls(self, node: Node) -> dict[str, dict[str, Any]]:
        default = self.default_datastore
        return {n: {"datastore": s.datastore or default, "path": s.path or DEFAULT_OUTPUT_PATH}
                for n, s in node.outputs.items()}

    # the step ------------------------------------------------------------------------------
    def run(self, name: str, upstream: dict[str, dict[str, Any]], attempt: int = 1,
            ) -> dict[str, dict[str, Any]]:
        """The step's outputs (name -> DataPath dict); raises StepFailed / StepCanceled."""
        engine = self.engine
        node = engine.graph.nodes[name]
        if engine.aborted.is_set():
            raise StepCanceled(f"step {name} not started: {engine.abort_reason}")
        payload = engine.prepared.payloads[node.payload]
        inputs = self.resolve_inputs(node, upstream)
        files = {p: data_fingerprint(self.ws, dp.to_dict()) for p, (dp, _i) in inputs.items()}
        comps = components(kind=payload.kind, code=payload.code_identity(), params=node.params,
                           environment=payload.environment_identity(),
                           inputs={p: (ident, files[p]) for p, (_dp, ident) in inputs.items()},
                           outputs=self._output_decls(node))
        key = reuse_key(comps)
        decision = self.decide(node, key, comps, files)
        engine.mark(name, "decided")
        base = {"step": name, "pipeline": engine.prepared.pipeline, "attempt": attempt,
                "reason": decision.reason,
                "inputs": {p: dp.to_dict() for p, (dp, _i) in inputs.items()}}
        reuse = {"components": comps, "input_files": files}  # kept in the run's definition
        if decision.reused is not None:
            return self._record_reuse(node, key, decision, base, reuse)
        return self._execute(node, key, base, reuse,
                             {p: dp for p, (dp, _i) in inputs.items()}, attempt)

    def _execute(self, node: Node, key: str, props: dict[str, Any], reuse: dict[str, Any],
                 inputs: dict[str, DataPath], attempt: int) -> dict[str, dict[str, Any]]:
        from cumulus.flows._kinds import StepCall

        engine = self.engine
        outputs = self.output_paths(node)
        props["outputs"] = {n: dp.to_dict() for n, dp in outputs.items()}
        call = StepCall(experiment=engine.experiment, parent_id=engine.run_id, node=node,
                        inputs=inputs, outputs=outputs, params=node.params, reuse_key=key,
                        properties=props, reuse=reuse)
        payload = engine.prepared.payloads[node.payload]
        # subscribed before the run can end
        engine.watcher.follow(node.compute_target or getattr(payload, "compute_target", None))
        run = payload.submit(call)
        engine.mark(node.name, "submitted")
        if not call.reuse_carried:      # a kind that does not pass call.definition()
            self.store.merge_run_dict(run.id, "definition", {"reuse": reuse})
        engine.note(node.name, "running", run_id=run.id)
        suffix = f" (attempt {attempt})" if attempt > 1 else ""
        engine.log(f"{node.name}: running as run {run.id} on {node.compute_target!r}{suffix} "
                   f"- {props['reason']}")
        status = engine.watcher.wait(run.id, engine.aborted)
        engine.mark(node.name, "done")
        if status == "aborted":
            self._stop_child(run.id)
            raise StepCanceled(f"step {node.name} stopped: {engine.abort_reason}")
        if status == "Canceled":
            raise StepCanceled(f"step {node.name} run {run.id} was canceled")
        if status != "Completed":
            raise StepFailed(self._failure_message(node, run))
        missing = missing_outputs(self.ws, props["outputs"])
        if missing:  # allowed, as in the managed service; readers get an empty folder
            engine.log(f"{node.name}: warning: run {run.id} wrote nothing into output(s) "
                       f"{', '.join(missing)}; the steps reading them get an empty folder.")
        engine.log(f"{node.name}: Completed (run {run.id})")
        return props["outputs"]

    def _failure_message(self, node: Node, run: Any) -> str:
        details = run.get_details()
        err = (details.get("error") or {}).get("message") or details["status"]
        tail = run.get_log_tail(8)
        msg = f"step {node.name} run {run.id} ended {details['status']}: {err}"
        return msg + (f"\n{tail}" if tail else "")

    def _stop_child(self, run_id: str) -> None:
        from cumulus.tasks.cancel import cancel_run

        cancel_run(self.store, run_id, f"pipeline {self.engine.run_id}: "
                                       f"{self.engine.abort_reason}")
        self.engine.watcher.wait(run_id, None, timeout=60)

    # reuse ---------------------------------------------------------------------------------
    def decide(self, node: Node, key: str, comps: dict[str, Any],
               files: dict[str, dict[str, Any]]) -> Decision:
        prepared = self.engine.prepared
        if prepared.regenerate_outputs:
            return Decision(None, "regenerate_outputs=True")
        if node.name in getattr(prepared, "regenerate_steps", ()):
            return Decision(None, f"regenerate_outputs names {node.name}")
        rerun_of = getattr(prepared, "rerun_of", None)
        if rerun_of:
            earlier = self._rerun_source(rerun_of, node, key)
            if earlier is not None:
                return earlier
        if not node.options.allow_reuse:
            return Decision(None, "allow_reuse=False")
        gone = []
        for rec in self._completed_with_key(key):
            outs = (rec.get("properties") or {}).get("outputs") or {}
            missing = missing_outputs(self.ws, outs)
            if not missing:
                return Decision(rec, f"reused run {rec['id']}")
            gone.append(f"outputs of run {rec['id']} are gone ({', '.join(missing)})")
        if gone:
            return Decision(None, gone[0])
        previous = self._latest_completed(node)
        prev = ((previous or {}).get("definition") or {}).get("reuse") or {}
        reasons = explain(comps, prev.get("components"), files, prev.get("input_files"))
        return Decision(None, "; ".join(reasons))

    def _rerun_source(self, rerun_of: str, node: Node, key: str) -> Decision | None:
        """The step's completed run in the pipeline run being rerun, when its key (code,
        parameters, input data) is unchanged and its outputs are still there."""
        for rec in self.store.list_runs(parent_id=rerun_of, status="Completed"):
            if rec.get("display_name") != node.name or rec.get("reuse_key") != key:
                continue
            outs = (rec.get("properties") or {}).get("outputs") or {}
            if not missing_outputs(self.ws, outs):
                return Decision(rec, f"completed in run {rerun_of}, which this run reruns")
        return None

    def _completed_with_key(self, key: str) -> list[dict[str, Any]]:
        return [self.store.get_run(i) for i in self.store.completed_with_key(key, limit=5)]

    def _latest_completed(self, node: Node) -> dict[str, Any] | None:
        rows = self.store.completed_steps_named(node.name, limit=25)
        for run_id, props in rows:
            if (props or {}).get("pipeline") == self.engine.prepared.pipeline:
                return self.store.get_run(run_id)
        return None

    def _record_reuse(self, node: Node, key: str, decision: Decision, props: dict[str, Any],
                      reuse: dict[str, Any]) -> dict[str, dict[str, Any]]:
        from cumulus.runconfig import new_run_id

        engine = self.engine
        earlier = decision.reused or {}
        earlier_props = earlier.get("properties") or {}
        source = earlier_props.get("reused_run") or earlier["id"]
        why = f"reused run {source}"
        if decision.reason.startswith("completed in run"):
            why += f" ({decision.reason})"
        props.update(outputs=earlier_props.get("outputs") or {}, reused_run=source, reason=why)
        if source != earlier["id"]:
            props["reused_via"] = earlier["id"]
        run_id = new_run_id(engine.experiment.name)
        self.store.create_run(
            run_id=run_id, experiment_id=engine.experiment.id, kind="step",
            status="Completed", parent_id=engine.run_id, display_name=node.name,
            params=node.params, properties=props, reuse_key=key,
            definition={**(earlier.get("definition") or {}), "reused_from": source,
                        "reuse": reuse},
            compute_target=earlier.get("compute_target"), reason=props["reason"])
        self._copy_results(source, run_id)
        engine.note(node.name, "reused", run_id=run_id)
        engine.log(f"{node.name}: {props['reason']} (recorded as run {run_id})")
        return dict(props["outputs"])

    def _copy_results(self, source: str, run_id: str) -> None:
        """The reused run shows the earlier run's metrics and files (same datastore objects)."""
        rows = self.store.get_metric_rows([source])
        self.store.insert_metrics([{k: r[k] for k in ("name", "kind", "step", "value", "data",
                                                      "time")} | {"run_id": run_id}
                                   for r in rows])
        files = self.store.list_artifacts(source)
        self.store.add_artifacts(run_id, [{k: f[k] for k in ("path", "datastore", "location",
                                                             "size", "checksum")}
                                          for f in files])
