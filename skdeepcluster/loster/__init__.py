"""LoSTer: concrete dense network clustering of long time series (Taloma et al., 2024)."""

from ._estimator import LoSTerClustering

__all__ = ["LoSTerClustering"]
