"""Load every file of a folder in a fresh process under an address-space limit; print one JSON line.

Used by tests/test_persistence_limits.py as ``python tests/_load_fuzz_child.py FOLDER LIMIT_MIB``.
``RLIMIT_AS`` is set to the address space in use after importing torch and skdeepcluster plus
``LIMIT_MIB``, so an allocation that a crafted file provokes beyond that fails with
``MemoryError`` (reported) instead of exhausting the machine. The report maps each file name
to its outcome ("ok" or the exception's class name) and to its seconds and MiB of memory growth,
and gives the slowest load and the largest
growth of resident memory during one load (the peak, ``VmHWM``, is reset before each load
through ``/proc/self/clear_refs``). Files named ``ok-*`` are loaded once first, untimed: the
first load of each estimator imports and initialises what its inference needs.
"""

import json
import os
import resource
import sys
import time
import warnings

import torch

torch.set_num_threads(1)

import skdeepcluster  # noqa: E402


def _status(field):
    """A memory size from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")


def main(folder, limit_mib):
    names = sorted(os.listdir(folder))
    limit = _status("VmSize") + int(limit_mib) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    outcomes, slowest, largest_growth, details = {}, (0.0, None), (0, None), {}
    warnings.simplefilter("ignore")
    for name in names:
        if name.startswith("ok-"):
            skdeepcluster.load(os.path.join(folder, name))
    for name in names:
        _reset_peak()
        before = _status("VmRSS")
        started = time.perf_counter()
        try:
            skdeepcluster.load(os.path.join(folder, name))
            outcome = "ok"
        except Exception as exc:
            outcome = type(exc).__name__
            if outcome == "ModelFileError" and os.path.join(folder, name) not in str(exc):
                outcome = "ModelFileError without the path"
        elapsed = time.perf_counter() - started
        # Compared by the number only: on a tie with the initial (0, None) a tuple comparison
        # would go on to compare a name with None.
        slowest = max(slowest, (elapsed, name), key=lambda pair: pair[0])
        growth = _status("VmHWM") - before
        largest_growth = max(largest_growth, (growth, name), key=lambda pair: pair[0])
        outcomes[name] = outcome
        details[name] = [elapsed, growth / 2**20]
    print(json.dumps({"outcomes": outcomes, "slowest_s": slowest[0], "slowest": slowest[1],
                      "peak_growth_mib": largest_growth[0] / 2**20, "largest": largest_growth[1],
                      "limit_mib": int(limit_mib), "details": details}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
