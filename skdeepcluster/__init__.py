"""Deep clustering as scikit-learn estimators: S3VDC and LoSTer on one torch engine."""

from ._persistence import ModelFileError, load
from .loster import LoSTerClustering
from .s3vdc import S3VDCClustering

__version__ = "0.1.0.dev0"

__all__ = ["LoSTerClustering", "ModelFileError", "S3VDCClustering", "__version__", "load"]
