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
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
