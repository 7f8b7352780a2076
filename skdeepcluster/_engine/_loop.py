"""The training loop: phases of guarded steps, learning-rate schedules, per-epoch history and callbacks."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import torch
from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as _notebook_or_plain_tqdm
from tqdm.std import tqdm as _plain_tqdm

from ._distributed import SINGLE_PROCESS
from ._guard import NumericalGuard, TrainingDivergedError, all_finite
from ._random import explicit_draws_only

if TYPE_CHECKING:
    from ._batching import BatchStream
    from ._distributed import DataParallel

    # ``loss_fn(batch, step) -> (loss, logs)`` of a phase, and an ``on_epoch_end`` callback.
    LossFunction = Callable[[torch.Tensor, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]
    EpochCallback = Callable[["TrainingLoop", dict[str, Any]], object]

__all__ = ["MIN_STEPS_PER_EPOCH", "EpochProgress", "TrainingDivergedError", "TrainingLoop"]

# On data smaller than this many mini-batches an estimator may count this many steps as an
# epoch (TrainingLoop's steps_per_epoch, or set_steps_per_epoch for one phase): epoch counts,
# schedules and stopping rules written for hundreds of steps per epoch otherwise give small
# data a handful of updates.
MIN_STEPS_PER_EPOCH = 10


def _redraws_in_place(stream: TextIO) -> bool:
    """Whether a progress bar can redraw itself: in a Jupyter notebook (tqdm.auto's widget) or a terminal."""
    if _notebook_or_plain_tqdm is not _plain_tqdm:  # tqdm.autonotebook found a Jupyter kernel
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class EpochProgress:
    """Training progress in epochs, the unit of both estimators' budgets, on stderr.

    In a terminal or a notebook: one tqdm bar whose label names the phase and which stays
    after the fit with how it ended. Elsewhere (output redirected to a file or a pipe), where
    a redrawn bar would become one long line of carriage returns: a plain line when a phase
    starts, at every tenth of the planned epochs, and at the end.
    """

    def __init__(self, description: str, total_steps: int, steps_per_epoch: int, start_step: int = 0,
                 stream: TextIO | None = None, planned_epochs: float | None = None) -> None:
        self.description = description
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.total_epochs = total_steps / steps_per_epoch if planned_epochs is None else planned_epochs
        self.stream = sys.stderr if stream is None else stream
        self.phase: str | None = None
        # step -> epochs, once a phase with another epoch length replans
        self._epoch_at: Callable[[int], float] | None = None
        self.started = time.perf_counter()
        self._next_line_step = 0
        self._bar = None
        if _redraws_in_place(self.stream):
            self._bar = tqdm(total=self.total_epochs, initial=min(start_step, total_steps) / steps_per_epoch,
                             desc=description, file=self.stream, leave=True, dynamic_ncols=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:g} epochs "
                                        "[{elapsed}<{remaining}{postfix}]")
        else:
            self._line(f"{self.total_epochs:g} epochs planned")

    def _epochs(self, step: int) -> float:
        return step / self.steps_per_epoch if self._epoch_at is None else self._epoch_at(step)

    def replan(self, epoch_at: Callable[[int], float]) -> None:
        """Count epochs with ``epoch_at(step)`` from now on (a phase with another epoch length)."""
        self._epoch_at = epoch_at
        self.total_epochs = epoch_at(self.total_steps)
        if self._bar is not None:
            self._bar.total = self.total_epochs

    def _line(self, text: str) -> None:
        print(f"{self.description}: {text}", file=self.stream, flush=True)

    def update(self, step: int, phase: str) -> None:
        """After a step: move the bar, or print a line at a new phase or a tenth of the epochs."""
        epochs = self._epochs(step)
        if self._bar is not None:
            if phase != self.phase:
                self._bar.set_description_str(f"{self.description} {phase}", refresh=False)
            self._bar.update(epochs - self._bar.n)
        else:
            new_phase = phase != self.phase
            if new_phase or step >= self._next_line_step:
                where = (f"{phase} from epoch {self._epochs(step - 1):.1f}" if new_phase
                         else f"{phase}, epoch {epochs:.1f}")
                self._line(f"{where} of {self.total_epochs:g} ({time.perf_counter() - self.started:.1f} s)")
                # The first step of the next tenth of the budget, in integers (no float rounding).
                tenth = step * 10 // max(self.total_steps, 1)
                self._next_line_step = -(-(tenth + 1) * self.total_steps // 10)
        self.phase = phase

    def close(self, step: int, outcome: str) -> None:
        """Say how the fit ended (``outcome``) and at which epoch; the bar stays on screen."""
        epochs, seconds = self._epochs(step), time.perf_counter() - self.started
        if self._bar is not None:
            self._bar.set_description_str(self.description, refresh=False)
            self._bar.set_postfix_str(outcome, refresh=False)
            self._bar.update(epochs - self._bar.n)
            self._bar.close()
        else:
            self._line(f"{outcome} at epoch {epochs:.1f} of {self.total_epochs:g} ({seconds:.1f} s)")


class TrainingLoop:
    """Run gradient steps on mini-batches and record what happened.

    One loop spans a whole ``fit``: phases (warm-up, clustering, ...) are consecutive calls
    to :meth:`run`, so the global step, the learning rate scale, the progress bar and
    ``history`` continue across them. A phase with its own optimiser or learning-rate
    schedule (LoSTer: Adam, then SGD) passes it to :meth:`run`; it stays in use for the
    phases after it. A history entry is written at the end of every epoch
    (``steps_per_epoch`` steps) and at the end of every phase; the phase's ``on_epoch_end``
    callbacks see each entry, may add fields to it and may end the phase.

    One step is :meth:`train_step`: the loss, the backward pass, the group's gradient
    exchange (nothing in a single process, an all-reduce data-parallel), the guard's verdict
    and the update. The numerical guard (:class:`NumericalGuard`) skips a step whose loss or
    gradient is not finite and restores the last good weights after ``patience`` such steps in
    a row or when the weights themselves stop being finite; each restore is a ``"restored"``
    history event and a ``RuntimeWarning``, and more than ``max_restores`` restores raise
    :class:`TrainingDivergedError`.

    ``KeyboardInterrupt`` stops the loop cleanly: the weights stay those of the last finished
    step, ``interrupted`` becomes true, an ``"interrupted"`` history event is written and every
    later :meth:`run` returns at once, so the caller can finish the fit with what it has.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer or None
        The optimiser of the first phase (or None, when every :meth:`run` passes one).
    batches : BatchStream
    learning_rate_at : callable or None
        Global step -> learning rate, applied before each step (a phase may pass its own).
    total_steps : int
        Steps planned for the whole fit (for the progress bar).
    verbose : int
        0 silent, 1 progress in epochs (:class:`EpochProgress`), 2 one line per epoch.
    history : list
        Appended to in place.
    start_step : int
        Global step to start from (a warm-started fit continues its schedules).
    patience, max_restores : int
        Settings of the default :class:`NumericalGuard` (ignored when ``guard`` is given).
    group : DataParallel, default=None
        Data-parallel training over several processes: after each backward pass the gradients,
        the logged losses and the finiteness of every rank's loss are all-reduced in one buffer,
        so every rank applies the same update and takes the same skip and restore decisions;
        only rank 0 shows progress. A ``KeyboardInterrupt`` is re-raised there, since the other
        ranks cannot be told to stop at the same step.
    steps_per_epoch : int, default=None
        Steps that make one epoch in history and progress; ``None``: the batches of one pass
        over the data (an estimator may count more steps as an epoch on small data, e.g.
        ``max(batches, MIN_STEPS_PER_EPOCH)``). :meth:`set_steps_per_epoch` changes it for
        the phases that follow.
    planned_epochs : float, default=None
        The epochs the progress display announces; ``None``: ``total_steps / steps_per_epoch``.
        For a fit whose later phase counts longer epochs (:meth:`set_steps_per_epoch`).
    guard : NumericalGuard, default=None
        The numerical guard; ``None``: ``NumericalGuard(patience, max_restores)``.
    """

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer | None, batches: BatchStream,
                 learning_rate_at: Callable[[int], float] | None, total_steps: int, verbose: int = 0,
                 history: list[dict[str, Any]] | None = None, description: str = "fit", start_step: int = 0,
                 patience: int = 10, max_restores: int = 4, group: DataParallel | None = None,
                 steps_per_epoch: int | None = None, planned_epochs: float | None = None,
                 guard: NumericalGuard | None = None) -> None:
        self.group = SINGLE_PROCESS if group is None else group
        if self.group.rank != 0:
            verbose = 0
        self.module = module
        self.optimizer = optimizer
        self.batches = batches
        self.steps_per_epoch = steps_per_epoch or batches.steps_per_epoch
        # Epochs are counted from (step, epoch) = this origin; set_steps_per_epoch moves it.
        self._epoch_origin = (0, 0.0)
        self.learning_rate_at = learning_rate_at
        self.total_steps = total_steps
        self.verbose = verbose
        self.history = [] if history is None else history
        self.step = start_step
        self.guard = NumericalGuard(patience, max_restores) if guard is None else guard
        self.interrupted = False
        self.stop_reason: str | None = None  # why a callback ended a phase, for the progress display
        self._progress: EpochProgress | None = None
        self._exception_before = sys.exc_info()[1]  # a caller's own handled exception is not ours
        if verbose == 1:
            self._progress = EpochProgress(description, total_steps, self.steps_per_epoch, start_step,
                                           planned_epochs=planned_epochs)

    # The guard's counters, read by estimators and tests.
    restores = property(lambda self: self.guard.restores)
    nonfinite_steps = property(lambda self: self.guard.nonfinite_steps)
    learning_rate_scale = property(lambda self: self.guard.learning_rate_scale)

    def epoch_at(self, step: int) -> float:
        """The (fractional) epoch count at global ``step``."""
        origin_step, origin_epoch = self._epoch_origin
        return origin_epoch + (step - origin_step) / self.steps_per_epoch

    def set_steps_per_epoch(self, steps_per_epoch: int, epoch: float | None = None) -> None:
        """Count ``steps_per_epoch`` steps as one epoch from the current step on.

        For a phase whose epochs are longer than one pass over the data (LoSTer's joint phase
        on small data); ``epoch`` is the epoch count reached now (default: the current
        count). History entries and progress then count epochs of the new length, and an
        epoch ends every ``steps_per_epoch`` steps from here.
        """
        epoch = self.epoch_at(self.step) if epoch is None else float(epoch)
        self._epoch_origin = (self.step, epoch)
        self.steps_per_epoch = int(steps_per_epoch)
        if self._progress is not None:
            self._progress.replan(self.epoch_at)

    def run(self, n_steps: int, loss_fn: LossFunction, phase: str, *, optimizer: torch.optim.Optimizer | None = None,
            learning_rate_at: Callable[[int], float] | None = None, on_epoch_end: Sequence[EpochCallback] = ()) -> int:
        """Run up to ``n_steps`` optimiser steps with ``loss_fn(batch, step) -> (loss, logs)``.

        ``logs`` is a dict of scalar tensors averaged into the history. ``optimizer`` and
        ``learning_rate_at``, when given, replace the loop's from this phase on. Each callable
        of ``on_epoch_end`` is called as ``callback(loop, entry)`` after every history entry of
        a finished epoch (or of the phase's last, partial one), unless training was
        interrupted; it may add fields to ``entry``, and a true return value ends the phase
        there (a string saying why, such as ``"converged (label change 0.1%)"``, is shown by the
        progress display). Returns the number of steps run (fewer than ``n_steps`` after an interrupt or a
        callback's stop).
        """
        if optimizer is not None:
            self.optimizer = optimizer
        if learning_rate_at is not None:
            self.learning_rate_at = learning_rate_at
        if self.interrupted or n_steps <= 0:
            return 0
        self.module.train()
        self.guard.remember(self.module)
        sums, seen, skipped, started = {}, 0, 0, time.perf_counter()
        done, stopped = 0, False
        try:
            for _ in range(n_steps):
                learning_rate = self.learning_rate_at(self.step) * self.guard.learning_rate_scale
                for group in self.optimizer.param_groups:
                    # A group may run at a multiple of the schedule (S3VDC's prior parameters).
                    group["lr"] = learning_rate * group.get("lr_scale", 1.0)
                batch = self.batches.next_batch()
                with explicit_draws_only():  # the steps' draws name their generator: no interception cost
                    stepped = self.train_step(batch, loss_fn, sums)
                seen, skipped = (seen + 1, skipped) if stepped else (seen, skipped + 1)
                if self.guard.after_step(stepped):
                    self._restore(phase, f"{self.guard.patience} consecutive non-finite steps")
                self.step += 1
                done += 1
                if self._progress is not None:
                    self._progress.update(self.step, phase)
                if (self.step - self._epoch_origin[0]) % self.steps_per_epoch == 0:
                    stopped = self._end_epoch(phase, sums, seen, skipped, learning_rate, started, on_epoch_end)
                    sums, seen, skipped, started = {}, 0, 0, time.perf_counter()
                    if stopped:
                        break
        except KeyboardInterrupt:
            if self.group.enabled:
                raise
            self.interrupted = True
            self.optimizer.zero_grad(set_to_none=True)
            if not all_finite(list(self.module.parameters())):
                self.guard.recover(self.module)
        if seen or skipped:
            self._end_epoch(phase, sums, seen, skipped,
                            self.learning_rate_at(max(self.step - 1, 0)) * self.guard.learning_rate_scale, started,
                            on_epoch_end)
        if self.interrupted:
            self.history.append({"epoch": self.epoch_at(self.step), "phase": phase,
                                 "event": "interrupted", "step": self.step})
        self.module.eval()
        return done

    def train_step(self, batch: torch.Tensor, loss_fn: LossFunction, sums: dict[str, Any]) -> bool:
        """One guarded step; False when it was skipped for a non-finite loss or gradient.

        The group exchanges the gradients and logs (a single process: only checks them), so
        every rank takes the same decision; ``sums`` accumulates the logs of steps taken.
        """
        loss, logs = loss_fn(batch, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss_finite = bool(torch.isfinite(loss))
        if loss_finite:
            loss.backward()
        ok, logs = self.group.average_gradients(self.module.parameters(), self.batches.weight, loss_finite, logs)
        if not ok:
            self.optimizer.zero_grad(set_to_none=True)
            return False
        self.optimizer.step()
        for key, value in logs.items():
            sums[key] = sums.get(key, 0.0) + value
        return True

    def _end_epoch(self, phase: str, sums: dict[str, Any], seen: int, skipped: int, learning_rate: float,
                   started: float, callbacks: Sequence[EpochCallback] = ()) -> bool:
        """Record the epoch, let the guard check the weights, run the callbacks; True to end the phase."""
        entry = self._record(phase, sums, seen, skipped, learning_rate, started)
        if not self.guard.end_epoch(self.module):
            # Finite gradients can still overflow the weights (a learning rate far too large).
            self._restore(phase, "non-finite weights")
        if self.interrupted:
            return False
        stop = False
        for callback in callbacks:
            verdict = callback(self, entry)
            if verdict:
                stop = True
                self.stop_reason = verdict if isinstance(verdict, str) else None
        self.module.train()  # a callback may have evaluated the network
        return stop

    def _restore(self, phase: str, reason: str) -> None:
        event = self.guard.restore(self.module, self.optimizer, phase, reason)
        self.history.append({"epoch": self.epoch_at(self.step), "phase": phase, **event})

    def _record(self, phase: str, sums: dict[str, Any], seen: int, skipped: int, learning_rate: float,
                started: float) -> dict[str, Any]:
        entry = {"epoch": self.epoch_at(self.step), "phase": phase, "steps": seen + skipped}
        entry.update({key: float(value) / max(seen, 1) for key, value in sums.items()})
        entry.update(learning_rate=learning_rate, nonfinite_steps=skipped, seconds=time.perf_counter() - started)
        self.history.append(entry)
        if skipped:
            warnings.warn(f"{skipped} training step(s) in {phase} had a non-finite loss or gradient and were "
                          "skipped.", RuntimeWarning, stacklevel=4)
        if self.verbose >= 2:
            losses = " ".join(f"{key}={value:.4g}" for key, value in entry.items()
                              if key not in ("epoch", "phase", "steps", "seconds", "learning_rate",
                                             "nonfinite_steps"))
            print(f"[{phase}] epoch {entry['epoch']:.2f} {losses} lr={learning_rate:.3g} "
                  f"({entry['seconds']:.2f}s)", flush=True)
        return entry

    def close(self) -> None:
        """Close the progress display, saying how training ended."""
        if self._progress is None:
            return
        if self.interrupted:
            outcome = "interrupted"
        elif sys.exc_info()[1] not in (None, self._exception_before):  # in a ``finally``, an error propagating
            outcome = "stopped by an error"
        elif self.step >= self.total_steps:
            outcome = "done"
        elif self.stop_reason:  # a callback ended the loop before its budget and said why
            outcome = f"{self.stop_reason}, stopped early"
        else:
            outcome = "stopped early"
        self._progress.close(self.step, outcome)
        self._progress = None
