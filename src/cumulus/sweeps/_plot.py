"""A PNG of every trial's primary metric over its steps (``cumulus sweep plot ID``).

Needs matplotlib (``pip install 'cumulus-ml[plot]'``); drawn with the Agg backend, no display.

Example::

    plot_sweep(SweepRun.get(ws, run_id), "sweep.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cumulus.errors import MissingDependencyError

from ._plan import Trial, best_trial
from ._trials import load_trials

STYLE = {"Completed": "-", "Canceled": "--", "Failed": ":"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("cumulus sweep plot", "matplotlib", "plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sweep(srun: Any, path: str | Path) -> Path:
    """Draw the primary metric of every trial of ``srun`` over steps into the PNG ``path``."""
    plt = _pyplot()
    record = srun._sweep_record()
    metric = record.definition["primary_metric_name"]
    goal = record.definition["primary_metric_goal"]
    trials, _ = load_trials(srun._store, srun.id, metric, record.state,
                            record.definition.get("primary_metric_summary") or "best")
    best = best_trial(trials, goal)
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    try:
        for trial in trials:
            _draw(ax, trial, best is not None and trial.trial_id == best.trial_id)
        _decorate(ax, srun.id, metric, goal, trials, best)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return out


def _draw(ax: Any, trial: Trial, is_best: bool) -> None:
    if not trial.points:
        return
    steps = [s for s, _ in trial.points]
    values = [v for _, v in trial.points]
    style = "--" if trial.pruned else STYLE.get(trial.status, "-")
    label = f"trial {trial.index}" + (" (best)" if is_best else "") + (
        " (early-terminated)" if trial.pruned else "")
    ax.plot(steps, values, style, linewidth=2.6 if is_best else 1.0,
            alpha=1.0 if is_best else 0.6, label=label if is_best or trial.pruned else None,
            marker="o" if len(steps) == 1 else None, zorder=3 if is_best else 2)


def _decorate(ax: Any, run_id: str, metric: str, goal: str, trials: list[Trial],
              best: Trial | None) -> None:
    pruned = sum(1 for t in trials if t.pruned)
    ax.set_title(f"sweep {run_id}: {metric} ({goal}), {len(trials)} trials, "
                 f"{pruned} early-terminated", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    if not any(t.points for t in trials):
        ax.text(0.5, 0.5, f"no trial has logged {metric!r} yet", ha="center", va="center",
                transform=ax.transAxes)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles[:12], labels[:12], fontsize=8, loc="best")
    if best is not None:
        value = best.best(goal)
        ax.annotate(f"best: trial {best.index} = {value:.4g}", xy=(0.01, 0.01),
                    xycoords="axes fraction", fontsize=8)
