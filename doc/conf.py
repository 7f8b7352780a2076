"""Sphinx configuration for the skdeepcluster documentation.

Build (from this folder), warnings as errors::

    python -m sphinx -W --keep-going -b html . _build/html

Environment variables:

SKDEEPCLUSTER_GALLERY=0
    Do not execute the examples (``plot_gallery=False``); a fast build.
SKDEEPCLUSTER_INTERSPHINX=1
    Link to the Python, NumPy, scikit-learn and PyTorch docs (needs network access).
SKDEEPCLUSTER_MATHJAX=cdn
    Accept pages that load MathJax from a CDN when viewed. Without it the build warns (an
    error under ``-W``) when no local MathJax is installed: the equations would then show as
    raw LaTeX offline. The local copy: ``pip install --no-deps "jupyter-server-mathjax>=0.2"``.
"""

import importlib.util
import os
import shutil
import sys

# The checkout's package, even without an install.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import matplotlib

matplotlib.use("Agg")

import skdeepcluster

# -- Benchmark tables and figures ------------------------------------------------------------
# benchmarks/report.py turns the JSON results of the benchmark scripts into the tables and
# figures that benchmarks.rst includes, so the page never drifts from the measurements.

_DOC_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_DOC_DIR, "..", "benchmarks"))
import report as _benchmark_report  # noqa: E402

_benchmark_report.write_report(output_dir=os.path.join(_DOC_DIR, "_benchmarks"))

# -- Project ---------------------------------------------------------------------------------

project = "skdeepcluster"
author = "skdeepcluster developers"
copyright = "skdeepcluster developers"
release = skdeepcluster.__version__
version = release

# -- General ---------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_benchmarks",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

autosummary_generate = True
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# MathJax: a local copy when one is installed, so the equations render without network
# access; otherwise Sphinx's default, a CDN at view time, which the build reports as a warning
# (see SKDEEPCLUSTER_MATHJAX above). The jupyter-server-mathjax wheel ships MathJax 2.7
# (Apache-2.0); the README and .ci/run install it with --no-deps, as only its files are
# needed. The copy goes to _static/mathjax at the end of the build.
_LOCAL_MATHJAX = None
_mathjax_spec = importlib.util.find_spec("jupyter_server_mathjax")
if _mathjax_spec is not None and _mathjax_spec.submodule_search_locations:
    _candidate = os.path.join(_mathjax_spec.submodule_search_locations[0], "static")
    if os.path.isfile(os.path.join(_candidate, "MathJax.js")):
        _LOCAL_MATHJAX = _candidate
        mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
        # The wheel carries only the STIX-Web fonts: with MathJax's default (its TeX fonts) the
        # font files are missing, formulas fall back to system fonts and some fail with "Math
        # Processing Error" (checked in headless Chromium, over file:// and HTTP).
        mathjax2_config = {
            "tex2jax": {"inlineMath": [["\\(", "\\)"]], "processEscapes": True},
            "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
            "SVG": {"font": "STIX-Web"},
        }


def _copy_local_mathjax(app, exception):
    if exception is None and _LOCAL_MATHJAX and app.builder.format == "html":
        shutil.copytree(_LOCAL_MATHJAX, os.path.join(app.outdir, "_static", "mathjax"), dirs_exist_ok=True)


def _warn_without_local_mathjax(app):
    if _LOCAL_MATHJAX is None and os.environ.get("SKDEEPCLUSTER_MATHJAX") != "cdn":
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "no local MathJax: the pages will load it from a CDN and show raw LaTeX offline. Install the "
            "local copy with pip install --no-deps \"jupyter-server-mathjax>=0.2\", or set "
            "SKDEEPCLUSTER_MATHJAX=cdn to accept the CDN.")


def setup(app):
    app.connect("builder-inited", _warn_without_local_mathjax)
    app.connect("build-finished", _copy_local_mathjax)

# intersphinx is off by default: the build machines have no internet access.
intersphinx_mapping = {}
if os.environ.get("SKDEEPCLUSTER_INTERSPHINX", "0") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
    }

# Without intersphinx, references such as :class:`~sklearn.cluster.KMeans` do not resolve
# and render as plain code; nitpicky stays off so that they do not warn.
nitpicky = False

# -- Example gallery -------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": os.environ.get("SKDEEPCLUSTER_GALLERY", "1") != "0",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "show_memory": False,
    # Run every example, then fail the build if any raised (only_warn_on_example_error=False).
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# -- HTML ------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skdeepcluster {release}"
html_static_path = []
html_theme_options = {
    "icon_links": [],
    "github_url": None,
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": True,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "use_edit_page_button": False,
}
html_show_sourcelink = False
# Top-level guide pages have no sub-pages, so the left sidebar would be empty there; the
# gallery keeps it to list its examples.
html_sidebars = {
    page: []
    for page in ("index", "install", "quickstart", "s3vdc", "loster", "choosing_k", "time_series_input",
                 "devices", "persistence", "training", "scaling", "benchmarks", "api", "changelog", "generated/*")
}
