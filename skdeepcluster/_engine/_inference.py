"""Batched, gradient-free inference over numpy arrays or memmaps."""

import numpy as np
import torch

from ._batching import iter_slices, to_tensor


def map_batches(function, X, batch_size, device, dtype=torch.float64):
    """Apply ``function`` to consecutive batches of ``X`` and concatenate the results.

    ``function`` takes a tensor batch and returns a tensor or a tuple of tensors; each result
    comes back as a numpy array with one row per sample of ``X``. Only one batch lives on the
    device at a time, so memory grows with ``batch_size``, not with ``n_samples``.
    """
    outputs = None
    with torch.no_grad():
        for rows in iter_slices(X.shape[0], batch_size):
            result = function(to_tensor(X[rows], device, dtype))
            result = result if isinstance(result, tuple) else (result,)
            if outputs is None:
                outputs = tuple([] for _ in result)
            for store, value in zip(outputs, result):
                store.append(value.detach().cpu().numpy())
    arrays = tuple(np.concatenate(parts, axis=0) for parts in outputs)
    return arrays if len(arrays) > 1 else arrays[0]
