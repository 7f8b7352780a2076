"""Scaling out on Dask on this machine: block-wise inference and a distributed grid search.

Three parts, written to ``benchmarks/results/dask-cpu.json`` (and ``.log``):

``inference``: an S3VDCClustering with the digits configuration (VaDE's 500-500-2000 MLP, 64
features) predicts an ``N x 64`` float32 Dask array created lazily by ``da.random`` in
blocks of 10,000 rows, with :func:`skdeepcluster.distributed.map_blocks_inference` on
LocalClusters of 1 and of 2 worker processes (1 thread each, ``MALLOC_TRIM_THRESHOLD_`` unset as
doc/scaling.rst recommends); samples/s next to ``predict``
on one in-memory block in this process with one torch thread.

``larger-than-memory``: an 8 GB float32 array (1,024 features, blocks of 20 MB) predicted by a
small S3VDC on 2 worker processes whose memory is limited to 700 MB each (spilling and pausing
off, so the nanny kills a worker above 95 % of it): wall time, GB/s and each worker's peak
memory. Only the labels come back.

``grid-search``: GridSearchCV over ``n_clusters`` in {8, 10, 12} x ``warmup_epochs`` in {3, 6}
(6 trials on one train/test split) of S3VDC on the digits, ``n_jobs=1`` in this process
against ``n_jobs=-1`` in ``joblib.parallel_config(backend="dask")`` on 2 worker processes, with
``MALLOC_TRIM_THRESHOLD_`` unset (recommended) and with Dask's default 65536.

Each timing is the shortest of ``--repeats`` runs (2 by default), and the load average at the
start and end is recorded: on a shared machine other jobs slow some runs down.

    python benchmarks/bench_dask.py                 # all three parts, about 10 minutes on 2 idle cores
    python benchmarks/bench_dask.py --parts inference --rows 100000

Needs ``pip install skdeepcluster[distributed]``.
"""

import argparse
import functools
import json
import os
import pathlib
import time
import warnings

import dask
import dask.array as da
import joblib
import numpy as np
import torch
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from skdeepcluster import S3VDCClustering
from skdeepcluster._demo import DIGITS_PARAMS, load_digits_data
from skdeepcluster.distributed import map_blocks_inference

# isort: split
# benchmarks/ itself, on sys.path when the script runs as python benchmarks/bench_dask.py.
from _common import machine_description

RESULTS = pathlib.Path(__file__).parent / "results"
PARTS = ("inference", "larger-than-memory", "grid-search")

# Short schedules: the fits only produce models to time (inference) or trials of a search.
# n_score_samples=8: the search scores with S3VDC's own score (importance-sampled ln p(x)), whose
# default 64 draws through the 2000-wide decoder would cost more than the short fits.
DIGITS_QUICK = {**DIGITS_PARAMS, "warmup_epochs": 3, "anneal_epochs": 1, "static_epochs": 1, "n_periods": 1,
                "n_score_samples": 8, "device": "cpu", "random_state": 0}
GRID = {"n_clusters": [8, 10, 12], "warmup_epochs": [3, 6]}
WORKER_MEMORY_LIMIT = 700e6
MEMORY_CONFIG = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                 "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": 0.95}


def _cluster(n_workers, dask_malloc_trim=False, **kwargs):
    """A LocalCluster of single-threaded worker processes and its client, torch imported in every worker.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off glibc's
    adaptive mmap threshold, so that every tensor above 128 KiB is mapped and unmapped anew:
    torch training runs ~1.4x slower. Unless ``dask_malloc_trim``, the variable is left unset, as
    doc/scaling.rst recommends. The nanny also copies the variable into this process's
    ``os.environ``, from where the next cluster would inherit it, hence the ``pop``.
    """
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    trim = {} if dask_malloc_trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with dask.config.set(trim):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               **kwargs)
    client = Client(cluster, set_as_default=False)
    client.run(__import__, "skdeepcluster")  # torch's import, once per worker, outside the timings
    return cluster, client


def _peak_memory(dask_worker):
    return max(dask_worker.monitor.range_query(start=0)["memory"])


def _best_seconds(run, repeats):
    """The shortest of ``repeats`` timings of ``run()`` (and its last result): the least disturbed by other jobs."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def inference(n_rows, repeats, block_rows=10_000):
    X, _ = load_digits_data()
    model = S3VDCClustering(**DIGITS_QUICK).fit(X).set_params(batch_size=block_rows)
    X_lazy = da.random.default_rng(0).random((n_rows, X.shape[1]), dtype=np.float32, chunks=(block_rows, 64))
    block = X_lazy[:block_rows].compute()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    model.predict(block)  # warm-up
    in_memory = block_rows / _best_seconds(lambda: model.predict(block), repeats)[0]
    torch.set_num_threads(previous)
    rows = [{"setup": "in memory, this process, 1 thread (one block)", "workers": 0, "rows": block_rows,
             "seconds": block_rows / in_memory, "samples_per_s": in_memory}]
    for n_workers in (1, 2):
        cluster, client = _cluster(n_workers)
        try:
            client.compute(map_blocks_inference(model, X_lazy[:block_rows])).result()  # warm-up: model shipped
            seconds, labels = _best_seconds(
                lambda client=client: client.compute(map_blocks_inference(model, X_lazy)).result(), repeats)
        finally:
            client.close()
            cluster.close()
        assert labels.shape == (n_rows,)
        rows.append({"setup": f"map_blocks_inference, {n_workers} worker process(es) x 1 thread",
                     "workers": n_workers, "rows": n_rows, "seconds": seconds, "samples_per_s": n_rows / seconds})
        print(f"  {rows[-1]['setup']}: {rows[-1]['samples_per_s']:,.0f} samples/s", flush=True)
    return {"n_rows": n_rows, "n_features": 64, "block_rows": block_rows, "hidden_dims": [500, 500, 2000],
            "rows": rows}


def larger_than_memory(gigabytes, repeats, n_features=1024, block_bytes=20_000_000):
    block_rows = block_bytes // (4 * n_features)
    n_blocks = int(gigabytes * 1e9 / (block_rows * 4 * n_features))
    X_small = np.random.RandomState(0).random_sample((500, n_features))
    model = S3VDCClustering(n_clusters=2, latent_dim=2, hidden_dims=(8,), warmup_epochs=5, anneal_epochs=2,
                            static_epochs=1, n_periods=1, device="cpu", random_state=0)
    model.fit(X_small).set_params(batch_size=block_rows)
    X_lazy = da.random.default_rng(0).random((n_blocks * block_rows, n_features), dtype=np.float32,
                                             chunks=(block_rows, n_features))
    with dask.config.set(MEMORY_CONFIG):
        # Dask's aggressive trimming here: it keeps the workers' memory low, which is the point.
        cluster, client = _cluster(2, dask_malloc_trim=True, memory_limit=WORKER_MEMORY_LIMIT)
        try:
            seconds, labels = _best_seconds(lambda: client.compute(map_blocks_inference(model, X_lazy)).result(),
                                            repeats)
            peaks = sorted(client.run(_peak_memory).values())
        finally:
            client.close()
            cluster.close()
    result = {"array_bytes": int(X_lazy.nbytes), "shape": list(X_lazy.shape), "blocks": n_blocks,
              "block_bytes": int(block_rows * 4 * n_features), "worker_memory_limit": WORKER_MEMORY_LIMIT,
              "workers": 2, "seconds": seconds, "gb_per_s": X_lazy.nbytes / 1e9 / seconds,
              "samples_per_s": X_lazy.shape[0] / seconds, "peak_worker_memory": peaks,
              "labels_bytes": int(labels.nbytes)}
    print(f"  {X_lazy.nbytes / 1e9:.1f} GB in {seconds:.1f} s, peak worker memory "
          f"{max(peaks) / 1e6:.0f} MB of {WORKER_MEMORY_LIMIT / 1e6:.0f} MB", flush=True)
    return result


def grid_search(repeats):
    X, _ = load_digits_data()
    train, test = train_test_split(np.arange(len(X)), test_size=0.25, random_state=0)
    rows = []
    results = {}
    setups = ("n_jobs=1, this process", "Dask backend, 2 worker processes x 1 thread",
              "Dask backend, 2 worker processes x 1 thread, Dask's MALLOC_TRIM_THRESHOLD_=65536")
    for setup in setups:
        search = GridSearchCV(S3VDCClustering(**DIGITS_QUICK), GRID, cv=[(train, test)], refit=False,
                              error_score="raise", n_jobs=1 if setup.startswith("n_jobs") else -1)
        if setup.startswith("n_jobs"):
            seconds = _best_seconds(functools.partial(search.fit, X), repeats)[0]
        else:
            cluster, client = _cluster(2, dask_malloc_trim="MALLOC" in setup)
            try:
                with joblib.parallel_config(backend="dask", client=client):
                    seconds = _best_seconds(functools.partial(search.fit, X), repeats)[0]
            finally:
                client.close()
                cluster.close()
        results[setup] = search
        rows.append({"setup": setup, "trials": len(search.cv_results_["params"]), "seconds": seconds,
                     "best_params": search.best_params_,
                     "mean_fit_seconds": float(np.mean(search.cv_results_["mean_fit_time"]))})
        print(f"  {setup}: {seconds:.1f} s", flush=True)
    local, *remotes = results.values()
    same = all(local.best_params_ == remote.best_params_
               and np.allclose(local.cv_results_["mean_test_score"], remote.cv_results_["mean_test_score"], rtol=1e-10)
               for remote in remotes)
    return {"grid": GRID, "params": {k: v for k, v in DIGITS_QUICK.items() if k not in GRID}, "rows": rows,
            "same_results": same}


def markdown(report):
    lines = []
    if "inference" in report:
        part = report["inference"]
        lines += [f"\nInference: S3VDC predict on {part['n_rows']:,} x {part['n_features']} float32 "
                  f"(VaDE MLP), blocks of {part['block_rows']:,} rows\n",
                  "| setup | rows | seconds | samples/s |", "| --- | --- | --- | --- |"]
        lines += [f"| {r['setup']} | {r['rows']:,} | {r['seconds']:.1f} | {r['samples_per_s']:,.0f} |"
                  for r in part["rows"]]
    if "larger-than-memory" in report:
        r = report["larger-than-memory"]
        lines += ["\nLarger than memory: predict on 2 worker processes limited to "
                  f"{r['worker_memory_limit'] / 1e6:.0f} MB each\n",
                  "| array | blocks | seconds | GB/s | samples/s | peak worker memory | labels returned |",
                  "| --- | --- | --- | --- | --- | --- | --- |",
                  f"| {r['array_bytes'] / 1e9:.1f} GB {tuple(r['shape'])} | {r['blocks']} x "
                  f"{r['block_bytes'] / 1e6:.0f} MB | {r['seconds']:.1f} | {r['gb_per_s']:.2f} | "
                  f"{r['samples_per_s']:,.0f} | {max(r['peak_worker_memory']) / 1e6:.0f} MB | "
                  f"{r['labels_bytes'] / 1e6:.1f} MB |"]
    if "grid-search" in report:
        part = report["grid-search"]
        lines += [f"\nGridSearchCV on digits: {part['grid']} (one split), same results: {part['same_results']}\n",
                  "| setup | trials | wall seconds | mean fit seconds | best |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['setup']} | {r['trials']} | {r['seconds']:.1f} | {r['mean_fit_seconds']:.1f} | "
                  f"{r['best_params']} |" for r in part["rows"]]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the inference part")
    parser.add_argument("--gigabytes", type=float, default=8.0, help="size of the larger-than-memory array")
    parser.add_argument("--repeats", type=int, default=2,
                        help="timings of each measurement; the shortest is kept (the machine may be shared)")
    args = parser.parse_args()
    # The short schedules do not converge, on purpose; scikit-learn carries this filter to the trials.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    # The one copy of the 21 MB model in the inference graph; expected (see doc/scaling.rst).
    warnings.filterwarnings("ignore", message="Sending large graph")
    load = os.getloadavg()[0]
    report = {"machine": machine_description(), "load_average_at_start": load, "repeats": args.repeats}
    print(f"# Dask benchmark\nmachine: {report['machine']}\nload average at start: {load:.1f}", flush=True)
    if "inference" in args.parts:
        report["inference"] = inference(args.rows, args.repeats)
    if "larger-than-memory" in args.parts:
        report["larger-than-memory"] = larger_than_memory(args.gigabytes, args.repeats)
    if "grid-search" in args.parts:
        report["grid-search"] = grid_search(args.repeats)
    report["load_average_at_end"] = os.getloadavg()[0]
    table = markdown(report)
    print(table + f"\n\nload average at end: {report['load_average_at_end']:.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dask-cpu.json").write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
