"""LoSTerClustering(sample_weight=...): validation, uniform weights, zero weights, repeated series."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.metrics import adjusted_rand_score

from tests._configs import tiny_loster
from tests.loster.test_estimator import _waves

X, Y = _waves()


def _assert_same_fit(first, second):
    assert_array_equal(first.labels_, second.labels_)
    assert_array_equal(first.cluster_centers_, second.cluster_centers_)
    assert first.bandwidth_ == second.bandwidth_
    assert [entry.get("loss") for entry in first.history_] == [entry.get("loss") for entry in second.history_]


@pytest.mark.parametrize("params", [{}, {"joint_assignments": "gumbel", "init": "kmeans", "normalize": False}])
def test_uniform_weights_are_the_unweighted_fit_bit_for_bit(params):
    reference = tiny_loster(**params).fit(X)
    _assert_same_fit(tiny_loster(**params).fit(X, sample_weight=np.ones(len(X))), reference)
    _assert_same_fit(tiny_loster(**params).fit(X, sample_weight=[0.3] * len(X)), reference)


def test_zero_weight_series_are_as_if_absent():
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    weights[[1, 10, 33]] = 0.0
    kept = weights > 0
    with_zeros = tiny_loster().fit(X, sample_weight=weights)
    without = tiny_loster().fit(X[kept], sample_weight=weights[kept])
    assert_array_equal(with_zeros.cluster_centers_, without.cluster_centers_)
    assert_array_equal(with_zeros.labels_[kept], without.labels_)
    assert_array_equal(with_zeros.initial_labels_[kept], without.initial_labels_)
    assert with_zeros.labels_.shape == with_zeros.initial_labels_.shape == (len(X),)
    assert_array_equal(with_zeros.labels_, with_zeros.predict(X))
    assert adjusted_rand_score(Y, with_zeros.labels_) == 1.0  # the absent series are labelled with their class


@pytest.mark.parametrize("params", [{}, {"joint_assignments": "gumbel", "init": "kmeans"}])
def test_integer_weights_act_like_repeated_series(params):
    weights = np.random.RandomState(1).randint(1, 4, len(X))
    weighted = tiny_loster(**params).fit(X, sample_weight=weights)
    repeated = tiny_loster(**params).fit(np.repeat(X, weights, axis=0))
    assert adjusted_rand_score(weighted.labels_, repeated.predict(X)) == 1.0
    assert adjusted_rand_score(Y, weighted.labels_) == 1.0
    if not params:
        # The bandwidth (set before the joint phase from the weighted part statistics) agrees
        # within 20 %, and the weighted mean of score_samples within a factor 1.5: since joint
        # epochs last at least 10 steps, the joint phase moves the tiny set's embedding further,
        # and refits of the same repeated data with seeds 0-2 spread from -4.2 to -9.2 (the
        # weighted fit: -6.0 to -14.1). Not for the paper's Gumbel phase: the repeated data's
        # epochs have twice the steps, and its short budget then ends at other distances.
        assert weighted.bandwidth_ == pytest.approx(repeated.bandwidth_, rel=0.2)
        weighted_score = np.average(weighted.score_samples(X), weights=weights)
        repeated_score = np.average(repeated.score_samples(X), weights=weights)
        assert weighted_score < 0 and repeated_score < 0
        assert 1 / 1.5 < weighted_score / repeated_score < 1.5


def test_weighted_bandwidth_and_channel_statistics():
    # A class weighted 5 times pulls the normalize=False standardisation towards its own values.
    weights = np.where(Y == 0, 5.0, 1.0)
    shifted = X + np.where(Y == 0, 3.0, 0.0)[:, None]
    model = tiny_loster(normalize=False, max_epochs=0).fit(shifted, sample_weight=weights)
    mean = model._channel_stats[0].item()
    assert mean == pytest.approx(np.average(shifted.mean(axis=1), weights=weights), rel=1e-9)
    assert mean == pytest.approx(np.repeat(shifted, weights.astype(int), axis=0).mean(), rel=1e-9)


BAD_WEIGHTS = {
    "too short": (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)"),
    "negative": (np.r_[-1.0, np.ones(59)], r"Negative values in data passed to `sample_weight`"),
    "all zero": (np.zeros(60), r"Sample weights must contain at least one non-zero number"),
    "infinite": (np.r_[np.inf, np.ones(59)], r"infinity"),
    "one positive": (np.r_[1.0, np.zeros(59)], r"1 positive weight\(s\)"),
}


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_weights_raise_and_leave_the_estimator_as_it_was(case):
    weights, message = BAD_WEIGHTS[case]
    model = tiny_loster()
    with pytest.raises(ValueError, match=message):
        model.fit(X, sample_weight=weights)
    assert not hasattr(model, "n_features_in_") and not hasattr(model, "labels_")
    fitted = tiny_loster(pretrain_epochs=1, max_epochs=0).fit(X)
    centers = fitted.cluster_centers_.copy()
    with pytest.raises(ValueError, match=message):
        fitted.fit(X, sample_weight=weights)
    assert_array_equal(fitted.cluster_centers_, centers)


def test_fit_predict_forwards_sample_weight():
    weights = np.where(Y == 0, 3.0, 1.0)
    assert_array_equal(tiny_loster().fit_predict(X, sample_weight=weights),
                       tiny_loster().fit(X, sample_weight=weights).labels_)


def test_a_weighted_fit_with_gaps_leaves_global_random_state_alone():
    import random

    import torch

    weights = np.where(Y == 0, 3.0, 1.0)
    weights[::9] = 0.0
    gapped = X.copy()
    gapped[::4, 20:26] = np.nan
    states = np.random.get_state()[1].copy(), torch.random.get_rng_state().clone(), random.getstate()
    tiny_loster(max_epochs=2).fit(gapped, sample_weight=weights)
    np.testing.assert_array_equal(np.random.get_state()[1], states[0])
    assert torch.equal(torch.random.get_rng_state(), states[1]) and random.getstate() == states[2]
