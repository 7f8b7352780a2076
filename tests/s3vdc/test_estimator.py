"""Behaviour of S3VDCClustering as a scikit-learn estimator."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepcluster import S3VDCClustering
from tests._configs import tiny_s3vdc

X_BLOBS, Y_BLOBS = make_blobs(n_samples=150, centers=3, n_features=4, cluster_std=0.6, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    return tiny_s3vdc(n_clusters=3).fit(X_BLOBS)


def test_recovers_separated_blobs(fitted):
    assert adjusted_rand_score(Y_BLOBS, fitted.labels_) > 0.95


def test_fitted_attributes_and_shapes(fitted):
    n_clusters, latent_dim = 3, 2
    assert fitted.labels_.shape == (150,) and fitted.labels_.dtype.kind == "i"
    assert fitted.weights_.shape == (n_clusters,)
    assert_allclose(fitted.weights_.sum(), 1.0)
    assert fitted.means_.shape == fitted.covariances_.shape == (n_clusters, latent_dim)
    assert (fitted.covariances_ > 0).all()
    assert fitted.cluster_centers_ is fitted.means_
    assert fitted.device_ == "cpu"
    assert fitted.n_features_in_ == 4
    assert fitted.transform(X_BLOBS).shape == (150, latent_dim)
    proba = fitted.predict_proba(X_BLOBS)
    assert proba.shape == (150, n_clusters)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(proba.argmax(axis=1), fitted.predict(X_BLOBS))
    assert_array_equal(fitted.predict(X_BLOBS), fitted.labels_)
    assert list(fitted.get_feature_names_out()) == ["s3vdcclustering0", "s3vdcclustering1"]


def test_history_records_every_phase(fitted):
    phases = [entry["phase"] for entry in fitted.history_]
    assert phases[0] == "warmup" and phases[-1] == "clustering"
    assert phases.count("gmm_init") == 1
    init = next(entry for entry in fitted.history_ if entry["phase"] == "gmm_init")
    assert init["samples"] == 150 and init["seconds"] > 0
    epochs = [entry for entry in fitted.history_ if entry["phase"] != "gmm_init"]
    assert all(np.isfinite(entry["loss"]) and entry["nonfinite_steps"] == 0 for entry in epochs)
    # The warm-up's rate decays; the clustering phase ramps up to its own rate, then decays to the floor.
    warmup = [entry["learning_rate"] for entry in epochs if entry["phase"] == "warmup"]
    clustering = [entry["learning_rate"] for entry in epochs if entry["phase"] == "clustering"]
    assert warmup == sorted(warmup, reverse=True)
    assert warmup[0] == pytest.approx(1e-2, rel=0.2) and warmup[-1] == pytest.approx(1e-3, rel=0.2)
    assert clustering[0] < fitted.clustering_learning_rate  # the ramp's first epoch (a tenth of the phase)
    assert clustering[1:] == sorted(clustering[1:], reverse=True)
    assert max(clustering) <= fitted.clustering_learning_rate
    assert clustering[-1] == pytest.approx(fitted.min_learning_rate, rel=0.5)
    assert fitted.n_iter_ == 20 + 3 + 2


def test_beta_follows_the_annealing_schedule_per_epoch(fitted):
    # 150 samples / 32 = 5 batches, fewer than 10: an epoch counts as 10 steps, so 3 annealing epochs
    # are 30 steps, then 2 static ones; history is written every 10 steps.
    betas = [entry["beta"] for entry in fitted.history_ if entry["phase"] == "clustering"]
    expected_first = 5e-4 + np.mean([(t / 30) ** 3 for t in range(1, 11)])
    assert betas[0] == pytest.approx(expected_first, rel=1e-5)
    assert betas == sorted(betas)
    assert betas[-2:] == [1.0, 1.0]


def test_score_prefers_training_distribution_to_outliers(fitted):
    inliers = fitted.score_samples(X_BLOBS)
    outliers = fitted.score_samples(X_BLOBS + 30.0)
    assert np.isfinite(inliers).all()
    assert inliers.mean() > outliers.mean() + 10
    assert fitted.score(X_BLOBS) == pytest.approx(inliers.mean())


def test_sample_generates_data_near_its_cluster(fitted):
    X_new, y_new = fitted.sample(60)
    assert X_new.shape == (60, 4) and y_new.shape == (60,)
    assert set(np.unique(y_new)) <= set(range(3))
    # Generated points are assigned back to the cluster they were drawn from.
    assert (fitted.predict(X_new) == y_new).mean() > 0.9
    with pytest.raises(ValueError, match="at least one sample"):
        fitted.sample(0)


def test_same_random_state_same_labels_and_no_global_rng_change():
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    a = tiny_s3vdc(n_clusters=3, random_state=7).fit(X_BLOBS)
    b = tiny_s3vdc(n_clusters=3, random_state=7).fit(X_BLOBS)
    assert_array_equal(a.labels_, b.labels_)
    assert_array_equal(a.transform(X_BLOBS), b.transform(X_BLOBS))
    assert torch.equal(torch_state, torch.random.get_rng_state())
    assert_array_equal(numpy_state, np.random.get_state()[1])


def _joblib_round_trip(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


@pytest.mark.parametrize("round_trip", [lambda m: pickle.loads(pickle.dumps(m)), _joblib_round_trip],
                         ids=["pickle", "joblib"])
def test_pickle_round_trip_identical_predictions(fitted, round_trip):
    restored = round_trip(fitted)
    assert_array_equal(restored.predict(X_BLOBS), fitted.predict(X_BLOBS))
    assert_array_equal(restored.score_samples(X_BLOBS), fitted.score_samples(X_BLOBS))


def test_gridsearch_over_n_clusters_without_scorer():
    X, _ = make_blobs(n_samples=240, centers=[[-6, -6], [0, 6], [6, -6]], cluster_std=0.7, random_state=1)
    search = GridSearchCV(tiny_s3vdc(n_score_samples=16, warmup_epochs=30), {"n_clusters": [1, 3]}, cv=3)
    search.fit(X)
    assert search.best_params_ == {"n_clusters": 3}


def test_pipeline_with_scaling():
    pipe = make_pipeline(StandardScaler(), tiny_s3vdc(n_clusters=3)).fit(X_BLOBS * 100 + 5)
    assert adjusted_rand_score(Y_BLOBS, pipe.predict(X_BLOBS * 100 + 5)) > 0.95


def test_conv_encoder_on_images():
    rng = np.random.RandomState(0)
    images = np.zeros((60, 1, 12, 10))
    images[:30, :, :6] = 1.0  # top half lit
    images[30:, :, 6:] = 1.0  # bottom half lit
    images += 0.05 * rng.normal(size=images.shape)
    X = images.reshape(60, -1)
    model = tiny_s3vdc(encoder="conv", input_shape=(1, 12, 10), latent_dim=2).fit(X)
    assert adjusted_rand_score(np.repeat([0, 1], 30), model.labels_) == 1.0
    assert model.sample(4)[0].shape == (4, 120)


def test_bernoulli_reconstruction_on_binary_data():
    X = (X_BLOBS.mean(0) < X_BLOBS).astype(float)
    model = tiny_s3vdc(reconstruction="bernoulli", n_clusters=3).fit(X)
    generated, _ = model.sample(10)
    assert ((generated >= 0) & (generated <= 1)).all()
    assert np.isfinite(model.score_samples(X)).all()


@pytest.mark.parametrize("name, X", [
    ("huge scale", X_BLOBS * 1e6),
    ("tiny scale", X_BLOBS * 1e-6),
    ("constant feature", np.column_stack([X_BLOBS, np.full(150, 3.0)])),
    ("duplicated rows", np.repeat(X_BLOBS[:10], 15, axis=0)),
    ("all rows identical", np.ones((40, 3))),
])
def test_no_nonfinite_loss_on_adversarial_inputs(name, X):
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # KMeans warns when it finds fewer distinct points
            model = tiny_s3vdc(n_clusters=3).fit(X)
    losses = [entry["loss"] for entry in model.history_ if "loss" in entry]
    assert np.isfinite(losses).all()
    assert sum(entry.get("nonfinite_steps", 0) for entry in model.history_) == 0
    assert np.isfinite(model.predict_proba(X)).all()
    assert np.isfinite(model.weights_).all() and np.isfinite(model.covariances_).all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_samples=st.integers(4, 40), n_features=st.integers(1, 5), n_clusters=st.integers(1, 4),
       seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_property_labels_probabilities_shapes_determinism(n_samples, n_features, n_clusters, seed, scale):
    n_clusters = min(n_clusters, n_samples)
    X = np.random.RandomState(seed).normal(scale=scale, size=(n_samples, n_features))
    params = dict(n_clusters=n_clusters, warmup_epochs=2, anneal_epochs=1, static_epochs=1, random_state=seed)
    model = tiny_s3vdc(**params).fit(X)
    labels = model.predict(X)
    assert labels.shape == (n_samples,) and labels.min() >= 0 and labels.max() < n_clusters
    proba = model.predict_proba(X)
    assert proba.shape == (n_samples, n_clusters)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert model.transform(X).shape == (n_samples, 2)
    assert_array_equal(tiny_s3vdc(**params).fit(X).labels_, model.labels_)


def test_verbose_levels(capsys):
    tiny_s3vdc(verbose=2, warmup_epochs=2, anneal_epochs=1, static_epochs=1).fit(X_BLOBS)
    out = capsys.readouterr().out
    assert "[warmup] epoch 1.00" in out and "[clustering]" in out
    tiny_s3vdc(verbose=1, warmup_epochs=2, anneal_epochs=1, static_epochs=1).fit(X_BLOBS)
    assert "S3VDC" in capsys.readouterr().err
    tiny_s3vdc(verbose=0, warmup_epochs=2, anneal_epochs=1, static_epochs=1).fit(X_BLOBS)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_float32_input_gives_float32_embedding(fitted):
    assert fitted.transform(X_BLOBS.astype(np.float32)).dtype == np.float32
    assert fitted.transform(X_BLOBS).dtype == np.float64


def test_memmap_input(tmp_path):
    path = tmp_path / "X.dat"
    memmap = np.memmap(path, dtype=np.float32, mode="w+", shape=X_BLOBS.shape)
    memmap[:] = X_BLOBS
    memmap.flush()
    readonly = np.memmap(path, dtype=np.float32, mode="r", shape=X_BLOBS.shape)
    model = tiny_s3vdc(n_clusters=3).fit(readonly)
    assert adjusted_rand_score(Y_BLOBS, model.predict(readonly)) > 0.95


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_and_cpu_pickle():
    model = tiny_s3vdc(n_clusters=3, device="cuda").fit(X_BLOBS)
    assert model.device_.startswith("cuda")
    state = model.__getstate__()
    assert all(not p.is_cuda for p in state["module_"].parameters())
    assert adjusted_rand_score(Y_BLOBS, model.labels_) > 0.95


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("X, error, match", [
    (np.array([[1.0, np.nan], [2.0, 3.0], [1.0, 1.0]]), ValueError, "NaN"),
    (np.array([[1.0, np.inf], [2.0, 3.0], [1.0, 1.0]]), ValueError, "infinity"),
    (np.empty((0, 3)), ValueError, "0 sample"),
    (np.arange(10.0), ValueError, "Expected 2D array, got 1D array"),
    (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), ValueError, "numeric|float"),
    (np.ones((1, 3)), ValueError, "1 sample"),
    (np.ones((3, 2, 2)), ValueError, "dim 3"),
])
def test_bad_training_input_raises_clear_error(X, error, match):
    model = tiny_s3vdc()
    with pytest.raises(error, match=match):
        model.fit(X)
    assert not hasattr(model, "labels_")


def test_more_clusters_than_samples():
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=6"):
        tiny_s3vdc(n_clusters=6).fit(np.random.RandomState(0).rand(5, 2))


@pytest.mark.parametrize("params, match", [
    ({"encoder": "conv"}, "input_shape"),
    ({"encoder": "conv", "input_shape": (1, 3, 3)}, "holds 9 values"),
    ({"reconstruction": "bernoulli"}, r"in \[0, 1\]"),
    ({"hidden_dims": (8, 0)}, "positive ints"),
    ({"device": "tpu"}, "expected 'auto', 'cpu', 'cuda' or 'cuda:N'"),
])
def test_parameters_inconsistent_with_data(params, match):
    with pytest.raises(ValueError, match=match):
        tiny_s3vdc(**params).fit(X_BLOBS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        tiny_s3vdc(device="cuda").fit(X_BLOBS)


def test_wrong_feature_count_at_predict(fitted):
    for method in ("predict", "predict_proba", "transform", "score_samples", "score"):
        with pytest.raises(ValueError, match="X has 3 features, but S3VDCClustering is expecting 4"):
            getattr(fitted, method)(X_BLOBS[:, :3])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score", "score_samples"])
def test_use_before_fit(method):
    with pytest.raises(NotFittedError):
        getattr(S3VDCClustering(), method)(X_BLOBS)


def test_sample_and_feature_names_before_fit():
    with pytest.raises(NotFittedError):
        S3VDCClustering().sample(3)
    with pytest.raises(NotFittedError):
        S3VDCClustering().get_feature_names_out()


def test_more_score_samples_tighten_the_importance_bound(fitted):
    # The IWAE estimate is a lower bound whose expectation grows with S; set_params is honoured.
    import copy
    few = fitted.score(X_BLOBS)
    many_model = copy.deepcopy(fitted).set_params(n_score_samples=256)
    many = many_model.score(X_BLOBS)
    assert many > few
    assert many_model.score(X_BLOBS) == many  # deterministic


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates loading on a machine without CUDA")
def test_model_trained_on_cuda_loads_on_cpu_only_machine(fitted):
    import copy
    as_if_from_gpu = copy.deepcopy(fitted)
    as_if_from_gpu.device_ = "cuda:1"
    restored = pickle.loads(pickle.dumps(as_if_from_gpu))
    assert restored._module_device().type == "cpu"
    assert_array_equal(restored.predict(X_BLOBS), fitted.predict(X_BLOBS))


def test_prior_initialised_from_gmm_init_samples_only():
    # Algorithm 1 line 4: k x L samples, not the whole data set; clipped to n_samples.
    model = tiny_s3vdc(n_clusters=3, gmm_init_samples=40).fit(X_BLOBS)
    init = next(entry for entry in model.history_ if entry["phase"] == "gmm_init")
    assert init["samples"] == 40
    assert adjusted_rand_score(Y_BLOBS, model.labels_) > 0.95
