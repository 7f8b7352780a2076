"""Deep clustering as scikit-learn estimators: S3VDC and LoSTer on one torch engine."""

import os as _os

# Set before torch loads its OpenMP runtime, which reads it once: threads waiting for work
# sleep instead of spinning, so multi-threaded training shares a busy machine instead of
# stalling on it (benchmarks/bench_threads.py; doc/devices.rst, "CPU threads"). A value set
# by the user is kept; it has no effect if torch was imported before skdeepcluster.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._persistence import ModelFileError, load
from ._version import __version__
from .loster import LoSTerClustering
from .s3vdc import S3VDCClustering

__all__ = ["LoSTerClustering", "ModelFileError", "S3VDCClustering", "__version__", "load"]
