"""The demo command runs end to end and writes its tables and pictures; ``--version``."""

import os
import subprocess
import sys

import numpy as np
import pytest

import skdeepcluster
from skdeepcluster.__main__ import main
from skdeepcluster._demo import match_clusters_to_classes, summarize
from skdeepcluster.metrics import clustering_accuracy


def _is_png(path):
    return path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_quick_digits(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot part of the demo needs matplotlib")
    output = tmp_path / "pictures"  # created by the demo
    assert main(["demo", "--quick", "--seeds", "2", "--device", "cpu", "--verbose", "0", "--datasets", "digits",
                 "--output-dir", str(output)]) == 0
    printed = capsys.readouterr().out
    for name in ("S3VDCClustering", "KMeans", "GaussianMixture", "ACC", "NMI", "ARI", "seeds 0-1, mean +- std"):
        assert name in printed
    assert " +- " in printed.splitlines()[2]  # the S3VDC row: mean +- std over the two seeds
    assert _is_png(output / "s3vdc_digits.png")


def test_demo_quick_trace(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot part of the demo needs matplotlib")
    pytest.importorskip("tslearn", reason="the time-series demo takes Trace and KShape from tslearn")
    assert main(["demo", "--quick", "--seeds", "1", "--device", "cpu", "--verbose", "0", "--datasets", "trace",
                 "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for name in ("LoSTerClustering", "KMeans", "KShape", "RI", "NMI", "seed 0"):
        assert name in printed
    assert _is_png(tmp_path / "loster_trace.png")


def test_demo_requires_a_command():
    with pytest.raises(SystemExit):
        main([])


def test_demo_rejects_fewer_than_one_seed():
    with pytest.raises(SystemExit):
        main(["demo", "--seeds", "0"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdeepcluster {skdeepcluster.__version__}"


def test_clusters_take_the_id_of_their_matched_class():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    clusters = np.array([5, 5, 7, 9, 9, 9, 7, 7])  # arbitrary ids
    matched = match_clusters_to_classes(y, clusters)
    np.testing.assert_array_equal(matched, [0, 0, 2, 1, 1, 1, 2, 2])
    # The same matching as clustering_accuracy: a point keeps its id exactly when it counts as correct.
    assert np.mean(matched == y) == clustering_accuracy(y, clusters)


def test_unmatched_clusters_get_ids_after_the_classes():
    y = np.array([0, 0, 1, 1, 1])
    matched = match_clusters_to_classes(y, np.array([3, 4, 1, 1, 2]))
    np.testing.assert_array_equal(matched[[0, 2, 3]], [0, 1, 1])
    assert set(matched[[1, 4]]) == {2, 3}


def test_summarize_gives_mean_and_std_over_seeds():
    runs = [[{"model": "m", "acc": a, "ri": a, "nmi": a, "ari": a, "fit_seconds": 1.0}] for a in (0.5, 0.7)]
    (row,) = summarize(runs)
    assert row["n_seeds"] == 2 and row["acc"] == pytest.approx(0.6) and row["acc_std"] == pytest.approx(0.1)


def test_demo_data_loads_without_tslearns_h5py_warning():
    pytest.importorskip("tslearn", reason="the time-series demo takes Trace from tslearn")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-W", "always", "-c",
                          "from skdeepcluster._demo import load_trace_data; print(load_trace_data()[0].shape)"],
                         env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "(200, 275)"
    assert "h5py" not in run.stderr
