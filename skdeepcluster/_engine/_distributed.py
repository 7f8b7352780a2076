"""Data-parallel training with ``torch.distributed`` collectives: one process per device.

Every process (rank) of a launch such as ``torchrun --nproc_per_node=N`` calls ``fit`` with the
same X and the same ``random_state``. The ranks then draw the same batch order; each global
mini-batch of ``batch_size`` rows is split into contiguous shares, one per rank, and after every
backward pass the gradients of all ranks are summed, weighted by their share of the batch, in one
flat ``all_reduce``. Every rank applies the same averaged gradient, so the weights stay identical,
and an epoch has the same number of steps as a single-process fit. The steps that are not plain
gradient steps (the initialisation of the clusters, label-change checks, the final labels) are
split by rows with :meth:`DataParallel.map_shard` and gathered, so that every rank takes the same
decisions and ends with the same fitted estimator.

:data:`SINGLE_PROCESS` is the object of a fit that is not distributed: every method is then the
identity (a share is all rows, a gather returns its input), so the single-process code path and
its results are unchanged.
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import ArrayLike

from ._device import resolve_device
from ._guard import all_finite

# What torchrun (torch.distributed.run) sets in each worker's environment.
_LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "MASTER_ADDR")


class DataParallel:
    """The processes of one data-parallel fit, or a single process (``enabled`` false).

    Parameters
    ----------
    rank : int
        This process's index in the group, 0 to ``world_size - 1``.
    world_size : int
        Number of processes.
    collective_device : torch.device
        Where the tensors of collectives live: the CPU for gloo, the rank's GPU for NCCL.
    """

    def __init__(self, rank: int = 0, world_size: int = 1, collective_device: torch.device | None = None) -> None:
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.enabled = self.world_size > 1
        self.collective_device = torch.device("cpu") if collective_device is None else collective_device

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"

    # ---- rows ----------------------------------------------------------------------------------

    def share_bounds(self, n_items: int, rank: int | None = None) -> tuple[int, int]:
        """``(start, stop)`` of ``rank``'s contiguous share of ``range(n_items)``.

        The first ``n_items % world_size`` ranks get one item more (``np.array_split``'s shares).
        """
        rank = self.rank if rank is None else rank
        base, extra = divmod(int(n_items), self.world_size)
        start = rank * base + min(rank, extra)
        return start, start + base + (rank < extra)

    def shard(self, n_items: int) -> slice:
        """This rank's share of ``range(n_items)`` as a ``slice`` (all of it in a single process)."""
        return slice(*self.share_bounds(n_items))

    def shard_batch(self, indices: np.ndarray) -> tuple[np.ndarray, float]:
        """This rank's rows of a global batch and their weight ``len(rows) / len(indices)``.

        A rank whose share is empty (a last batch with fewer rows than ranks) still gets one row,
        with weight 0, so that every rank runs the same forward and backward code.
        """
        local = indices[self.shard(len(indices))]
        if len(local) == 0:
            return indices[:1], 0.0
        return local, len(local) / len(indices)

    # ---- collectives ---------------------------------------------------------------------------

    def _tensor(self, array: ArrayLike) -> torch.Tensor:
        """A copy of ``array`` on the collective device (collectives write into their tensors)."""
        return torch.from_numpy(np.array(array, copy=True, order="C")).to(self.collective_device)

    def sum(self, value: float) -> float:
        """Sum of a number over all ranks (the number itself in a single process)."""
        if not self.enabled:
            return value
        total = self._tensor(np.asarray([value], dtype=np.float64))
        dist.all_reduce(total)
        return float(total.item())

    def broadcast_array(self, array: np.ndarray) -> np.ndarray:
        """Rank 0's ``array`` (same shape and dtype on every rank) on every rank."""
        if not self.enabled:
            return array
        tensor = self._tensor(np.asarray(array))
        dist.broadcast(tensor, src=0)
        return tensor.cpu().numpy()

    def broadcast_int(self, value: int) -> int:
        """Rank 0's int on every rank: the seed of ``random_state=None``, drawn by each rank."""
        if not self.enabled:
            return value
        return int(self.broadcast_array(np.asarray([value], dtype=np.int64))[0])

    def check_same_data(self, X: np.ndarray) -> None:
        """Raise a ``ValueError`` on every rank unless all ranks have X of the same shape and sample.

        A cheap check of the contract, not a proof: the shape and the sums of the first and last
        rows (NaN ignored) are compared.
        """
        if not self.enabled:
            return
        rows = min(8, X.shape[0])
        summary = np.array([X.shape[0], np.prod(X.shape[1:]), np.nansum(X[:rows], dtype=np.float64),
                            np.nansum(X[-rows:], dtype=np.float64)], dtype=np.float64)
        low, high = self._tensor(summary), self._tensor(summary)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        low, high = low.cpu().numpy(), high.cpu().numpy()
        if not np.allclose(low, high, rtol=1e-9, atol=1e-9):
            what = ("the same shape but different values" if (low[:2] == high[:2]).all() else
                    f"different shapes (n_samples {int(low[0])} to {int(high[0])}, {int(low[1])} to "
                    f"{int(high[1])} values per sample)")
            raise ValueError(f"Distributed fit: the processes were given data of {what}. Every process "
                             "must call fit with the same X.")

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers into ``module`` on every rank, in place."""
        if not self.enabled:
            return
        with torch.no_grad():
            for tensor in module.state_dict().values():
                if tensor.device == self.collective_device:
                    dist.broadcast(tensor, src=0)
                else:
                    staged = tensor.to(self.collective_device)
                    dist.broadcast(staged, src=0)
                    tensor.copy_(staged)

    def map_shard(self, compute: Callable[[slice], np.ndarray], n_items: int) -> np.ndarray:
        """``compute(rows)`` on this rank's share of ``range(n_items)``, gathered in row order on every rank.

        ``compute`` takes a ``slice`` and returns an array with one row per item of it. In a single
        process this is ``compute(slice(0, n_items))``. If ``compute`` raises on any rank, every
        rank raises (that rank its own error, the others a ``RuntimeError``) instead of waiting
        forever for the failed one in the gather.
        """
        rows = self.shard(n_items)
        if not self.enabled:
            return compute(rows)
        local, error = None, None
        if rows.stop > rows.start:
            try:
                local = np.asarray(compute(rows))
            except Exception as exc:  # re-raised below, after telling the other ranks
                error = exc
        failed = self.sum(1.0 if error is not None else 0.0)
        if error is not None:
            raise error
        if failed:
            raise RuntimeError(f"{int(failed)} other rank(s) of the distributed fit failed; see their error.")
        return self._gather_rows(local, n_items)

    def _gather_rows(self, local: np.ndarray | None, n_items: int) -> np.ndarray:
        counts = [stop - start for start, stop in (self.share_bounds(n_items, rank)
                                                   for rank in range(self.world_size))]
        if min(counts) == 0:  # fewer items than ranks: learn the row layout from a rank that has rows
            layouts = [None] * self.world_size
            dist.all_gather_object(layouts, None if local is None else (local.dtype.str, local.shape[1:]))
            dtype, tail = next(layout for layout in layouts if layout is not None)
            if local is None:
                local = np.empty((0, *tail), dtype=dtype)
        dtype = local.dtype
        padded = np.zeros((max(counts), *local.shape[1:]), dtype=np.int64 if dtype.kind == "b" else dtype)
        padded[:len(local)] = local
        tensor = self._tensor(padded)
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor)
        return np.concatenate([part[:count].cpu().numpy() for part, count in zip(parts, counts, strict=True)]).astype(
            dtype, copy=False)

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter], weight: float, loss_finite: bool,
                          logs: dict[str, torch.Tensor]) -> tuple[bool, dict[str, torch.Tensor]]:
        """All-reduce the step's gradients, weighted by ``weight``, and its logs in one flat buffer.

        ``parameters`` get the summed ``weight``-weighted gradient of all ranks (the gradient of
        the global batch's mean loss when every rank's loss is a mean over its rows); a missing
        gradient counts as zero and stays missing. The buffer ends with a count of ranks whose
        loss was not finite, so that every rank takes the same decision. Returns ``(ok, logs)``:
        ``ok`` is false when a loss or the summed gradient is not finite (the step is then
        skipped everywhere); ``logs`` maps each key to the weighted sum over ranks. In a single
        process nothing is exchanged: ``ok`` says whether the loss and this process's gradients
        are finite, and ``logs`` are the step's own, detached.
        """
        parameters = list(parameters)
        if not self.enabled:
            if not (loss_finite and all_finite([parameter.grad for parameter in parameters])):
                return False, {}
            return True, {key: value.detach() for key, value in logs.items()}
        device = self.collective_device
        pieces = []
        for parameter in parameters:
            grad = parameter.grad
            if grad is None or not loss_finite:
                pieces.append(torch.zeros(parameter.numel(), dtype=torch.float32, device=device))
            else:
                pieces.append(grad.detach().reshape(-1).to(device=device, dtype=torch.float32))
        keys = list(logs)
        if keys and loss_finite:
            pieces.append(torch.stack([logs[key].detach().reshape(()).to(device=device, dtype=torch.float32)
                                       for key in keys]))
        else:
            pieces.append(torch.zeros(len(keys), dtype=torch.float32, device=device))
        pieces.append(torch.tensor([0.0 if loss_finite else 1.0], device=device))
        buffer = torch.cat(pieces)
        n_gradients = buffer.numel() - len(keys) - 1
        if weight != 1.0:
            buffer[:-1].mul_(weight)
        dist.all_reduce(buffer)
        if buffer[-1].item() > 0 or not _finite(buffer[:n_gradients]):
            return False, {}
        offset = 0
        for parameter in parameters:
            size = parameter.numel()
            if parameter.grad is not None:
                parameter.grad.copy_(buffer[offset:offset + size].view_as(parameter.grad))
            offset += size
        return True, {key: buffer[n_gradients + i] for i, key in enumerate(keys)}

    # ---- randomness ----------------------------------------------------------------------------

    def reseed_torch(self, seed: int, device: torch.device) -> None:
        """Give this rank its own torch noise stream (dropout, reparameterisation, Gumbel).

        Called inside :func:`seeded_torch`, after the weights were built and broadcast: the ranks
        see different rows, so identical noise draws on every rank would be correlated for no
        reason. A single process keeps its stream (and its results) unchanged.
        """
        if not self.enabled:
            return
        from ._random import reseed_torch_generators

        rank_seed = int(np.random.SeedSequence([int(seed), self.rank]).generate_state(1)[0] & 0x7FFFFFFF)
        reseed_torch_generators(rank_seed)  # the block's own generators, not torch's global ones


SINGLE_PROCESS = DataParallel()


def _finite(flat: torch.Tensor) -> bool:
    """Whether every entry of a 1-D tensor is finite: one sum, entry by entry only if it is not."""
    # A sum is finite when every entry is, unless finite entries beyond ~1e34 overflow float32.
    return bool(torch.isfinite(flat.sum())) or bool(torch.isfinite(flat).all())


def _launched_by_torchrun() -> bool:
    return all(os.environ.get(name) for name in _LAUNCH_VARIABLES)


def _destroy_own_group() -> None:
    """At exit, destroy the group ``fit`` initialised, while the interpreter is still alive.

    The barrier keeps a rank from closing its connections while another still uses them. Then
    the group is destroyed and collected, and the main thread lets go of the GIL for a moment:
    gloo's worker threads release the tensors of their last collective, which takes the GIL,
    and a thread that tries to take it once the interpreter is finalising aborts the process
    ("terminate called without an active exception", about one exit in ten without this).
    """
    if not dist.is_initialized():
        return
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()
        gc.collect()
        time.sleep(0.1)


def _rank_device(device: str, rank: int) -> torch.device:
    """The device of this rank: with CUDA, ``"auto"``/``"cuda"`` mean the GPU ``LOCAL_RANK``."""
    if device in ("auto", "cuda") and torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return resolve_device(device)


def _collective_device(backend: str, device: torch.device) -> torch.device:
    backend = str(backend).lower()
    if "nccl" not in backend:
        return torch.device("cpu")
    if "gloo" in backend or device.type == "cuda":  # "cpu:gloo,cuda:nccl": tensors on the training device
        return device
    return torch.device("cuda", torch.cuda.current_device())


def resolve_distributed(option: str | bool, device: str) -> tuple[DataParallel, torch.device]:
    """The :class:`DataParallel` group of a fit and the device of this rank.

    Parameters
    ----------
    option : "auto" or bool
        The estimator's ``distributed`` parameter. ``"auto"``: data-parallel when a process group
        of more than one process is initialised, or when the process was started by torchrun
        (``WORLD_SIZE`` > 1, ``RANK`` and ``MASTER_ADDR`` set), in which case the process group
        is initialised here (backend ``"nccl"`` for CUDA, ``"gloo"`` otherwise) and destroyed
        at the exit of the process. ``True``: the same, but a ``ValueError`` outside such a
        launch. ``False``: a single-process fit, whatever the environment.
    device : str
        The estimator's ``device`` parameter. When data-parallel with CUDA, ``"auto"`` and
        ``"cuda"`` mean the GPU of index ``LOCAL_RANK``.

    Returns
    -------
    group : DataParallel
    device : torch.device
    """
    auto = isinstance(option, str) and option == "auto"
    if not auto and not option:
        return SINGLE_PROCESS, resolve_device(device)
    available = dist.is_available()
    initialized = available and dist.is_initialized()
    launched = available and _launched_by_torchrun()
    if not (initialized or launched):
        if auto:
            return SINGLE_PROCESS, resolve_device(device)
        raise ValueError("distributed=True needs a torch.distributed launch: start the script with torchrun "
                         "(e.g. `torchrun --nproc_per_node=2 script.py`) or call "
                         "torch.distributed.init_process_group() before fit"
                         + ("" if available else "; this torch build has no torch.distributed") + ".")
    world_size = dist.get_world_size() if initialized else int(os.environ["WORLD_SIZE"])
    if world_size <= 1:  # one process: nothing to distribute, results as without a launch
        return SINGLE_PROCESS, resolve_device(device)
    rank = dist.get_rank() if initialized else int(os.environ["RANK"])
    rank_device = _rank_device(device, rank)
    if not initialized:
        if rank_device.type == "cuda":
            torch.cuda.set_device(rank_device)
        dist.init_process_group(backend="nccl" if rank_device.type == "cuda" else "gloo")
        atexit.register(_destroy_own_group)
    return (DataParallel(dist.get_rank(), dist.get_world_size(),
                         _collective_device(dist.get_backend(), rank_device)), rank_device)
