"""A third algorithm built from the base class's hooks alone (doc/adding_an_algorithm.rst).

``AutoencoderKMeans`` (between the markers, under 100 lines) trains an autoencoder, then takes
k-means of its embedding: the start of DEC. Everything else (validation, the fit transaction,
seeding, devices, mini-batches, the guarded loop, warm starts, interrupts, sample weights,
model files, thread-safe inference, scikit-learn's common checks) comes from
``_BaseDeepClustering``.
"""

from numbers import Integral, Real

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import Interval
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeepcluster import load
from skdeepcluster._base import _BaseDeepClustering
from skdeepcluster._engine import map_batches
from skdeepcluster._partition import nearest_centers, squared_distances
from skdeepcluster._persistence import check_network_size, register_estimator
from tests.test_common import expected_failed_checks

# ---- the whole algorithm -----------------------------------------------------------------


@register_estimator
class AutoencoderKMeans(_BaseDeepClustering):
    """An autoencoder, then k-means of its embedding."""

    _progress_label = "AE+KMeans"
    _parameter_constraints: dict = {**_BaseDeepClustering._parameter_constraints,
                                    "hidden_dim": [Interval(Integral, 1, None, closed="left")],
                                    "epochs": [Interval(Integral, 1, None, closed="left")],
                                    "learning_rate": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, n_clusters=3, *, latent_dim=2, hidden_dim=32, epochs=40, learning_rate=1e-2, batch_size=32,
                 tol=0.0, warm_start=False, n_jobs=None, device="cpu", distributed=False, random_state=None,
                 verbose=0):
        self.n_clusters, self.latent_dim, self.hidden_dim, self.epochs = n_clusters, latent_dim, hidden_dim, epochs
        self.learning_rate, self.batch_size, self.tol, self.warm_start = learning_rate, batch_size, tol, warm_start
        self.n_jobs, self.device, self.distributed = n_jobs, device, distributed
        self.random_state, self.verbose = random_state, verbose

    # The fit skeleton's hooks.
    def _validate_training_input(self, X):
        return self._validate_training_data(X), {}

    def _architecture(self, run):
        return {"n_features": int(run.X.shape[1]), "n_clusters": int(self.n_clusters),
                "latent_dim": int(self.latent_dim), "hidden_dim": int(self.hidden_dim)}

    def _initial_progress(self):
        return {"steps": 0}

    def _network_inputs(self, run):
        return run.X.shape[1]

    def _fitted_network_inputs(self):
        return self.n_features_in_

    def _build_network(self, n_inputs, n_clusters, latent_dim):
        return torch.nn.ModuleDict({
            "encoder": torch.nn.Sequential(torch.nn.Linear(n_inputs, self.hidden_dim), torch.nn.ELU(),
                                           torch.nn.Linear(self.hidden_dim, latent_dim)),
            "decoder": torch.nn.Sequential(torch.nn.Linear(latent_dim, self.hidden_dim), torch.nn.ELU(),
                                           torch.nn.Linear(self.hidden_dim, n_inputs))})

    def _loop_plan(self, run):
        steps = self.epochs * run.batches.steps_per_epoch
        return {"optimizer": torch.optim.Adam(run.network.parameters()),
                "learning_rate_at": lambda step: self.learning_rate, "total_steps": run.start_step + steps}

    def _train(self, run):
        network = run.network

        def reconstruction(batch, step):
            loss = run.batch_weights.mean(((network["decoder"](network["encoder"](batch)) - batch) ** 2).sum(1))
            return loss, {"loss": loss}

        run.loop.run(run.loop.total_steps - run.loop.step, reconstruction, phase="pretrain")

    def _set_fitted_attributes(self, run):
        embedding = map_batches(self.module_["encoder"], run.X, self.batch_size, run.device)
        kmeans = KMeans(self.n_clusters, n_init=10, random_state=run.rng.randint(2**31 - 1))
        self.cluster_centers_ = kmeans.fit(embedding, sample_weight=run.weights).cluster_centers_
        all_rows = map_batches(self.module_["encoder"], run.X_all, self.batch_size, run.device)
        self.labels_ = nearest_centers(all_rows, self.cluster_centers_)[0]
        self.n_iter_, self.converged_ = self.epochs, True

    # Inference: the base class's predict and transform read these.
    def _embedding(self, X):
        X = self._validate_inference_data(X)
        return X.dtype, map_batches(self.module_["encoder"], X, self.batch_size, self._module_device())

    def _cluster_scores(self, X):
        return -squared_distances(self._embedding(X)[1], self.cluster_centers_)

    def predict_proba(self, X):
        scores = self._cluster_scores(X)
        proba = np.exp(scores - scores.max(axis=1, keepdims=True))
        return proba / proba.sum(axis=1, keepdims=True)

    # Model files: the parameter budget of the saved network and an input to probe it with.
    def _check_saved_network(self, counts):
        check_network_size(self, counts, [self.hidden_dim], self.n_features_in_)

    def _probe_sample(self):
        return np.zeros((1, self.n_features_in_))
# ---- end of the algorithm ----------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(150, n_features=6, centers=3, cluster_std=1.0, random_state=0)
    return (X - X.mean(0)) / X.std(0), y


def test_the_algorithm_is_under_100_lines():
    with open(__file__) as file:
        source = file.read()
    body = source.split("# ---- the whole algorithm")[1].split("# ---- end of the algorithm")[0]
    assert len(body.splitlines()) < 100


def test_fits_clusters_and_behaves_like_the_others(blobs):
    X, y = blobs
    model = AutoencoderKMeans(random_state=0).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.9
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.transform(X).shape == (150, 2) and model.transform(X.astype(np.float32)).dtype == np.float32
    assert [entry["phase"] for entry in model.history_] == ["pretrain"] * model.epochs
    again = AutoencoderKMeans(random_state=0).fit(X)  # seeded like the others: bit for bit
    np.testing.assert_array_equal(again.transform(X), model.transform(X))


def test_gets_the_shared_machinery_for_free(blobs, tmp_path):
    X, _ = blobs
    model = AutoencoderKMeans(epochs=5, random_state=0).fit(X)
    before = model.transform(X)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):  # the fit transaction
        model.fit(X[:2])
    np.testing.assert_array_equal(model.transform(X), before)
    model.set_params(warm_start=True).fit(X)  # a warm start continues the step count
    assert model._progress["steps"] == 2 * 5 * 5
    weighted = AutoencoderKMeans(epochs=5, random_state=0).fit(X, sample_weight=np.r_[np.zeros(50), np.ones(100)])
    assert weighted.labels_.shape == (150,)
    model.save(tmp_path / "model.skdc")
    np.testing.assert_array_equal(load(tmp_path / "model.skdc").predict(X), model.predict(X))


@parametrize_with_checks([AutoencoderKMeans(epochs=3, random_state=0)], expected_failed_checks=expected_failed_checks)
def test_scikit_learn_common_checks(estimator, check):
    check(estimator)
