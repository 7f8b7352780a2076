"""Time-series input: layout checks, variable lengths, per-series normalisation, resampling.

Series arrive in tslearn's layout: 2-D ``(n_samples, n_timestamps)`` (univariate) or 3-D
``(n_samples, n_timestamps, n_channels)``; shorter series are padded with trailing NaN.
Everything here is numpy and works on the 3-D form; the network reads each series flattened
time-major, ``x[t, c] -> t * n_channels + c``.
"""

import numpy as np


def as_three_dimensional(X):
    """View a validated 2-D or 3-D array as ``(n_samples, n_timestamps, n_channels)``."""
    if X.ndim == 2:
        return X[:, :, np.newaxis]
    if X.ndim == 3:
        return X
    raise ValueError(f"Expected time series as a 2-D array (n_samples, n_timestamps) or a 3-D array "
                     f"(n_samples, n_timestamps, n_channels); got a {X.ndim}-D array of shape {X.shape}.")


_CHUNK_VALUES = 2**19  # values per chunk of rows in the passes over all series: a few MiB of workspace


def row_chunks(series, n_values=None):
    """Consecutive ``slice`` objects of rows of ``series``, about ``n_values`` values each."""
    n_samples = series.shape[0]
    n_values = _CHUNK_VALUES if n_values is None else n_values
    step = max(1, n_values // max(1, int(np.prod(series.shape[1:]))))
    for start in range(0, n_samples, step):
        yield slice(start, min(start + step, n_samples))


def observed_lengths(series, first_row=0):
    """Number of observed (leading, non-NaN) timestamps of every series.

    Raises ``ValueError`` for infinite values, for NaN that is not trailing padding, for
    channels of one series with different lengths and for series with fewer than 2 observed
    timestamps; messages count rows from ``first_row`` (the index of ``series[0]`` when it is
    a batch of a larger array). The series are read in chunks of rows, so the workspace stays
    a few MiB however many there are (a memmap is fine).
    """
    lengths = np.empty(series.shape[0], dtype=np.intp)
    mixed_row, gap = None, None
    for rows in row_chunks(series):
        chunk = series[rows]
        if np.isinf(chunk).any():
            raise ValueError("X contains infinity. Time series must be finite; use trailing NaN only to pad "
                             "shorter series to a common length.")
        observed = ~np.isnan(chunk)
        observed_at = observed.all(axis=2)
        mixed = observed_at != observed.any(axis=2)
        if mixed_row is None and mixed.any():
            mixed_row = rows.start + int(np.flatnonzero(mixed.any(axis=1))[0])
        lengths[rows] = observed_at.sum(axis=1)
        prefix = np.arange(series.shape[1])[np.newaxis, :] < lengths[rows, np.newaxis]
        inner_gap = observed_at != prefix
        if gap is None and inner_gap.any():
            row, timestamp = (int(i) for i in np.argwhere(inner_gap)[0])
            gap = rows.start + row, timestamp
    # Checked in this order, as if every check read all rows: infinity, mixed lengths, gaps, short series.
    if mixed_row is not None:
        raise ValueError(f"Series {first_row + mixed_row} has NaN in some channels but not in others at the same "
                         "timestamp: all channels of a series must share one length (pad them with trailing NaN).")
    if gap is not None:
        raise ValueError(f"X contains NaN inside series {first_row + gap[0]} (first at timestamp {gap[1]}). NaN is "
                         "only allowed as trailing padding of variable-length series; impute missing values "
                         "inside a series first.")
    if lengths.size and lengths.min() < 2:
        row = int(np.argmin(lengths))
        raise ValueError(f"Series {first_row + row} has {int(lengths[row])} observed timestamp(s); every series "
                         "needs at least 2.")
    return lengths


def z_normalize(series):
    """Per-series, per-channel z-normalisation over the observed timestamps.

    The population standard deviation (numpy's default), as in the paper's protocol; a
    constant channel is only centred. Padding stays NaN.
    """
    # Without padding the plain reductions give the same values as the NaN-aware ones (which
    # copy the data and mask it first), several times faster.
    padded = bool(np.isnan(series).any())
    mean_of, std_of, max_of = (np.nanmean, np.nanstd, np.nanmax) if padded else (np.mean, np.std, np.max)
    with np.errstate(invalid="ignore"):
        mean = mean_of(series, axis=1, keepdims=True)
        std = std_of(series, axis=1, keepdims=True)
    # Relative threshold: a channel that is constant up to rounding is treated as constant.
    scale = np.maximum(max_of(np.abs(series), axis=1, keepdims=True), np.finfo(series.dtype).tiny)
    std = np.where(std > 1e-12 * scale, std, 1.0)
    return (series - mean) / std


def channel_statistics(series):
    """Mean and standard deviation of every channel over all observed values, shaped (1, 1, d).

    One pass finds each channel's largest magnitude, a second accumulates the mean and the sum
    of squared deviations of the values divided by it in float64 (chunk by chunk, merged with
    Chan et al.'s formula), so neither huge values overflow nor does memory grow with the
    number of series.
    """
    n_channels = series.shape[2]
    peak = np.zeros(n_channels)
    for rows in row_chunks(series):
        chunk_peak = np.fmax.reduce(np.abs(series[rows]).reshape(-1, n_channels), axis=0)
        peak = np.fmax(peak, chunk_peak)
    scale = np.maximum(peak, np.finfo(np.float64).tiny)
    count, mean, squares = np.zeros(n_channels), np.zeros(n_channels), np.zeros(n_channels)
    for rows in row_chunks(series):
        values = series[rows].reshape(-1, n_channels) / scale  # float64, |values| <= 1
        observed = ~np.isnan(values)
        values[~observed] = 0.0
        chunk_count = observed.sum(axis=0)
        if not chunk_count.any():
            continue
        chunk_mean = values.sum(axis=0) / np.maximum(chunk_count, 1)
        chunk_squares = (((values - chunk_mean) * observed) ** 2).sum(axis=0)
        total = count + chunk_count
        delta = chunk_mean - mean
        mean = mean + delta * (chunk_count / np.maximum(total, 1))
        squares = squares + chunk_squares + delta**2 * (count * chunk_count / np.maximum(total, 1))
        count = total
    std = np.sqrt(squares / np.maximum(count, 1))  # of the scaled values
    mean, std = (mean * scale).reshape(1, 1, -1), np.where(std > 1e-12, std * scale, 1.0).reshape(1, 1, -1)
    return mean, std


def resample_to_full_length(series, lengths):
    """Stretch every shorter series linearly over all ``n_timestamps`` (no NaN remains)."""
    n_timestamps = series.shape[1]
    resampled = series.copy()
    targets = np.arange(n_timestamps, dtype=np.float64)
    for row in np.flatnonzero(lengths < n_timestamps):
        length = lengths[row]
        positions = np.linspace(0.0, length - 1, n_timestamps)
        for channel in range(series.shape[2]):
            resampled[row, :, channel] = np.interp(positions, targets[:length], series[row, :length, channel])
    return resampled


def flatten(series):
    """``(n, T, d) -> (n, T * d)``, time-major: the layout the dense network reads."""
    return series.reshape(series.shape[0], -1)
