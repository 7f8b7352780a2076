"""The training loop: steps, learning-rate schedule, per-epoch history, numerical guard, interrupts."""

import math
import sys
import time
import warnings
from collections import defaultdict

import torch
from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as _notebook_or_plain_tqdm
from tqdm.std import tqdm as _plain_tqdm

from ._distributed import SINGLE_PROCESS
from ._random import explicit_draws_only

# On data smaller than this many mini-batches an estimator may count this many steps as an
# epoch (TrainingLoop's steps_per_epoch, or set_steps_per_epoch for one phase): epoch counts,
# schedules and stopping rules written for hundreds of steps per epoch otherwise give small
# data a handful of updates.
MIN_STEPS_PER_EPOCH = 10


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training kept producing non-finite losses or weights after every recovery attempt.

    A ``ValueError`` as well as a ``FloatingPointError``: in practice it means the data or the
    hyper-parameters do not suit the model (unscaled data, a learning rate far too large), so
    code that catches bad input with ``except ValueError`` catches it too.
    """


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


def _all_finite(tensors):
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


def _redraws_in_place(stream):
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

    def __init__(self, description, total_steps, steps_per_epoch, start_step=0, stream=None, planned_epochs=None):
        self.description = description
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.total_epochs = total_steps / steps_per_epoch if planned_epochs is None else planned_epochs
        self.stream = sys.stderr if stream is None else stream
        self.phase = None
        self._epoch_at = None  # step -> epochs, once a phase with another epoch length replans
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

    def _epochs(self, step):
        return step / self.steps_per_epoch if self._epoch_at is None else self._epoch_at(step)

    def replan(self, epoch_at):
        """Count epochs with ``epoch_at(step)`` from now on (a phase with another epoch length)."""
        self._epoch_at = epoch_at
        self.total_epochs = epoch_at(self.total_steps)
        if self._bar is not None:
            self._bar.total = self.total_epochs

    def _line(self, text):
        print(f"{self.description}: {text}", file=self.stream, flush=True)

    def update(self, step, phase):
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

    def close(self, step, outcome):
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
    to :meth:`run`, so the global step, the learning rate schedule, the progress bar and
    ``history`` continue across them. A phase with its own optimiser (LoSTer: Adam, then SGD)
    assigns ``optimizer`` before its :meth:`run`. A history entry is written at the end of every epoch
    (``steps_per_epoch`` steps) and at the end of every phase.

    The numerical guard: a step whose loss or gradient is not finite is skipped (no update).
    After ``patience`` consecutive skipped steps, or when the weights themselves stop being
    finite, the loop restores the last good weights (saved at the start of every phase and at
    the end of every epoch whose weights were finite), clears the optimiser's state and halves
    the learning rate from then on; each restore is a ``"restored"`` history event and a
    ``RuntimeWarning``. More than ``max_restores`` restores raise :class:`TrainingDivergedError`.

    ``KeyboardInterrupt`` stops the loop cleanly: the weights stay those of the last finished
    step, ``interrupted`` becomes true, an ``"interrupted"`` history event is written and every
    later :meth:`run` returns at once, so the caller can finish the fit with what it has.

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
        0 silent, 1 progress in epochs (:class:`EpochProgress`), 2 one line per epoch.
    history : list
        Appended to in place.
    start_step : int
        Global step to start from (a warm-started fit continues its schedules).
    patience : int
        Consecutive skipped steps that trigger a restore.
    max_restores : int
        Restores allowed before giving up.
    steps_per_epoch : int, default=None
        Steps that make one epoch in history and progress; ``None``: the batches of one pass
        over the data (an estimator may count more steps as an epoch on small data, e.g.
        ``max(batches, MIN_STEPS_PER_EPOCH)``). :meth:`set_steps_per_epoch` changes it for
        the phases that follow.
    planned_epochs : float, default=None
        The epochs the progress display announces; ``None``: ``total_steps / steps_per_epoch``.
        For a fit whose later phase counts longer epochs (:meth:`set_steps_per_epoch`).
    group : DataParallel, default=None
        Data-parallel training over several processes: after each backward pass the gradients,
        the logged losses and the finiteness of every rank's loss are all-reduced in one buffer,
        so every rank applies the same update and takes the same skip and restore decisions;
        only rank 0 shows progress. A ``KeyboardInterrupt`` is re-raised there, since the other
        ranks cannot be told to stop at the same step.
    """

    def __init__(self, module, optimizer, batches, learning_rate_at, total_steps, verbose=0,
                 history=None, description="fit", start_step=0, patience=10, max_restores=4, group=None,
                 steps_per_epoch=None, planned_epochs=None):
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
        self.patience = patience
        self.max_restores = max_restores
        self.nonfinite_steps = 0
        self.restores = 0
        self.learning_rate_scale = 1.0
        self.interrupted = False
        self._good_state = None
        self._consecutive_bad = 0  # counted across phases and epochs
        self.last_entry = None
        self._progress = None
        self._exception_before = sys.exc_info()[1]  # a caller's own handled exception is not ours
        if verbose == 1:
            self._progress = EpochProgress(description, total_steps, self.steps_per_epoch, start_step,
                                           planned_epochs=planned_epochs)

    def epoch_at(self, step):
        """The (fractional) epoch count at global ``step``."""
        origin_step, origin_epoch = self._epoch_origin
        return origin_epoch + (step - origin_step) / self.steps_per_epoch

    def set_steps_per_epoch(self, steps_per_epoch, epoch=None):
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

    def run(self, n_steps, loss_fn, phase):
        """Run ``n_steps`` optimiser steps with ``loss_fn(batch, step) -> (loss, logs)``.

        ``logs`` is a dict of scalar tensors averaged into the history. Returns the number of
        steps run (fewer than ``n_steps`` only after an interrupt).
        """
        if self.interrupted or n_steps <= 0:
            return 0
        self.module.train()
        self._save_good_state()
        sums, seen, skipped, started = {}, 0, 0, time.perf_counter()
        done = 0
        try:
            for _ in range(n_steps):
                learning_rate = self.learning_rate_at(self.step) * self.learning_rate_scale
                for group in self.optimizer.param_groups:
                    # A group may run at a multiple of the schedule (S3VDC's prior parameters).
                    group["lr"] = learning_rate * group.get("lr_scale", 1.0)
                batch = self.batches.next_batch()
                with explicit_draws_only():  # the steps' draws name their generator: no interception cost
                    stepped = self._train_step(batch, loss_fn, sums)
                if stepped:
                    seen, self._consecutive_bad = seen + 1, 0
                else:
                    skipped, self._consecutive_bad = skipped + 1, self._consecutive_bad + 1
                    if self._consecutive_bad >= self.patience:
                        self._restore(phase, f"{self._consecutive_bad} consecutive non-finite steps")
                        self._consecutive_bad = 0
                self.step += 1
                done += 1
                if self._progress is not None:
                    self._progress.update(self.step, phase)
                if (self.step - self._epoch_origin[0]) % self.steps_per_epoch == 0:
                    self._end_epoch(phase, sums, seen, skipped, learning_rate, started)
                    sums, seen, skipped, started = {}, 0, 0, time.perf_counter()
        except KeyboardInterrupt:
            if self.group.enabled:
                raise
            self.interrupted = True
            self.optimizer.zero_grad(set_to_none=True)
            if not _all_finite(list(self.module.parameters())):
                self._load_good_state()
        if seen or skipped:
            self._end_epoch(phase, sums, seen, skipped,
                            self.learning_rate_at(max(self.step - 1, 0)) * self.learning_rate_scale, started)
        if self.interrupted:
            self.history.append({"epoch": self.epoch_at(self.step), "phase": phase,
                                 "event": "interrupted", "step": self.step})
        self.module.eval()
        return done

    def _train_step(self, batch, loss_fn, sums):
        """One guarded step; False when it was skipped for a non-finite loss or gradient."""
        if self.group.enabled:
            return self._train_step_data_parallel(batch, loss_fn, sums)
        loss, logs = loss_fn(batch, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return False
        loss.backward()
        if not _all_finite([parameter.grad for parameter in self.module.parameters()]):
            self.optimizer.zero_grad(set_to_none=True)
            return False
        self.optimizer.step()
        for key, value in logs.items():
            sums[key] = sums.get(key, 0.0) + value.detach()
        return True

    def _train_step_data_parallel(self, batch, loss_fn, sums):
        """:meth:`_train_step` on this rank's share of the batch, with gradients averaged over ranks."""
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

    def _end_epoch(self, phase, sums, seen, skipped, learning_rate, started):
        self._record(phase, sums, seen, skipped, learning_rate, started)
        if _all_finite(list(self.module.parameters())):
            self._save_good_state()
        else:  # finite gradients can still overflow the weights (a learning rate far too large)
            self._restore(phase, "non-finite weights")

    def _save_good_state(self):
        self._good_state = {key: value.detach().clone() for key, value in self.module.state_dict().items()}

    def _load_good_state(self):
        if self._good_state is not None:
            self.module.load_state_dict(self._good_state)

    def _restore(self, phase, reason):
        self.restores += 1
        if self.restores > self.max_restores:
            raise TrainingDivergedError(
                f"Training diverged in phase {phase!r}: {reason} persisted after {self.max_restores} restores "
                "of the last good weights, each at half the learning rate. Scale the data (e.g. "
                "StandardScaler) or lower the learning rate.")
        self._load_good_state()
        self.optimizer.state = defaultdict(dict)  # moments computed from the bad steps
        self.learning_rate_scale *= 0.5
        self.history.append({"epoch": self.epoch_at(self.step), "phase": phase,
                             "event": "restored", "reason": reason,
                             "learning_rate_scale": self.learning_rate_scale})
        warnings.warn(f"Training in {phase} hit {reason}; restored the last good weights and halved the "
                      f"learning rate (restore {self.restores} of at most {self.max_restores}).",
                      RuntimeWarning, stacklevel=4)

    def _record(self, phase, sums, seen, skipped, learning_rate, started):
        entry = {"epoch": self.epoch_at(self.step), "phase": phase, "steps": seen + skipped}
        entry.update({key: float(value) / max(seen, 1) for key, value in sums.items()})
        entry.update(learning_rate=learning_rate, nonfinite_steps=skipped, seconds=time.perf_counter() - started)
        self.history.append(entry)
        self.last_entry = entry
        self.nonfinite_steps += skipped
        if skipped:
            warnings.warn(f"{skipped} training step(s) in {phase} had a non-finite loss or gradient and were "
                          "skipped.", RuntimeWarning, stacklevel=4)
        if self.verbose >= 2:
            losses = " ".join(f"{key}={value:.4g}" for key, value in entry.items()
                              if key not in ("epoch", "phase", "steps", "seconds", "learning_rate",
                                             "nonfinite_steps"))
            print(f"[{phase}] epoch {entry['epoch']:.2f} {losses} lr={learning_rate:.3g} "
                  f"({entry['seconds']:.2f}s)", flush=True)

    def close(self):
        """Close the progress display, saying how training ended."""
        if self._progress is None:
            return
        if self.interrupted:
            outcome = "interrupted"
        elif sys.exc_info()[1] not in (None, self._exception_before):  # in a ``finally``, an error propagating
            outcome = "stopped by an error"
        elif self.step >= self.total_steps:
            outcome = "done"
        elif self.last_entry is not None and "label_change" in self.last_entry:
            # The caller ended the loop before its budget after a label-change check: its tol rule.
            outcome = f"converged (label change {self.last_entry['label_change']:.2%}), stopped early"
        else:
            outcome = "stopped early"
        self._progress.close(self.step, outcome)
        self._progress = None
