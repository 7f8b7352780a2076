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


def observed_lengths(series):
    """Number of observed (leading, non-NaN) timestamps of every series.

    Raises ``ValueError`` for infinite values, for NaN that is not trailing padding, for
    channels of one series with different lengths and for series with fewer than 2 observed
    timestamps.
    """
    if np.isinf(series).any():
        raise ValueError("X contains infinity. Time series must be finite; use trailing NaN only to pad "
                         "shorter series to a common length.")
    observed = ~np.isnan(series)
    observed_at = observed.all(axis=2)
    if not np.array_equal(observed_at, observed.any(axis=2)):
        row = int(np.flatnonzero((observed_at != observed.any(axis=2)).any(axis=1))[0])
        raise ValueError(f"Series {row} has NaN in some channels but not in others at the same timestamp: "
                         "all channels of a series must share one length (pad them with trailing NaN).")
    lengths = observed_at.sum(axis=1)
    prefix = np.arange(series.shape[1])[np.newaxis, :] < lengths[:, np.newaxis]
    inner_gap = observed_at != prefix
    if inner_gap.any():
        row, timestamp = (int(i) for i in np.argwhere(inner_gap)[0])
        raise ValueError(f"X contains NaN inside series {row} (first at timestamp {timestamp}). NaN is only "
                         "allowed as trailing padding of variable-length series; impute missing values "
                         "inside a series first.")
    if lengths.min() < 2:
        row = int(np.argmin(lengths))
        raise ValueError(f"Series {row} has {int(lengths[row])} observed timestamp(s); every series needs at "
                         "least 2.")
    return lengths


def z_normalize(series):
    """Per-series, per-channel z-normalisation over the observed timestamps.

    The population standard deviation (numpy's default), as in the paper's protocol; a
    constant channel is only centred. Padding stays NaN.
    """
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(series, axis=1, keepdims=True)
        std = np.nanstd(series, axis=1, keepdims=True)
    # Relative threshold: a channel that is constant up to rounding is treated as constant.
    scale = np.maximum(np.nanmax(np.abs(series), axis=1, keepdims=True), np.finfo(series.dtype).tiny)
    std = np.where(std > 1e-12 * scale, std, 1.0)
    return (series - mean) / std


def channel_statistics(series):
    """Mean and standard deviation of every channel over all observed values, shaped (1, 1, d)."""
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(series, axis=(0, 1), keepdims=True)
        std = np.nanstd(series, axis=(0, 1), keepdims=True)
    scale = np.maximum(np.nanmax(np.abs(series), axis=(0, 1), keepdims=True), np.finfo(np.float64).tiny)
    return mean, np.where(std > 1e-12 * scale, std, 1.0)


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
