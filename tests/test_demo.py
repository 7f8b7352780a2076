"""The demo command runs end to end and writes its table and picture."""

import pytest

from skdeepcluster.__main__ import main


def test_demo_quick(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot part of the demo needs matplotlib")
    output = tmp_path / "embedding.png"
    assert main(["demo", "--quick", "--device", "cpu", "--verbose", "0", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    for name in ("S3VDCClustering", "KMeans", "GaussianMixture", "ACC", "NMI", "ARI"):
        assert name in printed
    assert output.stat().st_size > 10_000
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_requires_a_command():
    with pytest.raises(SystemExit):
        main([])
