"""The training loop: steps, learning-rate schedule, per-epoch history and progress."""

import math
import time
import warnings

import torch
from tqdm.auto import tqdm


def exponential_decay_to_floor(initial, floor, total_steps):
    """Return ``lr(step) = initial * (floor / initial) ** (step / total_steps)``.

    Continuous exponential decay that reaches ``floor`` at the last step: the shape of the
    S3VDC code's schedule (``max(lr0 * r ** (g / s), lr_min)``, whose released constants
    reach the floor within 5 % of the step budget), expressed independently of the budget.
    """
    if floor >= initial or total_steps <= 1:
        return lambda step: initial
    log_ratio = math.log(floor / initial)
    return lambda step: initial * math.exp(log_ratio * min(step, total_steps) / total_steps)


class TrainingLoop:
    """Run gradient steps on mini-batches and record what happened.

    One loop spans a whole ``fit``: phases (warm-up, clustering, ...) are consecutive calls
    to :meth:`run`, so the global step, the learning rate schedule, the progress bar and
    ``history`` continue across them. A phase with its own optimiser (LoSTer: Adam, then SGD)
    assigns ``optimizer`` before its :meth:`run`. A history entry is written at the end of every epoch
    (``steps_per_epoch`` steps) and at the end of every phase.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer
    batches : BatchStream
    learning_rate_at : callable
        Global step -> learning rate, applied before each step.
    total_steps : int
        Steps planned for the whole fit (for the progress bar).
    verbose : int
        0 silent, 1 one progress bar, 2 one line per epoch.
    history : list
        Appended to in place.
    """

    def __init__(self, module, optimizer, batches, learning_rate_at, total_steps, verbose=0,
                 history=None, description="fit"):
        self.module = module
        self.optimizer = optimizer
        self.batches = batches
        self.learning_rate_at = learning_rate_at
        self.total_steps = total_steps
        self.verbose = verbose
        self.history = [] if history is None else history
        self.step = 0
        self.nonfinite_steps = 0
        self._bar = tqdm(total=total_steps, desc=description, unit="step", leave=False) if verbose == 1 else None

    def run(self, n_steps, loss_fn, phase):
        """Run ``n_steps`` optimiser steps with ``loss_fn(batch, step) -> (loss, logs)``.

        ``logs`` is a dict of scalar tensors averaged into the history. A step whose loss is
        not finite is skipped (no parameter update) and counted, so one bad batch can never
        write NaN into the weights.
        """
        self.module.train()
        sums, seen, skipped, started = {}, 0, 0, time.perf_counter()
        for _ in range(n_steps):
            learning_rate = self.learning_rate_at(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            batch = self.batches.next_batch()
            loss, logs = loss_fn(batch, self.step)
            self.optimizer.zero_grad(set_to_none=True)
            if torch.isfinite(loss):
                loss.backward()
                self.optimizer.step()
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value.detach()
                seen += 1
            else:
                skipped += 1
            self.step += 1
            if self._bar is not None:
                self._bar.update(1)
            if self.step % self.batches.steps_per_epoch == 0:
                self._record(phase, sums, seen, skipped, learning_rate, started)
                sums, seen, skipped, started = {}, 0, 0, time.perf_counter()
        if seen or skipped:
            self._record(phase, sums, seen, skipped, self.learning_rate_at(self.step - 1), started)
        self.module.eval()

    def _record(self, phase, sums, seen, skipped, learning_rate, started):
        entry = {"epoch": self.step / self.batches.steps_per_epoch, "phase": phase, "steps": seen + skipped}
        entry.update({key: float(value) / max(seen, 1) for key, value in sums.items()})
        entry.update(learning_rate=learning_rate, nonfinite_steps=skipped, seconds=time.perf_counter() - started)
        self.history.append(entry)
        self.nonfinite_steps += skipped
        if skipped:
            warnings.warn(f"{skipped} training step(s) in {phase} had a non-finite loss and were skipped.",
                          RuntimeWarning, stacklevel=3)
        if self.verbose >= 2:
            losses = " ".join(f"{key}={value:.4g}" for key, value in entry.items()
                              if key not in ("epoch", "phase", "steps", "seconds", "learning_rate",
                                             "nonfinite_steps"))
            print(f"[{phase}] epoch {entry['epoch']:.2f} {losses} lr={learning_rate:.3g} "
                  f"({entry['seconds']:.2f}s)", flush=True)

    def close(self):
        """Close the progress bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
