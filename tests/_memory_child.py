"""Run an estimator on an ``np.memmap`` in a fresh process and report its peak memory.

Used by tests/test_memory.py and benchmarks/bench_memory.py as
``python tests/_memory_child.py '<json spec>'``; prints one JSON line. The spec:

``estimator`` ("S3VDCClustering" or "LoSTerClustering") and ``params``; ``data``: ``path``,
``dtype``, ``shape`` of a raw C-ordered file, opened read-only as an ``np.memmap`` (its pages
are file-backed, so reading them does not count as anonymous memory); ``fit_rows``: fit on
that many leading rows copied into memory before measuring, or ``null`` to fit on the
memmap as one of the measured ``ops``; ``ops``: method names ("fit", "predict",
"transform", "predict_proba", "score", or "copy": ``np.array(X)``, the control) or dicts with
``method`` and optionally ``name`` (the key in the report), ``rows`` (only the leading rows of
the memmap), ``batch_size`` (set on the model first) and ``exact`` (see below); a
``MemoryError`` is reported in ``errors``; ``limit_mib``: if set, ``RLIMIT_DATA`` (the
private writable memory the process may map: heap, anonymous mmaps, thread stacks; not the
read-only file mapping) is set to the ``VmData`` measured after importing torch and
skdeepcluster and a warm-up fit, plus this.

Peak memory is the largest ``RssAnon`` (resident anonymous memory) seen by a thread that
samples ``/proc/self/status`` every millisecond, minus ``RssAnon`` just before the operation.
From the first op with ``"exact": true`` on, allocations over 256 KiB get their own mappings,
so that it follows the memory in use rather than glibc's reuse of its heap (slower).
"""

import contextlib
import ctypes
import gc
import json
import os
import resource
import sys
import threading
import time

import numpy as np
import torch

import skdeepcluster

MIB = 2**20


def status_bytes(key):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class PeakSampler(threading.Thread):
    """The highest ``RssAnon`` from its start to ``stop()``, sampled every ``interval`` seconds."""

    def __init__(self, interval=0.001):
        super().__init__(daemon=True)
        self.interval = interval
        self.start_value = self.peak = status_bytes("RssAnon")
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.peak = max(self.peak, status_bytes("RssAnon"))
            time.sleep(self.interval)

    def stop(self):
        self._done.set()
        self.join()
        self.peak = max(self.peak, status_bytes("RssAnon"))
        return self.peak - self.start_value


def fix_malloc_thresholds():
    """Serve every allocation over 256 KiB by its own mmap, unmapped when freed (glibc).

    By default glibc raises its mmap threshold after large frees and then keeps freed blocks
    in the heap, so the resident memory would tell how the allocator reuses its heap rather
    than how much memory the operation holds.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (also turns the dynamic threshold off)
        libc.mallopt(-1, 256 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def release_freed_memory():
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def main(spec):
    torch.set_num_threads(1)
    spec["params"] = {name: tuple(value) if isinstance(value, list) else value  # JSON has no tuples
                      for name, value in spec["params"].items()}
    estimator_class = getattr(skdeepcluster, spec["estimator"])
    data = spec["data"]
    X = np.memmap(data["path"], dtype=data["dtype"], mode="r", shape=tuple(data["shape"]))
    # Warm-up: thread pools, kernels and lazily allocated buffers exist before the baseline.
    warm_rows = np.array(X[:spec.get("fit_rows") or 256])
    model = estimator_class(**spec["params"]).fit(warm_rows)
    model.predict(warm_rows)
    if not spec.get("fit_rows"):
        model = None
    del warm_rows
    release_freed_memory()
    report = {"data_mib": X.nbytes / MIB, "baseline_vmdata_mib": status_bytes("VmData") / MIB,
              "baseline_rssanon_mib": status_bytes("RssAnon") / MIB, "peak_mib": {}, "seconds": {}}
    if spec.get("limit_mib"):
        limit = status_bytes("VmData") + int(spec["limit_mib"] * MIB)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
        report["rlimit_data_mib"] = limit / MIB
    for op in spec["ops"]:
        op = {"method": op} if isinstance(op, str) else op
        name = op.get("name", op["method"])
        data = X if op.get("rows") is None else X[:op["rows"]]  # still a memmap
        if op.get("batch_size") is not None and model is not None:
            model.set_params(batch_size=op["batch_size"])
        params = {**spec["params"], **({"batch_size": op["batch_size"]} if op.get("batch_size") else {})}
        if op.get("exact"):
            fix_malloc_thresholds()
        release_freed_memory()
        sampler = PeakSampler()
        sampler.start()
        started = time.perf_counter()
        try:
            if op["method"] == "fit":
                model = estimator_class(**params).fit(data)
                result = model.labels_
            elif op["method"] == "copy":  # the control: all of X in memory
                result = np.array(data)
            else:
                result = getattr(model, op["method"])(data)
        except MemoryError as error:
            report.setdefault("errors", {})[name] = repr(error)
            result = None
        report["seconds"][name] = time.perf_counter() - started
        report["peak_mib"][name] = sampler.stop() / MIB
        report.setdefault("output_shapes", {})[name] = list(np.shape(result))
        del result
    print(json.dumps(report))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(json.loads(sys.argv[1]))
