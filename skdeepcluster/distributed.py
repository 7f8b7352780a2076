"""Inference of fitted estimators over Dask arrays, block by block, on a laptop or a cluster.

Dask is optional: ``pip install skdeepcluster[distributed]`` installs ``dask[array]`` and
``distributed``. It is imported when a function of this module is called, never when
``skdeepcluster`` or this module is imported.

Hyper-parameter searches need no helper: ``GridSearchCV(..., n_jobs=-1)`` inside
``joblib.parallel_config(backend="dask")`` runs one trial per Dask worker thread (see the
"Scaling out" guide).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import DTypeLike
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:  # dask is optional and imported only when a function here is called
    import dask.array
    from sklearn.base import BaseEstimator

__all__ = ["map_blocks_inference"]

_INSTALL_HINT = "pip install skdeepcluster[distributed]"

# method -> dtype of its output (None: the dtype of X, as transform keeps float32 and float64).
_METHODS = {"predict": np.int64, "predict_proba": np.float64, "transform": None, "score_samples": np.float64}


def _import_dask_array() -> tuple[ModuleType, ModuleType]:
    try:
        import dask
        import dask.array as da
    except ImportError as error:
        raise ImportError(f"skdeepcluster.distributed needs dask[array], which is not installed ({error}). "
                          f"Install the optional dependencies with: {_INSTALL_HINT}") from error
    return dask, da


def _n_output_columns(estimator: BaseEstimator, method: str) -> int | None:
    """Columns of ``method``'s 2-D output, read from the fitted estimator (None for 1-D outputs)."""
    if method == "transform":
        return len(estimator.get_feature_names_out())  # latent_dim for skdeepcluster, n_clusters for KMeans
    if method == "predict_proba":
        for attribute in ("classes_", "cluster_centers_", "weights_"):
            if hasattr(estimator, attribute):
                return len(getattr(estimator, attribute))
        raise TypeError(f"Cannot tell how many columns {type(estimator).__name__}.predict_proba returns: it has "
                        "none of the fitted attributes classes_, cluster_centers_ and weights_.")
    return None


def _apply(block: np.ndarray, estimator: BaseEstimator, method: str, dtype: DTypeLike,
           n_columns: int | None) -> np.ndarray:
    """One block's output: ``estimator.<method>(block)`` in the dtype the lazy array declares."""
    if block.shape[0] == 0:  # dask allows empty chunks; the estimators need at least one row
        return np.empty((0,) if n_columns is None else (0, n_columns), dtype=dtype)
    return np.asarray(getattr(estimator, method)(block), dtype=dtype)


def map_blocks_inference(
    estimator: BaseEstimator,
    X: dask.array.Array,
    method: Literal["predict", "predict_proba", "transform", "score_samples"] = "predict",
) -> dask.array.Array:
    """Apply a fitted estimator's ``predict``, ``predict_proba``, ``transform`` or ``score_samples`` lazily.

    Returns a lazy Dask array whose blocks are ``getattr(estimator, method)`` of the
    matching row blocks of ``X``, computed by :meth:`dask.array.Array.map_blocks`. Nothing
    runs until the result is computed (``.compute()``, ``.to_zarr()``, ``.persist()``), and
    then each worker reads one block of ``X`` at a time, so ``X`` may be far larger than
    the memory of any one machine: only the outputs are ever gathered. Each output row
    depends only on its input row, so the result is the in-memory method's result: bit for
    bit when every block's row count is a multiple of the estimator's ``batch_size`` (the
    same inference batches), and to float64 rounding otherwise.

    The estimator enters the task graph once, as a single ``dask.delayed`` node every block
    depends on: each Dask worker receives one copy, whatever the number of blocks. Fitted
    skdeepcluster estimators pickle their networks on the CPU, and a model trained on CUDA
    moves back to CUDA when unpickled where CUDA is available, so its blocks run on a
    worker's GPU if it has one and on its CPU otherwise.

    Without a ``distributed.Client``, ``compute`` uses Dask's local threaded scheduler.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted :class:`~skdeepcluster.S3VDCClustering` or
        :class:`~skdeepcluster.LoSTerClustering`, or any fitted scikit-learn estimator with
        the requested method.
    X : dask.array.Array of shape (n_samples, n_features) or (n_samples, n_timestamps, n_channels)
        The samples, chunked along the rows (the first axis) in blocks that fit in a worker's
        memory. The other axes are rechunked to a single chunk if they are split, because the
        network reads whole samples.
    method : {"predict", "predict_proba", "transform", "score_samples"}, default="predict"
        The estimator method applied to each block.

    Returns
    -------
    result : dask.array.Array
        Lazy output with the row chunks of ``X``:

        - ``"predict"``: int64 labels of shape (n_samples,);
        - ``"predict_proba"``: float64 probabilities of shape (n_samples, n_clusters);
        - ``"transform"``: embedding of shape (n_samples, latent_dim), in the dtype of ``X``
          when it is float32 or float64 and float64 otherwise;
        - ``"score_samples"``: float64 log-likelihoods of shape (n_samples,).

    Raises
    ------
    ImportError
        If dask is not installed.
    TypeError
        If ``X`` is not a Dask array.
    ValueError
        If ``method`` is not one of the four methods, the estimator lacks it, or ``X`` is not
        2-D or 3-D.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    See Also
    --------
    dask.array.map_blocks : The Dask function that applies a function to every block.
    skdeepcluster.S3VDCClustering.predict : The in-memory prediction of S3VDC.
    skdeepcluster.LoSTerClustering.predict : The in-memory prediction of LoSTer.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skdeepcluster import S3VDCClustering
    >>> from skdeepcluster.distributed import map_blocks_inference
    >>> X = np.random.RandomState(0).normal(size=(200, 4))
    >>> model = S3VDCClustering(n_clusters=2, latent_dim=2, hidden_dims=(16,), warmup_epochs=5,
    ...                         anneal_epochs=2, static_epochs=1, n_periods=1, device="cpu",
    ...                         random_state=0).fit(X)

    A chunked array stands here for one too large for memory (``da.from_zarr``,
    ``da.from_array`` of a memmap or HDF5 dataset, ...):

    >>> X_lazy = da.from_array(X, chunks=(50, 4))
    >>> labels = map_blocks_inference(model, X_lazy)
    >>> labels.shape, labels.dtype, labels.numblocks
    ((200,), dtype('int64'), (4,))
    >>> bool((labels.compute() == model.predict(X)).all())
    True
    >>> map_blocks_inference(model, X_lazy, method="predict_proba").shape
    (200, 2)
    """
    dask, da = _import_dask_array()
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}.")
    if not callable(getattr(estimator, method, None)):
        raise ValueError(f"{type(estimator).__name__} has no {method} method.")
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask.array.Array, got {type(X).__name__}. Call estimator.{method}(X) "
                        "directly on in-memory data, or wrap it with dask.array.from_array(X, chunks=...).")
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be 2-D (n_samples, n_features) or 3-D (n_samples, n_timestamps, n_channels), "
                         f"got a {X.ndim}-D array of shape {X.shape}.")
    check_is_fitted(estimator)

    if any(n_chunks > 1 for n_chunks in X.numblocks[1:]):
        # The network reads whole samples (every feature, or every timestamp and channel of a
        # series), so only the rows may be split: merge the chunks of the other axes. Blocks
        # then hold chunks[0] rows of complete samples.
        X = X.rechunk(dict.fromkeys(range(1, X.ndim), -1))

    dtype = _METHODS[method]
    if dtype is None:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    n_columns = _n_output_columns(estimator, method)

    # One graph node holds the estimator; every block task refers to it by key, so the graph
    # (and what each worker receives) has one copy of the model, not one per block.
    estimator_node = dask.delayed(estimator, pure=True)
    non_row_axes = list(range(1, X.ndim))
    if n_columns is None:
        return X.map_blocks(_apply, estimator_node, method, dtype, None, dtype=dtype, chunks=(X.chunks[0],),
                            drop_axis=non_row_axes, meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(_apply, estimator_node, method, dtype, n_columns, dtype=dtype,
                        chunks=(X.chunks[0], (n_columns,)), drop_axis=non_row_axes, new_axis=1,
                        meta=np.empty((0, 0), dtype=dtype))
