"""Bayesian sampling (TPE through cumulus BayesianSampling) against random search and raw Optuna.

Two known 4-D test functions, minimized: Hartmann-4 on [0, 1]^4 (minimum -3.1345, Picheny et
al. 2013) and a shifted Rosenbrock on [-2, 2]^4 (``f(x) = rosenbrock(x + 0.5)``, minimum 0 at
x = (0.5, 0.5, 0.5, 0.5)). Each sampler gets 60 trials, one at a time (``suggest(history, 1)``,
then the value goes into the history), for 10 seeds. Also: the Bayesian sampler in batches of 4
(constant liar), Sobol and CMA-ES (when the ``cmaes`` package is installed), and raw Optuna TPE
with the same settings through ``study.ask`` / ``study.tell`` as the reference for both quality
and wall time.

Reported: median (and quartiles) of the best value found, the median wall time of one 60-trial
sweep with its ratio to raw Optuna, and the ratio of total CPU time (steadier on a shared
machine). Methods run interleaved, seed by seed.

Run: ``python benchmarks/bench_bayesian.py [--trials 60] [--seeds 10]``
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.distributions import FloatDistribution

from cumulus.sweeps import (
    BayesianSampling,
    CmaEsSampling,
    RandomSampling,
    Sampling,
    SobolSampling,
    TrialRecord,
    uniform,
)

NAMES = ("x0", "x1", "x2", "x3")

_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5], [0.05, 10, 17, 0.1], [3, 3.5, 1.7, 10], [17, 8, 0.05, 10]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124], [2329, 4135, 8307, 3736],
                        [2348, 1451, 3522, 2883], [4047, 8828, 8732, 5743]])


def hartmann4(x: np.ndarray) -> float:
    inner = np.sum(_H_A * (x[None, :] - _H_P) ** 2, axis=1)
    return float((1.1 - np.sum(_H_ALPHA * np.exp(-inner))) / 0.839)


def rosenbrock_shifted(x: np.ndarray) -> float:
    z = x + 0.5
    return float(np.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2))


@dataclass(frozen=True)
class Problem:
    name: str
    f: Callable[[np.ndarray], float]
    low: float
    high: float
    optimum: float

    def value(self, params: dict[str, float]) -> float:
        return self.f(np.array([params[n] for n in NAMES]))


PROBLEMS = [Problem("Hartmann-4 (min -3.1345)", hartmann4, 0.0, 1.0, -3.1345),
            Problem("shifted Rosenbrock-4 (min 0)", rosenbrock_shifted, -2.0, 2.0, 0.0)]


def run_cumulus(sampler: Sampling, problem: Problem, trials: int, batch: int) -> float:
    history: list[TrialRecord] = []
    while len(history) < trials:
        points = sampler.suggest(tuple(history), min(batch, trials - len(history)),
                                 goal="minimize")
        history += [TrialRecord(f"t{len(history) + i}", p, problem.value(p), "complete")
                    for i, p in enumerate(points)]
    return min(r.value for r in history if r.value is not None)


def run_raw_optuna(problem: Problem, trials: int, seed: int) -> float:
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True,
                                         constant_liar=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {n: FloatDistribution(problem.low, problem.high) for n in NAMES}
    for _ in range(trials):
        trial = study.ask(dists)
        study.tell(trial, problem.value(trial.params))
    return float(study.best_value)


def space(problem: Problem) -> dict[str, object]:
    return {n: uniform(problem.low, problem.high) for n in NAMES}


Runner = Callable[[Problem, int, int], float]


def methods() -> list[tuple[str, Runner]]:
    out: list[tuple[str, Runner]] = [
        ("raw optuna TPE (ask/tell)", run_raw_optuna),
        ("cumulus BayesianSampling", lambda p, t, s: run_cumulus(
            BayesianSampling(space(p), seed=s), p, t, 1)),
        ("cumulus BayesianSampling, batches of 4", lambda p, t, s: run_cumulus(
            BayesianSampling(space(p), seed=s), p, t, 4)),
        ("cumulus RandomSampling", lambda p, t, s: run_cumulus(
            RandomSampling(space(p), seed=s), p, t, 1)),
        ("cumulus SobolSampling", lambda p, t, s: run_cumulus(
            SobolSampling(space(p), seed=s), p, t, 1)),
    ]
    if importlib.util.find_spec("cmaes") is not None:
        out.append(("cumulus CmaEsSampling", lambda p, t, s: run_cumulus(
            CmaEsSampling(space(p), seed=s), p, t, 1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{args.trials} trials x {args.seeds} seeds per method; minimize")
    if importlib.util.find_spec("cmaes") is None:
        print("(CmaEsSampling skipped: the cmaes package is not installed)")
    for warm in (BayesianSampling, SobolSampling):  # import optuna / scipy.stats.qmc up front
        run_cumulus(warm(space(PROBLEMS[0]), seed=0), PROBLEMS[0], 3, 1)
    for problem in PROBLEMS:
        print(f"\n### {problem.name}\n")
        print("| method                                 | best value: median [q1, q3] "
              "| wall s/sweep | wall vs raw optuna | cpu vs raw optuna |")
        print("|----------------------------------------|-----------------------------"
              "|--------------|--------------------|-------------------|")
        runners = methods()
        bests: dict[str, list[float]] = {name: [] for name, _ in runners}
        wall: dict[str, list[float]] = {name: [] for name, _ in runners}
        cpu: dict[str, list[float]] = {name: [] for name, _ in runners}
        for seed in range(args.seeds):  # methods interleaved so that load drift hits all alike
            for name, runner in runners:
                started, cpu_started = time.perf_counter(), time.process_time()
                bests[name].append(runner(problem, args.trials, seed))
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - cpu_started)
        raw_name = runners[0][0]
        raw_wall, raw_cpu = statistics.median(wall[raw_name]), sum(cpu[raw_name])
        for name, _ in runners:
            q1, med, q3 = statistics.quantiles(bests[name], n=4, method="inclusive")
            took = statistics.median(wall[name])
            print(f"| {name:<38} | {med:>9.4f} [{q1:.4f}, {q3:.4f}]".ljust(70) +
                  f"| {took:>12.3f} | {took / raw_wall:>17.2f}x "
                  f"| {sum(cpu[name]) / raw_cpu:>16.2f}x |")

if __name__ == "__main__":
    main()
