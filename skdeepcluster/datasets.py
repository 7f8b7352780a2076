"""Time-series data for the clustering estimators: the UCR archive reader and a synthetic generator.

:func:`load_ucr_dataset` reads one dataset of the UCR 2018 time-series classification archive
from a folder you downloaded it to; :func:`make_synthetic_series` draws clusters of noisy,
shifted smooth shapes of any length, for tests, demos and scaling measurements.
"""

from __future__ import annotations

import numbers
import os
import pathlib
import warnings

import numpy as np
from sklearn.utils import check_random_state

from .loster._series import z_normalize

__all__ = ["load_ucr_dataset", "make_synthetic_series"]


def load_ucr_dataset(
    name: str, data_dir: str | os.PathLike[str], *, merge: bool = True, normalize: bool = True
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load one dataset of the UCR 2018 time-series archive.

    The folder ``data_dir`` must hold the archive's layout: ``<name>/<name>_TRAIN.tsv`` and
    ``<name>/<name>_TEST.tsv``. Each file is a headerless tab-separated table whose first column
    is the class label and whose other columns are the series values; series shorter than the
    longest are padded with trailing ``NaN``, which is kept (the layout tslearn and
    :class:`~skdeepcluster.LoSTerClustering` read as variable length).

    Parameters
    ----------
    name : str
        Dataset name as spelled in the archive, e.g. ``"ECG5000"``.
    data_dir : str or path-like
        Folder holding the unpacked archive (one sub-folder per dataset).
    merge : bool, default=True
        Return the training rows followed by the test rows as one set, the protocol of
        clustering papers such as LoSTer's. ``False`` keeps the archive's split.
    normalize : bool, default=True
        Z-normalise each series over its observed (non-``NaN``) values with the population
        standard deviation. A constant series becomes all zeros.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timestamps)
        The series as float64, train rows first when ``merge=True``. Returned as ``X_train``
        and ``X_test`` when ``merge=False``; both then have the same number of columns.
    y : ndarray of shape (n_samples,)
        Class labels encoded as integers ``0 .. n_classes - 1`` in the sorted (numeric) order of
        the archive's labels, one encoding shared by train and test. Returned as ``y_train`` and
        ``y_test`` when ``merge=False``.

    Raises
    ------
    FileNotFoundError
        If one of the two files is missing.

    See Also
    --------
    make_synthetic_series : Clusters of synthetic series of any length.

    Examples
    --------
    Real use points at the unpacked archive, e.g.
    ``load_ucr_dataset("ECG5000", "~/data/UCRArchive_2018")``. Here a two-file toy dataset is
    written first so the example runs anywhere:

    >>> import pathlib, shutil, tempfile
    >>> from skdeepcluster.datasets import load_ucr_dataset
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "Toy").mkdir()
    >>> _ = (root / "Toy" / "Toy_TRAIN.tsv").write_text("2\\t1\\t2\\t3\\n-1\\t5\\t7\\tNaN\\n")
    >>> _ = (root / "Toy" / "Toy_TEST.tsv").write_text("2\\t3\\t3\\t3\\n")
    >>> X, y = load_ucr_dataset("Toy", root)
    >>> X
    array([[-1.22474487,  0.        ,  1.22474487],
           [-1.        ,  1.        ,         nan],
           [ 0.        ,  0.        ,  0.        ]])
    >>> y
    array([1, 0, 1])
    >>> shutil.rmtree(root)
    """
    folder = pathlib.Path(data_dir).expanduser() / name
    parts = [_read_ucr_file(folder / f"{name}_{split}.tsv") for split in ("TRAIN", "TEST")]
    width = max(values.shape[1] for _, values in parts)
    # Variable-length sets may be padded to different widths in the two files.
    series = [np.pad(values, ((0, 0), (0, width - values.shape[1])), constant_values=np.nan) for _, values in parts]
    if normalize:
        series = [_znormalize_observed(values) for values in series]
    _, codes = np.unique(np.concatenate([labels for labels, _ in parts]), return_inverse=True)
    n_train = parts[0][0].shape[0]
    y_train, y_test = codes[:n_train].astype(np.intp), codes[n_train:].astype(np.intp)
    if merge:
        return np.vstack(series), np.concatenate([y_train, y_test])
    return series[0], y_train, series[1], y_test


def _read_ucr_file(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and NaN-padded values of one UCR ``.tsv`` file."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the data folder must hold the UCR 2018 archive layout "
            f"<name>/<name>_TRAIN.tsv and <name>/<name>_TEST.tsv."
        )
    try:
        table = np.loadtxt(path, delimiter="\t", dtype=np.float64, ndmin=2)
    except ValueError:
        # Rows of different lengths or empty fields: pad each row with NaN ourselves.
        table = _read_ragged_rows(path)
    if table.shape[0] == 0 or table.shape[1] < 2:
        raise ValueError(f"{path} holds no series: expected a label column followed by values.")
    return table[:, 0], table[:, 1:]


def _read_ragged_rows(path: pathlib.Path) -> np.ndarray:
    rows = []
    with open(path) as handle:
        for line in handle:
            fields = line.rstrip("\r\n").split("\t")
            if fields == [""]:
                continue
            rows.append([float(field) if field.strip() else np.nan for field in fields])
    width = max((len(row) for row in rows), default=0)
    table = np.full((len(rows), width), np.nan)
    for index, row in enumerate(rows):
        table[index, : len(row)] = row
    return table


def _znormalize_observed(values: np.ndarray) -> np.ndarray:
    """Z-normalise each row over its non-NaN entries: the normalisation LoSTerClustering applies."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row (empty series) stays NaN
        return z_normalize(values[:, :, np.newaxis])[:, :, 0]


def make_synthetic_series(
    n_samples: int = 300,
    n_timestamps: int = 1000,
    n_channels: int = 1,
    n_clusters: int = 3,
    *,
    noise: float = 0.3,
    variable_length: bool = False,
    min_length_fraction: float = 0.5,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate clusters of noisy time series around distinct smooth shapes.

    Each cluster (and each channel of it) has a prototype made of a few sinusoids with random
    frequencies (between 1 and 6 cycles over the series), phases and weights, scaled to a root
    mean square of about 1. Every series is its cluster's prototype shifted in time by up to 2 %
    of its length, multiplied by an amplitude between 0.8 and 1.2, plus Gaussian noise of
    standard deviation ``noise``. Cluster sizes differ by at most one.

    Parameters
    ----------
    n_samples : int, default=300
        Number of series.
    n_timestamps : int, default=1000
        Length of the series (of the longest one when ``variable_length=True``).
    n_channels : int, default=1
        Number of channels (dimensions) per time step.
    n_clusters : int, default=3
        Number of clusters, at most ``n_samples``.
    noise : float, default=0.3
        Standard deviation of the Gaussian noise added to every value.
    variable_length : bool, default=False
        Truncate each series to a random length drawn uniformly between
        ``ceil(min_length_fraction * n_timestamps)`` and ``n_timestamps`` and pad it with
        trailing ``NaN`` (tslearn's layout for series of different lengths).
    min_length_fraction : float, default=0.5
        Shortest length as a fraction of ``n_timestamps``, in (0, 1]. Used only when
        ``variable_length=True``.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the shapes, the cluster assignment, the shifts and the noise.
        An int gives the same data on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
        The series as float64; 2-D when ``n_channels == 1``.
    y : ndarray of shape (n_samples,)
        Cluster of each series, integers ``0 .. n_clusters - 1``.

    Raises
    ------
    ValueError
        If an argument is out of its range.

    See Also
    --------
    load_ucr_dataset : Real series from the UCR archive.

    Notes
    -----
    The time shift of a sum of sinusoids only changes each sinusoid's phase, so every series is
    a weighted sum of the prototype's sine and cosine waves: the generator evaluates those waves
    once per cluster and forms the series by a matrix product, block by block. Time and memory
    grow linearly with ``n_samples * n_timestamps * n_channels``; the memory is that of the
    output plus a block of about 64 MiB.

    Examples
    --------
    >>> from skdeepcluster.datasets import make_synthetic_series
    >>> X, y = make_synthetic_series(n_samples=6, n_timestamps=50, n_clusters=2, random_state=0)
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((6, 50), dtype('float64'), [0, 1])
    >>> X, y = make_synthetic_series(n_samples=4, n_timestamps=20, n_channels=3, variable_length=True,
    ...                              random_state=0)
    >>> X.shape
    (4, 20, 3)
    """
    _check_positive_int(n_samples, "n_samples")
    _check_positive_int(n_timestamps, "n_timestamps")
    _check_positive_int(n_channels, "n_channels")
    _check_positive_int(n_clusters, "n_clusters")
    if n_clusters > n_samples:
        raise ValueError(f"n_clusters={n_clusters} must not exceed n_samples={n_samples}.")
    if not isinstance(noise, numbers.Real) or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0; got {noise!r}.")
    if not isinstance(min_length_fraction, numbers.Real) or not 0 < min_length_fraction <= 1:
        raise ValueError(f"min_length_fraction must be a number in (0, 1]; got {min_length_fraction!r}.")
    rng = check_random_state(random_state)

    n_waves = 3
    time = np.arange(n_timestamps, dtype=np.float64) / n_timestamps
    # Per cluster and channel: frequencies in cycles per series, phases and weights of the waves.
    frequencies = rng.uniform(1.0, 6.0, size=(n_clusters, n_channels, n_waves))
    phases = rng.uniform(0.0, 2 * np.pi, size=(n_clusters, n_channels, n_waves))
    weights = rng.uniform(0.5, 1.5, size=(n_clusters, n_channels, n_waves))
    # A sum of sinusoids of distinct frequencies has mean square sum(w**2) / 2: scale it to 1.
    weights /= np.sqrt((weights**2).sum(axis=-1, keepdims=True) / 2)

    y = rng.permutation(np.arange(n_samples) % n_clusters)
    shifts = rng.uniform(-0.02, 0.02, size=n_samples)
    gains = rng.uniform(0.8, 1.2, size=n_samples)

    X = np.empty((n_samples, n_timestamps, n_channels))
    block_rows = max(1, (1 << 23) // (n_timestamps * n_channels))  # ~64 MiB of float64 per block
    for cluster in range(n_clusters):
        members = np.flatnonzero(y == cluster)
        for channel in range(n_channels):
            omega = 2 * np.pi * frequencies[cluster, channel]
            waves = np.vstack([np.sin(np.outer(omega, time)), np.cos(np.outer(omega, time))])
            # x(t - s) = sum_j w_j sin(omega_j t + phi_j - omega_j s): one phase per series and wave.
            shifted = phases[cluster, channel] - np.outer(shifts[members], omega)
            scale = gains[members, None] * weights[cluster, channel]
            coefficients = np.hstack([scale * np.cos(shifted), scale * np.sin(shifted)])
            for start in range(0, members.size, block_rows):
                rows = members[start : start + block_rows]
                X[rows, :, channel] = coefficients[start : start + block_rows] @ waves
    if noise > 0:
        # numpy's Generator draws normals several times faster than the legacy RandomState.
        noise_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        flat = X.reshape(n_samples, -1)
        buffer = np.empty((min(block_rows, n_samples), flat.shape[1]))
        for start in range(0, n_samples, block_rows):
            block = flat[start : start + block_rows]
            draws = noise_rng.standard_normal(out=buffer[: block.shape[0]])
            draws *= noise
            block += draws
    if variable_length:
        shortest = max(1, int(np.ceil(min_length_fraction * n_timestamps)))
        lengths = rng.randint(shortest, n_timestamps + 1, size=n_samples)
        for index, length in enumerate(lengths):
            X[index, length:] = np.nan
    if n_channels == 1:
        X = X[:, :, 0]
    return X, y


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
