"""The numerical guard, interrupts, warm starts, convergence reporting and transactional fits of the
estimators (the guard's unit tests on the engine itself: tests/engine/test_guard.py)."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from skdeepcluster._engine import TrainingDivergedError, TrainingLoop
from skdeepcluster.s3vdc._schedule import MIN_STEPS_PER_EPOCH

from ._configs import LOSTER, S3VDC, blobs, parametrize_estimators, series, tiny_loster, tiny_s3vdc

# Short, fast-moving training on data without clusters: labels still change at the end.
UNSETTLED = {
    "s3vdc": dict(n_clusters=5, learning_rate=0.03, clustering_learning_rate=0.03, min_learning_rate=0.03,
                  warmup_epochs=2),
    # One joint epoch: the stopping rule needs two, and since a joint epoch is at least 10 steps,
    # three of them reach the partition even on structureless data.
    "loster": dict(n_clusters=5, learning_rate=0.1, pretrain_epochs=2, max_epochs=1),
}


def _fitted_state(estimator):
    """Everything fit sets, comparable with ==: arrays as bytes, the network as its tensors."""
    state = {}
    for key, value in vars(estimator).items():
        if isinstance(value, np.ndarray):
            state[key] = (value.dtype.str, value.shape, value.tobytes())
        elif isinstance(value, torch.nn.Module):
            state[key] = {name: tensor.clone() for name, tensor in value.state_dict().items()}
        else:
            state[key] = value
    return state


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for key in before:
        if isinstance(before[key], dict) and before[key] and isinstance(next(iter(before[key].values())),
                                                                        torch.Tensor):
            assert all(torch.equal(before[key][name], after[key][name]) for name in before[key]), key
        else:
            assert before[key] == after[key], key


# ---- estimators: NaN recovery ----------------------------------------------------------------------


def _inject(monkeypatch, fail_at=(), interrupt_at=None):
    """Make the training loop see NaN losses at ``fail_at`` steps, or Ctrl-C at ``interrupt_at``."""
    original = TrainingLoop.train_step

    def patched(self, batch, loss_fn, sums):
        if self.step == interrupt_at:
            raise KeyboardInterrupt

        def failing(batch, step):
            loss, logs = loss_fn(batch, step)
            return (loss * float("nan"), logs) if step in fail_at else (loss, logs)

        return original(self, batch, failing, sums)

    monkeypatch.setattr(TrainingLoop, "train_step", patched)


@parametrize_estimators()
def test_estimator_recovers_from_a_burst_of_nan_losses(config, monkeypatch):
    make = config.make
    X = config.data()
    reference = make(tol=0).fit(X)
    _inject(monkeypatch, fail_at=set(range(16, 28)))  # 12 > patience=10 consecutive bad steps
    with pytest.warns(RuntimeWarning, match="restored the last good weights"):
        model = make(tol=0).fit(X)
    events = [entry for entry in model.history_ if entry.get("event") == "restored"]
    assert len(events) == 1
    assert sum(entry.get("nonfinite_steps", 0) for entry in model.history_) == 12
    assert np.isfinite(model.transform(X)).all()
    # Still a working clustering: the two groups are found as without the failure.
    agreement = np.mean(model.labels_ == reference.labels_)
    assert max(agreement, 1 - agreement) > 0.9


@parametrize_estimators()
def test_estimator_that_keeps_diverging_raises_and_stays_unchanged(config, monkeypatch):
    make = config.make
    X = config.data()
    longer = {"max_epochs": 30} if config is LOSTER else {}  # room for 5 x 10 failing steps
    model = make(tol=0, **longer).fit(X)
    before = _fitted_state(model)
    _inject(monkeypatch, fail_at=set(range(10_000)))
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="Training diverged"):
        model.fit(X)
    _assert_same_state(before, _fitted_state(model))
    fresh = make(tol=0, **longer)
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDivergedError):
        fresh.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)


# ---- estimators: interrupts and warm starts ------------------------------------------------------


@parametrize_estimators()
@pytest.mark.parametrize("when", ["early", "late"])
def test_interrupted_fit_is_usable_and_warm_start_finishes_it(config, when, monkeypatch):
    make, (first_phase, second_phase) = config.make, config.phases
    X = config.data()
    full = make(tol=0).fit(X)
    total_steps = full._progress["steps"]
    step = 5 if when == "early" else total_steps - 3
    _inject(monkeypatch, interrupt_at=step)
    with pytest.warns(UserWarning, match="interrupted after"):
        model = make(tol=0).fit(X)
    interrupted = [entry for entry in model.history_ if entry.get("event") == "interrupted"]
    assert interrupted == [{"epoch": pytest.approx(_epoch_at(config, model, X, step)), "event": "interrupted",
                            "phase": first_phase if when == "early" else second_phase, "step": step}]
    labels = model.predict(X)
    assert labels.shape == (len(X),) and np.isfinite(model.transform(X)).all()
    assert model._progress["steps"] == step and not model.converged_
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the continued fit is not interrupted
        model.set_params(warm_start=True).fit(X)
    # An interrupted epoch is run again in full, so LoSTer may take a few more steps.
    assert total_steps <= model._progress["steps"] < total_steps + _steps_per_epoch(model)
    assert model.n_iter_ == full.n_iter_
    assert len([entry for entry in model.history_ if entry.get("event") == "interrupted"]) == 1
    # The interrupted-and-resumed model clusters like the one trained in one go.
    agreement = np.mean(model.labels_ == full.labels_)
    assert max(agreement, 1 - agreement) > 0.9


def _epoch_at(config, model, X, step):
    """The epoch count at ``step``: S3VDC counts at least 10 steps an epoch on small data; LoSTer
    one pass per pretraining epoch and at least 10 steps per joint epoch."""
    batches = len(X) // model.batch_size if config is LOSTER else -(-len(X) // model.batch_size)
    if config is S3VDC:
        return step / max(batches, MIN_STEPS_PER_EPOCH)
    pretrain_steps = model.pretrain_epochs * batches
    if step <= pretrain_steps:
        return step / batches
    return model.pretrain_epochs + (step - pretrain_steps) / max(batches, MIN_STEPS_PER_EPOCH)


def _steps_per_epoch(model):
    """The longest epoch's steps (LoSTer's joint epochs on small data)."""
    return max(entry["steps"] for entry in model.history_ if entry.get("steps"))


@parametrize_estimators()
def test_interrupt_outside_training_leaves_the_estimator_unchanged(config, monkeypatch):
    X = config.data()
    model = config.make()
    target = config.training_module + ".partition_embedding"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupt)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert not hasattr(model, "n_features_in_")


@parametrize_estimators()
def test_warm_start_continues_a_finished_fit(config):
    make, second_phase = config.make, config.phases[1]
    X = config.data()
    model = make(tol=0).fit(X)
    steps, n_iter, history_length = model._progress["steps"], model.n_iter_, len(model.history_)
    weights = [p.detach().clone() for p in model.module_.parameters()]
    model.set_params(warm_start=True).fit(X)
    assert model._progress["steps"] > steps and model.n_iter_ > n_iter
    assert len(model.history_) > history_length
    new_entries = model.history_[history_length:]
    assert {entry["phase"] for entry in new_entries} == {second_phase}  # no second warm-up or init
    assert not all(torch.equal(a, b) for a, b in zip(weights, model.module_.parameters(), strict=True))
    if config is S3VDC:  # the extension runs at the floor learning rate
        assert all(entry["learning_rate"] == pytest.approx(model.min_learning_rate) for entry in new_entries)


@parametrize_estimators()
def test_warm_start_refuses_another_architecture_and_changes_nothing(config):
    make = config.make
    X = config.data()
    model = make(warm_start=True).fit(X)  # warm_start on an unfitted estimator: an ordinary fit
    before = _fitted_state(model)
    with pytest.raises(ValueError, match="latent_dim changed"):
        model.set_params(latent_dim=3).fit(X)
    with pytest.raises(ValueError, match="warm_start=True cannot continue"):
        model.set_params(latent_dim=model.cluster_centers_.shape[1]).fit(X[:, :-1])
    _assert_same_state(before, _fitted_state(model))


# ---- convergence ------------------------------------------------------------------------------------


@parametrize_estimators()
def test_convergence_warning_and_converged_flag(config):
    make = config.make
    X = config.data()
    structureless = np.random.RandomState(1).uniform(size=X.shape)
    with pytest.warns(ConvergenceWarning, match="changed cluster"):
        model = make(tol=1e-9, **UNSETTLED[config.key]).fit(structureless)
    assert model.converged_ is False
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert make(tol=0).fit(X).converged_ is False  # tol=0: no criterion, no warning
        assert make(tol=1).fit(X).converged_ is True


def test_s3vdc_records_the_label_change_of_every_period():
    model = tiny_s3vdc(n_periods=3, tol=0).fit(blobs())
    changes = [entry["label_change"] for entry in model.history_ if "label_change" in entry]
    assert len(changes) == 3 and all(0 <= change <= 1 for change in changes)


def test_loster_stops_on_tol_and_reports_it():
    model = tiny_loster(max_epochs=50, tol=0.05).fit(series())
    joint = [entry for entry in model.history_ if entry["phase"] == "joint"]
    assert model.converged_ and len(joint) < 50 and joint[-1]["label_change"] < 0.05


# ---- transactional fit ---------------------------------------------------------------------------


def test_failed_refit_keeps_the_previous_model():
    X = blobs()
    model = tiny_s3vdc().fit(X)
    before = _fitted_state(model)
    with pytest.raises(ValueError, match="bernoulli"):
        model.set_params(reconstruction="bernoulli").fit(np.hstack([X, X]))  # 8 features, out of [0, 1]
    model.set_params(reconstruction="gaussian")
    _assert_same_state(before, _fitted_state(model))
    assert model.n_features_in_ == 4
    np.testing.assert_array_equal(model.predict(X), model.labels_)
