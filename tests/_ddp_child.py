"""Fit both estimators data-parallel under torchrun and report what each rank ended with.

Used by tests/test_ddp.py as ``python -m torch.distributed.run --standalone --nproc_per_node=2
tests/_ddp_child.py OUT_DIR``: every rank writes ``OUT_DIR/rank<r>.json`` with, per fit, the
labels, a SHA-256 of the weights and the adjusted Rand index against the true clusters. The fits:
both estimators with the default ``distributed="auto"`` (data-parallel under torchrun) and with
``distributed=False`` (each rank a single-process fit), plus a guarded training loop whose loss
is NaN on rank 1 only at one step, which every rank must skip, a fit with ``random_state=None``, one
given different data on each rank and a fit of each estimator with sample weights.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._configs import ESTIMATORS, LOSTER, S3VDC


def blobs():
    """300 samples of 3 well separated blobs in 6 dimensions."""
    return make_blobs(300, n_features=6, centers=3, cluster_std=1.0, center_box=(-8, 8), random_state=1)


def sines():
    """240 noisy sines of 64 timestamps at 3 frequencies (the cluster)."""
    rng = np.random.RandomState(0)
    t = np.linspace(0, 1, 64)
    y = np.arange(240) % 3
    X = np.sin(2 * np.pi * (2 + 3 * y[:, None]) * t + rng.uniform(0, 0.5, (240, 1)))
    return X + 0.2 * rng.standard_normal(X.shape), y


# This file's data and overrides (3 clusters), keyed by the registry's keys; the keys of the report too.
DATA = {S3VDC.key: blobs, LOSTER.key: sines}
OVERRIDES = {S3VDC.key: dict(n_clusters=3, hidden_dims=(32,)), LOSTER.key: dict(n_clusters=3)}


def make(config, **overrides):
    """The registry's estimator ``config`` in this file's configuration."""
    return config.make(**OVERRIDES[config.key], **overrides)


def sample_weights(n_samples):
    """Weights 1 to 3, and 0 on every tenth row (left out of training)."""
    weights = 1.0 + np.arange(n_samples) % 3
    weights[::10] = 0.0
    return weights


def weights_hash(model):
    digest = hashlib.sha256()
    for name, tensor in model.module_.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.cpu().numpy().tobytes())
    return digest.hexdigest()


def report(model, X, y):
    return {"labels": model.labels_.tolist(), "weights": weights_hash(model),
            "ari": adjusted_rand_score(y, model.labels_), "predict_equals_labels": bool(
                (model.predict(X) == model.labels_).all()), "steps": int(model._progress["steps"])}


def nan_on_one_rank(rank):
    """A guarded loop whose loss is NaN on rank 1 at step 3: every rank must skip that step."""
    from skdeepcluster._engine import BatchStream, TrainingLoop, resolve_distributed

    group, device = resolve_distributed("auto", "cpu")
    X = np.random.RandomState(0).standard_normal((64, 4)).astype(np.float32)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = torch.nn.Linear(4, 4)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    stream = BatchStream(X, 16, np.random.RandomState(0), device, group=group)

    def loss_fn(batch, step):
        loss = ((module(batch) - batch) ** 2).mean()
        if step == 3 and rank == 1:
            loss = loss * float("nan")
        return loss, {"loss": loss}

    loop = TrainingLoop(module, optimizer, stream, lambda step: 0.1, total_steps=8, group=group)
    loop.run(8, loss_fn, phase="test")
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in module.parameters())).hexdigest()
    return {"nonfinite_steps": loop.nonfinite_steps, "weights": digest, "world_size": group.world_size,
            "losses": [entry["loss"] for entry in loop.history if "loss" in entry]}


def main(out_dir):
    rank = int(os.environ["RANK"])
    X, _ = blobs()
    result = {"rank": rank}
    for config in ESTIMATORS:
        name = config.key
        data, truth = DATA[name]()
        model = make(config).fit(data)  # distributed="auto": data-parallel under torchrun
        result[name] = report(model, data, truth)
        result[name + "_history_losses"] = [entry.get("loss") for entry in model.history_ if "loss" in entry]
        single = make(config, distributed=False).fit(data)
        result[name + "_single"] = report(single, data, truth)
        result[name + "_weighted"] = report(make(config).fit(data, sample_weight=sample_weights(len(data))), data,
                                            truth)
    result["nan_step"] = nan_on_one_rank(rank)
    # random_state=None: each process draws a seed, rank 0's is used by all.
    result["seed_none_weights"] = weights_hash(make(S3VDC, random_state=None, warmup_epochs=2, anneal_epochs=1,
                                                    static_epochs=1).fit(X))
    try:
        make(S3VDC).fit(X + rank)  # each rank other data: refused on every rank
        result["different_data_error"] = None
    except ValueError as error:
        result["different_data_error"] = str(error)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])
