"""The demo command runs end to end and writes its tables and pictures."""

import pytest

from skdeepcluster.__main__ import main


def _is_png(path):
    return path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_quick_digits(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot part of the demo needs matplotlib")
    assert main(["demo", "--quick", "--device", "cpu", "--verbose", "0", "--datasets", "digits",
                 "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for name in ("S3VDCClustering", "KMeans", "GaussianMixture", "ACC", "NMI", "ARI"):
        assert name in printed
    assert _is_png(tmp_path / "s3vdc_digits.png")


def test_demo_quick_trace(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot part of the demo needs matplotlib")
    pytest.importorskip("tslearn", reason="the time-series demo takes Trace and KShape from tslearn")
    assert main(["demo", "--quick", "--device", "cpu", "--verbose", "0", "--datasets", "trace",
                 "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for name in ("LoSTerClustering", "KMeans", "KShape", "RI", "NMI"):
        assert name in printed
    assert _is_png(tmp_path / "loster_trace.png")


def test_demo_requires_a_command():
    with pytest.raises(SystemExit):
        main([])
