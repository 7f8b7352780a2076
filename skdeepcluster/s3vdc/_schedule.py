"""The whole S3VDC training schedule (Algorithm 1): the phases' step counts, beta and the learning rate.

gamma-training, then M periods of beta-annealing; the KL weight beta of every step (Eq. 10
and Eq. 7), the learning rate of every step, and where a continued (warm-started) fit ends.
"""

import math
from dataclasses import dataclass

from .._engine import MIN_STEPS_PER_EPOCH

# MIN_STEPS_PER_EPOCH (the engine's, shared with LoSTer's joint phase): on data smaller than
# that many mini-batches an epoch counts as that many steps: the paper's epoch counts assume
# hundreds of steps per epoch, and 30 steps of warm-up on 55 samples leave an untrained
# encoder whose embeddings collapse onto one component.


def epochs_to_steps(epochs, steps_per_epoch):
    """Whole steps for a (possibly fractional) number of epochs; any positive budget is >= 1."""
    if epochs <= 0:
        return 0
    return max(1, int(round(epochs * max(steps_per_epoch, MIN_STEPS_PER_EPOCH))))  # noqa: RUF046 (numpy scalars)


@dataclass(frozen=True)
class S3VDCSchedule:
    """Step counts of each phase and the annealing weight beta at every clustering step.

    Attributes are in mini-batch steps: ``warmup_steps`` (T_gamma), ``anneal_steps``
    (T_beta), ``static_steps`` (T_s), ``n_periods`` (M).
    """

    warmup_steps: int
    anneal_steps: int
    static_steps: int
    n_periods: int
    gamma: float
    power: float

    @classmethod
    def from_epochs(cls, steps_per_epoch, warmup_epochs, anneal_epochs, static_epochs, n_periods, gamma,
                    power):
        return cls(epochs_to_steps(warmup_epochs, steps_per_epoch),
                   epochs_to_steps(anneal_epochs, steps_per_epoch),
                   epochs_to_steps(static_epochs, steps_per_epoch),
                   int(n_periods), float(gamma), float(power))

    @property
    def period_steps(self):
        return self.anneal_steps + self.static_steps

    @property
    def clustering_steps(self):
        return self.n_periods * self.period_steps

    @property
    def total_steps(self):
        return self.warmup_steps + self.clustering_steps

    def end_step(self, start_step):
        """The last step of a fit starting at ``start_step``: a finished fit continues with
        ``n_periods`` more periods (at the floor learning rate)."""
        return self.total_steps if start_step < self.total_steps else start_step + self.clustering_steps

    def ramp_steps(self, steps_per_epoch):
        """Steps of the clustering learning rate's linear ramp: an epoch, at least 100, at most a tenth of the phase."""
        return min(max(steps_per_epoch, 100), self.clustering_steps // 10)

    def beta(self, clustering_step):
        """KL weight at a 0-based step of the clustering phase (Algorithm 1, lines 6-16).

        Annealing steps t = 1..T_beta of each period get gamma + (t / T_beta)^u (Eq. 10), the
        T_s static steps that follow get exactly 1 (Eq. 7).
        """
        if self.period_steps == 0:
            return 1.0
        step_in_period = clustering_step % self.period_steps + 1
        if step_in_period <= self.anneal_steps:
            return annealing_weight(step_in_period, self.anneal_steps, self.gamma, self.power)
        return 1.0


def learning_rate_schedule(schedule, learning_rate, min_learning_rate, clustering_learning_rate=None,
                           warmup_decay=0.1, ramp_steps=0):
    """Global step -> learning rate for a fit with this schedule.

    ``clustering_learning_rate=None``: the authors' curve, one exponential decay from
    ``learning_rate`` to ``min_learning_rate`` over the whole budget. Compressed into a short
    budget, that curve leaves the clustering phase at ~1e-5 and below, where the prior cannot
    move. Otherwise each phase has its own curve: the warm-up decays exponentially from
    ``learning_rate`` to ``warmup_decay * learning_rate``; the clustering phase ramps
    linearly from 0 to ``clustering_learning_rate`` over ``ramp_steps`` (fresh optimiser
    moments need a few small steps), then decays exponentially to ``min_learning_rate`` at the
    end of the budget. Steps past the budget (a continued fit) stay at the floor.
    """
    total = schedule.total_steps
    if clustering_learning_rate is None:
        return exponential_decay_to_floor(learning_rate, min_learning_rate, total)
    warmup = _exponential(learning_rate, warmup_decay * learning_rate, 0, schedule.warmup_steps)
    clustering = _exponential(clustering_learning_rate, min_learning_rate, schedule.warmup_steps + ramp_steps,
                              total)

    def rate(step):
        if step < schedule.warmup_steps:
            return warmup(step)
        into_phase = step - schedule.warmup_steps
        if into_phase < ramp_steps:
            return clustering_learning_rate * (into_phase + 1) / (ramp_steps + 1)
        return clustering(step)

    return rate


def annealing_weight(step_in_period, anneal_steps, gamma, power):
    """beta = gamma + (t / T_beta) ** u during the annealing part of a period (Eq. 10)."""
    return gamma + (step_in_period / anneal_steps) ** power


def exponential_decay_to_floor(initial, floor, total_steps):
    """Return ``lr(step) = initial * (floor / initial) ** (step / total_steps)``.

    Continuous exponential decay that reaches ``floor`` at the last step: the shape of the
    authors' code's schedule (``max(lr0 * r ** (g / s), lr_min)``, whose released constants
    reach the floor within 5 % of the step budget), expressed independently of the budget.
    """
    if floor >= initial or total_steps <= 1:
        return lambda step: initial
    log_ratio = math.log(floor / initial)
    return lambda step: initial * math.exp(log_ratio * min(step, total_steps) / total_steps)


def _exponential(initial, final, first_step, last_step):
    """initial at ``first_step``, decaying exponentially to ``final`` at ``last_step`` and staying there."""
    span = last_step - first_step
    if span <= 1 or final >= initial:
        return lambda step: initial
    log_ratio = math.log(final / initial)
    return lambda step: initial * math.exp(log_ratio * min(max(step - first_step, 0), span) / span)
