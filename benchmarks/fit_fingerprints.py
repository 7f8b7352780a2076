"""Fingerprints of fresh fits: prove that a refactoring leaves training bit for bit the same.

Fits a fixed set of small configurations of both estimators (the defaults shrunk, the paper's
parameters, sample weights, warm starts, both partitions, masks and gaps, conv and Bernoulli)
with one thread, and prints a SHA-256 per fit of everything a fit produces: the network's
weights, every fitted array, ``history_`` without its timings, and the labels.

    python benchmarks/fit_fingerprints.py --out before.json          # on the old commit
    python benchmarks/fit_fingerprints.py --compare before.json      # on the new one

``--compare`` exits with status 1 and names the fits that differ.
"""

import argparse
import hashlib
import json
import sys
import warnings

import numpy as np
import torch

from skdeepcluster import LoSTerClustering, S3VDCClustering


def _blobs(rng, n=90, d=6):
    centres = rng.normal(0, 6, (3, d))
    return np.vstack([rng.normal(centre, 1.0, (n // 3, d)) for centre in centres])


def _series(rng, n=60, length=48):
    t = np.linspace(0, 1, length)
    return np.vstack([np.sin(2 * np.pi * (2 + 3 * (i % 3)) * t + rng.uniform(0, 1)) + 0.1 * rng.normal(size=length)
                      for i in range(n)])


def _s3vdc(**overrides):
    params = dict(n_clusters=3, latent_dim=3, hidden_dims=(32, 16), warmup_epochs=8, anneal_epochs=3,
                  static_epochs=1, n_periods=2, batch_size=32, gmm_init_samples=256, n_score_samples=4,
                  device="cpu", n_jobs=1, random_state=0)
    params.update(overrides)
    return S3VDCClustering(**params)


def _loster(**overrides):
    params = dict(n_clusters=3, latent_dim=8, hidden_dim=16, n_encoder_blocks=2, n_decoder_blocks=2,
                  pretrain_epochs=6, max_epochs=4, batch_size=16, device="cpu", n_jobs=1, random_state=0)
    params.update(overrides)
    return LoSTerClustering(**params)


def cases():
    """name -> (estimator factory, X, fit keyword arguments, warm-start second fit or None)."""
    rng = np.random.RandomState(0)
    X = _blobs(rng)
    images = np.clip(rng.uniform(0, 1, (64, 1 * 8 * 8)), 0, 1)
    series = _series(rng)
    gappy = series.copy()
    gappy[::7, 5:9] = np.nan
    gappy[::5, 40:] = np.nan
    weights = rng.uniform(0.2, 3.0, len(X))
    weights[::10] = 0.0
    series_weights = rng.randint(0, 4, len(series)).astype(float)
    series_weights[:3] = 1.0
    from skdeepcluster.loster import PAPER_PARAMS

    return {
        "s3vdc-default-partition": (lambda: _s3vdc(), X, {}, None),
        "s3vdc-kmeans-paper-lr": (lambda: _s3vdc(init_partition="kmeans", clustering_learning_rate=None,
                                                 guided_periods=0), X, {}, None),
        "s3vdc-weights": (lambda: _s3vdc(), X, {"sample_weight": weights}, None),
        "s3vdc-warm-start": (lambda: _s3vdc(warm_start=True), X, {}, {"n_periods": 1}),
        "s3vdc-conv-bernoulli": (lambda: _s3vdc(encoder="conv", input_shape=(1, 8, 8), reconstruction="bernoulli",
                                                activation="relu", n_clusters=2), images, {}, None),
        "s3vdc-relu-minmax20": (lambda: _s3vdc(activation="relu", minmax_scale=20.0, noise_std=0.1), X, {}, None),
        "loster-default": (lambda: _loster(), series, {}, None),
        "loster-paper": (lambda: _loster(**PAPER_PARAMS), series, {}, None),
        "loster-weights": (lambda: _loster(), series, {"sample_weight": series_weights}, None),
        "loster-mask-gaps": (lambda: _loster(variable_length="mask"), gappy, {}, None),
        "loster-resample-gaps": (lambda: _loster(normalize=False), gappy, {}, None),
        "loster-keep-better": (lambda: _loster(keep_better=True, max_epochs=3, tol=0.0), series, {}, None),
        "loster-warm-start": (lambda: _loster(warm_start=True, tol=0.0), series, {}, {"max_epochs": 2}),
        "loster-multichannel": (lambda: _loster(), np.stack([series, series[::-1]], axis=2), {}, None),
    }


def _digest(estimator):
    """SHA-256 of the weights, the fitted arrays and scalars, and history_ without timings."""
    sha = hashlib.sha256()
    for key, value in sorted(estimator.module_.state_dict().items()):
        sha.update(key.encode())
        sha.update(value.detach().cpu().contiguous().numpy().tobytes())
    for name in sorted(vars(estimator)):
        value = getattr(estimator, name)
        if name in ("module_", "history_") or (not name.endswith("_") and not name.startswith("_")):
            continue
        if isinstance(value, np.ndarray):
            sha.update(name.encode() + value.tobytes())
        elif isinstance(value, (int, float, str, bool, dict, list, tuple, type(None))):
            sha.update(name.encode() + json.dumps(value, sort_keys=True, default=repr).encode())
    history = [{key: value for key, value in entry.items() if key != "seconds"} for entry in estimator.history_]
    sha.update(json.dumps(history, sort_keys=True, default=repr).encode())
    return sha.hexdigest()


def fingerprints():
    torch.set_num_threads(1)
    results = {}
    for name, (make, X, fit_kwargs, continuation) in cases().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = make().fit(X, **fit_kwargs)
            if continuation is not None:
                estimator.set_params(**continuation).fit(X, **fit_kwargs)
        results[name] = _digest(estimator)
        print(f"{name:28s} {results[name][:16]}", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the fingerprints to this JSON file")
    parser.add_argument("--compare", help="compare with the fingerprints in this JSON file")
    args = parser.parse_args(argv)
    results = fingerprints()
    if args.out:
        with open(args.out, "w") as stream:
            json.dump(results, stream, indent=1, sort_keys=True)
    if args.compare:
        with open(args.compare) as stream:
            expected = json.load(stream)
        differ = sorted(name for name in expected if results.get(name) != expected[name])
        print(f"{len(expected) - len(differ)} of {len(expected)} fits identical" + (f"; differ: {differ}" if differ
                                                                                      else ""))
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
