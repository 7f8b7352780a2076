"""The documentation's own invariants: the API reference, the gallery and the benchmark report."""

import ast
import re
import sys
from pathlib import Path

import pytest

import skdeepcluster
from skdeepcluster import datasets, distributed, loster, metrics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def _autosummary_names(rst_text):
    """Names listed under each ``.. currentmodule::`` in the API page, fully qualified."""
    names, module = set(), None
    for line in rst_text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
        elif re.match(r"^   [A-Za-z_]\w*$", line) and module:
            names.add(f"{module}.{line.strip()}")
    return names


def test_api_reference_lists_every_public_name():
    listed = _autosummary_names((ROOT / "doc" / "api.rst").read_text(encoding="utf-8"))
    public = {f"skdeepcluster.{name}" for name in skdeepcluster.__all__ if name != "__version__"}
    public |= {f"skdeepcluster.datasets.{name}" for name in datasets.__all__}
    public |= {f"skdeepcluster.metrics.{name}" for name in metrics.__all__}
    public |= {f"skdeepcluster.distributed.{name}" for name in distributed.__all__}
    # skdeepcluster.loster's functions (its class and PAPER_PARAMS, a dict, are documented elsewhere)
    public |= {f"skdeepcluster.loster.{name}" for name in loster.__all__ if callable(getattr(loster, name))
               and name not in skdeepcluster.__all__}
    assert public <= listed, f"missing from doc/api.rst: {sorted(public - listed)}"
    assert listed <= public, f"doc/api.rst lists names that are not public: {sorted(listed - public)}"


def test_gallery_has_at_least_ten_examples_with_a_title_and_a_figure():
    assert (ROOT / "examples" / "README.txt").is_file()
    assert len(EXAMPLES) >= 10
    for path in EXAMPLES:
        source = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(source))
        assert docstring, f"{path.name} has no docstring (sphinx-gallery takes its title from it)"
        title_lines = docstring.strip().splitlines()
        # sphinx-gallery takes the first RST section title: "=" under (and maybe over) it.
        underlined = len(title_lines) > 1 and set(title_lines[1]) == {"="}
        overlined = len(title_lines) > 2 and set(title_lines[0]) == set(title_lines[2]) == {"="}
        assert underlined or overlined, f"{path.name}: no RST title"
        assert "plt." in source, f"{path.name} draws no matplotlib figure"


def test_every_example_is_linked_from_a_guide_page():
    # sg_execution_times.rst is written by the gallery build and lists every example.
    pages = "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "doc").glob("*.rst") if p.name != "sg_execution_times.rst"
    )
    unlinked = [p.stem for p in EXAMPLES if f"sphx_glr_auto_examples_{p.stem}.py" not in pages]
    assert not unlinked, f"examples no user-guide page links to: {unlinked}"


def test_benchmark_report_writes_every_table_and_figure(tmp_path):
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    written = {path.name for path in report.write_report(output_dir=tmp_path)}
    included = set(re.findall(r"_benchmarks/(\S+\.(?:rst|png))", (ROOT / "doc" / "benchmarks.rst").read_text()))
    assert included and included <= written
    for name in written:
        assert (tmp_path / name).stat().st_size > 0
    # Each table comes from its JSON: the UCR table carries the measured mean RI of LoSTer.
    ucr = (tmp_path / "loster_ucr.rst").read_text(encoding="utf-8")
    assert "not on disk" not in ucr and "**mean of the 10**" in ucr
    sets = (tmp_path / "s3vdc_sets.rst").read_text(encoding="utf-8")
    assert "not on disk" not in sets and "breast_cancer" in sets and "S3VDC at init" in sets


def test_benchmark_report_marks_a_missing_result(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    report.write_report(results_dir=tmp_path / "none", output_dir=tmp_path)
    assert "not on disk" in (tmp_path / "loster_ucr.rst").read_text(encoding="utf-8")


def test_readme_builds_the_docs_with_the_offline_mathjax_of_ci():
    install = 'pip install --no-deps "jupyter-server-mathjax>=0.2"'
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert install in readme and install in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install in (ROOT / "doc" / "install.rst").read_text(encoding="utf-8")


def test_readme_snippets_compile_and_state_measured_times():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_readme import python_snippets
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    snippets = python_snippets(ROOT / "README.md")
    assert len(snippets) >= 4
    for index, source in enumerate(snippets):
        compile(source, f"README snippet {index + 1}", "exec")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "TIME_" not in readme and "DOCS_" not in readme  # every placeholder replaced by a measurement
