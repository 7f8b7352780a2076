"""The augmentation chain: shapes, dtypes, padding, monotone warp, permutation of segments."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skdeepcluster.loster._augment import (
    augment_series,
    flip_signs,
    monotone_time_warp,
    permute_segments,
    time_warp_positions,
)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(2, 3000), sigma=st.floats(0.0, 2.0), n_knots=st.integers(0, 10), seed=st.integers(0, 10**6))
def test_time_warp_is_strictly_increasing_and_keeps_the_span(length, sigma, n_knots, seed):
    positions = time_warp_positions(length, np.random.RandomState(seed), sigma, n_knots)
    assert positions.shape == (length,)
    assert np.all(np.diff(positions) > 0)
    assert positions[0] == 0.0 and np.isclose(positions[-1], length - 1)


def test_time_warp_keeps_length_endpoints_and_value_range():
    rng = np.random.RandomState(0)
    series = np.cumsum(rng.normal(size=(500, 2)), axis=0)
    warped = monotone_time_warp(series, rng, sigma=0.2, n_knots=4)
    assert warped.shape == series.shape
    np.testing.assert_allclose(warped[[0, -1]], series[[0, -1]])
    assert warped.min() >= series.min() - 1e-12 and warped.max() <= series.max() + 1e-12
    assert not np.allclose(warped, series)


def test_time_warp_with_zero_sigma_is_the_identity():
    series = np.random.RandomState(0).normal(size=(100, 1))
    np.testing.assert_allclose(monotone_time_warp(series, np.random.RandomState(1), sigma=0.0), series)


def test_permute_segments_reorders_contiguous_equal_segments():
    series = np.arange(12.0)[:, None]
    permuted = permute_segments(series, 3, np.random.RandomState(3))
    blocks = sorted(tuple(permuted[i:i + 4, 0]) for i in (0, 4, 8))
    assert blocks == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)]
    np.testing.assert_array_equal(permute_segments(series, 1, np.random.RandomState(0)), series)


def test_flip_signs_multiplies_each_channel_by_plus_or_minus_one():
    series = np.random.RandomState(0).normal(size=(50, 3))
    flipped = flip_signs(series, np.random.RandomState(1))
    ratios = flipped / series
    assert np.allclose(ratios, ratios[0]) and set(np.round(ratios[0])) <= {-1.0, 1.0}


@settings(max_examples=25, deadline=None)
@given(n_samples=st.integers(1, 6), n_timestamps=st.integers(2, 60), n_channels=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 1000))
def test_augment_series_keeps_shape_dtype_and_padding(n_samples, n_timestamps, n_channels, dtype, seed):
    rng = np.random.RandomState(seed)
    series = rng.normal(size=(n_samples, n_timestamps, n_channels)).astype(dtype)
    lengths = rng.randint(2, n_timestamps + 1, size=n_samples)
    for row, length in enumerate(lengths):
        series[row, length:] = np.nan
    augmented = augment_series(series, lengths, rng)
    assert augmented.shape == series.shape and augmented.dtype == series.dtype
    np.testing.assert_array_equal(np.isnan(augmented), np.isnan(series))


def test_augment_series_is_reproducible_and_differs_from_the_input():
    series = np.random.RandomState(0).normal(size=(8, 200, 1))
    lengths = np.full(8, 200)
    first = augment_series(series, lengths, np.random.RandomState(5))
    second = augment_series(series, lengths, np.random.RandomState(5))
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, series)


def test_augmenting_chunks_of_rows_with_counts_drawn_at_once_gives_the_same_result():
    # fit augments its rows chunk by chunk: the draws must be those of one call on all rows.
    rng = np.random.RandomState(0)
    series = rng.normal(size=(11, 40, 2))
    lengths = rng.randint(2, 41, size=11)
    for row, length in enumerate(lengths):
        series[row, length:] = np.nan
    whole = augment_series(series, lengths, np.random.RandomState(7))
    chunk_rng = np.random.RandomState(7)
    counts = chunk_rng.randint(1, 5, size=11)
    chunks = [augment_series(series[rows], lengths[rows], chunk_rng, segment_counts=counts[rows])
              for rows in (slice(0, 3), slice(3, 4), slice(4, 11))]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_gaps_travel_with_the_permutation_and_the_warp():
    rng = np.random.RandomState(0)
    series = rng.normal(size=(1, 40, 2))
    gapped = series.copy()
    gapped[0, 10:14] = np.nan
    # Without warp (sigma 0) and with every draw the same, the gap lands where the permutation puts it.
    plain = augment_series(series, np.array([40]), np.random.RandomState(3), warp_sigma=0.0,
                           segment_counts=np.array([4]))
    holed = augment_series(gapped, np.array([40]), np.random.RandomState(3), warp_sigma=0.0,
                           segment_counts=np.array([4]))
    missing = np.isnan(holed[0])
    assert missing.sum() == 8  # 4 timestamps x 2 channels, moved, not spread
    np.testing.assert_allclose(holed[0][~missing], plain[0][~missing])
    # The segment holding timestamps 10-13 moved as a whole: the values around the gap moved with it.
    where = np.flatnonzero(missing[:, 0])
    np.testing.assert_array_equal(np.diff(where), 1)


def test_a_warped_timestamp_that_reads_a_gap_is_missing():
    rng = np.random.RandomState(1)
    series = rng.normal(size=(1, 60, 1))
    series[0, 30:33] = np.nan
    augmented = augment_series(series, np.array([60]), np.random.RandomState(5), max_segments=1,
                               warp_sigma=0.5, segment_counts=np.array([1]))
    missing = np.isnan(augmented[0, :, 0])
    assert 2 <= missing.sum() <= 8 and np.isfinite(augmented[0][~missing]).all()
    # no gap anywhere else: only around the original one (the warp moves it a little)
    assert np.flatnonzero(missing).min() > 20 and np.flatnonzero(missing).max() < 40


def test_series_without_gaps_augment_as_before():
    series = np.random.RandomState(2).normal(size=(5, 30, 2))
    gapped = series.copy()
    gapped[4, 5] = np.nan  # another row's gap does not change the draws of the others
    first = augment_series(series, np.full(5, 30), np.random.RandomState(0))
    second = augment_series(gapped, np.full(5, 30), np.random.RandomState(0))
    np.testing.assert_array_equal(first[:4], second[:4])
