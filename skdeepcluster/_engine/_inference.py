"""Batched, gradient-free inference over numpy arrays or memmaps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ._batching import iter_slices, to_tensor


def map_batches(
    function: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
    X: Any,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float64,
    prepare: Callable[[Any, slice], np.ndarray] | None = None,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Apply ``function`` to consecutive batches of ``X`` and gather the results.

    ``function`` takes a tensor batch and returns a tensor or a tuple of tensors; each result
    comes back as a numpy array with one row per sample of ``X``. ``prepare(X, rows)``, if
    given, builds the numpy batch ``function`` reads for ``rows`` (a ``slice``) instead of
    ``X[rows]``, so that validation and preprocessing also run one batch at a time. Only one
    batch lives on the device at a time and the outputs are allocated once, after the first
    batch, and filled in place, so memory grows with ``batch_size``, not with ``n_samples``
    (beyond the outputs themselves).
    """
    n_samples = X.shape[0]
    outputs = None
    with torch.no_grad():
        for rows in iter_slices(n_samples, batch_size):
            batch = X[rows] if prepare is None else prepare(X, rows)
            result = function(to_tensor(batch, device, dtype))
            result = result if isinstance(result, tuple) else (result,)
            values = [value.detach().cpu().numpy() for value in result]
            if outputs is None:
                outputs = tuple(np.empty((n_samples, *value.shape[1:]), dtype=value.dtype) for value in values)
            for store, value in zip(outputs, values, strict=True):
                store[rows] = value
    if outputs is None:
        raise ValueError("map_batches needs at least one sample; got an empty X.")
    return outputs if len(outputs) > 1 else outputs[0]
