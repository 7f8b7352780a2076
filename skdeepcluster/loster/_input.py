"""How LoSTer reads time series: validation, normalisation, the two views, embeddings.

:class:`SeriesInput` is the part of :class:`~skdeepcluster.LoSTerClustering` that turns
user input (2-D or 3-D, NaN padding and gaps, any length and scale) into the flattened
float rows its network reads, at fit time and at inference, batch by batch.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from .._base import FLOAT_DTYPES
from .._engine import map_batches
from ._augment import augment_series
from ._model import AUGMENTED, ORIGINAL
from ._resources import check_series_array
from ._series import (
    as_three_dimensional,
    channel_statistics,
    flatten,
    observed_lengths,
    resample_to_full_length,
    row_chunks,
    z_normalize,
)

# normalize="auto": shorter rows are read as feature vectors. z-normalising a row removes two
# degrees of freedom (level and scale), which leaves nothing of 2 values and little of a few.
AUTO_NORMALIZE_MIN_TIMESTAMPS = 10


class SeriesInput:
    """Series handling of LoSTerClustering (a mixin: reads its ``normalize``, ``variable_length``,
    augmentation parameters, ``batch_size`` and fitted layout)."""

    def _check_series(self, X):
        """Convert and check X without touching the estimator: series (n, T, d) and their lengths."""
        X = check_series_array(X, dtype=list(FLOAT_DTYPES), allow_nd=True, ensure_all_finite="allow-nan",
                               ensure_min_features=2, input_name="X")
        series = as_three_dimensional(X)
        if series.shape[2] < 1:
            raise ValueError(f"X has 0 channels (shape {X.shape}); time series need at least one.")
        return series, observed_lengths(series)

    def _prepare(self, series, lengths, channel_stats=None):
        """Normalise and lay out validated series the way the network reads them (float64, 3-D).

        ``channel_stats`` (mean, scale) of ``normalize=False``: the training set's, learned in fit.
        """
        series = series.astype(np.float64, copy=False)
        z_normalized = self._z_normalizes(series.shape[1])
        if self.variable_length == "resample" and (lengths < series.shape[1]).any():
            # Stretch first, so that the series the network reads is the one normalised.
            series = resample_to_full_length(series, lengths)
            lengths = np.full_like(lengths, series.shape[1])
        if z_normalized:
            series = z_normalize(series)
        else:
            mean, scale = self._channel_stats if channel_stats is None else channel_stats
            series = (series - mean) / scale
        return series, lengths

    def _validate_inference_series(self, X):
        """Check X's layout against the fitted one: (its float dtype, the series (n, T, d)).

        An ndarray or ``np.memmap`` of float32/float64 is not copied (the finiteness scan of
        ``check_array`` allocates nothing); the padding and lengths of the series are checked
        batch by batch in :meth:`_prepared_rows`, so inference memory grows with
        ``batch_size``, not with ``n_samples``.
        """
        check_is_fitted(self)
        X_checked = check_series_array(X, dtype=list(FLOAT_DTYPES), allow_nd=True, ensure_all_finite="allow-nan",
                                       input_name="X")
        series = as_three_dimensional(X_checked)
        if series.shape[1] != self.n_timestamps_in_:
            # The first clause is scikit-learn's standard wording, which its common checks expect.
            raise ValueError(f"X has {series.shape[1]} features, but LoSTerClustering is expecting "
                             f"{self.n_timestamps_in_} features as input (timestamps per series). Pad shorter "
                             f"series with trailing NaN, or truncate longer ones, to {self.n_timestamps_in_}.")
        if series.shape[2] != self.n_channels_in_:
            raise ValueError(f"X has {series.shape[2]} channel(s), but LoSTerClustering was fitted on "
                             f"{self.n_channels_in_} channel(s).")
        validate_data(self, X, reset=False, skip_check_array=True)  # feature-name checks of DataFrames
        return X_checked.dtype, series

    def _prepared_rows(self, series, rows, lengths=None, channel_stats=None):
        """The flattened float64 rows the network reads for ``series[rows]`` (a slice of rows).

        Without their ``lengths`` the rows are checked first (padding, lengths; messages count
        rows in all of ``series``). One batch at a time: ``map_batches``' ``prepare``.
        """
        batch = series[rows]
        batch_lengths = observed_lengths(batch, first_row=rows.start) if lengths is None else lengths[rows]
        prepared, _ = self._prepare(batch, batch_lengths, channel_stats)
        return flatten(prepared)

    def _z_normalizes(self, n_timestamps):
        """Whether series of ``n_timestamps`` are z-normalised one by one (``normalize``)."""
        if self.normalize == "auto":
            return n_timestamps >= AUTO_NORMALIZE_MIN_TIMESTAMPS
        return bool(self.normalize)

    def _training_array(self, run):
        """Both views of every series in one array, so that a batch of rows brings its augmented copies.

        NaN padding (mask mode) travels with it and becomes the loss mask on the device. It is
        filled chunk by chunk of rows (prepared, augmented, cast to float32), so the peak is
        this array plus a few MiB, not several float64 copies of all series.
        """
        series, lengths, rng = run.X, run.per_row["lengths"], run.rng
        run.channel_stats = None if self._z_normalizes(series.shape[1]) else channel_statistics(series, run.weights)
        n_samples = series.shape[0]
        views = np.empty((n_samples, 2, series.shape[1] * series.shape[2]), dtype=np.float32)
        # The augmentation's draws in the order of one call on all rows: every segment count
        # first, then series by series.
        segment_counts = rng.randint(1, self.max_segments + 1, size=n_samples)
        for chunk_rows in row_chunks(series):
            prepared, prepared_lengths = self._prepare(series[chunk_rows], lengths[chunk_rows], run.channel_stats)
            augmented = augment_series(prepared, prepared_lengths, rng, self.max_segments, self.warp_sigma,
                                       self.warp_knots, segment_counts=segment_counts[chunk_rows])
            views[chunk_rows, ORIGINAL] = flatten(prepared)
            views[chunk_rows, AUGMENTED] = flatten(augmented)
        run.views = views
        return views

    def _embed(self, network, X, device, dtype, view=ORIGINAL, prepare=None):
        """One view's embeddings of flattened rows (NaN padding read as 0), batched, no grad.

        ``prepare(X, rows)``, if given, builds each batch's flattened rows from ``X`` (raw series).
        """
        network.eval()
        return map_batches(lambda batch: network.encode(torch.nan_to_num(batch, nan=0.0), view),
                           X, self.batch_size, device, dtype=dtype, prepare=prepare)

    def _embedding(self, X):
        dtype, series = self._validate_inference_series(X)
        return dtype, self._embed(self.module_, series, self._module_device(), torch.float64,
                                  prepare=self._prepared_rows)
