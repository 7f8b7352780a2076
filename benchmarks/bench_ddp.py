"""Data-parallel training on the CPU, and what a 10-million-sample S3VDC fit takes.

Two parts, both written to ``benchmarks/results/ddp-cpu.json`` (and ``.log``):

``speedup``: the same epochs of S3VDC (VaDE's 500-500-2000 MLP on 20,000 x 784 synthetic
MNIST-like images) and of LoSTer (its default network on 2,000 series of 1,024 timestamps)
fitted by 1 process with 1 thread, by 2 processes with 1 thread each under
``torchrun --nproc_per_node=2`` (gloo), and by 1 process training on 2 threads
(``n_jobs=2``): seconds per epoch, fit seconds, speed-up and ARI/ACC. Every configuration runs
in a fresh process.

``paper-scale``: S3VDC with the same MLP on a 1,000,000 x 60 float32 synthetic tabular set
(a stand-in for the paper's King10M, 9.7 M players) stored as an ``np.memmap`` in /tmp and
deleted afterwards: seconds per training step at batch 128 and 1024 with the library's own
training loop (a few hundred steps each), the mini-batch GMM initialisation on 25,600
samples, inference throughput and peak memory, then the extrapolation to 10 M samples.

    python benchmarks/bench_ddp.py              # both parts, about 10 minutes on 2 cores
    python benchmarks/bench_ddp.py speedup
    python benchmarks/bench_ddp.py paper-scale --rows 1000000
"""

import argparse
import json
import math
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import LoSTerClustering, S3VDCClustering
from skdeepcluster._base import FitRun
from skdeepcluster._engine import SINGLE_PROCESS, BatchStream, TrainingLoop, map_batches
from skdeepcluster.metrics import clustering_accuracy
from skdeepcluster.s3vdc import _losses as s3vdc_losses
from skdeepcluster.s3vdc import _training
from skdeepcluster.s3vdc._model import build_network

# isort: split
# benchmarks/ itself, on sys.path when the script runs as python benchmarks/bench_ddp.py.
from _common import machine_description

RESULTS = pathlib.Path(__file__).parent / "results"
SCRIPT = pathlib.Path(__file__).resolve()

# Few epochs of the paper's settings: what matters here is the time per epoch.
S3VDC_PARAMS = dict(n_clusters=10, latent_dim=10, hidden_dims=(500, 500, 2000), reconstruction="bernoulli",
                    warmup_epochs=3, anneal_epochs=1, static_epochs=1, n_periods=1, batch_size=128,
                    gmm_init_samples=25600, device="cpu", random_state=0)
LOSTER_PARAMS = dict(n_clusters=4, pretrain_epochs=6, max_epochs=6, tol=0.0, batch_size=128, device="cpu",
                     random_state=0)
# The S3VDC paper's step budget (Table 2): 100,000 warm-up steps, then 10 periods of 9,000 + 1,000.
PAPER_STEPS = 100_000 + 10 * (9_000 + 1_000)
DEFAULT_EPOCHS = 30 + 4 * (10 + 2)  # S3VDCClustering's default schedule


# ---- data ----------------------------------------------------------------------------------------


def mnist_like(n_samples=20_000, n_features=784, n_clusters=10, seed=0):
    """Images in [0, 1] from 10 clusters of a 16-dimensional latent space through a random sigmoid layer."""
    rng = np.random.RandomState(seed)
    y = rng.randint(n_clusters, size=n_samples)
    centers = rng.normal(0, 1.5, (n_clusters, 16))
    z = centers[y] + rng.standard_normal((n_samples, 16))
    weights = rng.standard_normal((16, n_features)) / 2.0
    X = 1.0 / (1.0 + np.exp(-(z @ weights)))
    return X.astype(np.float32), y


def long_series(n_series=2_000, n_timestamps=1_024, seed=0):
    """Noisy sines of 4 frequencies (the cluster) with random phases and amplitudes."""
    rng = np.random.RandomState(seed)
    y = np.arange(n_series) % 4
    t = np.linspace(0, 1, n_timestamps)
    X = rng.uniform(0.5, 2, (n_series, 1)) * np.sin(2 * np.pi * (3 * 2 ** y[:, None]) * t
                                                   + rng.uniform(0, 0.5, (n_series, 1)))
    return (X + 0.3 * rng.standard_normal(X.shape)).astype(np.float32), y


def tabular_memmap(path, n_rows, n_features=60, n_clusters=10, seed=0, chunk=100_000):
    """A standardised mixture of ``n_clusters`` Gaussians written chunk by chunk to a float32 memmap."""
    rng = np.random.RandomState(seed)
    centers = rng.normal(0, 1.0, (n_clusters, n_features))
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, n_features))
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        y = rng.randint(n_clusters, size=stop - start)
        X[start:stop] = (centers[y] + rng.standard_normal((stop - start, n_features))) / math.sqrt(2.0)
    X.flush()
    del X
    return np.load(path, mmap_mode="r")


# ---- part 1: the speed-up, one configuration per process -------------------------------------


def worker(estimator, out):
    """Fit one estimator (data-parallel under torchrun) and, on rank 0, write its timings."""
    rank = int(os.environ.get("RANK", 0))
    # fit trains on n_jobs threads (default 1), whatever torch's setting.
    threads = torch.get_num_threads()
    if estimator == "s3vdc":
        X, y = mnist_like()
        model = S3VDCClustering(**S3VDC_PARAMS, n_jobs=threads)
    else:
        X, y = long_series()
        model = LoSTerClustering(**LOSTER_PARAMS, n_jobs=threads)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(X)
    fit_seconds = time.perf_counter() - started
    # CPU seconds of this process (all its threads, gloo's included): unlike wall time, they do not
    # grow when other work shares the cores. Data-parallel: the busiest rank's.
    cpu_seconds = time.process_time() - cpu_started
    if torch.distributed.is_initialized():
        busiest = torch.tensor([cpu_seconds], dtype=torch.float64)
        torch.distributed.all_reduce(busiest, op=torch.distributed.ReduceOp.MAX)
        cpu_seconds = float(busiest.item())
    epochs = [entry for entry in model.history_ if entry.get("steps")]
    steps_per_epoch = math.ceil(X.shape[0] / model.batch_size) if estimator == "s3vdc" else X.shape[0] // 128
    seconds_per_step = sum(entry["seconds"] for entry in epochs) / sum(entry["steps"] for entry in epochs)
    init = [entry["seconds"] for entry in model.history_ if entry["phase"] in ("gmm_init", "init")]
    allreduce_ms = None
    if torch.distributed.is_initialized():  # the cost of one step's gradient all-reduce, alone
        buffer = torch.zeros(sum(p.numel() for p in model.module_.parameters()), dtype=torch.float32)
        torch.distributed.all_reduce(buffer)
        torch.distributed.barrier()
        started = time.perf_counter()
        for _ in range(20):
            torch.distributed.all_reduce(buffer)
        allreduce_ms = (time.perf_counter() - started) / 20 * 1e3
    if rank == 0:
        pathlib.Path(out).write_text(json.dumps({
            "allreduce_ms": allreduce_ms, "parameters": sum(p.numel() for p in model.module_.parameters()),
            "fit_seconds": fit_seconds, "fit_cpu_seconds": cpu_seconds,
            "train_seconds_per_epoch": seconds_per_step * steps_per_epoch,
            "steps": int(sum(entry["steps"] for entry in epochs)), "init_seconds": sum(init),
            "ari": adjusted_rand_score(y, model.labels_), "acc": clustering_accuracy(y, model.labels_),
            "threads": torch.get_num_threads(), "world_size": int(os.environ.get("WORLD_SIZE", 1))}))


def run_configuration(estimator, processes, threads):
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder, "result.json")
        env = {name: value for name, value in os.environ.items()
               if name not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
        env.update(OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
        launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                    if processes > 1 else [sys.executable])
        command = [*launcher, str(SCRIPT), "_worker", estimator, str(out), "--threads", str(threads)]
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
        if completed.returncode:
            raise RuntimeError(completed.stdout[-2000:] + completed.stderr[-4000:])
        result = json.loads(out.read_text())
    result.update(processes=processes, wall_seconds=time.perf_counter() - started)
    return result


def speedup(log):
    configurations = [(1, 1), (2, 1), (1, 2)]
    results = {}
    for estimator, label, params in (("s3vdc", "S3VDC, 20,000 x 784, MLP 500-500-2000, batch 128", S3VDC_PARAMS),
                                     ("loster", "LoSTer, 2,000 x 1,024 series, default network, batch 128",
                                      LOSTER_PARAMS)):
        log(f"\n### {label}\n\nparameters: {params}\n")
        rows = []
        for processes, threads in configurations:
            load = os.getloadavg()[0]
            result = run_configuration(estimator, processes, threads)
            result["load_before"] = load
            rows.append(result)
        base, base_cpu = rows[0]["train_seconds_per_epoch"], rows[0]["fit_cpu_seconds"]
        log("| processes x threads | train s/epoch | speed-up | init s | fit s | fit CPU s (busiest process) | "
            "CPU speed-up | ARI | ACC | load avg | all-reduce of the gradients |")
        log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            row["speedup"] = base / row["train_seconds_per_epoch"]
            row["cpu_speedup"] = base_cpu / row["fit_cpu_seconds"]
            log(f"| {row['processes']} x {row['threads']} | {row['train_seconds_per_epoch']:.2f} | "
                f"{row['speedup']:.2f} | {row['init_seconds']:.1f} | {row['fit_seconds']:.1f} | "
                f"{row['fit_cpu_seconds']:.1f} | {row['cpu_speedup']:.2f} | {row['ari']:.3f} | "
                f"{row['acc']:.3f} | {row['load_before']:.1f} | "
                + (f"{row['allreduce_ms']:.1f} ms for {row['parameters']:,} floats |" if row["allreduce_ms"] else "|"))
        results[estimator] = {"parameters": params, "runs": rows}
    return results


# ---- part 2: paper scale -----------------------------------------------------------------------


def _rss_mib():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024


def _time_steps(model, X, batch_size, n_steps, warmup_steps=20):
    """Seconds per clustering-phase step of the estimator's own loss and loop, data from the memmap."""
    module = build_network("mlp", X.shape[1], model.latent_dim, model.n_clusters, model.hidden_dims, None, "elu")
    rng = np.random.RandomState(0)
    module.set_prior(np.full(model.n_clusters, 1 / model.n_clusters), rng.standard_normal((model.n_clusters, 10)),
                     np.ones((model.n_clusters, 10)))
    stream = BatchStream(X, batch_size, rng, torch.device("cpu"))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    schedule = type("Static", (), {"warmup_steps": 0, "beta": staticmethod(lambda step: 1.0)})()
    loop = TrainingLoop(module, optimizer, stream, lambda step: 1e-4, warmup_steps + n_steps)
    loss_fn = _training.clustering_loss(model, module, schedule)
    loop.run(warmup_steps, loss_fn, phase="warmup")
    started = time.perf_counter()
    loop.run(n_steps, loss_fn, phase="clustering")
    per_step = (time.perf_counter() - started) / n_steps
    started = time.perf_counter()
    for _ in range(n_steps):
        stream.next_batch()
    return per_step, (time.perf_counter() - started) / n_steps, module


def paper_scale_worker(n_rows, out, max_threads):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="skdc-ddp-bench-", dir="/tmp"))
    try:
        rss_start = _rss_mib()
        started = time.perf_counter()
        X = tabular_memmap(folder / "king-like.npy", n_rows)
        write_seconds = time.perf_counter() - started
        model = S3VDCClustering(n_clusters=10, latent_dim=10, hidden_dims=(500, 500, 2000), batch_size=128,
                                gmm_init_samples=25600, device="cpu", random_state=0)
        steps = []
        for threads in sorted({1, max_threads}):
            torch.set_num_threads(threads)
            for batch_size, n_steps in ((128, 400), (1024, 100)):
                per_step, load_per_step, module = _time_steps(model, X, batch_size, n_steps)
                steps.append({"batch_size": batch_size, "threads": threads, "steps_timed": n_steps,
                              "seconds_per_step": per_step, "batch_read_seconds": load_per_step,
                              "samples_per_second": batch_size / per_step, "load": os.getloadavg()[0]})
        # The library's mini-batch GMM initialisation (encode 25,600 rows, KMeans n_init=10, diagonal GMM)
        # and the labels_ pass, on one thread as fit runs them (its training block pins one CPU thread).
        torch.set_num_threads(1)
        history = []
        started = time.perf_counter()
        run = FitRun(network=module, X=X, rng=np.random.RandomState(0), device=torch.device("cpu"), history=history,
                     group=SINGLE_PROCESS, weights=None)
        _training.initialize_clusters(model, run)
        gmm_seconds = time.perf_counter() - started
        # labels_ at the end of fit: float64 posterior of every row, batch by batch.
        inference = module.double().eval()
        rows = min(100_000, n_rows)
        started = time.perf_counter()
        map_batches(lambda batch: s3vdc_losses.posterior_responsibilities(
            inference.encode(batch)[0], inference.log_weights, inference.means, inference.log_vars),
            X[:rows], 128, torch.device("cpu"))
        inference_rows_per_second = rows / (time.perf_counter() - started)
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with open("/proc/self/status") as handle:
            status = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in handle if line.startswith("Rss")}
        pathlib.Path(out).write_text(json.dumps({
            "rows": n_rows, "features": X.shape[1], "memmap_mib": X.nbytes / 2**20, "write_seconds": write_seconds,
            "parameters": sum(p.numel() for p in module.parameters()), "steps": steps,
            "gmm_init_seconds": gmm_seconds, "gmm_init_samples": history[0]["samples"],
            "inference_rows_per_second": inference_rows_per_second, "rss_start_mib": rss_start,
            "peak_rss_mib": peak_rss, "rss_anon_end_mib": status.get("RssAnon"),
            "rss_file_end_mib": status.get("RssFile"), "threads": torch.get_num_threads()}, default=float))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def paper_scale(log, n_rows, threads):
    free = shutil.disk_usage("/tmp").free
    needed = n_rows * 60 * 4
    if free < 3 * needed:
        raise SystemExit(f"/tmp has {free / 2**30:.1f} GiB free; the {needed / 2**30:.2f} GiB memmap needs 3x that.")
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder, "result.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
        completed = subprocess.run([sys.executable, str(SCRIPT), "_paper_scale", str(n_rows), str(out),
                                    "--threads", str(threads)], env=env, capture_output=True, text=True)
        if completed.returncode:
            raise RuntimeError(completed.stdout[-2000:] + completed.stderr[-4000:])
        measured = json.loads(out.read_text())
    target = 10_000_000
    log(f"\n### S3VDC paper scale: measured on {n_rows:,} x 60 float32 (np.memmap), {threads} thread(s)\n")
    log(f"MLP 60-500-500-2000-10 and back, {measured['parameters']:,} parameters; memmap "
        f"{measured['memmap_mib']:.0f} MiB written in {measured['write_seconds']:.1f} s; peak RSS "
        f"{measured['peak_rss_mib']:.0f} MiB (after import {measured['rss_start_mib']:.0f} MiB; at the end "
        f"{measured['rss_anon_end_mib']:.0f} MiB anonymous + {measured['rss_file_end_mib']:.0f} MiB file pages).\n")
    log(f"| batch | threads | steps timed | s/step | samples/s | batch read s/step | epoch of {n_rows:,} "
        "(measured rate) | epoch of 10 M (extrapolated) | load avg |")
    log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in measured["steps"]:
        row["seconds_per_epoch_measured_rows"] = math.ceil(n_rows / row["batch_size"]) * row["seconds_per_step"]
        row["seconds_per_epoch_10m"] = math.ceil(target / row["batch_size"]) * row["seconds_per_step"]
        log(f"| {row['batch_size']} | {row['threads']} | {row['steps_timed']} | "
            f"{row['seconds_per_step'] * 1e3:.1f} ms | {row['samples_per_second']:,.0f} | "
            f"{row['batch_read_seconds'] * 1e3:.2f} ms | "
            f"{row['seconds_per_epoch_measured_rows'] / 60:.1f} min | {row['seconds_per_epoch_10m'] / 3600:.2f} h | "
            f"{row['load']:.1f} |")
    # The fastest measured configuration at the paper's batch size.
    best = min((row for row in measured["steps"] if row["batch_size"] == 128), key=lambda r: r["seconds_per_step"])
    per_step_128 = best["seconds_per_step"]
    extrapolated = {"batch128_threads": best["threads"], "seconds_per_epoch_10m": best["seconds_per_epoch_10m"]}
    inference_10m = target / measured["inference_rows_per_second"]
    plan = {
        "default_schedule_epochs": DEFAULT_EPOCHS,
        "default_schedule_hours_10m_batch128": DEFAULT_EPOCHS * best["seconds_per_epoch_10m"] / 3600,
        "paper_step_budget": PAPER_STEPS,
        "paper_step_budget_hours_batch128": PAPER_STEPS * per_step_128 / 3600,
        "paper_step_budget_epochs_of_10m": PAPER_STEPS * 128 / target,
        "labels_inference_minutes_10m": inference_10m / 60,
        "memmap_gib_10m": target * 60 * 4 / 2**30,
        "permutation_mib_10m": target * 8 / 2**20,
        "responsibilities_mib_10m": target * 10 * 8 / 2**20,
        "labels_mib_10m": target * 8 / 2**20,
    }
    log(f"\nGMM initialisation on {measured['gmm_init_samples']:,} samples (encode + KMeans n_init=10 + diagonal "
        f"GMM): {measured['gmm_init_seconds']:.1f} s measured; it does not grow with n_samples.")
    log(f"labels_ (float64 posterior of every row): {measured['inference_rows_per_second']:,.0f} rows/s measured "
        f"-> {plan['labels_inference_minutes_10m']:.1f} min for 10 M rows (extrapolated).\n")
    log("| 10 M samples, this CPU (extrapolated from the measured rates) | value |")
    log("| --- | --- |")
    log(f"| one epoch at batch 128 ({best['threads']} thread(s)) | {best['seconds_per_epoch_10m'] / 3600:.2f} h |")
    log(f"| default schedule ({DEFAULT_EPOCHS} epochs) at batch 128 | "
        f"{plan['default_schedule_hours_10m_batch128']:.0f} h |")
    log(f"| the paper's step budget ({PAPER_STEPS:,} steps of 128 = {plan['paper_step_budget_epochs_of_10m']:.2f} "
        f"epochs) | {plan['paper_step_budget_hours_batch128']:.1f} h |")
    log(f"| memmap on disk / page cache | {plan['memmap_gib_10m']:.2f} GiB |")
    log(f"| batch order (int64 permutation) | {plan['permutation_mib_10m']:.0f} MiB |")
    log(f"| float64 responsibilities for labels_ at the end of fit | {plan['responsibilities_mib_10m']:.0f} MiB |")
    return {"measured": measured, "extrapolated": extrapolated, "plan_10m": plan}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", default="all",
                        choices=("all", "speedup", "paper-scale", "_worker", "_paper_scale"))
    parser.add_argument("arguments", nargs="*")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part == "_worker":
        return worker(*args.arguments)
    if args.part == "_paper_scale":
        return paper_scale_worker(int(args.arguments[0]), args.arguments[1], args.threads or 1)
    lines = []

    def log(line=""):
        print(line, flush=True)
        lines.append(line)

    log("# Data-parallel training (torch.distributed, gloo) and S3VDC at paper scale")
    log(f"machine: {machine_description()}; load average at start {os.getloadavg()[0]:.1f}")
    report = {"machine": machine_description()}
    if args.part in ("all", "speedup"):
        report["speedup"] = speedup(log)
    if args.part in ("all", "paper-scale"):
        report["paper_scale"] = paper_scale(log, args.rows, args.threads or os.cpu_count())
        if "speedup" in report:
            one_thread = [row for row in report["paper_scale"]["measured"]["steps"]
                          if row["batch_size"] == 128 and row["threads"] == 1]
            factor = report["speedup"]["s3vdc"]["runs"][1]["speedup"]
            if one_thread:
                hours = PAPER_STEPS * one_thread[0]["seconds_per_step"] / factor / 3600
                report["paper_scale"]["plan_10m"]["paper_step_budget_hours_2_processes"] = hours
                log(f"| the paper's step budget on 2 data-parallel processes (1-thread rate / measured S3VDC "
                    f"speed-up {factor:.2f}) | {hours:.1f} h |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "ddp-cpu.json"
    out.write_text(json.dumps(report, indent=1, default=float))
    out.with_suffix(".log").write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
