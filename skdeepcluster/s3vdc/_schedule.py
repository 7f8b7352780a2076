"""The S3VDC training schedule (Algorithm 1): gamma-training, then M periods of annealing."""

from dataclasses import dataclass

from ._losses import annealing_weight


def epochs_to_steps(epochs, steps_per_epoch):
    """Whole steps for a (possibly fractional) number of epochs; any positive budget is >= 1."""
    if epochs <= 0:
        return 0
    return max(1, int(round(epochs * steps_per_epoch)))


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
