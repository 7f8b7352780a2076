"""The initial partition, the joint phase anchored on it, the bandwidth, normalize="auto",
score_samples and choosing k (issue 13)."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_clustering

from skdeepcluster import LoSTerClustering
from skdeepcluster._engine import MIN_STEPS_PER_EPOCH
from skdeepcluster.loster import PAPER_PARAMS, _training, silhouette_scorer
from tests._configs import tiny_loster


def _three_waves(n_samples=90, n_timestamps=64, seed=0):
    """Three clusters of noisy sines of 2, 5 and 8 periods, random phase and amplitude."""
    rng = np.random.RandomState(seed)
    labels = np.arange(n_samples) % 3
    t = np.linspace(0.0, 1.0, n_timestamps)
    frequency = np.array([2.0, 5.0, 8.0])[labels][:, None]
    X = rng.uniform(0.5, 2, (n_samples, 1)) * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 1, (n_samples, 1)))
    return X + 0.2 * rng.normal(size=X.shape), labels


def test_joint_phase_keeps_and_sharpens_its_initial_partition():
    X, y = _three_waves()
    model = tiny_loster(n_clusters=3, max_epochs=30).fit(X)
    start = model.initial_labels_
    joint = [entry for entry in model.history_ if entry["phase"] == "joint"]
    # predict (nearest centroid) starts below the partition and is pulled onto it.
    assert joint[-1]["partition_agreement"] >= max(0.95, joint[0]["partition_agreement"])
    assert adjusted_rand_score(start, model.labels_) > 0.9
    assert adjusted_rand_score(y, model.labels_) >= adjusted_rand_score(y, start) - 0.02
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    # Stable labels alone do not stop the anchored phase: they must reproduce the partition.
    assert model.converged_ and joint[-1]["partition_agreement"] >= 0.99


@pytest.mark.parametrize("init", ["spectral", "kmeans"])
def test_centroids_are_the_part_means_of_the_initial_partition(init):
    X, _ = _three_waves()
    model = tiny_loster(n_clusters=3, max_epochs=0, init=init).fit(X)
    assert [entry["method"] for entry in model.history_ if entry["phase"] == "init"] == [init]
    embedding = model.transform(X)
    means = np.stack([embedding[model.initial_labels_ == part].mean(0) for part in range(3)])
    np.testing.assert_allclose(model.cluster_centers_, means, rtol=1e-4, atol=1e-4)
    # bandwidth="auto": the root mean squared distance to the part's centroid.
    rms = np.sqrt(((embedding - means[model.initial_labels_]) ** 2).sum(1).mean())
    assert model.bandwidth_ == pytest.approx(rms, rel=1e-3)
    assert tiny_loster(n_clusters=3, max_epochs=0, bandwidth=2.5).fit(X).bandwidth_ == 2.5


def test_paper_params_give_the_paper_method():
    X, _ = _three_waves()
    model = tiny_loster(n_clusters=3, max_epochs=2, tol=0, **PAPER_PARAMS).fit(X)
    assert model.bandwidth_ == 1.0
    assert [entry["method"] for entry in model.history_ if entry["phase"] == "init"] == ["kmeans"]
    assert [entry["learning_rate"] for entry in model.history_ if entry["phase"] == "joint"] == [1e-2, 1e-2]


def test_an_epoch_that_empties_a_cluster_is_undone(monkeypatch):
    X, _ = _three_waves()
    reference = tiny_loster(n_clusters=3, max_epochs=0).fit(X)
    real = _training.cluster_labels
    calls = []

    def collapsing(*args):
        # The labels before joint training are real; after its first epoch everything is in cluster 0.
        calls.append(1)
        labels = real(*args)
        return labels if len(calls) == 1 else np.zeros_like(labels)

    monkeypatch.setattr(_training, "cluster_labels", collapsing)
    model = tiny_loster(n_clusters=3, max_epochs=5).fit(X)
    events = [entry for entry in model.history_ if entry.get("event") == "absorbed"]
    assert len(events) == 1 and model.converged_
    assert model.n_iter_ == model.pretrain_epochs  # the undone epoch does not count
    # The weights and centroids are those before the undone epoch, so the labels are too.
    np.testing.assert_allclose(model.cluster_centers_, reference.cluster_centers_)
    np.testing.assert_array_equal(model.labels_, reference.labels_)


def test_normalize_auto_z_normalises_series_but_not_short_rows():
    X, _ = _three_waves()
    model = tiny_loster(n_clusters=3, max_epochs=0).fit(X)
    # Series: each is z-normalised, so level and scale do not matter.
    np.testing.assert_allclose(model.transform(3.0 * X + 1.0), model.transform(X), atol=1e-8)
    rows = np.random.RandomState(0).normal(size=(30, 4))
    short = tiny_loster(max_epochs=0).fit(rows)
    assert not np.allclose(short.transform(3.0 * rows + 1.0), short.transform(rows), atol=1e-3)


def test_default_estimator_passes_check_clustering():
    # The scikit-learn check that failed with per-series z-normalisation of 2-feature blobs.
    check_clustering("LoSTerClustering", LoSTerClustering(pretrain_epochs=10, max_epochs=5, random_state=0))


def test_score_samples_flags_outlier_series():
    X, _ = _three_waves()
    model = tiny_loster(n_clusters=3).fit(X)
    outlier = np.random.RandomState(1).standard_cauchy((1, X.shape[1]))
    scores = model.score_samples(np.vstack([X, outlier]))
    assert scores.shape == (X.shape[0] + 1,) and np.all(scores <= 0)
    assert scores[-1] < np.percentile(scores[:-1], 5)
    distances = ((model.transform(X)[:, None] - model.cluster_centers_[None]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(scores[:-1], -distances / model.bandwidth_**2, rtol=1e-6)
    assert model.score(X) == pytest.approx(scores[:-1].sum() * model.bandwidth_**2)


@pytest.mark.parametrize("space", ["series", "embedding"])
def test_silhouette_scorer_chooses_the_known_number_of_clusters(space):
    X, _ = _three_waves(n_samples=60)
    search = GridSearchCV(tiny_loster(pretrain_epochs=10, max_epochs=3), {"n_clusters": [2, 3, 4]},
                          scoring=lambda estimator, X, y=None: silhouette_scorer(estimator, X, space=space), cv=2)
    search.fit(X)
    assert search.best_params_ == {"n_clusters": 3}


def test_silhouette_scorer_input_errors():
    X, _ = _three_waves(n_samples=30)
    model = tiny_loster(n_clusters=3, max_epochs=0).fit(X)
    with pytest.raises(ValueError, match="space must be one of"):
        silhouette_scorer(model, X, space="latent")
    with pytest.raises(ValueError, match="at least 3"):
        silhouette_scorer(model, X[:2])
    assert -1.0 <= silhouette_scorer(model, X) <= 1.0


def test_a_joint_epoch_is_at_least_min_steps_on_small_data():
    # 60 series in batches of 32: one step per pass. Pretraining epochs stay one pass; a joint
    # epoch is MIN_STEPS_PER_EPOCH steps, so its learning rate and label-change check do not run
    # per single step (the rate decayed before the labels reached the partition).
    X, _ = _three_waves(n_samples=60)
    model = tiny_loster(n_clusters=3, pretrain_epochs=3, max_epochs=2, tol=0).fit(X)
    pretrain = [entry for entry in model.history_ if entry["phase"] == "pretrain"]
    joint = [entry for entry in model.history_ if entry["phase"] == "joint" and "event" not in entry]
    assert [entry["steps"] for entry in pretrain] == [1, 1, 1]
    assert [entry["steps"] for entry in joint] == [MIN_STEPS_PER_EPOCH] * 2
    assert [entry["epoch"] for entry in joint] == [4.0, 5.0]
    assert model.n_iter_ == 5


def test_a_joint_epoch_is_one_pass_on_data_of_min_steps_batches_or_more():
    X, _ = _three_waves(n_samples=MIN_STEPS_PER_EPOCH * 8 + 3)
    model = tiny_loster(n_clusters=3, pretrain_epochs=1, max_epochs=2, tol=0, batch_size=8).fit(X)
    steps = {entry["phase"]: entry["steps"] for entry in model.history_ if "steps" in entry}
    assert steps == {"pretrain": MIN_STEPS_PER_EPOCH, "joint": MIN_STEPS_PER_EPOCH}


@pytest.mark.parametrize("start_wins", [True, False])
def test_the_joint_phase_keeps_the_better_of_its_start_and_end(monkeypatch, start_wins):
    X, _ = _three_waves()
    start = tiny_loster(n_clusters=3, max_epochs=0).fit(X)
    judged = []

    def agreement(neighbours, labels):
        # The criterion sees the start's labels first, then the end's, on the same neighbours.
        judged.append((neighbours.copy(), labels.copy()))
        return (0.5 if len(judged) == 1 else 0.2) if start_wins else (0.2 if len(judged) == 1 else 0.5)

    monkeypatch.setattr(_training, "neighbour_agreement", agreement)
    model = tiny_loster(n_clusters=3, max_epochs=5, tol=0, keep_better=True).fit(X)
    assert len(judged) == 2
    np.testing.assert_array_equal(judged[0][0], judged[1][0])
    # All 90 series (fewer than SELECTION_SAMPLE), each with its n_neighbors nearest other series.
    assert judged[0][0].shape == (90, 10) and not (judged[0][0] == np.arange(90)[:, None]).any()
    np.testing.assert_array_equal(judged[0][1], start.labels_)
    kept = [entry for entry in model.history_ if entry.get("event") == "kept_start"]
    if start_wins:
        assert len(kept) == 1 and kept[0]["neighbour_agreement_start"] == 0.5
        # The start's weights and centroids, bit for bit.
        np.testing.assert_array_equal(model.cluster_centers_, start.cluster_centers_)
        np.testing.assert_array_equal(model.labels_, start.labels_)
    else:
        assert not kept
        np.testing.assert_array_equal(model.labels_, judged[1][1])
        assert not np.array_equal(model.cluster_centers_, start.cluster_centers_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_neighbour_agreement_is_corrected_for_chance():
    neighbours = np.array([[1], [0], [3], [2]])
    assert _training.neighbour_agreement(neighbours, np.array([0, 0, 1, 1])) == 1.0
    # One cluster agrees everywhere but scores worst; a labelling that splits every pair scores below 0.
    assert _training.neighbour_agreement(neighbours, np.zeros(4, dtype=int)) == -1.0
    assert _training.neighbour_agreement(neighbours, np.array([0, 1, 0, 1])) < 0


def test_keep_better_is_opt_in_and_not_for_the_paper_method(monkeypatch):
    monkeypatch.setattr(_training, "neighbour_agreement", lambda neighbours, labels: pytest.fail("judged"))
    X, _ = _three_waves()
    tiny_loster(n_clusters=3, max_epochs=2, tol=0).fit(X)
    tiny_loster(n_clusters=3, max_epochs=2, tol=0, keep_better=True, **PAPER_PARAMS).fit(X)
