"""Time-series input checks, per-series normalisation and resampling."""

import numpy as np
import pytest

from skdeepcluster.loster import _series
from skdeepcluster.loster._series import (
    as_three_dimensional,
    channel_statistics,
    flatten,
    observed_lengths,
    resample_to_full_length,
    row_chunks,
    z_normalize,
)


def _padded(lengths, n_timestamps=10, n_channels=1, seed=0):
    series = np.random.RandomState(seed).normal(size=(len(lengths), n_timestamps, n_channels))
    for row, length in enumerate(lengths):
        series[row, length:] = np.nan
    return series


def test_layouts_become_three_dimensional_and_flatten_time_major():
    assert as_three_dimensional(np.zeros((4, 7))).shape == (4, 7, 1)
    assert as_three_dimensional(np.zeros((4, 7, 2))).shape == (4, 7, 2)
    with pytest.raises(ValueError, match=r"2-D array .* or a 3-D array"):
        as_three_dimensional(np.zeros((2, 3, 4, 5)))
    series = np.arange(12.0).reshape(1, 3, 4)  # 3 timestamps x 4 channels
    np.testing.assert_array_equal(flatten(series)[0], np.arange(12.0))


def test_observed_lengths_of_trailing_padding():
    np.testing.assert_array_equal(observed_lengths(_padded([10, 4, 2])), [10, 4, 2])


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda s: s.__setitem__((0, 2, 0), np.inf), "infinity"),
        (lambda s: s.__setitem__(1, np.nan), "Series 1 is all NaN"),
        (lambda s: s.__setitem__((0, slice(None), 1), np.nan), "no observed value in channel 1"),
    ],
)
def test_observed_lengths_rejects_what_cannot_be_a_series(corrupt, message):
    series = _padded([10, 10, 10], n_channels=2)
    corrupt(series)
    with pytest.raises(ValueError, match=message):
        observed_lengths(series)


@pytest.mark.parametrize(
    "corrupt, lengths",
    [
        (lambda s: s.__setitem__((0, 3), np.nan), [10, 10, 10]),  # a gap in every channel
        (lambda s: s.__setitem__((1, 0), np.nan), [10, 10, 10]),  # a leading gap
        (lambda s: s.__setitem__((0, slice(5, None), 1), np.nan), [10, 10, 10]),  # one channel stops early
        (lambda s: s.__setitem__((2, slice(2, 6)), np.nan), [10, 10, 10]),
        (lambda s: (s.__setitem__((2, slice(7, None)), np.nan), s.__setitem__((2, 3, 0), np.nan)), [10, 10, 7]),
        (lambda s: s.__setitem__((2, slice(1, None)), np.nan), [10, 10, 1]),  # one observed timestamp
        (lambda s: s.__setitem__((2, slice(None, -1)), np.nan), [10, 10, 10]),  # only the last one
    ],
)
def test_nan_before_the_last_observed_timestamp_is_a_gap_not_padding(corrupt, lengths):
    series = _padded([10, 10, 10], n_channels=2)
    corrupt(series)
    np.testing.assert_array_equal(observed_lengths(series), lengths)


def test_z_normalize_uses_only_observed_values_and_centres_constant_series():
    series = _padded([10, 6], n_channels=2) * 5 + 3
    series[1, :6, 1] = 7.0  # a constant channel
    normalised = z_normalize(series)
    np.testing.assert_allclose(np.nanmean(normalised, axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.nanstd(normalised[0], axis=0), 1.0)
    np.testing.assert_allclose(np.nanstd(normalised[1, :, 0]), 1.0)
    np.testing.assert_array_equal(normalised[1, :6, 1], 0.0)
    assert np.isnan(normalised[1, 6:]).all()


def test_channel_statistics_ignore_padding():
    series = _padded([10, 3], n_channels=2)
    mean, scale = channel_statistics(series)
    observed = np.concatenate([series[0], series[1, :3]])
    np.testing.assert_allclose(mean.ravel(), observed.mean(0))
    np.testing.assert_allclose(scale.ravel(), observed.std(0))


def test_resampling_stretches_short_series_linearly_and_keeps_full_ones():
    series = np.full((2, 5, 1), np.nan)
    series[0, :, 0] = np.arange(5.0)
    series[1, :3, 0] = [0.0, 2.0, 4.0]
    resampled = resample_to_full_length(series, np.array([5, 3]))
    np.testing.assert_array_equal(resampled[0, :, 0], np.arange(5.0))
    np.testing.assert_allclose(resampled[1, :, 0], [0.0, 1.0, 2.0, 3.0, 4.0])


def test_row_chunks_cover_every_row_once():
    series = np.zeros((10, 7, 3))
    chunks = list(row_chunks(series, n_values=50))  # two rows (42 values) per chunk
    assert [rows.stop - rows.start for rows in chunks] == [2, 2, 2, 2, 2]
    assert list(row_chunks(series, n_values=1))[-1] == slice(9, 10)


def test_observed_lengths_in_chunks_of_rows_count_rows_from_first_row(monkeypatch):
    series = _padded([10, 4, 2, 10, 3], n_channels=2)
    monkeypatch.setattr(_series, "_CHUNK_VALUES", 20)  # one row per chunk
    np.testing.assert_array_equal(observed_lengths(series), [10, 4, 2, 10, 3])
    series[3, :, 0] = np.nan
    with pytest.raises(ValueError, match="Series 4 is all NaN"):  # the priorities of one pass over all rows
        corrupted = series.copy()
        corrupted[4] = np.nan
        observed_lengths(corrupted)
    with pytest.raises(ValueError, match="Series 103 has no observed value in channel 0"):
        observed_lengths(series, first_row=100)


def test_z_normalize_and_channel_statistics_skip_gaps():
    series = _padded([10, 10], n_channels=1) * 3 + 2
    series[0, 2:5] = np.nan
    normalised = z_normalize(series)
    assert np.isnan(normalised[0, 2:5]).all() and np.isfinite(normalised[0, 5:]).all()
    observed = series[0][~np.isnan(series[0])]
    np.testing.assert_allclose(normalised[0, :2, 0], (observed[:2] - observed.mean()) / observed.std())
    mean, scale = channel_statistics(series)
    values = series[~np.isnan(series)]
    np.testing.assert_allclose([mean.item(), scale.item()], [values.mean(), values.std()])


def test_weighted_channel_statistics_equal_those_of_repeated_series():
    series = _padded([10, 6, 8], n_channels=2) * 4 + 1
    series[0, 3, 1] = np.nan
    weights = np.array([2.0, 1.0, 3.0])
    mean, scale = channel_statistics(series, weights)
    repeated_mean, repeated_scale = channel_statistics(np.repeat(series, [2, 1, 3], axis=0))
    np.testing.assert_allclose(mean, repeated_mean, rtol=1e-12)
    np.testing.assert_allclose(scale, repeated_scale, rtol=1e-12)


def test_resampling_keeps_gaps_missing():
    series = np.full((1, 9, 1), np.nan)
    series[0, :5, 0] = [0.0, 1.0, np.nan, 3.0, 4.0]  # length 5, a gap at 2
    resampled = resample_to_full_length(series, np.array([5]))[0, :, 0]
    # positions 0, 0.5, ..., 4: the gap's neighbours (1.5, 2, 2.5) interpolate from it
    np.testing.assert_array_equal(np.isnan(resampled), [False, False, False, True, True, True, False, False, False])
    np.testing.assert_allclose(resampled[[0, 1, 2, 6, 7, 8]], [0.0, 0.5, 1.0, 3.0, 3.5, 4.0])


def test_channel_statistics_of_huge_values_do_not_overflow():
    series = np.random.RandomState(0).normal(size=(50, 20, 2)) * 1e300
    mean, scale = channel_statistics(series)
    assert np.isfinite(mean).all() and np.isfinite(scale).all()
    np.testing.assert_allclose(scale.ravel() / 1e300, (series / 1e300).reshape(-1, 2).std(0), rtol=1e-12)
    np.testing.assert_allclose(mean.ravel() / 1e300, (series / 1e300).reshape(-1, 2).mean(0), atol=1e-12)
