"""The whole LoSTer training schedule: the joint phase's epochs, temperature, learning rate and stopping rule.

Pretraining runs ``pretrain_epochs`` epochs at a constant Adam learning rate. A joint epoch is
one pass over the data but at least ``MIN_STEPS_PER_EPOCH`` optimiser steps (several passes
over small data: its learning-rate decay and its label-change check are per epoch, and with one
step per epoch the rate decayed to nothing before the labels reached the partition). Within
joint epoch e the Gumbel temperature is tau_e and the learning rate that of the authors'
StepLR; the phase stops on the label-change rule of :func:`joint_phase_converged`.
"""

from dataclasses import dataclass, replace

from .._engine import MIN_STEPS_PER_EPOCH

# joint_assignments="partition" stops on tol only once the labels (the nearest centroids) agree
# with the partition on all but this share of the series.
AGREEMENT_TOLERANCE = 0.01


def gumbel_temperature(epoch, initial=10.0, decay=0.65, floor=0.01):
    """tau_e = max(tau_0 * beta^e, floor), recomputed from tau_0 each joint epoch (paper, section 3.4)."""
    return max(initial * decay**epoch, floor)


def step_decay(learning_rate, decay, decay_epochs, epoch):
    """StepLR(step_size=decay_epochs, gamma=decay) of the authors' code at joint epoch ``epoch``."""
    return learning_rate * decay ** (epoch // decay_epochs)


def joint_phase_converged(epochs_run, label_change, partition_agreement, tol, anchored):
    """The stopping rule, checked after each joint epoch of a fit from its second on.

    The first compares with the initial labels. Stable labels (fewer than ``tol`` changed)
    stop the paper's phase; anchored on a partition, they must also reproduce it (all but
    ``AGREEMENT_TOLERANCE``), or the labels reproduce it on all but ``tol`` by themselves.
    """
    settled = not anchored or 1.0 - partition_agreement < AGREEMENT_TOLERANCE
    return epochs_run >= 2 and ((label_change < tol and settled) or 1.0 - partition_agreement < tol)


@dataclass(frozen=True)
class LoSTerSchedule:
    """Step counts of both phases and the joint phase's per-epoch values, for one fit.

    ``steps``: mini-batches of one pass; ``joint_steps``: steps of one joint epoch;
    ``pretrain_left``: pretraining steps this fit runs; ``first_epoch``: the joint epoch it
    starts at (a warm start continues the count); ``joint_epochs``: joint epochs it may run.
    ``joint_start``, the global step where joint training starts, is set by :meth:`starting_at`.
    """

    steps: int
    joint_steps: int
    pretrain_left: int
    first_epoch: int
    joint_epochs: int
    initial_temperature: float
    temperature_decay: float
    min_temperature: float
    learning_rate: float
    learning_rate_decay: float
    learning_rate_decay_epochs: int
    joint_start: int = 0

    @classmethod
    def for_fit(cls, estimator, steps, progress):
        """The schedule of a fit of ``estimator`` with ``steps`` batches per pass, from ``progress``."""
        pretrain_left = 0 if progress["centroids_initialized"] else max(
            0, estimator.pretrain_epochs * steps - progress["pretrain_steps"])
        first_epoch = progress["joint_epochs"]
        # A finished fit continues with up to max_epochs more joint epochs.
        joint_epochs = estimator.max_epochs if progress["finished"] else max(0, estimator.max_epochs - first_epoch)
        return cls(steps, max(steps, MIN_STEPS_PER_EPOCH), pretrain_left, first_epoch, joint_epochs,
                   estimator.initial_temperature, estimator.temperature_decay, estimator.min_temperature,
                   estimator.learning_rate, estimator.learning_rate_decay, estimator.learning_rate_decay_epochs)

    def starting_at(self, joint_start):
        """This schedule with joint training starting at global step ``joint_start``."""
        return replace(self, joint_start=joint_start)

    def epoch(self, step):
        """The joint epoch that global ``step`` (0-based, a step of the joint phase) belongs to."""
        return self.first_epoch + (step - self.joint_start) // self.joint_steps

    def temperature(self, step):
        return gumbel_temperature(self.epoch(step), self.initial_temperature, self.temperature_decay,
                                  self.min_temperature)

    def learning_rate_at(self, step):
        return step_decay(self.learning_rate, self.learning_rate_decay, self.learning_rate_decay_epochs,
                          self.epoch(step))
