"""How many CPU threads a default fit should use: 1 vs all cores, idle and under load.

Every fit runs in a fresh process (OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads),
with fixed small configurations that do not depend on the estimators' defaults:

- ``s3vdc-digits``: S3VDC on load_digits (1,797 x 64), the demo's network, 6 epochs;
- ``s3vdc-mnist``: S3VDC on 5,000 MNIST images (x 784), the default MLP, 2 epochs;
- ``loster``: LoSTer on 500 synthetic series of 1,000 steps, 3 + 3 epochs.

Load: ``--load N`` runs N other CPU-bound processes (pure-Python loops, one core each) during
the fit; their loop rate, relative to their rate while nothing else runs, says how much the fit
slowed them down. Wait policy: OpenMP's ``OMP_WAIT_POLICY`` unset (libgomp spins briefly
before sleeping), ``PASSIVE`` (sleep at once) or ``ACTIVE`` (spin). Prints a table; writes
``benchmarks/results/threads-cpu.json``.

    python benchmarks/bench_threads.py [--repeats 2] [--workloads s3vdc-digits loster]
"""

import argparse
import functools
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("s3vdc-digits", "s3vdc-mnist", "loster")


def _fit(workload, threads):
    import numpy as np

    from skdeepcluster import LoSTerClustering, S3VDCClustering

    if workload == "s3vdc-digits":
        from sklearn.datasets import load_digits

        X = load_digits().data / 16.0
        model = S3VDCClustering(10, latent_dim=10, reconstruction="bernoulli", warmup_epochs=4, anneal_epochs=1,
                                static_epochs=1, n_periods=1, batch_size=128, n_jobs=threads, random_state=0)
    elif workload == "s3vdc-mnist":
        X = np.load("/work/data/mnist.npz")["X_train"][:5000].reshape(5000, -1) / 255.0
        model = S3VDCClustering(10, reconstruction="bernoulli", warmup_epochs=1, anneal_epochs=1,
                                static_epochs=0, n_periods=1, n_jobs=threads, random_state=0)
    else:
        from skdeepcluster.datasets import make_synthetic_series

        X, _ = make_synthetic_series(n_samples=500, n_timestamps=1000, n_clusters=3, random_state=0)
        model = LoSTerClustering(3, pretrain_epochs=3, max_epochs=3, tol=0, n_jobs=threads, random_state=0)
    started, cpu_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    model.fit(X)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - started
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu}))


def _burn(counter, stop):
    """A CPU-bound neighbour: count loop iterations until told to stop."""
    n = 0
    while not stop.is_set():
        for _ in range(100000):
            pass
        n += 1
        if n % 10 == 0:
            with counter.get_lock():
                counter.value += 10


def _with_load(n_load, run):
    """Run ``run()`` while n_load neighbours burn CPU; return its result and the neighbours' loop rate."""
    if n_load == 0:
        return run(), None
    counter, stop = multiprocessing.Value("l", 0), multiprocessing.Event()
    workers = [multiprocessing.Process(target=_burn, args=(counter, stop)) for _ in range(n_load)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    started, before = time.perf_counter(), counter.value
    try:
        result = run()
    finally:
        rate = (counter.value - before) / (time.perf_counter() - started)
        stop.set()
        for worker in workers:
            worker.join()
    return result, rate / n_load


def _neighbour_rate_alone():
    _, rate = _with_load(1, lambda: time.sleep(5.0))
    return rate


def _child(workload, threads, wait_policy):
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy != "unset":
        env["OMP_WAIT_POLICY"] = wait_policy
    env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    output = subprocess.run([sys.executable, __file__, "--child", workload, str(threads)], env=env, check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--loads", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=["unset", "PASSIVE", "ACTIVE"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "threads-cpu.json"))
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    from _common import machine_description

    alone = _neighbour_rate_alone()
    rows = []
    print(f"{machine_description()}; neighbour loop rate alone {alone:.1f}/s; loadavg before {os.getloadavg()}")
    print(f"{'workload':<14}{'load':>5}{'threads':>8}{'OMP_WAIT_POLICY':>16}{'wall s':>9}{'cpu s':>8}"
          f"{'neighbour speed':>16}{'loadavg':>9}")
    for repeat in range(args.repeats):
        for workload in args.workloads:
            for n_load in args.loads:
                for threads in args.threads:
                    for policy in args.policies:
                        if threads == 1 and policy != "unset":
                            continue  # one thread never waits at a barrier
                        result, rate = _with_load(n_load, functools.partial(_child, workload, threads, policy))
                        row = {"workload": workload, "load": n_load, "threads": threads, "wait_policy": policy,
                               "repeat": repeat, **result, "neighbour_speed": None if rate is None else rate / alone,
                               "loadavg": os.getloadavg()[0]}
                        rows.append(row)
                        speed = "-" if rate is None else f"{rate / alone:.2f}"
                        print(f"{workload:<14}{n_load:>5}{threads:>8}{policy:>16}{row['wall_s']:>9.1f}"
                              f"{row['cpu_s']:>8.1f}{speed:>16}{row['loadavg']:>9.2f}", flush=True)
    with open(args.output, "w") as handle:
        json.dump({"machine": machine_description(), "neighbour_rate_alone": alone, "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _fit(sys.argv[2], int(sys.argv[3]))
    else:
        main()
