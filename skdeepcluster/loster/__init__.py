"""LoSTer: concrete dense network clustering of long time series (Taloma et al., 2024)."""

from ._estimator import PAPER_PARAMS, LoSTerClustering
from ._selection import silhouette_scorer

__all__ = ["PAPER_PARAMS", "LoSTerClustering", "silhouette_scorer"]
