"""Tiny but still meaningful estimator configurations shared by the tests, and the one registry of the
estimators (``ESTIMATORS``) that tests parametrize over instead of keeping their own tables.

A test file that needs something of its own per estimator (other data, other overrides) keeps it in a
local dict keyed by the registry's ``key`` or ``name``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from skdeepcluster import LoSTerClustering, S3VDCClustering


def tiny_s3vdc(**overrides):
    """An S3VDCClustering that fits 50-200 samples in well under a second."""
    params = dict(n_clusters=2, latent_dim=2, hidden_dims=(16,), warmup_epochs=20, anneal_epochs=3,
                  static_epochs=2, n_periods=1, batch_size=32, learning_rate=1e-2, gmm_init_samples=256,
                  n_score_samples=4,
                  device="cpu", random_state=0)
    params.update(overrides)
    return S3VDCClustering(**params)


def tiny_loster(**overrides):
    """A LoSTerClustering with 2 small blocks per network that fits 50-200 short series in about a second."""
    params = dict(n_clusters=2, latent_dim=8, hidden_dim=16, n_encoder_blocks=2, n_decoder_blocks=2,
                  pretrain_epochs=15, max_epochs=5, batch_size=32, device="cpu", random_state=0)
    params.update(overrides)
    return LoSTerClustering(**params)


def blobs(n=80, seed=0):
    """``n`` samples of 2 well separated Gaussian blobs in 4 dimensions."""
    rng = np.random.RandomState(seed)
    return np.vstack([rng.normal(-4, 1, (n // 2, 4)), rng.normal(4, 1, (n // 2, 4))])


def series(n=64, length=32, seed=0):
    """``n`` sines of ``length`` timestamps at 2 frequencies (the clusters), with random phases."""
    rng = np.random.RandomState(seed)
    t = np.linspace(0, 1, length)
    return np.vstack([np.sin(2 * np.pi * (2 + i % 2 * 4) * t + rng.uniform(0, 0.5)) for i in range(n)])


@dataclass(frozen=True)
class EstimatorConfig:
    """One estimator as the tests see it."""

    name: str  # the class name; the pytest id of every test parametrized over the registry
    key: str  # short lower-case name, the key of per-file tables ("s3vdc", "loster")
    cls: type
    make: Callable  # the tiny configuration: make(**overrides) -> an unfitted estimator
    data: Callable  # data() -> small training data with 2 clusters that ``make()`` finds
    phases: tuple  # the phase names in ``history_``: (first, second)
    training_module: str  # the module of its training phases (the target of monkeypatches of their imports)
    # Overrides for an even tinier model, for tests of input handling rather than of the clustering.
    input_only: dict = field(default_factory=dict)

    def make_input_only(self, **params):
        return self.make(**{**self.input_only, **params})

    def __repr__(self):
        return self.name


S3VDC = EstimatorConfig(
    name="S3VDCClustering", key="s3vdc", cls=S3VDCClustering, make=tiny_s3vdc, data=blobs,
    phases=("warmup", "clustering"), training_module="skdeepcluster.s3vdc._training",
    input_only={"warmup_epochs": 1, "anneal_epochs": 1, "static_epochs": 1, "hidden_dims": (8,),
                "n_score_samples": 2})
LOSTER = EstimatorConfig(
    name="LoSTerClustering", key="loster", cls=LoSTerClustering, make=tiny_loster, data=series,
    phases=("pretrain", "joint"), training_module="skdeepcluster.loster._training",
    input_only={"pretrain_epochs": 1, "max_epochs": 1, "n_init": 1, "latent_dim": 4, "hidden_dim": 8,
                "n_encoder_blocks": 1, "n_decoder_blocks": 1})

ESTIMATORS = (S3VDC, LOSTER)
BY_NAME = {config.name: config for config in ESTIMATORS}
BY_KEY = {config.key: config for config in ESTIMATORS}


def estimator_ids(values=ESTIMATORS):
    """The class names of registry entries, estimators or classes, for ``ids=``."""
    return [value.name if isinstance(value, EstimatorConfig) else
            (value.__name__ if isinstance(value, type) else type(value).__name__) for value in values]


def parametrize_estimators(argname="config"):
    """``pytest.mark.parametrize`` over the registry, one test per estimator, ids the class names."""
    return pytest.mark.parametrize(argname, ESTIMATORS, ids=estimator_ids())
