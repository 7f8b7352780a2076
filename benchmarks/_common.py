"""Helpers shared by the benchmark scripts: a one-line machine description and the matmul peak.

The scripts run from the repository root as ``python benchmarks/bench_x.py``; Python then puts
this folder on ``sys.path``, so they import these helpers with ``from _common import ...``.
"""

import os
import platform
import time

import torch


def machine_description():
    """CPU model, core count, torch version and thread count, and the GPU if there is one."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
            f"thread(s), {device}")


def peak_matmul_flops(device, seconds=2.0, size=2048):
    """Dense float32 matmul FLOP/s on ``device``: the machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(a, b)
        runs += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size ** 3 * runs / (time.perf_counter() - started)
