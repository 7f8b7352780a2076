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
    """Length of every series: the index of its last observed timestamp, plus one.

    NaN after the last timestamp at which any channel is observed is the trailing padding of
    a shorter series; NaN before it is a missing value (a gap), in any channel, which the
    estimator masks. A series of one observed timestamp is valid (z-normalised, it is
    constant). Raises ``ValueError`` for infinite values, for a series that is all NaN and for
    a channel of a series with no observed value at all; messages count rows from
    ``first_row`` (the index of ``series[0]`` when it is a batch of a larger array). The
    series are read in chunks of rows, so the workspace stays a few MiB however many there
    are (a memmap is fine).
    """
    n_timestamps = series.shape[1]
    lengths = np.empty(series.shape[0], dtype=np.intp)
    n_observed = np.empty(series.shape[0], dtype=np.intp)
    empty_channel = None
    for rows in row_chunks(series):
        chunk = series[rows]
        if np.isinf(chunk).any():
            raise ValueError("X contains infinity. Time series must be finite; use NaN for missing values and "
                             "as trailing padding of shorter series.")
        observed = ~np.isnan(chunk)
        observed_at = observed.any(axis=2)
        n_observed[rows] = observed_at.sum(axis=1)
        last = n_timestamps - np.argmax(observed_at[:, ::-1], axis=1)
        lengths[rows] = np.where(n_observed[rows] > 0, last, 0)
        unobserved_channel = ~observed.any(axis=1) & (n_observed[rows] > 0)[:, np.newaxis]
        if empty_channel is None and unobserved_channel.any():
            row, channel = (int(i) for i in np.argwhere(unobserved_channel)[0])
            empty_channel = rows.start + row, channel
    # Checked in this order, as if every check read all rows: infinity, empty series, empty channels.
    if n_observed.size and n_observed.min() == 0:
        row = int(np.argmin(n_observed))
        raise ValueError(f"Series {first_row + row} is all NaN: it has no observed value. Drop empty series "
                         "before calling the estimator (or impute them).")
    if empty_channel is not None:
        raise ValueError(f"Series {first_row + empty_channel[0]} has no observed value in channel "
                         f"{empty_channel[1]}: every channel of a series needs at least one (impute it or drop "
                         "the series).")
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


def channel_statistics(series, sample_weight=None):
    """Mean and standard deviation of every channel over all observed values, shaped (1, 1, d).

    One pass finds each channel's largest magnitude, a second accumulates the mean and the sum
    of squared deviations of the values divided by it in float64 (chunk by chunk, merged with
    Chan et al.'s formula), so neither huge values overflow nor does memory grow with the
    number of series. ``sample_weight`` (n_samples,): every value of series i counts
    ``sample_weight[i]`` times.
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
        if sample_weight is not None:
            counted = observed * np.repeat(sample_weight[rows], series.shape[1])[:, np.newaxis]
            chunk_count = counted.sum(axis=0)
            if not chunk_count.any():
                continue
            chunk_mean = (values * counted).sum(axis=0) / np.where(chunk_count > 0, chunk_count, 1)
            chunk_squares = (counted * (values - chunk_mean) ** 2).sum(axis=0)
        else:
            chunk_count = observed.sum(axis=0)
            if not chunk_count.any():
                continue
            chunk_mean = values.sum(axis=0) / np.maximum(chunk_count, 1)
            chunk_squares = (((values - chunk_mean) * observed) ** 2).sum(axis=0)
        total = count + chunk_count
        delta = chunk_mean - mean
        divisor = np.where(total > 0, total, 1)
        mean = mean + delta * (chunk_count / divisor)
        squares = squares + chunk_squares + delta**2 * (count * chunk_count / divisor)
        count = total
    std = np.sqrt(squares / np.where(count > 0, count, 1))  # of the scaled values
    mean, std = (mean * scale).reshape(1, 1, -1), np.where(std > 1e-12, std * scale, 1.0).reshape(1, 1, -1)
    return mean, std


def resample_to_full_length(series, lengths):
    """Stretch every shorter series linearly over all ``n_timestamps`` (no padding remains).

    A missing value (NaN inside a series) stays missing: a resampled timestamp is NaN when
    either observation it interpolates between is, so the gaps widen by at most one step.
    """
    n_timestamps = series.shape[1]
    resampled = series.copy()
    targets = np.arange(n_timestamps, dtype=np.float64)
    for row in np.flatnonzero(lengths < n_timestamps):
        length = lengths[row]
        positions = np.linspace(0.0, length - 1, n_timestamps)
        for channel in range(series.shape[2]):
            values = series[row, :length, channel]
            observed = ~np.isnan(values)
            if observed.all():
                resampled[row, :, channel] = np.interp(positions, targets[:length], values)
                continue
            stretched = np.interp(positions, targets[:length], np.where(observed, values, 0.0))
            support = np.interp(positions, targets[:length], observed.astype(np.float64))
            resampled[row, :, channel] = np.where(support < 1.0, np.nan, stretched)
    return resampled


def flatten(series):
    """``(n, T, d) -> (n, T * d)``, time-major: the layout the dense network reads."""
    return series.reshape(series.shape[0], -1)
