"""The numerical guard of training: skip non-finite steps, restore the last good weights, give up."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training kept producing non-finite losses or weights after every recovery attempt.

    A ``ValueError`` as well as a ``FloatingPointError``: in practice it means the data or the
    hyper-parameters do not suit the model (unscaled data, a learning rate far too large), so
    code that catches bad input with ``except ValueError`` catches it too.
    """


def all_finite(tensors: Iterable[torch.Tensor | None]) -> bool:
    """Whether every tensor is finite, with one fused norm per device in the common case."""
    tensors = [tensor for tensor in tensors if tensor is not None]
    if not tensors:
        return True
    # _foreach_norm computes every L2 norm in one call; a norm is finite when all entries are,
    # except that squares of entries beyond ~1e19 overflow float32, so only a non-finite norm
    # is looked at entry by entry.
    if bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all()):
        return True
    return all(bool(torch.isfinite(tensor).all()) for tensor in tensors)


class NumericalGuard:
    """What a :class:`~skdeepcluster._engine.TrainingLoop` does about non-finite numbers.

    A step whose loss or gradient is not finite is skipped (no update). After ``patience``
    consecutive skipped steps, or when the weights themselves stop being finite at the end of
    an epoch, the last good weights are restored (saved at the start of every phase and at the
    end of every epoch whose weights were finite), the optimiser's state is cleared and the
    learning rate is halved from then on. More than ``max_restores`` restores raise
    :class:`TrainingDivergedError`.

    Parameters
    ----------
    patience : int, default=10
        Consecutive skipped steps that trigger a restore.
    max_restores : int, default=4
        Restores allowed before giving up.
    """

    def __init__(self, patience: int = 10, max_restores: int = 4) -> None:
        self.patience = patience
        self.max_restores = max_restores
        self.restores = 0
        self.nonfinite_steps = 0  # skipped steps of the whole fit
        self.learning_rate_scale = 1.0
        self._consecutive_bad = 0  # counted across phases and epochs
        self._good_state: dict[str, torch.Tensor] | None = None

    def remember(self, module: torch.nn.Module) -> None:
        """Save ``module``'s weights as the last good ones."""
        self._good_state = {key: value.detach().clone() for key, value in module.state_dict().items()}

    def recover(self, module: torch.nn.Module) -> None:
        """Load the last good weights into ``module`` (nothing if none were saved)."""
        if self._good_state is not None:
            module.load_state_dict(self._good_state)

    def after_step(self, stepped: bool) -> bool:
        """Count a step; True when it was the ``patience``-th skipped one in a row (then restore)."""
        if stepped:
            self._consecutive_bad = 0
            return False
        self.nonfinite_steps += 1
        self._consecutive_bad += 1
        if self._consecutive_bad >= self.patience:
            self._consecutive_bad = 0
            return True
        return False

    def end_epoch(self, module: torch.nn.Module) -> bool:
        """At the end of an epoch: True (and the weights saved) if they are finite, else False (restore)."""
        if all_finite(list(module.parameters())):
            self.remember(module)
            return True
        return False

    def restore(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, phase: str,
                reason: str) -> dict[str, Any]:
        """Restore the last good weights at half the learning rate; the fields of the history event.

        Raises :class:`TrainingDivergedError` when the restores are used up.
        """
        self.restores += 1
        if self.restores > self.max_restores:
            raise TrainingDivergedError(
                f"Training diverged in phase {phase!r}: {reason} persisted after {self.max_restores} restores "
                "of the last good weights, each at half the learning rate. Scale the data (e.g. "
                "StandardScaler) or lower the learning rate.")
        self.recover(module)
        optimizer.state = defaultdict(dict)  # moments computed from the bad steps
        self.learning_rate_scale *= 0.5
        warnings.warn(f"Training in {phase} hit {reason}; restored the last good weights and halved the "
                      f"learning rate (restore {self.restores} of at most {self.max_restores}).",
                      RuntimeWarning, stacklevel=5)
        return {"event": "restored", "reason": reason, "learning_rate_scale": self.learning_rate_scale}
