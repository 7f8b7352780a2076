"""What LoSTer checks before it allocates: the memory a fit needs, and series numpy cannot stack.

A LoSTer network's first and last layers have ``n_timestamps * n_channels`` inputs or
outputs per hidden unit, so long series make it large quickly: 2 series of 10^6 steps with
the default ``hidden_dim=256`` need about 2 * 10^9 weights, some 50 GB to train. Without a
check, such a fit allocates for minutes and then fails with the allocator's raw message.
"""

import contextlib
import os

import torch
from sklearn.utils import check_array

from ._model import LoSTerNetwork

# Bytes per network weight at the peak of a fit, on the training device. Joint phase: the float32
# weight, its gradient, Adam's two moments, the loop's copy of the last good weights, the
# absorbing-cluster guard's copy of the epoch's start and the keep-the-better rule's copy of the
# phase's start (7 x 4). At the end: the float64 copy made for inference (8) while Adam's
# moments and the loop's and guard's copies live (4 x 4; the rule's copy is released first).
_BYTES_PER_WEIGHT = 28
# float32 values per series value in a training batch: both views, their NaN mask and masked
# copy, the reconstruction, the residual blocks' temporaries and all their gradients.
_ACTIVATION_VALUES = 24


def network_weight_count(estimator, n_features):
    """The number of weights of the network ``estimator`` would train on ``n_features`` inputs (built on meta)."""
    with torch.device("meta"):
        network = LoSTerNetwork(n_features, estimator.n_clusters, estimator.latent_dim, estimator.hidden_dim,
                                estimator.n_encoder_blocks, estimator.n_decoder_blocks, estimator.dropout)
    return sum(parameter.numel() for parameter in network.parameters())


def fit_memory_bytes(estimator, n_samples, n_timestamps, n_channels):
    """Estimated peak memory of a fit, by part: {"views", "network", "batches"} -> bytes."""
    n_features = n_timestamps * n_channels
    return {
        "views": n_samples * 2 * n_features * 4,  # the float32 original and augmented series
        "network": network_weight_count(estimator, n_features) * _BYTES_PER_WEIGHT,
        "batches": min(estimator.batch_size, n_samples) * n_features * 4 * _ACTIVATION_VALUES,
    }


def available_memory_bytes(device=None):
    """Memory a new allocation can get: free memory of a CUDA ``device``, else the host's (None if unknown).

    The host's is Linux's ``MemAvailable``, capped by the cgroup (container) limit and the
    process's address-space limit, or the free physical pages where only those are known.
    """
    if device is not None and torch.device(device).type == "cuda":
        return torch.cuda.mem_get_info(torch.device(device))[0]
    candidates = []
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except OSError:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            candidates.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as current:
            text = limit.read().strip()
            if text != "max":
                candidates.append(int(text) - int(current.read().strip()))
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/status") as status:
                used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
            candidates.append(soft - used)
    except (ImportError, OSError, StopIteration, ValueError):
        pass
    return max(0, min(candidates)) if candidates else None


def _gib(size):
    return f"{size / 2**30:.3g} GiB" if size >= 2**28 else f"{size / 2**20:.3g} MiB"


def check_fit_memory(estimator, shape, device):
    """Raise ``MemoryError`` before allocating if a fit on series of ``shape`` cannot fit in memory.

    The estimate counts the training views, the network with its gradients, optimiser state
    and copies, and a batch's activations (:func:`fit_memory_bytes`); the message gives the
    sizes and what reduces them.
    """
    n_samples, n_timestamps, n_channels = shape
    parts = fit_memory_bytes(estimator, n_samples, n_timestamps, n_channels)
    device = torch.device(device)
    on_host = parts["views"] + (0 if device.type == "cuda" else parts["network"] + parts["batches"])
    checks = [("this machine", on_host, available_memory_bytes())]
    if device.type == "cuda":
        checks.append((str(device), parts["network"] + parts["batches"], available_memory_bytes(device)))
    for where, needed, available in checks:
        if available is not None and needed > available:
            weights = network_weight_count(estimator, n_timestamps * n_channels)
            raise MemoryError(
                f"LoSTerClustering would need about {_gib(needed)} on {where} to fit {n_samples} series of "
                f"{n_timestamps} timestamps x {n_channels} channel(s), but only {_gib(available)} are available: "
                f"the network has {weights:,} weights ({_gib(parts['network'])} to train; its first and last "
                f"layers have hidden_dim={estimator.hidden_dim} weights per timestamp and channel), the "
                f"training views take {_gib(parts['views'])} and a batch's activations {_gib(parts['batches'])}. "
                "Shorten the series (e.g. average them over windows), lower hidden_dim or batch_size, or fit on "
                "fewer series.")


def check_series_array(X, **kwargs):
    """``check_array(X, **kwargs)``, with a clear message for series of different lengths (a ragged list)."""
    try:
        return check_array(X, **kwargs)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc) and "sequence" not in str(exc):
            raise
        lengths = _ragged_lengths(X)
        if lengths is None:
            raise
        shown = ", ".join(map(str, lengths[:5])) + (", ..." if len(lengths) > 5 else "")
        raise ValueError(f"X is an inhomogeneous sequence: its series have different lengths ({shown}). Pad the "
                         "shorter series with trailing NaN to the longest length (LoSTerClustering reads NaN "
                         "padding as variable-length series), e.g. with tslearn.utils.to_time_series_dataset.") from exc


def _ragged_lengths(X):
    """The lengths of the series of a ragged sequence, or None if X is not one."""
    try:
        lengths = [len(series) for series in X]
    except TypeError:
        return None
    return lengths if len(set(lengths)) > 1 else None
