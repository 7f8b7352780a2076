"""The shared scikit-learn face of every skdeepcluster estimator."""

import copy
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._engine import resolve_device

FLOAT_DTYPES = (np.float64, np.float32)


class _BaseDeepClustering(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """Validation, tags, devices and CPU-safe pickling shared by the deep clusterers.

    Subclasses implement ``fit`` and the algorithm; everything a user of
    ``KMeans``/``GaussianMixture`` expects around it lives here.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # Fitted attributes holding torch objects: moved to the CPU when pickled.
    _torch_attributes = ("module_",)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform() casts the float64 embedding back to the input dtype.
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        # Only defined once fitted, so get_feature_names_out raises NotFittedError before.
        return self.cluster_centers_.shape[1]

    # ---- validation -------------------------------------------------------------------------

    def _validate_training_data(self, X):
        X = validate_data(self, X, dtype=list(FLOAT_DTYPES), ensure_min_samples=2)
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")
        return X

    def _validate_inference_data(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=list(FLOAT_DTYPES))

    # ---- devices and pickling ------------------------------------------------------------------

    def _module_device(self):
        return next(self.module_.parameters()).device

    def __getstate__(self):
        state = super().__getstate__()
        for name in self._torch_attributes:
            module = state.get(name)
            if isinstance(module, torch.nn.Module) and any(p.is_cuda for p in module.parameters()):
                state[name] = copy.deepcopy(module).to("cpu")
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        fitted_device = getattr(self, "device_", "cpu")
        if not (fitted_device.startswith("cuda") and torch.cuda.is_available()):
            return  # stays on the CPU, where __getstate__ put it
        try:
            target = resolve_device(fitted_device)
        except ValueError:  # e.g. trained on cuda:1, loaded on a one-GPU machine
            target = torch.device("cuda")
        for name in self._torch_attributes:
            if isinstance(getattr(self, name, None), torch.nn.Module):
                getattr(self, name).to(target)
