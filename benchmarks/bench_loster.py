"""Benchmark LoSTerClustering: UCR accuracy against KMeans and k-Shape, the paper's budget, length scaling.

Prints markdown tables and writes JSON to benchmarks/results/loster-<mode>-<device>.json.

    python benchmarks/bench_loster.py ucr --data-dir /tmp/skdeepcluster-data/ucr --seeds 5
    python benchmarks/bench_loster.py ucr --data-dir /tmp/skdeepcluster-data/ucr --quick
    python benchmarks/bench_loster.py budget --data-dir /tmp/skdeepcluster-data/ucr
    python benchmarks/bench_loster.py scaling --lengths 1000 10000 100000
    python benchmarks/bench_loster.py ucr --extra --data-dir /tmp/skdeepcluster-data/ucr --seeds 1 --n-jobs 1
    python benchmarks/bench_loster.py table results/loster-ucr-cpu.json results/loster-ucr-part2-cpu.json

ucr also fits scikit-learn's SpectralClustering on a 10-nearest-neighbour graph of the raw
(z-normalised) series, and reports LoSTer's initial partition ("LoSTer init", initial_labels_
of the same fit) next to its final labels, so that a joint phase that loses shows. --extra runs
the 14 long UCR sets outside the paper's 10 (EXTRA_DATASETS); --kshape-skip leaves KShape out
on the named sets (its time); table merges the JSON of runs split over processes.

ucr: the 10 UCR datasets of the LoSTer paper, each merged (train rows then test rows) and
z-normalised as the paper does, k = the number of classes, the estimator's defaults (the
paper's budget) unless --pretrain-epochs / --max-epochs are given; Rand index, NMI and fit
seconds per seed for LoSTerClustering, KMeans (n_init=10) and tslearn's KShape.
budget: the full budget on MixedShapesRegularTrain, with the default tol and with tol=0, and
the achieved training FLOP/s against the machine's dense matmul peak.
scaling: synthetic series of growing length, each fitted in a fresh process so that its peak
resident memory is its own.

The UCR 2018 archive layout is expected under --data-dir: <name>/<name>_TRAIN.tsv and _TEST.tsv.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import resource
import sys
import time

import numpy as np
import torch
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import normalized_mutual_info_score, rand_score
from torch.utils.flop_counter import FlopCounterMode
from tslearn.clustering import KShape
from tslearn.preprocessing import TimeSeriesResampler

from skdeepcluster import LoSTerClustering
from skdeepcluster._engine import resolve_device
from skdeepcluster.datasets import load_ucr_dataset, make_synthetic_series

# isort: split
# benchmarks/ itself, on sys.path when the script runs as python benchmarks/bench_loster.py.
from _common import machine_description, peak_matmul_flops

RESULTS = pathlib.Path(__file__).parent / "results"

PAPER_SOURCE = "Taloma et al., arXiv:2405.05015, journal version tables, via shared/data/README.md"
# The authors' LoSTer Rand index and NMI, mean of 5 seeds, in the paper's order.
PAPER_SCORES = {
    "CinCECGTorso": (0.6906, 0.2812),
    "NonInvasiveFetalECGThorax1": (0.9737, 0.7399),
    "NonInvasiveFetalECGThorax2": (0.9781, 0.8019),
    "MixedShapesRegularTrain": (0.8259, 0.5147),
    "MixedShapesSmallTrain": (0.8257, 0.5122),
    "EOGVerticalSignal": (0.8669, 0.3619),
    "ECG5000": (0.7142, 0.4781),
    "OSULeaf": (0.7583, 0.2286),
    "MiddlePhalanxOutlineAgeGroup": (0.7355, 0.3920),
    "ProximalPhalanxOutlineAgeGroup": (0.8000, 0.5298),
}
PAPER_MEAN = (0.8169, 0.4840)
QUICK_DATASETS = ["MiddlePhalanxOutlineAgeGroup", "ProximalPhalanxOutlineAgeGroup"]
QUICK_BUDGET = {"pretrain_epochs": 2, "max_epochs": 2}
BUDGET_DATASET = "MixedShapesRegularTrain"
# Long UCR sets (length >= 300) outside the paper's 10, for checking that the defaults are not tuned
# to those: every one of the shipped archive's sets of length >= 300 with at most 800 series (the
# time on 2 shared cores), except the variable-length gesture sets and the 52-class Pig* sets.
EXTRA_DATASETS = ["ACSF1", "Beef", "Car", "Computers", "CricketX", "DiatomSizeReduction", "EOGHorizontalSignal",
                  "FaceFour", "Fish", "Haptics", "InsectEPGRegularTrain", "LargeKitchenAppliances", "Lightning7",
                  "Meat"]
# "LoSTer init": the initial partition of the same fit (initial_labels_), before the joint phase.
METHODS = ("LoSTer", "LoSTer init", "KMeans", "KShape", "Spectral")


# ---- helpers ---------------------------------------------------------------------------------------


def budget_overrides(args):
    """The epoch budget given on the command line; empty means the estimator's defaults (the paper's)."""
    given = {"pretrain_epochs": args.pretrain_epochs, "max_epochs": args.max_epochs}
    return {name: value for name, value in given.items() if value is not None}


def epoch_seconds(model, phase):
    """Mean seconds of the ``phase`` epochs of a fitted model's history (nan when it ran none)."""
    seconds = [entry["seconds"] for entry in model.history_ if entry.get("phase") == phase]
    return float(np.mean(seconds)) if seconds else float("nan")


def equal_length(X):
    """The series as they are, or resampled to the full length when NaN-padded (KMeans needs one length)."""
    if not np.isnan(X).any():
        return X
    return TimeSeriesResampler(sz=X.shape[1]).fit_transform(X[:, :, None])[:, :, 0]


def timed_fit_predict(estimator, X):
    started = time.perf_counter()
    labels = estimator.fit_predict(X)
    return labels, time.perf_counter() - started


def save(report, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=float))


def output_path(args, mode, device):
    return pathlib.Path(args.output) if args.output else RESULTS / f"loster-{mode}-{device.type}.json"


# ---- ucr -------------------------------------------------------------------------------------------


def fit_methods(X, y, n_clusters, seed, device, overrides, with_kshape, n_jobs=-1):
    """One seed of every method on one dataset: yields (method, record)."""
    model = LoSTerClustering(n_clusters=n_clusters, random_state=seed, device=str(device), n_jobs=n_jobs,
                             **overrides)
    labels, seconds = timed_fit_predict(model, X)
    joint_epochs = sum(entry.get("phase") == "joint" and "event" not in entry for entry in model.history_)
    events = [entry["event"] for entry in model.history_ if "event" in entry]
    yield "LoSTer", {"seed": seed, "ri": rand_score(y, labels), "nmi": normalized_mutual_info_score(y, labels),
                     "seconds": seconds, "joint_epochs": joint_epochs,
                     "changed_from_init": float(np.mean(labels != model.initial_labels_)), "events": events}
    yield "LoSTer init", {"seed": seed, "ri": rand_score(y, model.initial_labels_),
                          "nmi": normalized_mutual_info_score(y, model.initial_labels_), "seconds": float("nan")}
    X_equal = equal_length(X)
    labels, seconds = timed_fit_predict(SpectralClustering(n_clusters, affinity="nearest_neighbors", n_neighbors=10,
                                                           random_state=seed, n_jobs=-1), X_equal)
    yield "Spectral", {"seed": seed, "ri": rand_score(y, labels), "nmi": normalized_mutual_info_score(y, labels),
                       "seconds": seconds}
    labels, seconds = timed_fit_predict(KMeans(n_clusters, n_init=10, random_state=seed), X_equal)
    yield "KMeans", {"seed": seed, "ri": rand_score(y, labels), "nmi": normalized_mutual_info_score(y, labels),
                     "seconds": seconds}
    if with_kshape:
        labels, seconds = timed_fit_predict(KShape(n_clusters=n_clusters, random_state=seed), X_equal[:, :, None])
        yield "KShape", {"seed": seed, "ri": rand_score(y, labels), "nmi": normalized_mutual_info_score(y, labels),
                         "seconds": seconds}


def summarize(runs):
    """Mean and std over seeds of each method's RI, NMI and seconds."""
    return {method: {f"{stat}_{key}": float(fn([run[key] for run in records]))
                     for key in ("ri", "nmi", "seconds") for stat, fn in (("mean", np.mean), ("std", np.std))}
            for method, records in runs.items() if records}


def best_method(summary, key):
    return max(summary, key=lambda method: summary[method][f"mean_{key}"])


def ucr_table(results):
    methods = [method for method in METHODS if any(method in entry["summary"] for entry in results.values())]
    header = ["dataset", "paper RI", "paper NMI"]
    for method in methods:
        header += [f"{method} RI", f"{method} NMI", f"{method} s"]
    header += ["best RI", "best NMI"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]

    def method_cells(summary):
        cells = []
        for method in methods:
            stats = summary.get(method)
            if stats is None:
                cells += ["-", "-", "-"]
            elif method == "LoSTer":
                cells += [f"{stats['mean_ri']:.3f} ± {stats['std_ri']:.3f}",
                          f"{stats['mean_nmi']:.3f} ± {stats['std_nmi']:.3f}",
                          f"{stats['mean_seconds']:.1f} ± {stats['std_seconds']:.1f}"]
            else:
                cells += [f"{stats['mean_ri']:.3f}", f"{stats['mean_nmi']:.3f}", f"{stats['mean_seconds']:.1f}"]
        return [*cells, best_method(summary, "ri"), best_method(summary, "nmi")]

    for name, entry in results.items():
        paper_ri, paper_nmi = PAPER_SCORES.get(name, (float("nan"), float("nan")))
        lines.append("| " + " | ".join([name, f"{paper_ri:.4f}", f"{paper_nmi:.4f}",
                                         *method_cells(entry["summary"])]) + " |")
    # The paper's "mean" row: per seed, the mean over the datasets; then mean and std over the seeds.
    overall = mean_over_datasets(results, methods)
    if len(results) == len(PAPER_SCORES) and set(results) == set(PAPER_SCORES):
        paper_ri, paper_nmi = PAPER_MEAN
    else:
        known = [PAPER_SCORES[name] for name in results if name in PAPER_SCORES]
        paper_ri, paper_nmi = np.mean(known, axis=0) if known else (float("nan"), float("nan"))
    if overall:
        lines.append("| " + " | ".join([f"**mean of the {len(results)}**", f"{paper_ri:.4f}", f"{paper_nmi:.4f}",
                                         *method_cells(overall)]) + " |")
    # Where a method (KShape) was left out of some datasets: every method's mean over the datasets it ran on.
    shared = {name: entry for name, entry in results.items() if all(method in entry["runs"] for method in methods)}
    if shared and len(shared) < len(results):
        subset = mean_over_datasets(shared, methods)
        known = [PAPER_SCORES[name] for name in shared if name in PAPER_SCORES]
        paper_ri, paper_nmi = np.mean(known, axis=0) if known else (float("nan"), float("nan"))
        lines.append("| " + " | ".join([f"**mean of the {len(shared)} with every method**", f"{paper_ri:.4f}",
                                         f"{paper_nmi:.4f}", *method_cells(subset)]) + " |")
    return "\n".join(lines), overall


def mean_over_datasets(results, methods):
    """Per seed, the mean over the datasets of each method that ran on all of them; then over the seeds."""
    overall = {}
    for method in methods:
        if not all(method in entry["runs"] for entry in results.values()):
            continue
        per_seed = {}
        for entry in results.values():
            for run in entry["runs"][method]:
                per_seed.setdefault(run["seed"], []).append(run)
        complete = [runs for runs in per_seed.values() if len(runs) == len(results)]
        overall[method] = summarize({method: [{key: np.mean([run[key] for run in runs])
                                               for key in ("ri", "nmi", "seconds")} for runs in complete]})[method]
    return overall


DEFAULTS_COLUMNS = ["dataset (n x T, k)", "seeds", "LoSTer init RI / NMI", "LoSTer RI / NMI", "LoSTer fit s",
                   "Spectral (raw) RI / NMI", "KMeans RI / NMI", "KShape RI / NMI"]


def defaults_rows(results):
    """The README / user-guide table of the defaults: per set, the mean over its seeds of each method.

    LoSTer cells add the std over seeds when there are several. Mean rows: the mean over the
    sets of the per-set means, for all sets and for the sets where KShape ran.
    """
    def pair(runs, spread=False):
        if not runs:
            return "-"
        ri, nmi = np.array([run["ri"] for run in runs]), np.array([run["nmi"] for run in runs])
        if spread and len(runs) > 1:
            return f"{ri.mean():.3f} ± {ri.std():.3f} / {nmi.mean():.3f} ± {nmi.std():.3f}"
        return f"{ri.mean():.3f} / {nmi.mean():.3f}"

    rows = []
    for name, entry in results.items():
        runs = entry["runs"]
        loster = runs["LoSTer"]
        rows.append([f"{name} ({entry['shape'][0]} x {entry['shape'][1]}, {entry['n_clusters']})",
                     ",".join(str(run["seed"]) for run in loster), pair(runs.get("LoSTer init", []), True),
                     pair(loster, True),
                     f"{np.mean([run['seconds'] for run in loster]):.0f}", pair(runs.get("Spectral", [])),
                     pair(runs.get("KMeans", [])), pair(runs.get("KShape", []))])

    def mean_row(label, names):
        cells = [label, "", "", "", "", "", "", ""]
        for column, method in ((2, "LoSTer init"), (3, "LoSTer"), (5, "Spectral"), (6, "KMeans"), (7, "KShape")):
            if all(results[name]["runs"].get(method) for name in names):
                means = [(np.mean([run["ri"] for run in results[name]["runs"][method]]),
                          np.mean([run["nmi"] for run in results[name]["runs"][method]])) for name in names]
                cells[column] = "{:.3f} / {:.3f}".format(*np.mean(means, axis=0))
            else:
                cells[column] = "-"
        cells[4] = f"{np.mean([np.mean([r['seconds'] for r in results[n]['runs']['LoSTer']]) for n in names]):.0f}"
        return cells

    rows.append(mean_row(f"**mean of the {len(results)}**", list(results)))
    with_kshape = [name for name in results if results[name]["runs"].get("KShape")]
    if 0 < len(with_kshape) < len(results):
        rows.append(mean_row(f"mean of the {len(with_kshape)} with KShape", with_kshape))
    return rows


def markdown_table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
                     + ["| " + " | ".join(row) + " |" for row in rows])


def rst_table(header, rows, title):
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0].strip('*')}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines)


def warm_up_kshape():
    """Fit KShape once on a tiny set so numba's one-off compilation is not timed on the first dataset."""
    KShape(n_clusters=2, random_state=0).fit(np.random.RandomState(0).standard_normal((8, 16, 1)))


def run_ucr(args, device):
    if args.quick:
        datasets, seeds, overrides = QUICK_DATASETS, 2, dict(QUICK_BUDGET)
    else:
        default = EXTRA_DATASETS if args.extra else list(PAPER_SCORES)
        datasets, seeds, overrides = args.datasets or default, args.seeds, budget_overrides(args)
    overrides.update(budget_overrides(args))
    seed_list = list(range(args.first_seed, seeds))
    kshape_seeds = seeds if args.kshape_seeds is None else min(args.kshape_seeds, seeds)
    path = output_path(args, "ucr-quick" if args.quick else ("ucr-extra" if args.extra else "ucr"), device)
    report = {"mode": "ucr", "quick": args.quick, "machine": machine_description(), "device": str(device),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "seeds": seed_list,
              "kshape_seeds": [] if args.skip_kshape else list(range(kshape_seeds)), "loster_overrides": overrides,
              "loster_n_jobs": args.n_jobs, "kshape_skipped": list(args.kshape_skip),
              "paper_source": PAPER_SOURCE, "datasets": {}}
    print(f"datasets: {datasets}\nseeds: {seed_list}; KShape seeds: {report['kshape_seeds']}; "
          f"LoSTer budget overrides: {overrides or 'none (defaults)'}\npaper numbers: {PAPER_SOURCE}", flush=True)
    if report["kshape_seeds"]:
        warm_up_kshape()
    for name in datasets:
        X, y = load_ucr_dataset(name, args.data_dir)
        n_clusters = len(np.unique(y))
        print(f"\n{name}: {X.shape}, k={n_clusters}", flush=True)
        runs = {method: [] for method in METHODS}
        for seed in seed_list:
            with_kshape = not args.skip_kshape and seed < kshape_seeds and name not in args.kshape_skip
            for method, record in fit_methods(X, y, n_clusters, seed, device, overrides, with_kshape, args.n_jobs):
                runs[method].append(record)
                extra = (f", {record['joint_epochs']} joint epochs, {record['changed_from_init']:.1%} of labels "
                         f"changed from the initial partition, events {record['events']}") if method == "LoSTer" else ""
                print(f"  {name} {method:<11} seed {seed}: RI {record['ri']:.4f} NMI {record['nmi']:.4f} "
                      f"{record['seconds']:.1f} s{extra}", flush=True)
        paper = PAPER_SCORES.get(name)
        report["datasets"][name] = {"shape": list(X.shape), "n_clusters": n_clusters,
                                    "paper": {"ri": paper[0], "nmi": paper[1]} if paper else None,
                                    "runs": {method: records for method, records in runs.items() if records},
                                    "summary": summarize(runs)}
        save(report, path)  # after each dataset: a killed run keeps what it measured
    table, overall = ucr_table(report["datasets"])
    report["mean_over_datasets"] = overall
    save(report, path)
    print("\n" + table + f"\n\nRI: sklearn.metrics.rand_score; NMI: normalized_mutual_info_score (arithmetic). "
          f"LoSTer cells: mean ± std over {len(seed_list)} seed(s), KMeans: mean over {len(seed_list)}, "
          f"KShape: mean over {len(report['kshape_seeds'])}; "
          "mean row: per seed the mean over the datasets, then over the seeds; "
          f"best: the method with the highest mean; paper: {PAPER_SOURCE}.")
    return path


def run_table(args, device):
    """One table from several ucr JSON files (runs split over processes or rerun after a change)."""
    datasets, sources = {}, []
    for path in args.files:
        report = json.loads(pathlib.Path(path).read_text())
        for name, entry in report["datasets"].items():
            # Runs are merged per method and seed: a later file's run of a seed replaces an earlier
            # one's (a rerun after a change), other seeds and methods it left out (KShape) are kept.
            for method, runs in datasets.get(name, {}).get("runs", {}).items():
                new_seeds = {run["seed"] for run in entry["runs"].get(method, [])}
                kept = [run for run in runs if run["seed"] not in new_seeds]
                entry["runs"][method] = sorted(kept + entry["runs"].get(method, []), key=lambda run: run["seed"])
            entry["summary"] = summarize(entry["runs"])
            datasets[name] = entry
        if "sources" in report:  # an earlier merge: its own sources
            sources.extend(f"{path} <- {source}" for source in report["sources"])
            continue
        sources.append(f"{path}: seeds {report['seeds']}, KShape seeds {report['kshape_seeds']}, KShape skipped on "
                       f"{report.get('kshape_skipped', [])}, LoSTer n_jobs {report.get('loster_n_jobs')}")
    order = ([name for name in PAPER_SCORES if name in datasets]
             + [name for name in datasets if name not in PAPER_SCORES])
    table, overall = ucr_table({name: datasets[name] for name in order})
    print("\n".join(sources) + "\n\n" + table)
    changed = {name: [run.get("changed_from_init") for run in entry["runs"]["LoSTer"]]
               for name, entry in datasets.items()}
    print("\nshare of labels_ that differ from initial_labels_ per dataset: "
          + ", ".join(f"{name} {np.mean(values):.1%}" for name, values in changed.items()))
    rows = defaults_rows({name: datasets[name] for name in order})
    print("\nThe table of README and doc/loster.rst (bench_loster.py table --rst for the latter):\n\n"
          + (rst_table(DEFAULTS_COLUMNS, rows, args.title) if args.rst else markdown_table(DEFAULTS_COLUMNS, rows)))
    if args.output:
        save({"sources": sources, "datasets": {name: datasets[name] for name in order}, "mean_over_datasets": overall},
             pathlib.Path(args.output))
    return args.output


# ---- budget ----------------------------------------------------------------------------------------


def counted_flops(X, n_clusters, device, **params):
    """Torch FLOPs of one fit (forward and backward passes, float32 and float64; k-means excluded)."""
    with FlopCounterMode(display=False) as counter:
        LoSTerClustering(n_clusters=n_clusters, random_state=0, device=str(device), **params).fit(X)
    return counter.get_total_flops()


def run_budget(args, device):
    X, y = load_ucr_dataset(BUDGET_DATASET, args.data_dir)
    n_clusters = len(np.unique(y))
    path = output_path(args, "budget", device)
    print(f"{BUDGET_DATASET}: {X.shape}, k={n_clusters}; the paper's budget (estimator defaults)", flush=True)
    peak = peak_matmul_flops(device)
    print(f"peak dense float32 matmul: {peak / 1e9:.1f} GFLOP/s", flush=True)
    # F(p, j) = F_fixed + p * F_pretrain + j * F_joint, where F_fixed is the k-means initialisation's
    # embedding passes and the final labelling pass; three short counted fits give the three terms.
    one_pretrain = counted_flops(X, n_clusters, device, pretrain_epochs=1, max_epochs=0)
    two_pretrain = counted_flops(X, n_clusters, device, pretrain_epochs=2, max_epochs=0)
    one_each = counted_flops(X, n_clusters, device, pretrain_epochs=1, max_epochs=1, tol=0)
    flops = {"pretrain_epoch": two_pretrain - one_pretrain, "joint_epoch": one_each - one_pretrain}
    flops["fixed"] = one_pretrain - flops["pretrain_epoch"]
    print(f"FLOPs: {flops['pretrain_epoch'] / 1e12:.3f} TFLOP per pretraining epoch, "
          f"{flops['joint_epoch'] / 1e12:.3f} TFLOP per joint epoch (with its labelling pass), "
          f"{flops['fixed'] / 1e12:.3f} TFLOP for the initialisation and final labels", flush=True)
    report = {"mode": "budget", "dataset": BUDGET_DATASET, "shape": list(X.shape), "machine": machine_description(),
              "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "peak_matmul_flops": peak, "flops": flops, "runs": []}
    for seed in range(args.seeds):
        for label, params in (("default tol", {}), ("tol=0", {"tol": 0})):
            model = LoSTerClustering(n_clusters=n_clusters, random_state=seed, device=str(device), **params)
            labels, seconds = timed_fit_predict(model, X)
            pretrain_epochs = sum(entry.get("phase") == "pretrain" for entry in model.history_)
            joint_epochs = sum(entry.get("phase") == "joint" for entry in model.history_)
            total = flops["fixed"] + pretrain_epochs * flops["pretrain_epoch"] + joint_epochs * flops["joint_epoch"]
            record = {"seed": seed, "setting": label, "seconds": seconds, "n_iter": model.n_iter_,
                      "converged": bool(model.converged_), "pretrain_epochs": pretrain_epochs,
                      "joint_epochs": joint_epochs, "seconds_per_pretrain_epoch": epoch_seconds(model, "pretrain"),
                      "seconds_per_joint_epoch": epoch_seconds(model, "joint"),
                      "init_seconds": sum(entry["seconds"] for entry in model.history_ if entry.get("phase") == "init"),
                      "ri": rand_score(y, labels), "nmi": normalized_mutual_info_score(y, labels),
                      "achieved_flops": total / seconds}
            record["percent_of_peak"] = 100 * record["achieved_flops"] / peak
            report["runs"].append(record)
            print(f"  seed {seed} {label}: {seconds:.1f} s, n_iter_ {model.n_iter_} (converged {model.converged_}), "
                  f"RI {record['ri']:.4f} NMI {record['nmi']:.4f}, {record['achieved_flops'] / 1e9:.1f} GFLOP/s",
                  flush=True)
            save(report, path)
    print("\n| setting | seed | fit s | n_iter_ | joint epochs | s / pretrain epoch | s / joint epoch | RI | NMI | "
          "GFLOP/s | % of peak |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in report["runs"]:
        print(f"| {row['setting']} | {row['seed']} | {row['seconds']:.1f} | {row['n_iter']} | {row['joint_epochs']} | "
              f"{row['seconds_per_pretrain_epoch']:.2f} | {row['seconds_per_joint_epoch']:.2f} | {row['ri']:.4f} | "
              f"{row['nmi']:.4f} | {row['achieved_flops'] / 1e9:.1f} | {row['percent_of_peak']:.1f} |")
    print(f"\npeak dense float32 matmul {peak / 1e9:.1f} GFLOP/s (torch.mm 2048 x 2048, same run); training FLOPs "
          f"from torch.utils.flop_counter.FlopCounterMode; the k-means initialisation (scikit-learn) is not counted "
          f"but its time is in the wall seconds.")
    return path


# ---- scaling ---------------------------------------------------------------------------------------


def scaling_point(length, n_samples, params, threads, device):
    """One length in a fresh process: data generation, one fit, this process's peak resident memory."""
    if threads:
        torch.set_num_threads(threads)
    X, _ = make_synthetic_series(n_samples, length, n_clusters=3, random_state=0)
    rss_with_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = LoSTerClustering(n_clusters=3, random_state=0, device=device, tol=0, **params)
    _, seconds = timed_fit_predict(model, X)
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    unit = 1 if sys.platform == "darwin" else 1024
    return {"length": length, "n_samples": n_samples, "data_mib": X.nbytes / 2**20,
            "rss_before_fit_mib": rss_with_data * unit / 2**20,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20,
            "seconds": seconds, "n_iter": model.n_iter_,
            "seconds_per_pretrain_epoch": epoch_seconds(model, "pretrain"),
            "seconds_per_joint_epoch": epoch_seconds(model, "joint")}


def run_scaling(args, device):
    params = {"pretrain_epochs": 2 if args.pretrain_epochs is None else args.pretrain_epochs,
              "max_epochs": 2 if args.max_epochs is None else args.max_epochs}
    path = output_path(args, "scaling-thp" if args.thp else "scaling", device)
    report = {"mode": "scaling", "machine": machine_description(), "device": str(device), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "params": {**params, "tol": 0}, "points": []}
    print(f"make_synthetic_series(n_samples={args.n_samples}, length, n_clusters=3, random_state=0); "
          f"LoSTerClustering(3, tol=0, {params})", flush=True)
    if args.thp:
        # Read by PyTorch's CPU allocator at start-up in each fresh child: transparent huge pages
        # for allocations of 2 MB and more (fewer page faults on the large per-step buffers).
        os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    report["thp_mem_alloc_enable"] = bool(args.thp)
    context = multiprocessing.get_context("spawn")
    for length in args.lengths:
        # A fresh interpreter per length: ru_maxrss is then this length's peak alone.
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            point = pool.submit(scaling_point, length, args.n_samples, params, torch.get_num_threads(),
                                str(device)).result()
        report["points"].append(point)
        print(f"  length {length}: {point['seconds']:.1f} s, {point['seconds_per_pretrain_epoch']:.2f} s / pretrain "
              f"epoch, {point['seconds_per_joint_epoch']:.2f} s / joint epoch, "
              f"peak RSS {point['peak_rss_mib']:.0f} MiB", flush=True)
        save(report, path)
    print("\n| length | fit s | x | s / pretrain epoch | x | s / joint epoch | x | data MiB | RSS before fit MiB | "
          "peak RSS MiB | x |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    previous = None
    for point in report["points"]:
        keys = ("seconds", "seconds_per_pretrain_epoch", "seconds_per_joint_epoch", "peak_rss_mib")
        ratios = {key: point[key] / previous[key] for key in keys} if previous else None
        point["ratio_to_previous"] = ratios
        ratio = (lambda key, ratios=ratios: f"{ratios[key]:.1f}") if ratios else (lambda key: "-")
        print(f"| {point['length']} | {point['seconds']:.1f} | {ratio('seconds')} | "
              f"{point['seconds_per_pretrain_epoch']:.2f} | {ratio('seconds_per_pretrain_epoch')} | "
              f"{point['seconds_per_joint_epoch']:.2f} | {ratio('seconds_per_joint_epoch')} | "
              f"{point['data_mib']:.0f} | {point['rss_before_fit_mib']:.0f} | {point['peak_rss_mib']:.0f} | "
              f"{ratio('peak_rss_mib')} |")
        previous = point
    save(report, path)
    print("\nx: ratio to the previous length. Peak RSS: ru_maxrss of the fitting process; it includes the "
          "interpreter and libraries and the float64 data (RSS before fit).")
    return path


# ---- main ------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="cpu", help="torch device for LoSTer (default: cpu)")
    common.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's choice, one per physical core)")
    common.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/loster-<mode>-"
                                                       "<device>.json)")
    epochs = argparse.ArgumentParser(add_help=False)
    epochs.add_argument("--pretrain-epochs", type=int, default=None, help="override the default budget")
    epochs.add_argument("--max-epochs", type=int, default=None, help="override the default budget")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data-dir", default=os.environ.get("SKDEEPCLUSTER_UCR", "/tmp/skdeepcluster-data/ucr"),
                      help="folder holding the UCR 2018 archive layout <name>/<name>_TRAIN.tsv")
    commands = parser.add_subparsers(dest="mode", required=True)
    ucr = commands.add_parser("ucr", parents=[common, data, epochs],
                              help="the paper's 10 UCR datasets vs KMeans and KShape")
    ucr.add_argument("--datasets", nargs="+", default=None, metavar="NAME", help="default: the paper's 10")
    ucr.add_argument("--seeds", type=int, default=5, help="seeds 0..S-1 (default 5, as the paper)")
    ucr.add_argument("--first-seed", type=int, default=0,
                     help="run seeds F..S-1 only (more seeds for an earlier run; merge them with table)")
    ucr.add_argument("--skip-kshape", action="store_true", help="leave tslearn's KShape out (it is slow)")
    ucr.add_argument("--kshape-seeds", type=int, default=None,
                     help="run KShape for the first N seeds only (default: all); one seed of it takes ~400 s on "
                          "NonInvasiveFetalECGThorax1 on 2 CPU cores")
    ucr.add_argument("--n-jobs", type=int, default=-1,
                     help="LoSTer's n_jobs (default -1, all cores; 1 on a machine loaded by other jobs, where two "
                          "torch threads per fit oversubscribe the cores)")
    ucr.add_argument("--extra", action="store_true", help="the long UCR sets outside the paper's 10 (EXTRA_DATASETS)")
    ucr.add_argument("--kshape-skip", nargs="+", default=[], metavar="NAME",
                     help="datasets to run without KShape (its time on the largest ones)")
    ucr.add_argument("--quick", action="store_true",
                     help=f"smoke run: 2 seeds, {', '.join(QUICK_DATASETS)}, pretrain_epochs=2, max_epochs=2")
    merged = commands.add_parser("table", parents=[common], help="one table from several ucr JSON files")
    merged.add_argument("files", nargs="+")
    merged.add_argument("--rst", action="store_true", help="print the defaults table as a reStructuredText list-table")
    merged.add_argument("--title", default="LoSTer defaults", help="caption of the --rst table")
    budget = commands.add_parser("budget", parents=[common, data],
                                 help=f"full training budget and FLOP/s on {BUDGET_DATASET}")
    budget.add_argument("--seeds", type=int, default=1)
    scaling = commands.add_parser("scaling", parents=[common, epochs], help="time and memory against series length "
                                                                    "(default 2 + 2 epochs)")
    scaling.add_argument("--lengths", type=int, nargs="+", default=[1000, 10_000, 100_000])
    scaling.add_argument("--n-samples", type=int, default=1000)
    scaling.add_argument("--thp", action="store_true",
                         help="run the fits with THP_MEM_ALLOC_ENABLE=1 (PyTorch's huge-page CPU allocations)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"# LoSTer benchmark: {args.mode}\nmachine: {machine_description()}\n"
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {device}", flush=True)
    run = {"ucr": run_ucr, "budget": run_budget, "scaling": run_scaling, "table": run_table}[args.mode]
    path = run(args, device)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
