"""Mini-batches from numpy arrays or ``np.memmap`` without copying all of X to the device."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from ._distributed import DataParallel

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def to_tensor(array: ArrayLike, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Copy one batch of rows to ``device`` as a tensor of ``dtype``.

    The copy is deliberate: inputs may be read-only memmaps, which torch refuses to share.
    """
    array = np.array(array, dtype=_NUMPY_DTYPES[dtype], copy=True)
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def iter_slices(n_samples: int, batch_size: int) -> Iterator[slice]:
    """Yield consecutive ``slice`` objects covering ``range(n_samples)``."""
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


class BatchStream:
    """An endless stream of shuffled training mini-batches, epoch after epoch.

    Each epoch is a fresh permutation drawn from ``rng`` (a ``numpy.random.RandomState``);
    only the rows of the current batch are read from ``X`` (sorted, so that a memmap is read
    forwards), converted and moved to the device.

    Parameters
    ----------
    X : ndarray or memmap of shape (n_samples, ...)
    batch_size : int
    rng : numpy.random.RandomState
    device : torch.device
    drop_last : bool
        Drop an incomplete final batch of each epoch (never when it would leave none).
    group : DataParallel, default=None
        Data-parallel training: every rank draws the same batches and reads only its share of
        each; ``weight`` is that share's fraction of the batch (1 in a single process).
    """

    def __init__(self, X: np.ndarray, batch_size: int, rng: np.random.RandomState, device: torch.device,
                 drop_last: bool = False, group: DataParallel | None = None) -> None:
        self.X = X
        self.group = group
        self.weight = 1.0
        self.batch_size = int(min(batch_size, X.shape[0]))
        self.rng = rng
        self.device = device
        n_samples = X.shape[0]
        full, rest = divmod(n_samples, self.batch_size)
        self.steps_per_epoch = full if (drop_last or rest == 0) else full + 1
        self._order = np.empty(0, dtype=np.intp)
        self._cursor = 0
        self._drop_last = drop_last
        self.last_indices: np.ndarray | None = None

    def next_indices(self) -> np.ndarray:
        """Indices of the next batch, starting a new permutation when an epoch ends."""
        n_samples = self.X.shape[0]
        if self._cursor >= len(self._order):
            self._order = self.rng.permutation(n_samples)
            if self._drop_last:
                self._order = self._order[: self.steps_per_epoch * self.batch_size]
            self._cursor = 0
        indices = self._order[self._cursor:self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return indices

    def next_batch(self) -> torch.Tensor:
        """The next batch as a float32 tensor on the device."""
        indices = np.sort(self.next_indices())
        if self.group is not None and self.group.enabled:
            indices, self.weight = self.group.shard_batch(indices)
        self.last_indices = indices  # rows of the batch, for losses with per-sample targets
        return to_tensor(self.X[indices], self.device)


class BatchWeights:
    """Sample weights of the rows in the current mini-batch of a :class:`BatchStream`.

    ``weights`` are the training rows' weights divided by their mean, or None (unweighted):
    the weighted batch mean ``mean(w_i * loss_i)`` then keeps the scale of the unweighted
    one, and, data-parallel (the rows are this rank's share), the averaging of the ranks'
    gradients stays exact, which a division by each batch's weight sum would not.
    """

    def __init__(self, weights: ArrayLike | None = None, batches: BatchStream | None = None,
                 device: torch.device | None = None) -> None:
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
        self.batches = batches

    def of_batch(self) -> torch.Tensor | None:
        """The weights of the rows of the last batch drawn (None when unweighted)."""
        if self.weights is None:
            return None
        return self.weights[torch.as_tensor(self.batches.last_indices, device=self.weights.device)]

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The (weighted) mean over the batch of per-row ``values``."""
        weights = self.of_batch()
        return values.mean() if weights is None else (values * weights.to(values.dtype)).mean()
