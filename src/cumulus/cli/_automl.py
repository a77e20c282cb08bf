"""``cumulus automl run|show``: automated ML over a table."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape

from cumulus.cli._common import console, styled_status, table
from cumulus.cli._common import workspace as open_workspace


@click.group()
def automl() -> None:
    """Find the best model for a table (automated ML)."""


def _data(ws: Any, text: str) -> Any:
    """``ds:path`` on a datastore (``ds`` a registered name), else a local file."""
    name, sep, path = text.partition(":")
    if sep and name in ws.datastores:
        return ws.datastores[name].path(path)
    return text


@automl.command("run")
@click.argument("training_data")
@click.option("--label", "-y", required=True, help="The column to predict.")
@click.option("--task", "-t", default="classification", show_default=True,
              type=click.Choice(["classification", "regression", "forecasting"]))
@click.option("--metric", "-m", default=None, help="Primary metric (default: the task's).")
@click.option("--max-trials", "-n", type=int, default=None, help="Trials in all (default 30).")
@click.option("--timeout-minutes", type=float, default=None, help="Wall-clock budget.")
@click.option("--concurrent", type=int, default=None, help="Trials at once.")
@click.option("--cv", "n_cross_validations", type=int, default=None, help="Folds (default 5).")
@click.option("--time-column", default=None, help="Forecasting: the time column.")
@click.option("--allow", "allowed", multiple=True, help="Only these model families.")
@click.option("--block", "blocked", multiple=True, help="Never these model families.")
@click.option("--compute", default=None, help="Compute target for the trials.")
@click.option("--experiment", "-e", default="automl", show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Stream the run's log until it ends.")
def run(training_data: str, label: str, task: str, metric: str | None, max_trials: int | None,
        timeout_minutes: float | None, concurrent: int | None, n_cross_validations: int | None,
        time_column: str | None, allowed: tuple[str, ...], blocked: tuple[str, ...],
        compute: str | None, experiment: str, follow: bool) -> None:
    """Search models for TRAINING_DATA (a CSV/Parquet file, or DATASTORE:path)."""
    from cumulus.automl import AutoMLConfig
    from cumulus.experiment import Experiment

    ws = open_workspace()
    config = AutoMLConfig(task=task, training_data=_data(ws, training_data),
                          label_column_name=label, primary_metric=metric,
                          max_trials=max_trials, experiment_timeout_minutes=timeout_minutes,
                          max_concurrent_trials=concurrent,
                          n_cross_validations=n_cross_validations,
                          time_column_name=time_column, allowed_models=list(allowed) or None,
                          blocked_models=list(blocked) or None, compute_target=compute)
    err = console(stderr=True)
    am: Any = Experiment(ws, experiment).submit(config)
    err.print(f"Submitted AutoML run [bold]{am.id}[/bold]: {config!r}")
    for g in am.get_guardrails():
        err.print(f"  guardrail {g['name']}: {g['status']} ({g['details']})")
    click.echo(am.id)
    if not follow:
        err.print(f"Follow it with: cumulus automl show {am.id} --follow")
        return
    details = am.wait_for_completion(show_output=True, raise_on_error=False)
    _show(am, top=10)
    if details["status"] != "Completed":
        sys.exit(1)


@automl.command("show")
@click.argument("run_id")
@click.option("--top", "-n", default=15, show_default=True, help="Leaderboard rows (0: all).")
@click.option("--follow", "-f", is_flag=True, help="Wait for the run to end first.")
def show(run_id: str, top: int, follow: bool) -> None:
    """The leaderboard, guardrails, featurization and feature importance of RUN_ID
    (``latest``: the newest AutoML run)."""
    from cumulus.automl import AutoMLRun
    from cumulus.cli._common import resolve_run_id
    from cumulus.run import Run

    ws = open_workspace()
    am = Run.get(ws, resolve_run_id(ws, run_id, kind="automl"))
    if not isinstance(am, AutoMLRun):
        raise click.ClickException(f"{run_id} is a {am.kind} run, not an AutoML run (kind "
                                   f"'automl' in: cumulus runs list)")
    if follow:
        am.wait_for_completion(show_output=True, raise_on_error=False)
    _show(am, top)


def _show(am: Any, top: int) -> None:
    out = console()
    settings = am.settings
    status = am.get_status()
    out.print(f"AutoML run [bold]{am.id}[/bold]: {styled_status(status)} - {settings['task']} "
              f"of {settings['label']!r}, {settings['goal']} {settings['primary_metric']}, "
              f"{settings['rows']} rows")
    guard = table("Guardrails", ["check", "status", "details"])
    for g in am.get_guardrails():
        guard.add_row(g["name"], g["status"], g["details"])
    out.print(guard)
    feats = table("Featurization", ["column(s)", "kind", "what was done"])
    for columns, kind, what in _grouped(am.get_featurization_summary()):
        feats.add_row(escape(columns), kind, escape(what))
    out.print(feats)
    for note in settings.get("notes") or ():
        out.print(f"note: {note}")
    if status != "Completed":
        progress = am.get_progress()
        out.print(f"trials: {progress}")
        return
    board = table(f"Leaderboard ({settings['primary_metric']})",
                  ["rank", "run", "model", "score", "status", "settings"])
    rows = am.get_leaderboard()
    for row in rows[:top] if top else rows:
        score = "-" if row["score"] is None else f"{row['score']:.5f}"
        params = ", ".join(f"{k}={_short(v)}" for k, v in row["hyperparameters"].items())
        board.add_row(str(row["rank"]), row["run_id"], row["model"], score,
                      "pruned" if row["early_termination"] else row["status"], escape(params))
    out.print(board)
    importance = list(am.get_feature_importance().items())[:10]
    if importance:
        imp = table("Feature importance (permutation, best model)", ["column", "importance"])
        for name, value in importance:
            imp.add_row(escape(name), f"{value:.5f}")
        out.print(imp)


def _grouped(plan: list[dict[str, Any]], limit: int = 12) -> list[tuple[str, str, str]]:
    """One row per column, or per (kind, treatment) when there are more than ``limit``."""
    rows = [(p["column"], p["kind"], (p["dropped"] and f"dropped: {p['dropped']}")
             or "; ".join(p["transformations"]) or "-") for p in plan]
    if len(rows) <= limit:
        return rows
    groups: dict[tuple[str, str], list[str]] = {}
    for column, kind, what in rows:
        groups.setdefault((kind, what), []).append(column)
    out = []
    for (kind, what), columns in groups.items():
        shown = ", ".join(columns[:4]) + (f" and {len(columns) - 4} more" if len(columns) > 4
                                          else "")
        out.append((shown, kind, what))
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)
