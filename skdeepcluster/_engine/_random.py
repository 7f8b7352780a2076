"""Seeding from ``random_state`` without touching the global random generators."""

import contextlib

import joblib
import numpy as np
import torch
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits


def derive_seed(random_state):
    """Draw one int seed from ``random_state`` (None, int or ``RandomState``)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def usable_cpu_count():
    """CPUs this process may use: the affinity mask and a container's CPU quota (``joblib.cpu_count``)."""
    return max(1, joblib.cpu_count())


def resolve_cpu_threads(n_jobs):
    """scikit-learn's ``n_jobs`` as a training thread count.

    ``None`` -> torch's intra-op thread count (all cores unless ``OMP_NUM_THREADS`` or
    :func:`torch.set_num_threads` said otherwise), at most :func:`usable_cpu_count`; ``-1`` ->
    all usable cores, ``-2`` all but one; a positive int -> that many. Only a fixed positive
    count gives results that are bitwise the same on every machine (see :func:`cpu_threads`).
    """
    if n_jobs is None:
        return max(1, min(torch.get_num_threads(), usable_cpu_count()))
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not valid: use None or a positive number of threads, or -1 for all cores.")
    if n_jobs < 0:
        return max(1, usable_cpu_count() + 1 + n_jobs)
    return int(n_jobs)


@contextlib.contextmanager
def cpu_threads(n_threads=1):
    """Run a block with ``n_threads`` CPU threads in torch, BLAS and OpenMP; restore the caller's after.

    Multi-threaded CPU kernels split their work by the number of threads, and a float sum
    then depends on the split: MKL's GEMM gives other last bits for some shapes (the weight
    gradient of a 5-wide layer, say) with 2 threads than with 1, and scikit-learn's k-means
    adds its per-thread partial sums. Over thousands of training steps such bits grow into
    other weights, so a fixed thread count is what makes the result independent of the
    machine's or the caller's thread settings.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads):  # numpy's BLAS and OpenMP (scikit-learn's k-means)
            yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded_torch(seed, device, n_threads=1):
    """Run a block with torch's generators seeded, restoring the caller's state after.

    Module initialisation (``nn.Linear`` and friends) draws from torch's global generator,
    so the only way to make it reproducible without side effects is to fork that state. On
    the CPU the block also runs on ``n_threads`` threads (:func:`cpu_threads`), so that its
    result does not depend on the caller's thread settings.
    """
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    threads = contextlib.nullcontext() if on_cuda else cpu_threads(n_threads)
    with torch.random.fork_rng(devices=[device] if on_cuda else []), threads:
        # Seed only the generators this fit uses: torch.manual_seed would also reseed every other
        # CUDA device, whose state fork_rng does not restore.
        torch.random.default_generator.manual_seed(seed)
        if on_cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield
