"""S3VDCClustering(sample_weight=...): validation, uniform weights, zero weights, repeated rows."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from tests._configs import tiny_s3vdc

X, Y = make_blobs(n_samples=90, centers=3, n_features=4, cluster_std=0.6, random_state=0)


def _assert_same_fit(first, second):
    assert_array_equal(first.labels_, second.labels_)
    for name in ("means_", "covariances_", "weights_"):
        assert_array_equal(getattr(first, name), getattr(second, name))
    assert [entry.get("loss") for entry in first.history_] == [entry.get("loss") for entry in second.history_]


@pytest.mark.parametrize("init_partition", ["spectral", "kmeans"])
def test_uniform_weights_are_the_unweighted_fit_bit_for_bit(init_partition):
    reference = tiny_s3vdc(n_clusters=3, init_partition=init_partition).fit(X)
    _assert_same_fit(tiny_s3vdc(n_clusters=3, init_partition=init_partition).fit(X, sample_weight=np.ones(90)),
                     reference)
    _assert_same_fit(tiny_s3vdc(n_clusters=3, init_partition=init_partition).fit(X, sample_weight=[2.5] * 90),
                     reference)


def test_zero_weight_rows_are_as_if_absent():
    weights = np.random.RandomState(0).uniform(0.5, 2.0, 90)
    weights[[0, 31, 62]] = 0.0
    kept = weights > 0
    with_zeros = tiny_s3vdc(n_clusters=3).fit(X, sample_weight=weights)
    without = tiny_s3vdc(n_clusters=3).fit(X[kept], sample_weight=weights[kept])
    assert_array_equal(with_zeros.means_, without.means_)
    assert_array_equal(with_zeros.labels_[kept], without.labels_)
    assert with_zeros.labels_.shape == (90,)  # the absent rows are labelled too
    assert_array_equal(with_zeros.labels_, with_zeros.predict(X))
    # With the rest uniform: the unweighted fit of the other rows.
    ones = kept.astype(float)
    assert_array_equal(tiny_s3vdc(n_clusters=3).fit(X, sample_weight=ones).means_,
                       tiny_s3vdc(n_clusters=3).fit(X[kept]).means_)


def test_integer_weights_act_like_repeated_rows():
    # Blob 0 weighs 4, the others 1: its share of the data, and so its prior weight pi, is 4/6.
    weights = np.where(Y == 0, 4, 1)
    weighted = tiny_s3vdc(n_clusters=3).fit(X, sample_weight=weights)
    repeated = tiny_s3vdc(n_clusters=3).fit(np.repeat(X, weights, axis=0))
    unweighted = tiny_s3vdc(n_clusters=3).fit(X)
    assert adjusted_rand_score(weighted.labels_, repeated.predict(X)) == 1.0
    assert adjusted_rand_score(Y, weighted.labels_) == 1.0
    blob_zero = np.bincount(weighted.labels_[Y == 0]).argmax()
    assert weighted.weights_[blob_zero] == pytest.approx(4 / 6, abs=0.05)
    assert repeated.weights_[np.bincount(repeated.predict(X)[Y == 0]).argmax()] == pytest.approx(4 / 6, abs=0.05)
    assert unweighted.weights_[np.bincount(unweighted.labels_[Y == 0]).argmax()] == pytest.approx(1 / 3, abs=0.05)
    # The weighted mean log-likelihood of X under both models, within 0.5 nats per sample.
    log_likelihood = np.average(weighted.score_samples(X), weights=weights)
    assert log_likelihood == pytest.approx(np.average(repeated.score_samples(X), weights=weights), abs=0.5)


def test_fit_predict_and_fit_transform_forward_sample_weight():
    weights = np.where(Y == 0, 3.0, 1.0)
    model = tiny_s3vdc(n_clusters=3).fit(X, sample_weight=weights)
    assert_array_equal(tiny_s3vdc(n_clusters=3).fit_predict(X, sample_weight=weights), model.labels_)
    assert_array_equal(tiny_s3vdc(n_clusters=3).fit_transform(X, sample_weight=weights), model.transform(X))


BAD_WEIGHTS = {
    "too long": (np.ones(91), r"sample_weight.shape == \(91,\), expected \(90,\)"),
    "2-D": (np.ones((90, 2)), r"Sample weights must be 1D"),
    "negative": (np.r_[-1.0, np.ones(89)], r"Negative values in data passed to `sample_weight`"),
    "all zero": (np.zeros(90), r"Sample weights must contain at least one non-zero number"),
    "NaN": (np.r_[np.nan, np.ones(89)], r"NaN"),
    "fewer positive than clusters": (np.r_[1.0, 1.0, np.zeros(88)], r"2 positive weight\(s\).*n_clusters=3"),
}


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_weights_raise_and_leave_the_estimator_as_it_was(case):
    weights, message = BAD_WEIGHTS[case]
    model = tiny_s3vdc(n_clusters=3)
    with pytest.raises(ValueError, match=message):
        model.fit(X, sample_weight=weights)
    assert not hasattr(model, "n_features_in_") and not hasattr(model, "labels_")
    fitted = tiny_s3vdc(n_clusters=3, warmup_epochs=2, n_periods=0).fit(X)
    means, labels = fitted.means_.copy(), fitted.labels_.copy()
    with pytest.raises(ValueError, match=message):
        fitted.fit(X, sample_weight=weights)
    assert_array_equal(fitted.means_, means)
    assert_array_equal(fitted.labels_, labels)


def test_the_caller_s_weights_are_not_modified():
    weights = np.where(Y == 0, 3.0, 1.0)
    weights[5] = 0.0
    copy = weights.copy()
    tiny_s3vdc(n_clusters=3, warmup_epochs=2, n_periods=0).fit(X, sample_weight=weights)
    assert_array_equal(weights, copy)


@pytest.mark.parametrize("init_partition", ["spectral", "kmeans"])
def test_a_weighted_fit_leaves_global_random_state_alone(init_partition):
    import random

    import torch

    weights = np.where(Y == 0, 3.0, 1.0)
    weights[::9] = 0.0
    states = np.random.get_state()[1].copy(), torch.random.get_rng_state().clone(), random.getstate()
    tiny_s3vdc(n_clusters=3, init_partition=init_partition, warmup_epochs=2, n_periods=1).fit(
        X, sample_weight=weights)
    np.testing.assert_array_equal(np.random.get_state()[1], states[0])
    assert torch.equal(torch.random.get_rng_state(), states[1]) and random.getstate() == states[2]
