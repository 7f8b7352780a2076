"""Bounded memory: fit, predict and transform on an ``np.memmap`` larger than the process may hold.

Each estimator runs in a child process (tests/_memory_child.py) whose private writable memory
is capped with ``RLIMIT_DATA`` at what it uses after importing torch and skdeepcluster plus
``ALLOWANCE_MIB``, a third of the memmap's size; copying the memmap into memory fails there
(the control). Peak memory is the child's resident anonymous memory (``RssAnon``; the
memmap's own pages are file-backed and do not count) above its level before each call.
The two children run in parallel, one per core.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests._configs import ESTIMATORS, LOSTER, S3VDC

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_DATA and RssAnon in /proc/self/status are Linux-only")

CHILD = Path(__file__).with_name("_memory_child.py")
N_SAMPLES, N_FEATURES = 65536, 1024  # float32: 256 MiB
ALLOWANCE_MIB = 80
SMALL, LARGE = 8192, 16384  # rows of the scaling measurements: 32 and 64 MiB of the memmap
FIT_ROWS = 2048  # LoSTer fit on a memmap: its (n, 2, T) float32 views array is 16 MiB

# This file's configurations (fractions of an epoch on 65536 rows), keyed by the registry's names.
PARAMS = {
    S3VDC.name: dict(n_clusters=2, latent_dim=2, hidden_dims=[8], warmup_epochs=0.05, anneal_epochs=0.02,
                     static_epochs=0.01, n_periods=1, gmm_init_samples=1024, batch_size=256, device="cpu",
                     random_state=0),
    LOSTER.name: dict(n_clusters=2, latent_dim=8, hidden_dim=16, n_encoder_blocks=2, n_decoder_blocks=2,
                      pretrain_epochs=1, max_epochs=1, n_init=1, batch_size=256, device="cpu",
                      random_state=0),
}


NAMES = [config.name for config in ESTIMATORS]  # the child builds the estimator from its class name


def _scaling_ops():
    # The first one after switching to exact peaks reuses what the allocator kept: not measured.
    return [{"name": "warm-up", "method": "transform", "rows": SMALL, "batch_size": 1024, "exact": True}] + [
        {"name": f"transform/{rows}/{batch_size}", "method": "transform", "rows": rows, "batch_size": batch_size,
         "exact": True} for rows in (SMALL, LARGE) for batch_size in (128, 1024)]


OPS = {
    S3VDC.name: ["copy", "fit", "predict", "transform", *_scaling_ops()],
    LOSTER.name: ["copy", "predict", "transform", *_scaling_ops(),
                  {"name": "fit/small", "method": "fit", "rows": FIT_ROWS, "batch_size": 256}],
}


def _write_blobs(path):
    """Two Gaussian blobs, written block by block (about a second for 256 MiB)."""
    rng = np.random.default_rng(0)
    block_rows = 8192
    block = rng.standard_normal((block_rows, N_FEATURES), dtype=np.float32)
    block += 2 * rng.standard_normal((2, N_FEATURES), dtype=np.float32)[np.arange(block_rows) % 2]
    with open(path, "wb") as handle:
        for _ in range(N_SAMPLES // block_rows):
            block.tofile(handle)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    path = tmp_path_factory.mktemp("memmap") / "blobs.f32"
    _write_blobs(path)
    data = {"path": str(path), "dtype": "float32", "shape": [N_SAMPLES, N_FEATURES]}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    children = {}
    for name in NAMES:
        spec = {"estimator": name, "params": PARAMS[name], "data": data, "limit_mib": ALLOWANCE_MIB,
                "fit_rows": 512 if name == LOSTER.name else None, "ops": OPS[name]}
        children[name] = subprocess.Popen([sys.executable, str(CHILD), json.dumps(spec)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    try:
        for name, child in children.items():
            stdout, stderr = child.communicate(timeout=180)
            assert child.returncode == 0, f"{name} child failed:\n{stderr[-4000:]}"
            results[name] = json.loads(stdout.strip().splitlines()[-1])
            print(name, {op: round(mib, 1) for op, mib in results[name]["peak_mib"].items()},
                  {op: round(seconds, 2) for op, seconds in results[name]["seconds"].items()})
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
        path.unlink()
    return results


@pytest.mark.parametrize("name", NAMES)
def test_memmap_several_times_larger_than_the_memory_limit(reports, name):
    report = reports[name]
    assert report["data_mib"] >= 3 * ALLOWANCE_MIB
    # The control: the limit bites, X cannot be copied into memory ...
    assert set(report.get("errors", {})) == {"copy"}, report.get("errors")
    # ... and yet everything else ran on all of it, with a fraction of the allowance.
    ops = ["fit", "predict", "transform"] if name == S3VDC.name else ["predict", "transform"]
    for op in ops:
        assert report["output_shapes"][op][0] == N_SAMPLES
        assert report["peak_mib"][op] < ALLOWANCE_MIB / 2, (op, report["peak_mib"])


@pytest.mark.parametrize("name", NAMES)
def test_inference_memory_grows_with_batch_size_not_with_n_samples(reports, name):
    peak = reports[name]["peak_mib"]
    added_data_mib = (LARGE - SMALL) * N_FEATURES * 4 / 2**20  # 32 MiB
    for rows in (SMALL, LARGE):
        # A batch of 1024 rows is 8 MiB in float64: every copy of it shows.
        assert peak[f"transform/{rows}/1024"] > peak[f"transform/{rows}/128"] + 4, peak
    for batch_size in (128, 1024):
        # Twice the rows: only the outputs grow (a few bytes a sample), not the working memory.
        small, large = peak[f"transform/{SMALL}/{batch_size}"], peak[f"transform/{LARGE}/{batch_size}"]
        assert large < small + added_data_mib / 8, peak


def test_loster_fit_memory_is_its_views_array_plus_a_bounded_workspace(reports):
    # LoSTer fit holds the (n, 2, n_timestamps * n_channels) float32 array of both views (spec:
    # the augmented copy is drawn once); everything else is done chunk by chunk of rows.
    views_mib = FIT_ROWS * 2 * N_FEATURES * 4 / 2**20
    peak = reports[LOSTER.name]["peak_mib"]["fit/small"]
    assert views_mib <= peak < views_mib + 32, peak
