"""Benchmark S3VDCClustering against KMeans and GaussianMixture on real data.

Prints markdown tables (mean +- std over seeds of ACC, NMI, ARI and fit seconds), the
mini-batch vs full-data GMM initialisation times (the paper's Table 4), the training
throughput against this machine's peak dense matmul FLOP/s measured in the same run, and
the count of non-finite losses. Results are also written as JSON next to this script.

    python benchmarks/bench_s3vdc.py digits --seeds 5
    python benchmarks/bench_s3vdc.py mnist --data-dir /tmp/data --seeds 5
    python benchmarks/bench_s3vdc.py nan-check --seeds 20
    python benchmarks/bench_s3vdc.py sets --seeds 5 --data-dir /tmp/data

sets: the estimator's defaults (only n_clusters set, and the observation model that suits the
data) on digits, wine, breast cancer and iris from scikit-learn and on three UCR sets read as
plain feature vectors (Plane, CBF, FaceAll: the defaults were not tuned on them), beside KMeans,
a diagonal GaussianMixture and scikit-learn's SpectralClustering on a 10-NN graph of the same
input, with the ACC of S3VDC's partition at initialisation (``initial_labels_``) and at the end.
Tabular and UCR data go through StandardScaler, digits are pixels / 16.

MNIST comes from ``shared/data/fetch_mnist.py DEST`` (``DEST/mnist.npz``), the UCR sets from
``shared/data/fetch_ucr.py DEST/ucr Plane CBF FaceAll``.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
from sklearn import datasets
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from torch.utils.flop_counter import FlopCounterMode

from skdeepcluster import S3VDCClustering
from skdeepcluster._demo import DIGITS_PARAMS, compare_models, load_digits_data
from skdeepcluster._engine import resolve_device
from skdeepcluster.metrics import clustering_accuracy
from skdeepcluster.s3vdc import _training
from skdeepcluster.s3vdc._model import build_network
from skdeepcluster.s3vdc._prior import fit_mixture_prior
from skdeepcluster.s3vdc._schedule import S3VDCSchedule

# isort: split
# benchmarks/ itself, on sys.path when the script runs as python benchmarks/bench_s3vdc.py.
from _common import machine_description, peak_matmul_flops

RESULTS = pathlib.Path(__file__).parent / "results"

# The paper's MNIST hyper-parameters (Table 2: d_z 8, L 128, gamma 5e-4, k x L 25,600, lr 2e-3 -> 1e-6;
# lambda 50 of its search; the Bernoulli likelihood of Eq. 5 on pixels in [0, 1]) with VaDE's MLP and
# the schedule cut to ~10 minutes on 2 CPU cores; --paper-schedule restores Table 2's 356 epochs.
MNIST_PARAMS = dict(n_clusters=10, latent_dim=8, reconstruction="bernoulli", minmax_scale=50.0, batch_size=128,
                    gamma=5e-4, gmm_init_samples=25600, learning_rate=2e-3, min_learning_rate=1e-6,
                    warmup_epochs=30, anneal_epochs=4, static_epochs=1, n_periods=4)
MNIST_PAPER_SCHEDULE = dict(warmup_epochs=100_000 / 547, anneal_epochs=9_000 / 547, static_epochs=1_000 / 547,
                            n_periods=10)


def training_flops_per_sample(model, X):
    """Forward + backward FLOPs of one clustering-phase step, per sample (torch's flop counter)."""
    network = build_network(model.encoder, X.shape[1], model.latent_dim, model.n_clusters, model.hidden_dims,
                            model.input_shape, model.activation)
    batch = torch.as_tensor(X[: model.batch_size], dtype=torch.float32)
    static_step = S3VDCSchedule(warmup_steps=0, anneal_steps=0, static_steps=1, n_periods=1,
                                gamma=model.gamma, power=model.anneal_power)
    loss_fn = _training.clustering_loss(model, network, static_step)
    with FlopCounterMode(display=False) as counter:
        loss, _ = loss_fn(batch, 0)
        loss.backward()
    return counter.get_total_flops() / batch.shape[0]


def gmm_init_timing(model, X, y, n_init, seed):
    """Time the prior initialisation from n_init embeddings and from all of them (paper Table 4)."""
    embeddings = model.transform(X)
    rows = {}
    for name, size in (("mini-batch", min(n_init, len(X))), ("all samples", len(X))):
        subset = np.random.RandomState(seed).choice(len(X), size=size, replace=False)
        started = time.perf_counter()
        _, _, mixture = fit_mixture_prior(embeddings[subset], model.n_clusters, seed, seed)
        rows[name] = {"samples": int(size), "seconds": time.perf_counter() - started,
                      "acc_of_init": clustering_accuracy(y, mixture.predict(embeddings))}
    return rows


UCR_VECTOR_SETS = ("Plane", "CBF", "FaceAll")


def load_set(name, data_dir):
    """(X, y, parameters beyond n_clusters) of one named benchmark set."""
    if name == "digits":
        X, y = load_digits_data()
        return X, y, {"reconstruction": "bernoulli"}
    if name in ("wine", "breast_cancer", "iris"):
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return StandardScaler().fit_transform(X), y, {}
    train, test = (np.loadtxt(pathlib.Path(data_dir) / "ucr" / name / f"{name}_{part}.tsv", delimiter="\t")
                   for part in ("TRAIN", "TEST"))
    merged = np.vstack([train, test])
    return StandardScaler().fit_transform(merged[:, 1:]), np.unique(merged[:, 0], return_inverse=True)[1], {}


def compare_on_set(name, X, y, params, seed, n_jobs, baselines=("kmeans", "gmm", "spectral"), overrides=None):
    """One seed on one set: S3VDC (ACC at initialisation and at the end) and the three baselines."""
    k = len(np.unique(y))
    row = {"set": name, "seed": seed}
    started = time.perf_counter()
    model = S3VDCClustering(k, **{**params, **(overrides or {})}, n_jobs=n_jobs, random_state=seed).fit(X)
    row["s3vdc_seconds"] = time.perf_counter() - started
    row["s3vdc_init"] = clustering_accuracy(y, model.initial_labels_)
    row["s3vdc"] = clustering_accuracy(y, model.labels_)
    row["s3vdc_nmi"] = normalized_mutual_info_score(y, model.labels_)
    row["nonfinite_steps"] = sum(entry.get("nonfinite_steps", 0) for entry in model.history_)
    row["empty_components"] = int(np.sum(np.bincount(model.labels_, minlength=k) == 0))
    row["reseeded"] = sum(len(entry["components"]) for entry in model.history_ if entry.get("event") == "reseeded")
    models = {
        "kmeans": KMeans(k, n_init=10, random_state=seed),
        "gmm": GaussianMixture(k, covariance_type="diag", random_state=seed),
        "spectral": SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=10, random_state=seed,
                                       n_jobs=n_jobs),
    }
    for key in baselines:
        row[key] = clustering_accuracy(y, models[key].fit_predict(X))
    return row


def mnist_benchmark(args):
    """The MNIST recipe (MNIST_PARAMS) beside KMeans and GaussianMixture, ACC at initialisation and end."""
    X, y = load_mnist(args.data_dir)
    params = {key: value for key, value in MNIST_PARAMS.items() if key != "n_clusters"}
    if args.paper_schedule:
        params.update(MNIST_PAPER_SCHEDULE)
    seeds = f"{args.first_seed}-{args.first_seed + args.seeds - 1}"
    print(f"# S3VDC on MNIST {X.shape}, seeds {seeds}, n_jobs={args.n_jobs}\nmachine: {machine_description()}\n"
          f"parameters: {params}", flush=True)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rows.append(compare_on_set("mnist", X, y, params, seed, args.n_jobs, baselines=("kmeans", "gmm")))
        print("  " + " ".join(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                              for key, value in rows[-1].items()), flush=True)
    cells = [f"{np.mean([r[c] for r in rows]):.3f} +- {np.std([r[c] for r in rows]):.3f}"
             for c in ("s3vdc_init", "s3vdc", "kmeans", "gmm")]
    print("\n| MNIST 70,000 | S3VDC at init | S3VDC | KMeans | GaussianMixture | S3VDC s a fit |\n"
          "| --- | --- | --- | --- | --- | --- |\n"
          f"| {len(rows)} seed(s) | " + " | ".join(cells) + f" | {np.mean([r['s3vdc_seconds'] for r in rows]):.0f} |")
    return {"mode": "mnist", "machine": machine_description(), "n_jobs": args.n_jobs, "params": params, "rows": rows}


def sets_benchmark(args):
    """Defaults on many sets, each beside KMeans, GaussianMixture and spectral clustering."""
    names = args.sets or ["digits", "wine", "breast_cancer", "iris", *UCR_VECTOR_SETS]
    seeds = f"{args.first_seed}-{args.first_seed + args.seeds - 1}"
    print(f"# S3VDC defaults on {len(names)} sets, seeds {seeds}, n_jobs={args.n_jobs}\n"
          f"machine: {machine_description()}", flush=True)
    rows = []
    for name in names:
        X, y, params = load_set(name, args.data_dir)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            overrides = {"init_partition": args.init_partition} if args.init_partition else None
            rows.append(compare_on_set(name, X, y, params, seed, args.n_jobs, overrides=overrides))
            print("  " + " ".join(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                                  for key, value in rows[-1].items()), flush=True)
    columns = ("s3vdc_init", "s3vdc", "kmeans", "gmm", "spectral")
    print("\n| set | n x d | S3VDC at init | S3VDC | KMeans | GaussianMixture | Spectral (10-NN) | S3VDC s a fit |"
          "\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        mine = [row for row in rows if row["set"] == name]
        shape = "x".join(map(str, load_set(name, args.data_dir)[0].shape))
        cells = [f"{np.mean([r[c] for r in mine]):.3f} +- {np.std([r[c] for r in mine]):.3f}" for c in columns]
        print(f"| {name} | {shape} | " + " | ".join(cells) + f" | {np.mean([r['s3vdc_seconds'] for r in mine]):.0f} |")
    print(f"\nnon-finite steps: {sum(r['nonfinite_steps'] for r in rows)}; fits ending with an empty component: "
          f"{sum(r['empty_components'] > 0 for r in rows)} of {len(rows)}; components re-seeded during fits: "
          f"{sum(r['reseeded'] for r in rows)}")
    return {"mode": "sets", "machine": machine_description(), "n_jobs": args.n_jobs,
            "init_partition": args.init_partition or "default", "rows": rows}


def run_comparison(X, y, params, seeds, device, verbose):
    results = {"S3VDCClustering": [], "KMeans": [], "GaussianMixture": []}
    extra = {"nonfinite_steps": 0, "train_seconds": 0.0, "train_samples": 0}
    model = None
    for seed in seeds:
        rows, model = compare_models(X, y, params, seed=seed, device=device, verbose=verbose)
        for row in rows:
            name = row.pop("model")
            results[name].append({"seed": seed, **row})
            print(f"  {name:<16} seed {seed}: " + " ".join(f"{k}={v:.4f}" for k, v in row.items()), flush=True)
        epochs = [entry for entry in model.history_ if entry["phase"] != "gmm_init"]
        extra["nonfinite_steps"] += sum(entry["nonfinite_steps"] for entry in epochs)
        extra["train_seconds"] += sum(entry["seconds"] for entry in epochs)
        extra["train_samples"] += sum(entry["steps"] for entry in epochs) * model.batch_size
    return results, extra, model


def summary_table(results):
    lines = ["| model | ACC | NMI | ARI | fit seconds |", "| --- | --- | --- | --- | --- |"]
    for name, rows in results.items():
        cells = [f"{np.mean([r[k] for r in rows]):.3f} +- {np.std([r[k] for r in rows]):.3f}"
                 for k in ("acc", "nmi", "ari")]
        seconds = [r["fit_seconds"] for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(seconds):.1f} +- {np.std(seconds):.1f} |")
    return "\n".join(lines)


def load_mnist(data_dir):
    path = pathlib.Path(data_dir) / "mnist.npz"
    if not path.exists():
        sys.exit(f"{path} not found: run python shared/data/fetch_mnist.py {data_dir} first")
    data = np.load(path)
    X = np.vstack([data["X_train"], data["X_test"]]).astype(np.float32) / 255.0
    return X, np.concatenate([data["y_train"], data["y_test"]])


def benchmark(args):
    device = resolve_device(args.device)
    if args.dataset == "digits":
        X, y = load_digits_data()
        params = dict(DIGITS_PARAMS)
    else:
        X, y = load_mnist(args.data_dir)
        params = {**MNIST_PARAMS, **(MNIST_PAPER_SCHEDULE if args.paper_schedule else {})}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    print(f"# S3VDC benchmark: {args.dataset} {X.shape}, seeds {seeds}\nmachine: {machine_description()}\n"
          f"parameters: {params}", flush=True)
    peak = peak_matmul_flops(device)
    results, extra, model = run_comparison(X, y, params, seeds, str(device), args.verbose)
    flops_per_sample = training_flops_per_sample(model, X)
    throughput = extra["train_samples"] / extra["train_seconds"]
    init = gmm_init_timing(model, X, y, params.get("gmm_init_samples", 25600), seed=0)
    report = {
        "dataset": args.dataset, "shape": list(X.shape), "machine": machine_description(), "params": params,
        "results": results, "nonfinite_steps": extra["nonfinite_steps"],
        "throughput_samples_per_s": throughput, "training_flops_per_sample": flops_per_sample,
        "achieved_flops": throughput * flops_per_sample, "peak_matmul_flops": peak, "gmm_init": init,
    }
    print("\n" + summary_table(results))
    print(f"\nnon-finite training losses: {extra['nonfinite_steps']} over {len(seeds)} fits")
    print(f"training throughput: {throughput:,.0f} samples/s x {flops_per_sample / 1e6:.1f} MFLOP/sample = "
          f"{report['achieved_flops'] / 1e9:.1f} GFLOP/s; peak dense matmul {peak / 1e9:.1f} GFLOP/s "
          f"({100 * report['achieved_flops'] / peak:.0f} % of peak)")
    print("\n| GMM initialisation | samples | seconds | ACC of the initial mixture |\n| --- | --- | --- | --- |")
    for name, row in init.items():
        print(f"| {name} | {row['samples']} | {row['seconds']:.2f} | {row['acc_of_init']:.3f} |")
    return report


def nan_check(args):
    """Fit the digits configuration with many seeds; count non-finite losses and collapsed components."""
    X, y = load_digits_data()
    total, accuracies, initial, collapsed, reseeded = 0, [], [], 0, 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        model = S3VDCClustering(**DIGITS_PARAMS, device=args.device, n_jobs=args.n_jobs, random_state=seed).fit(X)
        skipped = sum(entry.get("nonfinite_steps", 0) for entry in model.history_)
        finite = all(np.isfinite(entry["loss"]) for entry in model.history_ if "loss" in entry)
        total += skipped + (0 if finite else 1)
        empty = int(np.sum(np.bincount(model.labels_, minlength=model.n_clusters) == 0))
        collapsed += empty > 0
        reseeded += sum(len(entry["components"]) for entry in model.history_ if entry.get("event") == "reseeded")
        accuracies.append(clustering_accuracy(y, model.labels_))
        initial.append(clustering_accuracy(y, model.initial_labels_))
        print(f"  seed {seed}: non-finite steps {skipped}, empty clusters {empty}, ACC at init {initial[-1]:.3f}, "
              f"ACC {accuracies[-1]:.3f}", flush=True)
    print(f"\nnon-finite losses over {args.seeds} seeds: {total}; fits ending with an empty cluster: {collapsed}; "
          f"components re-seeded: {reseeded}; ACC at init {np.mean(initial):.3f} +- {np.std(initial):.3f}; "
          f"ACC {np.mean(accuracies):.3f} +- {np.std(accuracies):.3f} (min {np.min(accuracies):.3f})")
    return {"dataset": "digits", "seeds": args.seeds, "first_seed": args.first_seed, "nonfinite": total,
            "collapsed": collapsed, "reseeded": reseeded, "acc": accuracies, "acc_init": initial,
            "machine": machine_description()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=("digits", "mnist", "nan-check", "sets"))
    parser.add_argument("--tag", default="", help="suffix of the JSON file name")
    parser.add_argument("--sets", nargs="*", help="sets: which (default: all seven)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="threads of every fit (default: all cores)")
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first seed (to add seeds to an earlier run, in another process)")
    parser.add_argument("--data-dir", default=os.environ.get("SKDEEPCLUSTER_DATA", "/tmp/skdeepcluster-data"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--paper-schedule", action="store_true", help="MNIST: the paper's full Table 2 schedule")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--init-partition", choices=("spectral", "kmeans", "umap"), default=None,
                        help="sets: this init_partition instead of the default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runners = {"nan-check": nan_check, "sets": sets_benchmark, "mnist": mnist_benchmark}
    report = runners.get(args.dataset, benchmark)(args)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-paper" if getattr(args, "paper_schedule", False) else ""
    device = "cuda" if "no GPU" not in report["machine"] else "cpu"
    out = RESULTS / f"s3vdc-{args.dataset}{suffix}{args.tag}-{device}.json"
    out.write_text(json.dumps(report, indent=1, default=float))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
