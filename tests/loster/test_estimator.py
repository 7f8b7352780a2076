"""LoSTerClustering: 3-D and variable-length input, the fit procedure, bad input, persistence."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import LoSTerClustering
from skdeepcluster.loster import PAPER_PARAMS
from tests._configs import tiny_loster


def _waves(n_samples=60, n_timestamps=48, n_channels=None, seed=0):
    """Two clusters of noisy series: a slow and a fast sine, random phase and amplitude."""
    rng = np.random.RandomState(seed)
    labels = np.arange(n_samples) % 2
    t = np.linspace(0.0, 1.0, n_timestamps)
    frequency = np.where(labels == 0, 2.0, 6.0)[:, None]
    X = rng.uniform(0.5, 2, (n_samples, 1)) * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 1, (n_samples, 1)))
    X += 0.1 * rng.normal(size=X.shape)
    if n_channels is not None:
        X = np.stack([X * (c + 1) + 0.05 * rng.normal(size=X.shape) for c in range(n_channels)], axis=2)
    return X, labels


def _variable_length(X, seed=0, min_fraction=0.6):
    rng = np.random.RandomState(seed)
    X = X.copy()
    for row in range(X.shape[0]):
        X[row, rng.randint(int(min_fraction * X.shape[1]), X.shape[1] + 1):] = np.nan
    return X


# ---- our own checks for the time-series layouts, in the style of parametrize_with_checks --------

def check_shapes_and_feature_counts(estimator, X):
    model = clone(estimator).fit(X)
    n_samples, n_timestamps = X.shape[:2]
    assert model.n_features_in_ == n_timestamps == model.n_timestamps_in_
    assert model.n_channels_in_ == (X.shape[2] if X.ndim == 3 else 1)
    assert model.labels_.shape == (n_samples,)
    assert set(np.unique(model.labels_)) <= set(range(model.n_clusters))
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_array_equal(clone(estimator).fit_predict(X), model.labels_)
    assert model.transform(X).shape == (n_samples, model.latent_dim)
    proba = model.predict_proba(X)
    assert proba.shape == (n_samples, model.n_clusters)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(proba.argmax(1), model.labels_)
    assert model.cluster_centers_.shape == (model.n_clusters, model.latent_dim)
    assert list(model.get_feature_names_out()) == [f"losterclustering{i}" for i in range(model.latent_dim)]


def check_deterministic_for_a_seed(estimator, X):
    first, second = clone(estimator).fit(X), clone(estimator).fit(X)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    third = clone(estimator).set_params(random_state=1).fit(X)
    assert not np.allclose(first.transform(X), third.transform(X))


def check_pickle_round_trip(estimator, X):
    model = clone(estimator).fit(X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))


def check_subset_and_order_invariance(estimator, X):
    model = clone(estimator).fit(X)
    order = np.random.RandomState(0).permutation(X.shape[0])
    np.testing.assert_allclose(model.transform(X[order]), model.transform(X)[order], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.transform(X[:5]), model.transform(X)[:5], rtol=1e-10, atol=1e-12)


def check_wrong_layout_at_predict(estimator, X):
    model = clone(estimator).fit(X)
    with pytest.raises(ValueError, match=r"expecting .* features"):
        model.predict(X[:, :-1])
    other_channels = np.repeat(X[..., None] if X.ndim == 2 else X, 2, axis=2)
    with pytest.raises(ValueError, match="channel"):
        model.predict(other_channels)


SERIES_CHECKS = [check_shapes_and_feature_counts, check_deterministic_for_a_seed, check_pickle_round_trip,
                 check_subset_and_order_invariance, check_wrong_layout_at_predict]
LAYOUTS = {
    "univariate": _waves()[0],
    "multivariate": _waves(n_channels=3)[0],
    "variable-length": _variable_length(_waves()[0]),
    "variable-length-multivariate": _variable_length(_waves(n_channels=2)[0]),
}
# variable_length only changes how padded series are read, so "mask" runs on the padded layouts.
CASES = [("resample", layout) for layout in LAYOUTS] + [("mask", layout) for layout in LAYOUTS if "variable" in layout]
ESTIMATORS = {"resample": tiny_loster(), "mask": tiny_loster(variable_length="mask")}


@pytest.mark.parametrize("check", SERIES_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("mode, layout", CASES, ids=[f"{mode}-{layout}" for mode, layout in CASES])
def test_time_series_layouts(mode, layout, check):
    check(ESTIMATORS[mode], LAYOUTS[layout])


# ---- the fit procedure ---------------------------------------------------------------------------

def test_recovers_two_clearly_different_shapes():
    X, labels = _waves(n_samples=80)
    model = tiny_loster(pretrain_epochs=30, max_epochs=10).fit(X)
    assert adjusted_rand_score(labels, model.labels_) > 0.9


def _whole_patterns_at_different_rates(n_samples=80, n_timestamps=48, seed=0):
    """Each series holds its whole pattern, sampled at its own rate (e.g. gestures of different speeds)."""
    rng = np.random.RandomState(seed)
    labels = np.arange(n_samples) % 2
    X = np.full((n_samples, n_timestamps), np.nan)
    for row, label in enumerate(labels):
        length = rng.randint(int(0.6 * n_timestamps), n_timestamps + 1)
        t = np.linspace(0.0, 1.0, length)
        X[row, :length] = np.sin(2 * np.pi * (2.0 if label == 0 else 6.0) * t + rng.uniform(0, 1))
        X[row, :length] += 0.1 * rng.normal(size=length)
    return X, labels


def test_resample_mode_recovers_patterns_recorded_at_different_rates():
    X, labels = _whole_patterns_at_different_rates()
    model = tiny_loster(pretrain_epochs=30, max_epochs=10).fit(X)
    assert adjusted_rand_score(labels, model.labels_) > 0.8


def test_mask_mode_recovers_truncated_recordings():
    X, labels = _waves(n_samples=80)
    model = tiny_loster(pretrain_epochs=30, max_epochs=10, variable_length="mask").fit(_variable_length(X))
    assert adjusted_rand_score(labels, model.labels_) > 0.8


def test_history_records_every_phase_and_the_stopping_rule():
    X, _ = _waves()
    model = tiny_loster(pretrain_epochs=4, max_epochs=6, tol=0.0, **PAPER_PARAMS).fit(X)
    phases = [entry["phase"] for entry in model.history_]
    assert phases == ["pretrain"] * 4 + ["init"] + ["joint"] * 6
    assert model.n_iter_ == 10 and not model.converged_
    joint = [entry for entry in model.history_ if entry["phase"] == "joint"]
    assert [entry["temperature"] for entry in joint] == pytest.approx([10 * 0.65**e for e in range(6)])
    # StepLR(5, 0.1): 0.01 for joint epochs 0-4, then 0.001
    assert [entry["learning_rate"] for entry in joint] == pytest.approx([1e-2] * 5 + [1e-3])
    assert all(0.0 <= entry["label_change"] <= 1.0 for entry in joint)
    for key in ("reconstruction", "reconstruction_augmented", "kmeans", "instance", "cluster", "entropy", "seconds"):
        assert all(np.isfinite(entry[key]) for entry in joint)


def test_tol_stops_joint_training_from_the_second_epoch():
    X, _ = _waves()
    model = tiny_loster(pretrain_epochs=2, max_epochs=50, tol=1.0).fit(X)
    assert model.converged_ and model.n_iter_ == 2 + 2


def test_max_epochs_zero_is_pretrained_autoencoder_plus_kmeans():
    X, _ = _waves()
    model = tiny_loster(max_epochs=0).fit(X)
    assert model.n_iter_ == model.pretrain_epochs and not model.converged_
    assert [entry["phase"] for entry in model.history_][-1] == "init"
    embedding = model.transform(X)
    distances = ((embedding[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(model.labels_, distances.argmin(1))


def test_score_is_the_negative_kmeans_objective_of_the_embedding():
    X, _ = _waves()
    model = tiny_loster().fit(X)
    embedding = model.transform(X)
    inertia = ((embedding[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1).min(1).sum()
    assert model.score(X) == pytest.approx(-inertia)


def test_contrastive_weight_zero_drops_the_contrastive_terms():
    X, _ = _waves()
    model = tiny_loster(contrastive_weight=0.0, max_epochs=2, tol=0.0).fit(X)
    joint = [entry for entry in model.history_ if entry["phase"] == "joint"]
    for entry in joint:
        assert entry["loss"] == pytest.approx(entry["reconstruction"] + entry["reconstruction_augmented"]
                                              + entry["kmeans"], rel=1e-5)


def test_normalize_switch():
    X, _ = _waves()
    scaled = 1000 * X + 50
    per_series = tiny_loster().fit(X)
    # Per-series z-normalisation: the scale and offset of each series do not matter.
    np.testing.assert_allclose(per_series.transform(scaled), per_series.transform(X), atol=1e-6)
    # normalize=False keeps amplitude differences but stays trainable on raw scales.
    global_scaling = tiny_loster(normalize=False)
    with np.errstate(all="raise"):
        global_scaling.fit(scaled)
    assert all(entry["nonfinite_steps"] == 0 for entry in global_scaling.history_ if "nonfinite_steps" in entry)
    embeddings = global_scaling.transform(np.vstack([X[:1], 3 * X[:1]]))
    assert not np.allclose(embeddings[0], embeddings[1])


def test_mask_mode_ignores_the_padded_values_and_resample_mode_stretches():
    X, _ = _waves()
    padded = _variable_length(X)
    short = np.isnan(padded).any(1)
    masked = tiny_loster(variable_length="mask").fit(padded)
    # A series padded from its observed prefix is read as that prefix, whatever its pad length.
    row = int(np.flatnonzero(short)[0])
    np.testing.assert_allclose(masked.transform(padded[[row]]), masked.transform(padded)[[row]])
    resampled = tiny_loster().fit(padded)
    length = int((~np.isnan(padded[row])).sum())
    stretched = np.interp(np.linspace(0, length - 1, X.shape[1]), np.arange(length), padded[row, :length])
    np.testing.assert_allclose(resampled.transform(padded[[row]]), resampled.transform(stretched[None]),
                               atol=1e-10)


def test_fit_does_not_touch_global_random_state():
    X, _ = _waves()
    numpy_state, torch_state = np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()
    tiny_loster().fit(X)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_float32_input_keeps_its_dtype():
    X, _ = _waves()
    model = tiny_loster().fit(X.astype(np.float32))
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    assert model.transform(X).dtype == np.float64


def test_verbose_two_prints_one_line_per_epoch(capsys):
    X, _ = _waves()
    tiny_loster(pretrain_epochs=3, max_epochs=2, tol=0.0, verbose=2).fit(X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(line.startswith("[pretrain]") for line in lines) == 3
    assert sum(line.startswith("[joint]") for line in lines) == 2


# ---- bad input -------------------------------------------------------------------------------------

def _with(X, index, value):
    X = X.copy()
    X[index] = value
    return X


BAD_INPUTS = {
    "all-NaN series": (_with(_waves()[0], 3, np.nan), ValueError, "Series 3 is all NaN"),
    "infinity": (_with(_waves()[0], (2, 5), np.inf), ValueError, "infinity"),
    "length-1 series": (np.ones((10, 1)), ValueError, "1 feature"),
    "4-D array": (np.zeros((10, 8, 2, 2)), ValueError, "3-D array"),
    "1-D array": (np.zeros(10), ValueError, "2D array"),
    "strings": (np.array([["a", "b"], ["c", "d"]]), ValueError, "could not convert"),
    "complex": (np.ones((10, 5)) * 1j, ValueError, "Complex"),
    "fewer samples than clusters": (_waves()[0][:3], ValueError, "n_clusters=4"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_at_fit_raises_a_clear_error_and_leaves_the_estimator_unfitted(case):
    X, error, message = BAD_INPUTS[case]
    model = tiny_loster(n_clusters=4)
    with pytest.raises(error, match=message):
        model.fit(X)
    assert not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        model.predict(_waves()[0])


def test_bad_input_at_predict_keeps_the_fitted_model():
    X, _ = _waves()
    model = tiny_loster().fit(X)
    labels = model.labels_.copy()
    for bad in (_with(X, 1, np.nan), _with(X, (0, 0), -np.inf), X[:, :10], X[..., None].repeat(2, 2)):
        with pytest.raises(ValueError):
            model.predict(bad)
    np.testing.assert_array_equal(model.predict(X), labels)


def test_refit_with_bad_input_keeps_the_previous_fit():
    X, _ = _waves()
    model = tiny_loster().fit(X)
    centers = model.cluster_centers_.copy()
    with pytest.raises(ValueError):
        model.fit(_with(X, 0, np.nan))
    np.testing.assert_array_equal(model.cluster_centers_, centers)
    assert model.n_features_in_ == X.shape[1]


def test_unfitted_estimator_raises_not_fitted():
    X, _ = _waves()
    for method in ("predict", "predict_proba", "transform", "score"):
        with pytest.raises(NotFittedError):
            getattr(LoSTerClustering(), method)(X)


# ---- properties --------------------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(n_samples=st.integers(4, 40), n_timestamps=st.integers(2, 30), n_channels=st.integers(0, 3),
       n_clusters=st.integers(1, 4), padded=st.booleans(), mode=st.sampled_from(["resample", "mask"]),
       seed=st.integers(0, 100))
def test_shapes_and_label_ranges_for_any_layout(n_samples, n_timestamps, n_channels, n_clusters, padded, mode, seed):
    rng = np.random.RandomState(seed)
    shape = (n_samples, n_timestamps) if n_channels == 0 else (n_samples, n_timestamps, n_channels)
    X = rng.normal(size=shape)
    if padded:
        for row in range(n_samples):
            X[row, rng.randint(2, n_timestamps + 1):] = np.nan
    n_clusters = min(n_clusters, n_samples)
    model = tiny_loster(n_clusters=n_clusters, pretrain_epochs=2, max_epochs=2, variable_length=mode,
                        random_state=seed).fit(X)
    assert model.labels_.shape == (n_samples,)
    assert model.labels_.min() >= 0 and model.labels_.max() < n_clusters
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.transform(X).shape == (n_samples, model.latent_dim)
    np.testing.assert_allclose(model.predict_proba(X).sum(1), 1.0)
    assert np.isfinite(model.score(X))


# ---- inverse_transform -------------------------------------------------------------------------------

def _decode_by_hand(model, embedding):
    with torch.no_grad():
        return model.module_.decode(torch.as_tensor(embedding, dtype=torch.float64), 0).numpy()


@pytest.mark.parametrize("n_channels", [None, 1, 3], ids=["2-D", "3-D one channel", "3-D three channels"])
def test_inverse_transform_decodes_embeddings_in_the_training_layout(n_channels):
    X, _ = _waves(n_channels=n_channels)
    model = tiny_loster().fit(X)
    embedding = model.transform(X)
    decoded = model.inverse_transform(embedding)
    assert decoded.shape == X.shape and decoded.dtype == np.float64
    # The network reads series flattened time-major (x[t, c] -> t * d + c) and decodes the same layout.
    np.testing.assert_allclose(decoded.reshape(len(X), -1), _decode_by_hand(model, embedding), rtol=1e-12, atol=1e-12)
    centroids = model.inverse_transform(model.cluster_centers_)
    assert centroids.shape == (model.n_clusters, *X.shape[1:])
    assert np.isfinite(centroids).all()


def test_inverse_transform_reconstructs_the_normalised_series():
    X, _ = _waves()
    model = tiny_loster(pretrain_epochs=30).fit(X)
    normalized = (X - X.mean(1, keepdims=True)) / X.std(1, keepdims=True)
    reconstructed = model.inverse_transform(model.transform(X))
    # normalize=True: the per-series scale is gone, so the output is compared with the z-normalised input.
    # Better than the best constant guess (zero, mean squared error 1).
    assert np.mean((reconstructed - normalized) ** 2) < 0.75 * np.mean(normalized**2)
    assert model.inverse_transform(model.transform(X).astype(np.float32)).dtype == np.float32


def test_inverse_transform_without_normalisation_is_in_data_units():
    X, _ = _waves()
    data = 10 * X + 1000
    model = tiny_loster(normalize=False).fit(data)
    embedding = model.transform(data)
    reconstructed = model.inverse_transform(embedding)
    assert abs(reconstructed.mean() - data.mean()) < 0.5 * data.std()
    # The training set's standardisation (one mean and population std for the channel) is undone.
    expected = _decode_by_hand(model, embedding) * data.std() + data.mean()
    np.testing.assert_allclose(reconstructed, expected, rtol=1e-10)
    centroids = model.inverse_transform(model.cluster_centers_)
    assert np.all(np.abs(centroids.mean(1) - data.mean()) < data.std())


def test_inverse_transform_rejects_bad_input_and_needs_a_fit():
    X, _ = _waves()
    with pytest.raises(NotFittedError):
        tiny_loster().inverse_transform(np.zeros((3, 8)))
    model = tiny_loster().fit(X)
    embedding = model.transform(X)
    with pytest.raises(ValueError, match="expecting 8 features"):
        model.inverse_transform(embedding[:, :-1])
    with pytest.raises(ValueError, match="dim 3"):
        model.inverse_transform(embedding[:, :, None])
    with pytest.raises(ValueError, match="NaN"):
        model.inverse_transform(_with(embedding, (0, 0), np.nan))
