"""Seeding from ``random_state`` without touching the global random generators."""

import contextlib

import numpy as np
import torch
from sklearn.utils import check_random_state


def derive_seed(random_state):
    """Draw one int seed from ``random_state`` (None, int or ``RandomState``)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Run a block with torch's generators seeded, restoring the caller's state after.

    Module initialisation (``nn.Linear`` and friends) draws from torch's global generator,
    so the only way to make it reproducible without side effects is to fork that state.
    """
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if on_cuda else []):
        # Seed only the generators this fit uses: torch.manual_seed would also reseed every other
        # CUDA device, whose state fork_rng does not restore.
        torch.random.default_generator.manual_seed(seed)
        if on_cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield
