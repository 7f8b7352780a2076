"""Threads: concurrent fits leave global generators and thread settings alone, and a model read
while another thread refits it is the old model or the new one, never a mix."""

import functools
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed

from tests._configs import LOSTER, S3VDC, parametrize_estimators

RNG = np.random.RandomState(0)
X_TABLE = np.vstack([RNG.normal(-4, 1, (30, 5)), RNG.normal(4, 1, (30, 5))])
X_WIDER = np.hstack([X_TABLE, RNG.normal(size=(60, 2))])
X_SERIES = np.sin(np.linspace(0, 6, 24)[None, :] * np.where(np.arange(40) % 2, 1.0, 3.0)[:, None])
X_SERIES = X_SERIES + 0.05 * RNG.normal(size=X_SERIES.shape)
# This file's data, and shorter training for LoSTer, keyed by the registry's keys.
DATA = {S3VDC.key: X_TABLE, LOSTER.key: X_SERIES}
OVERRIDES = {S3VDC.key: {}, LOSTER.key: dict(pretrain_epochs=5, max_epochs=2)}


def _case(config):
    """``make(**params)`` and the data of ``config`` in this file."""
    return functools.partial(config.make, **OVERRIDES[config.key]), DATA[config.key]


def _fit(make, X, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make(random_state=seed).fit(X)


@parametrize_estimators()
def test_fits_in_threads_leave_the_global_generator_alone_and_match_sequential_fits(config):
    make, X = _case(config)
    sequential = [_fit(make, X, seed).labels_ for seed in range(4)]
    threads_before = torch.get_num_threads()
    torch.manual_seed(123)
    draws = []
    with Parallel(n_jobs=4, backend="threading", return_as="generator") as parallel:
        results = parallel(delayed(_fit)(make, X, seed) for seed in range(4))
        # Meanwhile this thread draws from the global generator: its stream must stay its own.
        for _ in range(200):
            draws.append(torch.rand(1))
        threaded = [model.labels_ for model in results]
    expected = torch.Generator().manual_seed(123)
    assert torch.equal(torch.cat(draws), torch.rand(200, generator=expected))
    assert torch.equal(torch.random.get_rng_state(), expected.get_state())
    for labels, reference in zip(threaded, sequential, strict=True):
        np.testing.assert_array_equal(labels, reference)
    assert torch.get_num_threads() == threads_before


@parametrize_estimators()
def test_global_generator_state_is_unchanged_by_fits_in_threads(config):
    make, X = _case(config)
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    with Parallel(n_jobs=3, backend="threading") as parallel:
        parallel(delayed(_fit)(make, X, seed) for seed in range(3))
    assert torch.equal(torch.random.get_rng_state(), state)


@parametrize_estimators()
def test_predict_during_refits_sees_one_whole_model(config):
    make, X = _case(config)
    # Two deterministic models: every refit with seed 0 (or 1) gives back exactly the same one.
    references = [_fit(make, X, seed).predict_proba(X) for seed in (0, 1)]
    model = _fit(make, X, 0)
    stop = threading.Event()
    errors = []

    def refit():
        seed = 0
        while not stop.is_set():
            seed = 1 - seed
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.set_params(random_state=seed).fit(X)
            except Exception as exc:
                errors.append(exc)

    worker = threading.Thread(target=refit)
    worker.start()
    outcomes = []
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            proba = model.predict_proba(X)
            outcomes.append(next((index for index, reference in enumerate(references)
                                  if np.array_equal(proba, reference)), None))
    finally:
        stop.set()
        worker.join()
    assert not errors
    assert None not in outcomes, f"{outcomes.count(None)} of {len(outcomes)} results came from no fitted model"
    assert len(outcomes) > 10


@parametrize_estimators()
def test_a_refit_on_other_data_completing_during_a_predict_leaves_that_predict_on_the_old_model(config, monkeypatch):
    """Deterministic: predict pauses right after validating X while a whole refit runs.

    Before the fix, the predict then read the new network (other input width) for the X
    validated against the old one: torch's "mat1 and mat2 shapes cannot be multiplied".
    """
    import skdeepcluster._base as base
    import skdeepcluster.loster._estimator as loster

    make, X = _case(config)
    X_other = X_WIDER if config is S3VDC else np.hstack([X, X[:, :8]])  # more features or longer series
    model = _fit(make, X, 0)
    expected = model.predict_proba(X)
    validated, refitted = threading.Event(), threading.Event()
    main = threading.current_thread()
    module = base if config is S3VDC else loster
    original = module.validate_data

    def pausing_validate_data(*args, **kwargs):
        result = original(*args, **kwargs)
        if threading.current_thread() is main and not validated.is_set():
            validated.set()
            assert refitted.wait(60)
        return result

    monkeypatch.setattr(module, "validate_data", pausing_validate_data)
    worker = threading.Thread(target=lambda: (validated.wait(60), _fit_into(model, X_other), refitted.set()))
    worker.start()
    proba = model.predict_proba(X)
    worker.join()
    np.testing.assert_array_equal(proba, expected)
    assert model.n_features_in_ == X_other.shape[1]  # the refit took effect, for the next call


def _fit_into(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)


@pytest.mark.parametrize("config, change", [
    pytest.param(config, change, id=f"{config.name}-{next(iter(change))}")
    for config, change in [(S3VDC, {"latent_dim": 3}), (S3VDC, {"hidden_dims": (8,)}),
                           (LOSTER, {"n_encoder_blocks": 3}), (LOSTER, {"latent_dim": 4})]])
def test_parameters_that_shape_the_network_changed_after_fit_give_a_clear_error(config, change, tmp_path):
    make, X = _case(config)
    model = _fit(make, X, 0)
    fitted_value = model.get_params()[next(iter(change))]
    model.set_params(**change)
    methods = ["predict", "predict_proba", "transform", "score"] + (["score_samples", "sample"] if config is S3VDC
                                                                       else [])
    for method in methods:
        arguments = () if method == "sample" else (X,)
        with pytest.raises(ValueError, match=f"fitted with {next(iter(change))}=.*set_params after fit. Restore "
                                             "them, or fit again"):
            getattr(model, method)(*arguments)
    with pytest.raises(ValueError, match="set_params after fit"):
        model.save(tmp_path / "model.skdc")
    model.set_params(**{next(iter(change)): fitted_value})
    assert model.predict(X).shape == (len(X),)
    # Parameters that do not shape the network may change: they apply to the next fit or call.
    model.set_params(batch_size=7, verbose=0)
    assert model.predict(X).shape == (len(X),)
