"""Early-termination policies replayed on synthetic learning curves, against Optuna's pruners.

A family of 40 learning curves of 20 steps each has known final scores:
``value(t) = final * (1 - exp(-t / tau)) + N(0, 0.01)``. Two scenarios: ``final ~ U(0.55, 0.95)``
and ``tau ~ logU(1, 10)`` drawn independently (fast learners lead early and are not always the
best at the end), and "slow learners finish higher", where ``final ~ U(0.70, 0.95)`` and ``tau``
grows with ``final`` (the hard case for early stopping). The trials are replayed as a sweep
with 4 running at a time, in lockstep: every tick each running trial reports its next value,
then the policy decides which to cancel, and freed slots start the next trials. Cumulus
policies see a ``PolicySnapshot`` each tick; Optuna's pruners see the same values through
``trial.report`` / ``trial.should_prune`` (called trial by trial within a tick).

Reported per method (mean over curve families): the share of the 800 steps saved, the true rank
(1 = best true final score of the 40) of the winner (the completed trial with the best observed
final value), the best true rank among completed trials, how often the true best trial was run to
completion, and the time spent deciding.

Run: ``python benchmarks/bench_early_termination.py [--families 20]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna

from cumulus.sweeps import (
    AshaPolicy,
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PolicySnapshot,
    TrialProgress,
    TruncationSelectionPolicy,
)

N_TRIALS, N_STEPS, CONCURRENCY = 40, 20, 4


@dataclass(frozen=True)
class Family:
    curves: np.ndarray  # (N_TRIALS, N_STEPS) observed values
    true_final: np.ndarray  # noise-free value at the last step

    def true_rank(self, trial: int) -> int:
        return 1 + int(np.sum(self.true_final > self.true_final[trial]))


def make_family(seed: int, *, slow_learners_better: bool) -> Family:
    """40 curves; with ``slow_learners_better`` the time constant grows with the final score."""
    rng = np.random.default_rng(seed)
    if slow_learners_better:
        final = rng.uniform(0.70, 0.95, N_TRIALS)
        mix = 0.5 * rng.uniform(0.0, 1.0, N_TRIALS) + 0.5 * (final - 0.70) / 0.25
        tau = np.exp(math.log(10.0) * mix)
    else:
        final = rng.uniform(0.55, 0.95, N_TRIALS)
        tau = np.exp(rng.uniform(0.0, math.log(10.0), N_TRIALS))
    t = np.arange(1, N_STEPS + 1)
    clean = final[:, None] * (1.0 - np.exp(-t[None, :] / tau[:, None]))
    noisy = clean + rng.normal(0.0, 0.01, clean.shape)
    return Family(curves=noisy, true_final=clean[:, -1])


@dataclass
class Outcome:
    steps: int
    completed: list[int]
    decide_seconds: float


# A decision hook: given (trial index, steps reported so far) for every running trial, return
# the trial indices to stop now. `on_start` / `on_finish` let Optuna keep its own state.
class Replayer:
    def on_start(self, trial: int) -> None: ...
    def decide(self, reported: dict[int, int], finished: dict[int, int]) -> set[int]: ...
    def on_finish(self, trial: int, steps: int, completed: bool) -> None: ...


class CumulusReplayer(Replayer):
    def __init__(self, family: Family, policy: EarlyTerminationPolicy) -> None:
        self.family, self.policy = family, policy

    def decide(self, reported: dict[int, int], finished: dict[int, int]) -> set[int]:
        trials = [TrialProgress(str(i), tuple(self.family.curves[i, :n]), running=True)
                  for i, n in reported.items()]
        trials += [TrialProgress(str(i), tuple(self.family.curves[i, :n]), running=False)
                   for i, n in finished.items()]
        snapshot = PolicySnapshot("maximize", tuple(trials))
        return {int(tid) for tid in self.policy.trials_to_cancel(snapshot)}


class OptunaReplayer(Replayer):
    def __init__(self, family: Family, pruner: optuna.pruners.BasePruner) -> None:
        self.family = family
        self.study = optuna.create_study(direction="maximize", pruner=pruner,
                                         sampler=optuna.samplers.RandomSampler(seed=0))
        self.trials: dict[int, optuna.Trial] = {}

    def on_start(self, trial: int) -> None:
        self.trials[trial] = self.study.ask()

    def decide(self, reported: dict[int, int], finished: dict[int, int]) -> set[int]:
        stop = set()
        for i, n in reported.items():
            trial = self.trials[i]
            trial.report(float(self.family.curves[i, n - 1]), step=n)
            if n < N_STEPS and trial.should_prune():
                stop.add(i)
        return stop

    def on_finish(self, trial: int, steps: int, completed: bool) -> None:
        if completed:
            self.study.tell(self.trials[trial], float(self.family.curves[trial, steps - 1]))
        else:
            self.study.tell(self.trials[trial], state=optuna.trial.TrialState.PRUNED)


def replay(replayer: Replayer) -> Outcome:
    queue = list(range(N_TRIALS))
    running: dict[int, int] = {}
    finished: dict[int, int] = {}
    completed: list[int] = []
    steps, decide_seconds = 0, 0.0
    while queue or running:
        while queue and len(running) < CONCURRENCY:
            trial = queue.pop(0)
            running[trial] = 0
            replayer.on_start(trial)
        for trial in running:
            running[trial] += 1
            steps += 1
        started = time.perf_counter()
        stop = replayer.decide(dict(running), dict(finished))
        decide_seconds += time.perf_counter() - started
        for trial, n in list(running.items()):
            if n >= N_STEPS or trial in stop:
                done = n >= N_STEPS
                finished[trial] = running.pop(trial)
                replayer.on_finish(trial, n, done)
                if done:
                    completed.append(trial)
    return Outcome(steps=steps, completed=completed, decide_seconds=decide_seconds)


Method = tuple[str, Callable[[Family], Replayer]]

METHODS: list[Method] = [
    ("cumulus NoTermination", lambda f: CumulusReplayer(f, NoTerminationPolicy())),
    ("cumulus Bandit(slack_factor=0.1, delay=5)",
     lambda f: CumulusReplayer(f, BanditPolicy(slack_factor=0.1, delay_evaluation=5))),
    ("cumulus Bandit(slack_factor=0.2, delay=5)",
     lambda f: CumulusReplayer(f, BanditPolicy(slack_factor=0.2, delay_evaluation=5))),
    ("cumulus MedianStopping(delay=5)",
     lambda f: CumulusReplayer(f, MedianStoppingPolicy(delay_evaluation=5))),
    ("cumulus TruncationSelection(20%, delay=5)",
     lambda f: CumulusReplayer(f, TruncationSelectionPolicy(20, delay_evaluation=5))),
    ("cumulus Asha(min=2, rf=3)",
     lambda f: CumulusReplayer(f, AshaPolicy(min_resource=2, reduction_factor=3))),
    ("optuna MedianPruner(startup=5, warmup=5)",
     lambda f: OptunaReplayer(f, optuna.pruners.MedianPruner(n_startup_trials=5,
                                                              n_warmup_steps=5))),
    ("optuna SuccessiveHalving(min=2, rf=3)",
     lambda f: OptunaReplayer(f, optuna.pruners.SuccessiveHalvingPruner(min_resource=2,
                                                                        reduction_factor=3))),
]


def summarize(name: str, family_outcomes: list[tuple[Family, Outcome]]) -> dict[str, float | str]:
    saved, winner, best_kept, kept_best, ms = [], [], [], [], []
    for family, outcome in family_outcomes:
        saved.append(1.0 - outcome.steps / (N_TRIALS * N_STEPS))
        ranks = [family.true_rank(t) for t in outcome.completed]
        champion = max(outcome.completed, key=lambda t: family.curves[t, -1])
        winner.append(family.true_rank(champion))
        best_kept.append(min(ranks))
        kept_best.append(1.0 if min(ranks) == 1 else 0.0)
        ms.append(outcome.decide_seconds * 1e3)
    return {"method": name, "saved": statistics.fmean(saved),
            "winner_median": statistics.median(winner), "winner_mean": statistics.fmean(winner),
            "best_kept": statistics.fmean(best_kept), "kept_true_best": statistics.fmean(kept_best),
            "decide_ms": statistics.fmean(ms)}


def print_table(title: str, rows: list[dict[str, float | str]]) -> None:
    print(f"\n### {title}\n")
    header = (f"| {'method':<42} | steps saved | winner true rank (median / mean) "
              f"| best kept rank | true best completed | decide ms/sweep |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['method']:<42} | {r['saved']:>11.1%} | "
              f"{r['winner_median']:>14.1f} / {r['winner_mean']:<15.2f} | "
              f"{r['best_kept']:>14.2f} | {r['kept_true_best']:>19.0%} | {r['decide_ms']:>15.2f} |")
    by_name = {r["method"]: r for r in rows}
    pairs = [("cumulus MedianStopping(delay=5)", "optuna MedianPruner(startup=5, warmup=5)"),
             ("cumulus Asha(min=2, rf=3)", "optuna SuccessiveHalving(min=2, rf=3)")]
    print("\nratios (cumulus / optuna counterpart):")
    for ours, theirs in pairs:
        a, b = by_name[ours], by_name[theirs]
        print(f"  {ours} vs {theirs}: steps saved x{_ratio(a['saved'], b['saved'])}, "
              f"winner mean rank x{_ratio(a['winner_mean'], b['winner_mean'])}, "
              f"decision time x{_ratio(a['decide_ms'], b['decide_ms'])}")


def _ratio(a: float | str, b: float | str) -> str:
    return f"{float(a) / float(b):.2f}" if float(b) else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=20, help="curve families (seeds)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{args.families} curve families x {N_TRIALS} trials x {N_STEPS} steps, "
          f"{CONCURRENCY} concurrent, maximize; decide time includes building the snapshots")
    for title, slow in (("independent final score and learning speed", False),
                        ("slow learners finish higher", True)):
        families = [make_family(seed, slow_learners_better=slow) for seed in range(args.families)]
        rows = [summarize(name, [(f, replay(build(f))) for f in families])
                for name, build in METHODS]
        print_table(title, rows)


if __name__ == "__main__":
    main()
