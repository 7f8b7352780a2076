"""Seeding from ``random_state`` without touching the global random generators."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import joblib
import numpy as np
import torch
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits


def derive_seed(random_state: int | np.random.RandomState | None) -> int:
    """Draw one int seed from ``random_state`` (None, int or ``RandomState``)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def usable_cpu_count() -> int:
    """CPUs this process may use: the affinity mask and a container's CPU quota (``joblib.cpu_count``)."""
    return max(1, joblib.cpu_count())


def resolve_cpu_threads(n_jobs: int | None) -> int:
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


# torch.set_num_threads and threadpoolctl's limits are process-wide: fits running in several
# threads share one setting, saved by the first to start and restored by the last to finish.
_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = None


@contextlib.contextmanager
def cpu_threads(n_threads: int = 1) -> Iterator[None]:
    """Run a block with ``n_threads`` CPU threads in torch, BLAS and OpenMP; restore the caller's after.

    Multi-threaded CPU kernels split their work by the number of threads, and a float sum
    then depends on the split: MKL's GEMM gives other last bits for some shapes (the weight
    gradient of a 5-wide layer, say) with 2 threads than with 1, and scikit-learn's k-means
    adds its per-thread partial sums. Over thousands of training steps such bits grow into
    other weights, so a fixed thread count is what makes the result independent of the
    machine's or the caller's thread settings. The setting is process-wide: blocks running
    at the same time in several threads should ask for the same count (fits with the same
    ``n_jobs``); the caller's setting comes back when the last of them ends.
    """
    global _threads_users, _threads_saved
    with _threads_lock:
        limits = threadpool_limits(limits=n_threads)  # numpy's BLAS and OpenMP (scikit-learn's k-means)
        if _threads_users == 0:
            _threads_saved = (torch.get_num_threads(), limits)
        torch.set_num_threads(n_threads)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved[0])
                _threads_saved[1].restore_original_limits()
                _threads_saved = None


# ---- explicit generators -------------------------------------------------------------------------

_thread = threading.local()  # .generators: {device type: torch.Generator} of this thread's seeded block

# Random functions that take a ``generator`` argument: calls without one get this thread's.
_TAKE_A_GENERATOR = frozenset([
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.bernoulli, torch.multinomial, torch.normal,
    torch.poisson,
    torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.bernoulli_, torch.Tensor.random_,
    torch.Tensor.exponential_, torch.Tensor.geometric_, torch.Tensor.cauchy_, torch.Tensor.log_normal_,
    torch.Tensor.bernoulli, torch.Tensor.multinomial,
    torch.nn.init.uniform_, torch.nn.init.normal_, torch.nn.init.trunc_normal_, torch.nn.init.xavier_uniform_,
    torch.nn.init.xavier_normal_, torch.nn.init.kaiming_uniform_, torch.nn.init.kaiming_normal_,
    torch.nn.init.orthogonal_, torch.nn.init.sparse_,
])
# Random functions without a ``generator`` argument: they could only draw from the global one.
_GLOBAL_ONLY = frozenset([
    torch.dropout, torch.nn.functional.dropout, torch.nn.functional.dropout1d, torch.nn.functional.dropout2d,
    torch.nn.functional.dropout3d, torch.nn.functional.alpha_dropout, torch.nn.functional.feature_alpha_dropout,
    torch.nn.functional.rrelu, torch.nn.functional.gumbel_softmax, torch.randint_like,
])
# torch.rand_like and torch.randn_like take a generator only from torch 2.10 on: the mode and
# the helpers below call torch.rand and torch.randn instead, which draw the same numbers.
_LIKE = {torch.rand_like: torch.rand, torch.randn_like: torch.randn}


def rand_like(tensor: torch.Tensor) -> torch.Tensor:
    """``torch.rand_like(tensor)`` drawn from this thread's generator (:func:`torch_generator`)."""
    return torch.rand(tensor.shape, dtype=tensor.dtype, device=tensor.device, generator=torch_generator(tensor.device))


def randn_like(tensor: torch.Tensor) -> torch.Tensor:
    """``torch.randn_like(tensor)`` drawn from this thread's generator (:func:`torch_generator`)."""
    return torch.randn(tensor.shape, dtype=tensor.dtype, device=tensor.device, generator=torch_generator(tensor.device))


def torch_generator(device: torch.device | str) -> torch.Generator | None:
    """This thread's generator for ``device`` inside :func:`seeded_torch`; None (torch's global one) outside.

    Pass it as ``generator=`` to every random torch call made while training, e.g.
    ``torch.randn_like(x, generator=torch_generator(x.device))``.
    """
    generators = getattr(_thread, "generators", None)
    if generators is None:
        return None
    device = torch.device(device)
    if device.type not in generators:
        raise RuntimeError(f"no random generator for device {device} in this seeded block (it was seeded for "
                           f"{', '.join(generators)}).")
    return generators[device.type]


def reseed_torch_generators(seed: int) -> None:
    """Reseed this thread's generators (data-parallel ranks: their own noise streams)."""
    for generator in _thread.generators.values():
        generator.manual_seed(seed)


def _device_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.device:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device
    device = kwargs.get("device")
    return torch.device(device) if device is not None else torch.get_default_device()


def _would_draw(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """False for the dropouts that draw nothing: in evaluation mode or with p=0."""
    if func in (torch.nn.functional.gumbel_softmax, torch.nn.functional.rrelu):
        return func is torch.nn.functional.gumbel_softmax or kwargs.get("training", args[3] if len(args) > 3 else False)
    probability = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
    training = kwargs.get("training", kwargs.get("train", args[2] if len(args) > 2 else True))
    return bool(training) and probability > 0


class _ThreadGenerators(torch.overrides.TorchFunctionMode):
    """Give every random torch call without a generator this thread's (torch function modes are per thread).

    Covers what happens outside the training steps, above all the networks' initialisation
    (``nn.Linear``'s ``reset_parameters`` and friends draw without a generator argument).
    """

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _LIKE and kwargs.get("generator") is None and not kwargs.get("memory_format"):
            tensor = args[0]
            func, args = _LIKE[func], (tensor.shape,)
            kwargs = {"dtype": tensor.dtype, "device": tensor.device, **kwargs}
        if func in _TAKE_A_GENERATOR and kwargs.get("generator") is None:
            device = _device_of(args, kwargs)
            if device.type != "meta":
                kwargs = {**kwargs, "generator": torch_generator(device)}
        elif func in _GLOBAL_ONLY and _would_draw(func, args, kwargs):
            raise RuntimeError(f"{getattr(func, '__name__', func)} draws from torch's global random generator, "
                               "which skdeepcluster leaves untouched: use a version that takes this thread's "
                               "generator (skdeepcluster._engine.torch_generator).")
        return func(*args, **kwargs)


@contextlib.contextmanager
def explicit_draws_only() -> Iterator[None]:
    """Run a block without the interception of :func:`seeded_torch` (it costs a Python call per torch call).

    For the training steps, whose random draws all pass ``generator=torch_generator(...)``.
    """
    with torch.overrides._pop_mode_temporarily() if _is_intercepting() else contextlib.nullcontext():
        yield


def _is_intercepting() -> bool:
    stack = torch.overrides._get_current_function_mode_stack()
    return bool(stack) and isinstance(stack[-1], _ThreadGenerators)


@contextlib.contextmanager
def seeded_torch(seed: int, device: torch.device | str, n_threads: int = 1) -> Iterator[None]:
    """Run a block with its own seeded torch generators; torch's global generators stay untouched.

    The block gets a ``torch.Generator`` per device type it uses (the CPU, and ``device``'s
    CUDA if any), seeded with ``seed``, in a thread-local: :func:`torch_generator` returns
    them, and every random torch call made in the block without a ``generator`` argument,
    such as a module's weight initialisation, is given them (a torch function mode, which
    torch keeps per thread). A fresh generator seeded with ``seed`` draws the same numbers
    as the global one would after ``torch.manual_seed(seed)``, so results are those of
    seeding the global generator, without changing it from this or any other thread. On the
    CPU the block also runs on ``n_threads`` threads (:func:`cpu_threads`), so that its
    result does not depend on the caller's thread settings.
    """
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    generators = {"cpu": torch.Generator().manual_seed(seed)}
    if on_cuda:
        generators["cuda"] = torch.Generator(device=device).manual_seed(seed)
    threads = contextlib.nullcontext() if on_cuda else cpu_threads(n_threads)
    previous = getattr(_thread, "generators", None)
    _thread.generators = generators
    try:
        with threads, _ThreadGenerators():
            yield
    finally:
        _thread.generators = previous
