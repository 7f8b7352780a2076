"""The numerical guard and the convergence report, measured on real data.

1. Cost: seconds per training step with and without the finiteness check of gradients and
   weights, for the default networks (S3VDC: VaDE MLP on 784 features; LoSTer: 1,024
   timestamps), batch 128.
2. Recovery: both estimators fitted on real data (S3VDC on scikit-learn's digits with the
   demo configuration, LoSTer on tslearn's Trace with the paper's configuration) once cleanly
   and once with each injected failure: a burst of 12 NaN losses, NaN losses at 2 % of the
   steps, and weights overwritten with inf half-way. Prints restores, skipped steps and the
   accuracy against the clean fit's.
3. Convergence: S3VDC's per-period label change on digits for three seeds.

    python benchmarks/bench_guard.py [--quick]

Writes ``results/guard-cpu.json`` and prints markdown tables.
"""

import argparse
import json
import pathlib
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import LoSTerClustering, S3VDCClustering
from skdeepcluster._demo import DIGITS_PARAMS, TRACE_PARAMS, load_digits_data, load_trace_data
from skdeepcluster._engine import BatchStream, TrainingLoop, _distributed, _guard
from skdeepcluster.loster._model import LoSTerNetwork
from skdeepcluster.metrics import clustering_accuracy
from skdeepcluster.s3vdc._model import build_network

# isort: split
from _common import machine_description

RESULTS = pathlib.Path(__file__).parent / "results"


def step_seconds(module, X, loss_of, steps, guard):
    """Mean seconds of a training step through TrainingLoop, with or without the check."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    stream = BatchStream(X, 128, np.random.RandomState(0), torch.device("cpu"))
    loop = TrainingLoop(module, optimizer, stream, lambda step: 1e-4, total_steps=steps)
    # The guard's finiteness checks: every step's gradients (in the group's exchange) and every
    # epoch's weights.
    originals = (_distributed.all_finite, _guard.all_finite)
    if not guard:
        _distributed.all_finite = _guard.all_finite = lambda tensors: True
    try:
        loop.run(3, lambda batch, step: (loss_of(module, batch), {}), phase="warm")
        started = time.perf_counter()
        loop.run(steps, lambda batch, step: (loss_of(module, batch), {}), phase="timed")
        return (time.perf_counter() - started) / steps
    finally:
        _distributed.all_finite, _guard.all_finite = originals


def guard_cost(steps):
    rng = np.random.RandomState(0)
    rows = []
    s3vdc = build_network("mlp", 784, 10, 10, (500, 500, 2000), None, "elu")
    images = rng.uniform(size=(128 * 8, 784)).astype(np.float32)

    def s3vdc_loss(module, batch):
        z_mean, _ = module.encode(batch)
        return ((module.decode(z_mean) - batch) ** 2).sum(1).mean()

    loster = LoSTerNetwork(1024, 8, 256, 256, 3, 3, 0.1)
    series = rng.normal(size=(128 * 8, 2, 1024)).astype(np.float32)

    def loster_loss(module, batch):
        views = batch.transpose(0, 1).contiguous()
        return ((module(views)[1] - views) ** 2).mean()

    for name, module, X, loss_of in (("S3VDC, 784 features", s3vdc, images, s3vdc_loss),
                                     ("LoSTer, 1,024 timestamps", loster, series, loster_loss)):
        timings = {True: [], False: []}
        for _ in range(3):  # interleaved, so that load from other processes hits both alike
            for guard in (False, True):
                timings[guard].append(step_seconds(module, X, loss_of, steps, guard))
        plain, guarded = min(timings[False]), min(timings[True])
        rows.append({"network": name, "step_ms": 1e3 * plain, "guarded_step_ms": 1e3 * guarded,
                     "overhead_percent": 100 * (guarded / plain - 1)})
    return rows


def inject(fail_at=(), corrupt_at=None):
    """Patch the loop: NaN losses at the steps in ``fail_at``; inf weights at ``corrupt_at``."""
    original = TrainingLoop.train_step

    def patched(self, batch, loss_fn, sums):
        if self.step == corrupt_at:
            with torch.no_grad():
                next(self.module.parameters()).fill_(float("inf"))

        def failing(batch, step):
            loss, logs = loss_fn(batch, step)
            return (loss * float("nan"), logs) if step in fail_at else (loss, logs)

        return original(self, batch, failing, sums)

    TrainingLoop.train_step = patched
    return original


def recovery(quick):
    X_digits, y_digits = load_digits_data()
    X_trace, y_trace = load_trace_data()
    digits_params = {**DIGITS_PARAMS, **(dict(warmup_epochs=5, anneal_epochs=2, n_periods=2) if quick else {})}
    trace_params = {**TRACE_PARAMS, **(dict(pretrain_epochs=5, max_epochs=5) if quick else {})}
    cases = (("S3VDC, digits", S3VDCClustering, digits_params, X_digits, y_digits),
             ("LoSTer, Trace", LoSTerClustering, trace_params, X_trace, y_trace))
    rows = []
    for name, estimator, params, X, y in cases:
        clean = estimator(**params, device="cpu", random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clean.fit(X)
        total = clean._progress["steps"]
        middle = total * 3 // 4  # inside the clustering / joint phase
        rng = np.random.RandomState(0)
        scenarios = {
            "clean": {},
            "12 NaN losses in a row": {"fail_at": set(range(middle, middle + 12))},
            "NaN loss at 2 % of steps": {"fail_at": set(rng.choice(total, total // 50, replace=False).tolist())},
            "inf weights half-way": {"corrupt_at": total // 2},
        }
        for scenario, failure in scenarios.items():
            model = clean
            if failure:
                original = inject(**failure)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = estimator(**params, device="cpu", random_state=0).fit(X)
                finally:
                    TrainingLoop.train_step = original
            rows.append({"model": name, "failure": scenario, "steps": total,
                         "skipped": sum(entry.get("nonfinite_steps", 0) for entry in model.history_),
                         "restores": sum(entry.get("event") == "restored" for entry in model.history_),
                         "acc": clustering_accuracy(y, model.labels_),
                         "ari_vs_clean": adjusted_rand_score(clean.labels_, model.labels_)})
            print(_row(rows[-1]), flush=True)
    return rows


def convergence(quick):
    X, _ = load_digits_data()
    params = {**DIGITS_PARAMS, **(dict(warmup_epochs=5, anneal_epochs=2, n_periods=2) if quick else {})}
    rows = []
    for seed in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = S3VDCClustering(**params, device="cpu", random_state=seed).fit(X)
        rows.append({"seed": seed, "label_change": [entry["label_change"] for entry in model.history_
                                                    if "label_change" in entry],
                     "converged": model.converged_})
    return rows


def _row(row):
    return "| " + " | ".join(f"{value:.4g}" if isinstance(value, float) else str(value)
                             for value in row.values()) + " |"


def _table(rows):
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + [_row(row) for row in rows])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short schedules, for a smoke test")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--only", choices=("cost", "recovery", "convergence"), action="append",
                        help="run only these parts; the others keep their values in the JSON file")
    args = parser.parse_args()
    parts = args.only or ["cost", "recovery", "convergence"]
    machine = machine_description()
    print(f"Machine: {machine}\n")
    suffix = "-quick" if args.quick else ""
    out = RESULTS / f"guard{suffix}-cpu.json"
    report = json.loads(out.read_text()) if out.exists() else {}
    report["machine"] = machine
    RESULTS.mkdir(exist_ok=True)
    save = lambda: out.write_text(json.dumps(report, indent=1))  # noqa: E731 (after every part)
    if "cost" in parts:
        report["cost"] = guard_cost(args.steps)
        print("Cost of the guard per training step (batch 128, CPU, best of 3)\n" + _table(report["cost"]) + "\n",
              flush=True)
        save()
    if "recovery" in parts:
        report["recovery"] = recovery(args.quick)
        print("\nRecovery from injected failures (seed 0)\n" + _table(report["recovery"]) + "\n")
        save()
    if "convergence" in parts:
        report["convergence"] = convergence(args.quick)
        print("S3VDC on digits: share of the checked samples that changed cluster in each period\n"
              + _table([{**row, "label_change": ", ".join(f"{v:.2%}" for v in row["label_change"])}
                        for row in report["convergence"]]))
        save()


if __name__ == "__main__":
    main()
