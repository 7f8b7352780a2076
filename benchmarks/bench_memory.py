"""Peak memory of fit, predict and transform on ``np.memmap`` data of 256 MiB to 4 GiB.

For every data size a float32 memmap of two Gaussian blobs (1024 features: time series of
1024 timestamps for LoSTer) is written to ``--data-dir`` and deleted afterwards. Each
estimator and batch size runs in a fresh process (``tests/_memory_child.py``), which reports
the peak of its resident anonymous memory (``RssAnon``: heap and anonymous mappings, not the
memmap's file-backed pages) above its level before each call, with glibc's default allocator
settings, i.e. what a user's process would see. The models are tiny (a few training steps),
so the numbers are the data pipeline's, not the network's.

    python benchmarks/bench_memory.py                          # 256 MiB .. 4 GiB, ~20 minutes
    python benchmarks/bench_memory.py --sizes 256 512 --batch-sizes 128

Writes ``benchmarks/results/memory-cpu.json`` and ``memory-cpu.log`` (the table).
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import torch

# isort: split
# benchmarks/ itself, on sys.path when the script runs as python benchmarks/bench_memory.py.
from _common import machine_description

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CHILD = ROOT / "tests" / "_memory_child.py"
N_FEATURES = 1024
MIB = 2**20

PARAMS = {
    "S3VDCClustering": dict(n_clusters=2, latent_dim=2, hidden_dims=[8], warmup_epochs=0.05, anneal_epochs=0.02,
                            static_epochs=0.01, n_periods=1, gmm_init_samples=1024, device="cpu", random_state=0),
    "LoSTerClustering": dict(n_clusters=2, latent_dim=8, hidden_dim=16, n_encoder_blocks=2, n_decoder_blocks=2,
                             pretrain_epochs=1, max_epochs=1, n_init=1, device="cpu", random_state=0),
}


def total_memory_gib():
    with open("/proc/meminfo") as handle:
        return int(next(line for line in handle if line.startswith("MemTotal")).split()[1]) / 2**20


def write_blobs(path, n_samples):
    rng = np.random.default_rng(0)
    block_rows = 8192
    block = rng.standard_normal((block_rows, N_FEATURES), dtype=np.float32)
    block += 2 * rng.standard_normal((2, N_FEATURES), dtype=np.float32)[np.arange(block_rows) % 2]
    with open(path, "wb") as handle:
        for start in range(0, n_samples, block_rows):
            block[:min(block_rows, n_samples - start)].tofile(handle)


def run_child(spec):
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    child = subprocess.run([sys.executable, str(CHILD), json.dumps(spec)], env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise RuntimeError(f"{spec['estimator']} child failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def format_table(rows):
    header = ["data", "estimator", "batch", "fit", "predict", "transform", "seconds (fit/predict/transform)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        peaks = [f"{row['peak_mib'][op]:.0f} MiB" if op in row["peak_mib"] else "-"
                 for op in ("fit", "predict", "transform")]
        seconds = "/".join(f"{row['seconds'][op]:.1f}" if op in row["seconds"] else "-"
                           for op in ("fit", "predict", "transform"))
        lines.append(f"| {row['data_mib']:.0f} MiB | {row['estimator']} | {row['batch_size']} | "
                     + " | ".join(peaks) + f" | {seconds} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096],
                        help="data sizes in MiB (float32, 1024 features)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--loster-fit-max-mib", type=int, default=512,
                        help="largest data LoSTer is fitted on (its fit holds the views array: 2x the data)")
    parser.add_argument("--data-dir", default="/tmp/skdeepcluster-memory")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = f"{machine_description()}, {total_memory_gib():.0f} GiB RAM"
    data_dir = pathlib.Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    free_gib = shutil.disk_usage(data_dir).free / 2**30
    if free_gib < max(args.sizes) / 1024 + 2:
        raise SystemExit(f"{data_dir} has {free_gib:.1f} GiB free; {max(args.sizes) / 1024 + 2:.1f} GiB needed.")
    print(f"# Memory benchmark: peak resident anonymous memory above the level before each call\nmachine: {machine}",
          flush=True)
    rows = []
    for size_mib in args.sizes:
        n_samples = size_mib * MIB // (4 * N_FEATURES)
        path = data_dir / f"blobs-{size_mib}.f32"
        started = time.perf_counter()
        write_blobs(path, n_samples)
        print(f"\n{size_mib} MiB: {n_samples} x {N_FEATURES} float32 written in {time.perf_counter() - started:.1f} s",
              flush=True)
        data = {"path": str(path), "dtype": "float32", "shape": [n_samples, N_FEATURES]}
        try:
            for name, params in PARAMS.items():
                for batch_size in args.batch_sizes:
                    if name == "S3VDCClustering":
                        ops, fit_rows = ["fit", "predict", "transform"], None
                    else:  # fitted in memory on 2048 series, unless the fit itself is measured
                        fit_loster = size_mib <= args.loster_fit_max_mib
                        ops = ["predict", "transform"] + (["fit"] if fit_loster else [])
                        fit_rows = 2048
                    report = run_child({"estimator": name, "params": {**params, "batch_size": batch_size},
                                        "data": data, "fit_rows": fit_rows, "limit_mib": None, "ops": ops})
                    row = {**report, "data_mib": size_mib, "n_samples": n_samples, "n_features": N_FEATURES,
                           "estimator": name, "batch_size": batch_size}
                    rows.append(row)
                    print(format_table([row]).splitlines()[-1], flush=True)
        finally:
            path.unlink()
    table = format_table(rows)
    print("\n" + table)
    RESULTS.mkdir(exist_ok=True)
    report = {"machine": machine, "n_features": N_FEATURES, "params": PARAMS, "rows": rows,
              "note": "peak_mib: resident anonymous memory (RssAnon) above its level before the call; the "
                      "memmap's own pages are file-backed and not counted."}
    (RESULTS / "memory-cpu.json").write_text(json.dumps(report, indent=1, default=float))
    (RESULTS / "memory-cpu.log").write_text(
        f"# Memory benchmark: peak resident anonymous memory above the level before each call\n"
        f"machine: {machine}\n\n{table}\n")
    print(f"\nwritten to {RESULTS / 'memory-cpu.json'} and memory-cpu.log")


if __name__ == "__main__":
    main()
