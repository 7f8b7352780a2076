"""LoSTer's memory estimate (checked before a fit allocates) against the measured peak.

Each configuration is fitted in a fresh process; the peak is the growth of the resident set
(``ru_maxrss``) over the process after importing and a tiny warm-up fit. Prints a table:

    python benchmarks/bench_loster_memory_estimate.py

Random series (the memory does not depend on the values). One epoch of pretraining and one
of joint training: the peak is reached in the first steps and at the end of the fit.
"""

import json
import subprocess
import sys

CONFIGS = [  # (n_series, n_timestamps, n_channels, hidden_dim)
    (256, 1024, 1, 256),
    (64, 8192, 1, 256),
    (32, 4096, 4, 128),
    (512, 512, 1, 64),
]

CHILD = """
import json, resource, sys, warnings
warnings.simplefilter("ignore")
import numpy as np, torch
from skdeepcluster import LoSTerClustering
from skdeepcluster.loster._resources import fit_memory_bytes
n, t, c, hidden = map(int, sys.argv[1:5])
LoSTerClustering(n_clusters=2, hidden_dim=8, latent_dim=8, pretrain_epochs=1, max_epochs=1,
                 random_state=0).fit(np.random.RandomState(0).normal(size=(16, 32)))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
X = np.random.RandomState(0).normal(size=(n, t, c))
after_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
model = LoSTerClustering(n_clusters=4, hidden_dim=hidden, pretrain_epochs=1, max_epochs=1, n_jobs=-1, random_state=0)
parts = fit_memory_bytes(model, n, t, c)
model.fit(X)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - max(base, after_data)
print(json.dumps({"estimate": sum(parts.values()), "parts": parts, "peak": peak}))
"""


def main():
    print("| series | timestamps | channels | hidden_dim | estimate (MiB) | measured peak (MiB) | estimate / peak |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for config in CONFIGS:
        completed = subprocess.run([sys.executable, "-c", CHILD, *map(str, config)], capture_output=True, text=True,
                                   check=True)
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        estimate, peak = result["estimate"] / 2**20, result["peak"] / 2**20
        print(f"| {config[0]} | {config[1]} | {config[2]} | {config[3]} | {estimate:.0f} | {peak:.0f} | "
              f"{estimate / peak:.2f} |")


if __name__ == "__main__":
    main()
