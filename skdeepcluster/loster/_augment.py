"""The augmented view x^a = T(x): sign flip, segment permutation, monotone time warp.

Following the paper (after Um et al., 2017) the chain is applied once, before training, in
the order of the authors' code: rotation (sign flip), then permutation, then time warp.
Each function works on the observed part of a series, ``(length, n_channels)``, so
variable-length series keep their length and padding. Missing values (NaN inside a series)
travel with the augmentation: the observation mask is permuted and warped with the values, and
a warped timestamp that interpolates from a missing one is missing too.
"""

import numpy as np

MIN_WARP_SPEED = 0.05  # a speed of time > 0 everywhere makes the warp strictly increasing


def flip_signs(series, rng):
    """Multiply each channel by a random sign (the code's "rotation" for one channel).

    The code also shuffles channels, a no-op for the paper's univariate series; for
    multivariate series a shuffle would swap the meaning of the channels, so it is left out.
    """
    signs = rng.choice(np.array([-1.0, 1.0]), size=series.shape[-1])
    return series * signs


def permute_segments(series, n_segments, rng):
    """Cut the series into ``n_segments`` contiguous, near-equal segments and shuffle them.

    Equal-length segments (``np.array_split``), as in the authors' code.
    """
    if n_segments <= 1:
        return series
    segments = np.array_split(series, n_segments, axis=0)
    return np.concatenate([segments[i] for i in rng.permutation(n_segments)], axis=0)


def time_warp_positions(length, rng, sigma=0.2, n_knots=4):
    """Strictly increasing random positions of the ``length`` samples on ``[0, length - 1]``.

    The local speed of time is drawn from N(1, sigma) at ``n_knots + 2`` equally spaced knots
    (the code's sigma 0.2 and 4 inner knots), interpolated linearly between them and
    integrated (trapezoid rule), then rescaled to span ``[0, length - 1]``. Integrating a
    positive speed makes the warp monotone by construction; the authors' code passes a cubic
    spline through randomly scaled knot *positions*, which is not monotone in most draws
    (user guide, "Where we differ from the paper and the code"), so ``np.interp`` then reads it out of order.
    """
    knots = np.linspace(0.0, length - 1, n_knots + 2)
    speeds = np.maximum(rng.normal(1.0, sigma, size=n_knots + 2), MIN_WARP_SPEED)
    if length < 2:
        return np.zeros(length)  # one timestamp: nothing to warp (the draws are made all the same)
    speed = np.interp(np.arange(length, dtype=np.float64), knots, speeds)
    positions = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
    return positions * ((length - 1) / positions[-1])


def monotone_time_warp(series, rng, sigma=0.2, n_knots=4):
    """Resample a ``(length, n_channels)`` series along :func:`time_warp_positions`.

    Sample t of the input is placed at warped position w(t); the output reads the result at
    the integer timestamps, so the length and the first and last values are kept.
    """
    length = series.shape[0]
    positions = time_warp_positions(length, rng, sigma, n_knots)
    timestamps = np.arange(length, dtype=np.float64)
    return np.stack([np.interp(timestamps, positions, series[:, c]) for c in range(series.shape[1])], axis=1)


def augment_series(series, lengths, rng, max_segments=4, warp_sigma=0.2, warp_knots=4, segment_counts=None):
    """Apply the augmentation chain to every series of ``(n, T, d)`` data.

    Parameters
    ----------
    series : ndarray of shape (n_samples, n_timestamps, n_channels)
        Float data; values past each series' length (padding) are left as they are.
    lengths : ndarray of shape (n_samples,)
        Observed length of every series.
    rng : numpy.random.RandomState
    max_segments : int
        The number of permuted segments is uniform on ``{1, ..., max_segments}`` (the code's
        ``randint(1, 5)``; the paper's text says a rounded |N(0, 5)|).
    warp_sigma, warp_knots : float, int
        See :func:`monotone_time_warp`.
    segment_counts : ndarray of shape (n_samples,), optional
        Numbers of segments drawn by the caller, as ``rng.randint(1, max_segments + 1,
        size=n_samples)`` would. The draws of the other steps are made series by series, in
        order, so augmenting consecutive chunks of rows with the matching slices of counts
        drawn at once for all rows gives the same result as one call on all rows.

    Returns
    -------
    augmented : ndarray, same shape and dtype as ``series``
    """
    augmented = series.copy()
    if segment_counts is None:
        segment_counts = rng.randint(1, max_segments + 1, size=series.shape[0])
    for row, (length, n_segments) in enumerate(zip(lengths, segment_counts, strict=True)):
        view = flip_signs(series[row, :length], rng)
        observed = ~np.isnan(view)
        if observed.all():
            view = permute_segments(view, n_segments, rng)
            augmented[row, :length] = monotone_time_warp(view, rng, warp_sigma, warp_knots)
            continue
        # The mask rides along as extra channels (the draws do not depend on the channel count).
        n_channels = view.shape[1]
        stacked = np.concatenate([np.where(observed, view, 0.0), observed.astype(view.dtype)], axis=1)
        stacked = monotone_time_warp(permute_segments(stacked, n_segments, rng), rng, warp_sigma, warp_knots)
        augmented[row, :length] = np.where(stacked[:, n_channels:] < 1.0, np.nan, stacked[:, :n_channels])
    return augmented
