"""Benchmark LoSTerClustering beyond the paper: multivariate and variable-length real series.

The paper is univariate and equal-length only. This script measures the two extensions on
the real datasets that ship inside aeon's wheel (put them on disk with
``python benchmarks/fetch_aeon_datasets.py DEST``):

- BasicMotions: 80 series x 100 steps x 6 channels (accelerometer + gyroscope), 4 classes.
- JapaneseVowels: 640 series x 7-29 steps x 12 channels (LPC cepstra), 9 speakers.
- PickupGestureWiimoteZ: 100 series x 29-361 steps x 1 channel, 10 gestures.

Train and test merged, k = number of classes, every series and channel z-normalised over its
observed steps; LoSTerClustering with its defaults (the paper's budget) and both
``variable_length`` modes on the variable-length sets, against KMeans (n_init=10) on the
flattened series and tslearn's KShape, both on series resampled to one length. Rand index,
NMI, ARI and fit seconds per seed; the table gives means (+- std for LoSTer).

    python benchmarks/bench_loster_extensions.py --data-dir /tmp/skdeepcluster-data/aeon --seeds 5
"""

import argparse
import json
import pathlib
import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, rand_score
from tslearn.clustering import KShape
from tslearn.preprocessing import TimeSeriesResampler

from skdeepcluster import LoSTerClustering
from skdeepcluster.loster._series import observed_lengths, z_normalize

# isort: split
from _common import machine_description

DATASETS = ["BasicMotions", "JapaneseVowels", "PickupGestureWiimoteZ"]
RESULTS = pathlib.Path(__file__).parent / "results"


def read_ts_file(path):
    """Series and labels of one .ts file (sktime/aeon format): NaN-padded (n, T, d) and string labels."""
    series, labels, in_data = [], [], False
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        values = [np.array([float(v) if v not in ("?", "") else np.nan for v in channel.split(",")])
                  for channel in channels]
        length = min(len(v) for v in values)
        series.append(np.stack([v[:length] for v in values], axis=1))
        labels.append(label)
    n_timestamps = max(s.shape[0] for s in series)
    X = np.full((len(series), n_timestamps, series[0].shape[1]), np.nan)
    for row, values in enumerate(series):
        X[row, :len(values)] = values
    return X, np.array(labels)


def load_merged(name, data_dir):
    parts = [read_ts_file(pathlib.Path(data_dir) / name / f"{name}_{split}.ts") for split in ("TRAIN", "TEST")]
    n_timestamps = max(X.shape[1] for X, _ in parts)
    X = np.concatenate([np.pad(X, ((0, 0), (0, n_timestamps - X.shape[1]), (0, 0)), constant_values=np.nan)
                        for X, _ in parts])
    y = np.unique(np.concatenate([labels for _, labels in parts]), return_inverse=True)[1]
    return z_normalize(X), y


def record(y, labels, seconds, seed):
    return {"seed": seed, "ri": rand_score(y, labels), "nmi": normalized_mutual_info_score(y, labels),
            "ari": adjusted_rand_score(y, labels), "seconds": seconds}


def timed(estimator, X):
    started = time.perf_counter()
    labels = estimator.fit_predict(X)
    return labels, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="/tmp/skdeepcluster-data/aeon")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# LoSTer extensions benchmark\nmachine: {machine_description()}", flush=True)
    KShape(n_clusters=2, random_state=0).fit(np.random.RandomState(0).standard_normal((8, 16, 1)))  # numba warm-up
    report = {"machine": machine_description(), "seeds": list(range(args.seeds)), "datasets": {}}
    for name in DATASETS:
        X, y = load_merged(name, args.data_dir)
        lengths = observed_lengths(X)
        k = len(np.unique(y))
        variable = bool((lengths < X.shape[1]).any())
        print(f"\n{name}: {X.shape} (lengths {lengths.min()}-{lengths.max()}), k={k}", flush=True)
        # The baselines need one length: resample (tslearn), then z-normalise again over the full length.
        X_equal = X if not variable else TimeSeriesResampler(sz=X.shape[1]).fit_transform(X)
        X_equal = z_normalize(X_equal)
        methods = {"LoSTer (resample)": lambda seed, k=k: LoSTerClustering(k, random_state=seed, device=args.device)}
        if variable:
            methods["LoSTer (mask)"] = lambda seed, k=k: LoSTerClustering(k, variable_length="mask", random_state=seed,
                                                                          device=args.device)
        runs = {method: [] for method in [*methods, "KMeans", "KShape"]}
        for seed in range(args.seeds):
            for method, make in methods.items():
                runs[method].append(record(y, *timed(make(seed), X), seed))
            runs["KMeans"].append(record(y, *timed(KMeans(k, n_init=10, random_state=seed),
                                                   X_equal.reshape(len(X_equal), -1)), seed))
            runs["KShape"].append(record(y, *timed(KShape(n_clusters=k, random_state=seed), X_equal), seed))
            for method, records in runs.items():
                last = records[-1]
                print(f"  {name} {method:<18} seed {seed}: RI {last['ri']:.4f} NMI {last['nmi']:.4f} "
                      f"ARI {last['ari']:.4f} {last['seconds']:.1f} s", flush=True)
        report["datasets"][name] = {"shape": list(X.shape), "lengths": [int(lengths.min()), int(lengths.max())],
                                    "n_clusters": k, "runs": runs}
    print("\n| dataset | shape (n, T, d) | method | RI | NMI | ARI | fit s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, entry in report["datasets"].items():
        shape = f"{entry['shape'][0]} x {entry['lengths'][0]}-{entry['lengths'][1]} x {entry['shape'][2]}"
        for method, records in entry["runs"].items():
            cells = []
            for key in ("ri", "nmi", "ari", "seconds"):
                values = [r[key] for r in records]
                digits = 1 if key == "seconds" else 3
                cells.append(f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}")
            print(f"| {name} | {shape} | {method} | " + " | ".join(cells) + " |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"loster-extensions-{args.device}.json"
    path.write_text(json.dumps(report, indent=1, default=float))
    print(f"\nmean ± std over seeds 0-{args.seeds - 1}; written to {path}")


if __name__ == "__main__":
    main()
