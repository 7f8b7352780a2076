"""LoSTerClustering on series with missing values (NaN inside a series)."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.metrics import adjusted_rand_score

from skdeepcluster.loster import _training
from skdeepcluster.loster._model import ORIGINAL
from tests._configs import tiny_loster
from tests.loster.test_estimator import _variable_length, _waves


def _with_gaps(X, every=3, seed=0, gap=8):
    """Every ``every``-th series loses ``gap`` consecutive timestamps somewhere inside."""
    rng = np.random.RandomState(seed)
    X = X.copy()
    for row in range(0, X.shape[0], every):
        start = rng.randint(1, X.shape[1] - gap - 1)
        X[row, start:start + gap] = np.nan
    return X


@pytest.mark.parametrize("variable_length", ["resample", "mask"])
def test_series_with_gaps_are_clustered_with_their_class(variable_length):
    X, y = _waves()
    gapped = _with_gaps(X)
    model = tiny_loster(variable_length=variable_length).fit(gapped)
    assert adjusted_rand_score(y, model.labels_) == 1.0
    assert_array_equal(model.predict(gapped), model.labels_)
    # Inference on gaps: finite outputs, and a gapped series lands in its class's cluster.
    for output in (model.transform(gapped), model.predict_proba(gapped), model.score_samples(gapped)):
        assert np.isfinite(output).all()
    assert adjusted_rand_score(y, model.predict(_with_gaps(X, every=2, seed=1))) == 1.0


def test_gaps_and_trailing_padding_together():
    X, y = _waves()
    both = _with_gaps(_variable_length(X), gap=4)
    model = tiny_loster(variable_length="mask").fit(both)
    assert adjusted_rand_score(y, model.labels_) == 1.0


def test_the_network_reads_a_gap_as_zero_after_normalisation():
    X, _ = _waves()
    gapped = _with_gaps(X)
    model = tiny_loster(variable_length="mask", max_epochs=1).fit(gapped)
    prepared = model._prepared_rows(gapped[:3, :, None], slice(0, 3))
    assert np.isnan(prepared[0]).sum() == 8 and not np.isnan(prepared[1]).any()
    expected = model.module_.encode(torch.nan_to_num(torch.as_tensor(prepared), nan=0.0), ORIGINAL).detach().numpy()
    np.testing.assert_allclose(model.transform(gapped[:3]), expected, rtol=1e-12)


def test_the_training_reconstruction_loss_counts_only_observed_timestamps():
    X, _ = _waves()
    gapped = _with_gaps(X)
    model = tiny_loster(variable_length="mask", pretrain_epochs=2, max_epochs=0).fit(gapped)
    network = model.module_.eval()  # no dropout: the loss is a function of the batch
    prepared = model._prepared_rows(gapped[:, :, None], slice(0, 60))
    batch = torch.as_tensor(np.stack([prepared, prepared], axis=1))  # both views the same series
    loss = _training.pretrain_loss(model, network)(batch, 0)[1]["reconstruction"].item()
    observed = ~np.isnan(prepared)
    reconstructed = network(torch.nan_to_num(batch.transpose(0, 1), nan=0.0))[1][ORIGINAL].detach().numpy()
    squared = (np.nan_to_num(prepared) - reconstructed) ** 2
    assert loss == pytest.approx(squared[observed].mean(), rel=1e-9)
    assert abs(loss - squared.mean()) > 1e-6  # the gaps would count otherwise


def test_an_all_nan_series_is_refused_at_fit_and_predict():
    X, _ = _waves()
    bad = X.copy()
    bad[7] = np.nan
    model = tiny_loster()
    with pytest.raises(ValueError, match="Series 7 is all NaN"):
        model.fit(bad)
    assert not hasattr(model, "n_features_in_")
    model = tiny_loster(pretrain_epochs=1, max_epochs=0).fit(X)
    with pytest.raises(ValueError, match="Series 7 is all NaN"):
        model.predict(bad)


def test_a_channel_with_no_observed_value_is_refused():
    X, _ = _waves(n_channels=2)
    X[4, :, 1] = np.nan
    with pytest.raises(ValueError, match="Series 4 has no observed value in channel 1"):
        tiny_loster().fit(X)


def test_data_without_gaps_is_fitted_as_before():
    # The augmentation and the masks only change for series with gaps; padding alone is unchanged.
    X, _ = _waves()
    padded = _variable_length(X)
    first = tiny_loster(variable_length="mask", max_epochs=1).fit(padded)
    second = tiny_loster(variable_length="mask", max_epochs=1).fit(padded.copy())
    assert_array_equal(first.cluster_centers_, second.cluster_centers_)
