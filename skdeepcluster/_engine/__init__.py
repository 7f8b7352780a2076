"""The algorithm-agnostic torch engine shared by every estimator.

Nothing here knows which paper it runs: devices, seeding, mini-batches from numpy arrays
or memmaps, the training loop with its history and progress, batched no-grad inference
and moving torch state to the CPU for pickling.
"""

from ._batching import BatchStream, BatchWeights, iter_slices, to_tensor
from ._device import resolve_device
from ._distributed import SINGLE_PROCESS, DataParallel, resolve_distributed
from ._guard import NumericalGuard, TrainingDivergedError
from ._inference import map_batches
from ._loop import MIN_STEPS_PER_EPOCH, TrainingLoop
from ._random import (
                      cpu_threads,
                      derive_seed,
                      explicit_draws_only,
                      rand_like,
                      randn_like,
                      reseed_torch_generators,
                      resolve_cpu_threads,
                      seeded_torch,
                      torch_generator,
)

__all__ = [
                      "MIN_STEPS_PER_EPOCH",
                      "SINGLE_PROCESS",
                      "BatchStream",
                      "BatchWeights",
                      "DataParallel",
                      "NumericalGuard",
                      "TrainingDivergedError",
                      "TrainingLoop",
                      "cpu_threads",
                      "derive_seed",
                      "explicit_draws_only",
                      "iter_slices",
                      "map_batches",
                      "rand_like",
                      "randn_like",
                      "reseed_torch_generators",
                      "resolve_cpu_threads",
                      "resolve_device",
                      "resolve_distributed",
                      "seeded_torch",
                      "to_tensor",
                      "torch_generator",
]
