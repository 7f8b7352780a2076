"""S3VDC: simple, scalable and stable variational deep clustering (Cao et al. 2020)."""

from ._estimator import S3VDCClustering

__all__ = ["S3VDCClustering"]
