"""The default thread policy (n_jobs=None) and the progress display of ``verbose=1``."""

import io

import numpy as np
import pytest
import torch

from skdeepcluster._engine import _random
from skdeepcluster._engine._loop import EpochProgress
from tests._configs import LOSTER, S3VDC, parametrize_estimators, tiny_loster


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_default_threads_follow_torch_capped_by_the_usable_cpus(torch_threads, monkeypatch):
    monkeypatch.setattr(_random, "usable_cpu_count", lambda: 2)
    torch_threads(1)
    assert _random.resolve_cpu_threads(None) == 1  # torch.set_num_threads(1) / OMP_NUM_THREADS=1 is kept
    torch_threads(2)
    assert _random.resolve_cpu_threads(None) == 2  # all cores by default
    torch_threads(4)
    assert _random.resolve_cpu_threads(None) == 2  # never more than the affinity mask / CPU quota allows
    assert _random.resolve_cpu_threads(-1) == 2
    assert _random.resolve_cpu_threads(-2) == 1
    assert _random.resolve_cpu_threads(-5) == 1
    assert _random.resolve_cpu_threads(3) == 3  # an explicit count is the caller's choice


def test_usable_cpu_count_respects_the_affinity_mask():
    import os

    if hasattr(os, "sched_getaffinity"):
        assert 1 <= _random.usable_cpu_count() <= len(os.sched_getaffinity(0))


def test_openmp_threads_wait_passively_unless_the_user_chose():
    import os
    import subprocess
    import sys

    code = "import os, skdeepcluster; print(os.environ['OMP_WAIT_POLICY'])"
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "ACTIVE"


def _blobs():
    rng = np.random.RandomState(0)
    return np.vstack([rng.normal(center, 0.5, size=(60, 4)) for center in (-3.0, 3.0)])


def _series():
    rng = np.random.RandomState(0)
    t = np.linspace(0.0, 1.0, 40)
    return np.sin(2 * np.pi * np.outer(2 + 4 * (np.arange(120) % 2), t)) + 0.1 * rng.normal(size=(120, 40))


def test_progress_redirected_to_a_file_prints_a_few_plain_lines():
    stream = io.StringIO()  # not a terminal: no carriage returns
    progress = EpochProgress("S3VDC", total_steps=400, steps_per_epoch=4, stream=stream)
    for step in range(1, 401):
        progress.update(step, "warmup" if step <= 200 else "clustering")
    progress.close(400, "done")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "S3VDC: 100 epochs planned"
    assert lines[1].startswith("S3VDC: warmup from epoch 0.0 of 100")
    assert any(line.startswith("S3VDC: clustering from epoch 50.0 of 100") for line in lines)
    assert lines[-1].startswith("S3VDC: done at epoch 100.0 of 100")
    assert len(lines) <= 14  # a line per phase and per tenth of the epochs, not one per step


def test_progress_prints_each_tenth_once():
    # The demo's digits budget: 78 epochs of 15 steps; 7.8 epochs is a tenth, where float
    # rounding once printed two lines in a row.
    stream = io.StringIO()
    progress = EpochProgress("S3VDC", total_steps=78 * 15, steps_per_epoch=15, stream=stream)
    for step in range(1, 78 * 15 + 1):
        progress.update(step, "warmup")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 12  # planned, phase start, ten tenths
    assert [line.split("epoch ")[1].split(" of")[0] for line in lines[2:]] == [
        f"{78 * k / 10:.1f}" for k in range(1, 11)]


# Short fits with verbose=1, this file's data and the epochs they plan, keyed by the registry's keys.
PROGRESS_FITS = {
    S3VDC.key: (dict(warmup_epochs=2, anneal_epochs=1, static_epochs=1, n_periods=1, verbose=1), _blobs, 4),
    LOSTER.key: (dict(pretrain_epochs=2, max_epochs=3, tol=0.0, verbose=1), _series, 5),
}


@parametrize_estimators()
def test_both_estimators_count_progress_in_epochs(config, capsys):
    overrides, data, planned = PROGRESS_FITS[config.key]
    config.make(**overrides).fit(data())
    err = capsys.readouterr().err
    assert f"{planned} epochs planned" in err  # the budget in epochs, whatever the batches per epoch
    assert f"done at epoch {planned:.1f} of {planned}" in err


def test_loster_progress_says_it_converged_when_it_stops_early(capsys):
    model = tiny_loster(pretrain_epochs=2, max_epochs=30, tol=0.5, verbose=1).fit(_series())
    assert model.converged_ and model.n_iter_ < 32
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "converged" in last and "stopped early" in last and "of 32" in last


def _loop(**kwargs):
    from skdeepcluster._engine import BatchStream, TrainingLoop

    module = torch.nn.Linear(3, 1)
    X = np.random.RandomState(0).normal(size=(64, 3)).astype(np.float32)
    stream = BatchStream(X, 16, np.random.RandomState(0), torch.device("cpu"))
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
    return module, TrainingLoop(module, optimizer, stream, lambda step: 0.01, total_steps=40, verbose=1,
                                description="test", **kwargs)


def _loss(module):
    return lambda batch, step: (module(batch).pow(2).mean(), {})


def test_progress_says_when_a_fit_failed(capsys):
    module, loop = _loop()

    def failing(batch, step):
        if step == 5:
            raise ValueError("bad batch")
        return _loss(module)(batch, step)

    with pytest.raises(ValueError, match="bad batch"):
        try:
            loop.run(40, failing, phase="a")
        finally:
            loop.close()
    assert "stopped by an error at epoch 1.2 of 10" in capsys.readouterr().err


def test_progress_ignores_an_exception_the_caller_is_handling(capsys):
    try:
        raise KeyError("the caller's own")
    except KeyError:
        module, loop = _loop()
        try:
            loop.run(40, _loss(module), phase="a")
        finally:
            loop.close()
    assert "done at epoch 10.0 of 10" in capsys.readouterr().err
