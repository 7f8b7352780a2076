"""The shared scikit-learn face of every skdeepcluster estimator."""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._engine import (
    BatchStream,
    BatchWeights,
    TrainingLoop,
    derive_seed,
    resolve_cpu_threads,
    resolve_device,
    resolve_distributed,
    seeded_torch,
)
from ._persistence import save_estimator

if TYPE_CHECKING:
    import os

    from sklearn.utils import Tags

    from ._engine import DataParallel

FLOAT_DTYPES = (np.float64, np.float32)
# Bounds of parameter constraints beyond which float32 training overflows or divides by ~0
# (a step of 1e300, a distance divided by (1e-300)^2) instead of failing with a clear message.
MAX_LEARNING_RATE = 1e6
MIN_SCALE, MAX_SCALE = 1e-6, 1e6


def _reading_a_snapshot(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``method`` on a view of one ``__dict__`` of the estimator: immune to a fit finishing meanwhile."""

    @functools.wraps(method)
    def read(self: _BaseDeepClustering, *args: Any, **kwargs: Any) -> Any:
        view = object.__new__(type(self))
        view.__dict__ = self.__dict__  # one reference: a fit ending now swaps in another dict, not this one
        if "_progress" in view.__dict__:
            view._check_architecture_unchanged()
        return method(view, *args, **kwargs)

    read._reads_a_snapshot = True  # type: ignore[attr-defined]
    return read


class FitRun:
    """What one ``fit`` works with, handed from hook to hook; hooks may add attributes of their own.

    Attributes
    ----------
    X : ndarray or memmap
        The training rows (those of positive weight), as ``_validate_training_input`` returned them.
    X_all : ndarray or memmap
        Every row, weight 0 included (they get ``labels_`` too).
    per_row, per_row_all : dict of ndarray
        Other per-row arrays of ``_validate_training_input`` (LoSTer: the series' lengths), for
        the training rows and for all rows.
    X_input : object
        The ``X`` passed to ``fit``, unchanged.
    train_rows : ndarray or None
        Indices of the training rows in ``X_all`` (None: all of them).
    weights : ndarray or None
        The training rows' sample weights divided by their mean (None: unweighted).
    group : DataParallel
        The processes of a data-parallel fit, or ``SINGLE_PROCESS``.
    device : torch.device
    architecture : dict
        What shapes the network (a warm start must find the same).
    progress : dict
        Where the fit stands (steps, phases done): kept as ``_progress`` for a warm start.
    history : list of dict
        ``history_`` being written.
    rng : numpy.random.RandomState
        The fit's generator (augmentation, batch order, partitions).
    start_step : int
        The global step this fit starts at (0 unless a warm start continues).
    network : torch.nn.Module
        The network being trained (float32); ``module_`` once fitted.
    batches : BatchStream
    batch_weights : BatchWeights
        The sample weights of the rows of the current batch.
    loop : TrainingLoop
    """

    # Declarations for type checkers only (no class attributes): set by fit as it goes.
    X: np.ndarray
    X_all: np.ndarray
    per_row: dict[str, np.ndarray]
    per_row_all: dict[str, np.ndarray]
    X_input: Any
    train_rows: np.ndarray | None
    weights: np.ndarray | None
    group: DataParallel
    device: torch.device
    architecture: dict[str, Any]
    progress: dict[str, Any]
    history: list[dict[str, Any]]
    rng: np.random.RandomState
    start_step: int
    network: torch.nn.Module
    batches: BatchStream
    batch_weights: BatchWeights
    loop: TrainingLoop

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)

    if TYPE_CHECKING:  # the attributes hooks add of their own (run.schedule, run.label_changes, ...)
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


class _BaseDeepClustering(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """The fit skeleton, validation, tags, devices and CPU-safe pickling shared by the deep clusterers.

    :meth:`fit` is written once, here: validation, the fit transaction (a failed fit changes
    nothing), the device and process group, seeding, the batch stream, the training loop, the
    fitted attributes and the warnings. An algorithm fills the hooks, each given the
    :class:`FitRun` of the fit:

    - ``_validate_training_input(X)``: the checked training array and other per-row arrays;
    - ``_architecture(run)``: what shapes the network; ``_initial_progress()``: its phases' state;
    - ``_training_array(run)``: what the batches are drawn from (default ``run.X``);
    - ``_build_network(n_inputs, n_clusters, latent_dim)`` and ``_network_inputs(run)``: the
      network (``load`` builds it with the same hook);
    - ``_loop_plan(run)``: the first optimiser, the learning-rate schedule and the step budget;
    - ``_train(run)``: the phases, as ``run.loop.run(...)`` calls;
    - ``_set_fitted_attributes(run)`` and optionally ``_warn_after_fit(run)``.

    Everything a user of ``KMeans``/``GaussianMixture`` expects around it lives here.
    """

    # Drop an incomplete last mini-batch of each epoch (LoSTer: the contrastive terms compare
    # a batch with itself, so a batch of 1 series has nothing to contrast).
    _drop_last_batch = False
    # The label of the progress bar.
    _progress_label = "fit"

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "warm_start": ["boolean"],
        "distributed": [StrOptions({"auto"}), "boolean"],
    }

    # Fitted attributes holding torch objects: moved to the CPU when pickled.
    _torch_attributes = ("module_",)
    # Methods that read the fitted model: each runs on one snapshot of it (see _fit_transaction).
    _model_readers = ("predict", "predict_proba", "transform", "inverse_transform", "score", "score_samples",
                      "sample")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._model_readers:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_reads_a_snapshot", False):
                setattr(cls, name, _reading_a_snapshot(method))

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # transform() casts the float64 embedding back to the input dtype.
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        # Only defined once fitted, so get_feature_names_out raises NotFittedError before.
        return self.cluster_centers_.shape[1]

    # ---- fit: the skeleton every algorithm shares ----------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: object = None, sample_weight: ArrayLike | None = None) -> _BaseDeepClustering:
        """Train the model on X.

        A fit that raises leaves the estimator as it was. Interrupted with Ctrl-C
        (``KeyboardInterrupt``) during training, ``fit`` returns the model reached so far
        (its clusters initialised from the current embedding if the interrupt came before
        they were) with a ``UserWarning``; ``warm_start=True`` then continues from there.

        Parameters
        ----------
        X : array-like
            Training data: ``(n_samples, n_features)`` for S3VDC, series ``(n_samples,
            n_timestamps)`` or ``(n_samples, n_timestamps, n_channels)`` for LoSTer; an
            ``np.memmap`` is read one mini-batch at a time.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample; ``None`` weighs all samples equally. Each
            sample's loss terms are multiplied by its weight (divided by the mean weight, so
            that the loss keeps its scale) and the initial partition and the statistics it
            gives are weighted: an integer weight acts like repeating the sample, up to the
            randomness of mini-batch training (an epoch stays one pass over the rows).
            Samples of weight 0 are left out of training as if absent (they still get
            ``labels_``). Uniform weights give the unweighted fit bit for bit. See the user
            guide, "Sample weights".

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with self._fit_transaction() as model:  # atomic: other threads see the old model or the new one
            model._fit(X, sample_weight)
        return self

    def _fit(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> _BaseDeepClustering:
        X_checked, per_row = self._validate_training_input(X)
        train_rows, weights = self._training_weights(sample_weight, X_checked)
        group, device = resolve_distributed(self.distributed, self.device)
        run = FitRun(X_input=X, X_all=X_checked, per_row_all=per_row, train_rows=train_rows, weights=weights,
                     group=group, device=device)
        # Rows of weight 0 do not exist for training.
        take = (lambda values: values) if train_rows is None else (lambda values: values[train_rows])
        run.X, run.per_row = take(X_checked), {name: take(values) for name, values in per_row.items()}
        self._check_training_resources(run)
        run.architecture = self._architecture(run)
        network, run.progress, run.history, run.rng, torch_seed = self._start_training(
            run.architecture, self._initial_progress(), group, run.X)
        run.start_step = run.progress["steps"]
        training_array = self._training_array(run)
        with seeded_torch(torch_seed, device, resolve_cpu_threads(self.n_jobs)):
            if network is None:
                network = self._build_network(self._network_inputs(run), self.n_clusters, self.latent_dim)
            run.network = network = network.to(device)
            # Data-parallel: every rank starts from rank 0's weights, then draws its own noise.
            group.broadcast_module(network)
            group.reseed_torch(torch_seed, device)
            run.batches = BatchStream(training_array, self.batch_size, run.rng, device,
                                      drop_last=self._drop_last_batch, group=group)
            run.batch_weights = BatchWeights(weights, run.batches, device)
            run.loop = TrainingLoop(network, batches=run.batches, verbose=self.verbose, history=run.history,
                                    description=self._progress_label, start_step=run.start_step, group=group,
                                    **self._loop_plan(run))
            try:
                self._train(run)
            finally:
                run.loop.close()
        # Inference runs in float64: per-sample outputs then do not depend on the batch size.
        self.module_ = network.double().eval()
        self.device_ = str(device)
        self.history_ = run.history
        self._set_fitted_attributes(run)
        self._progress = {**run.progress, "steps": int(run.loop.step), "architecture": run.architecture}
        self._warn_if_interrupted(run.loop)
        self._warn_after_fit(run)
        return self

    def _check_training_resources(self, run: FitRun) -> None:
        """Refuse a fit that cannot fit in memory, before anything large is allocated (default: nothing)."""

    def _training_array(self, run: FitRun) -> np.ndarray:
        """The array the mini-batches are drawn from (default: the training rows)."""
        return run.X

    def _warn_after_fit(self, run: FitRun) -> None:
        """Warnings about the fitted model (empty clusters, no convergence); default: none."""

    def _fitted_network(self) -> torch.nn.Module:
        """An untrained network of the fitted shape (``load`` fills it with the saved weights)."""
        n_clusters, latent_dim = self.cluster_centers_.shape  # the fitted sizes, whatever set_params did
        return self._build_network(self._fitted_network_inputs(), n_clusters, latent_dim)

    # ---- the hooks every algorithm defines (these stubs only say what each must return) ----------

    def _not_defined(self, hook: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__} does not define {hook}, a hook of the fit skeleton "
                                   "that every subclass of _BaseDeepClustering must define (see its docstring).")

    def _validate_training_input(self, X: ArrayLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Validate ``fit``'s X: ``(X_checked, per_row)``.

        ``X_checked`` is the checked training array (every row, float32 or float64; an
        ``np.memmap`` may stay one); ``per_row`` maps names to other arrays with one entry per
        row (LoSTer: the series' lengths), ``{}`` when there are none. Raises ``ValueError``
        for invalid data.
        """
        raise self._not_defined("_validate_training_input")

    def _architecture(self, run: FitRun) -> dict[str, Any]:
        """What shapes the network, as a JSON-compatible dict of plain values.

        A warm start must find the same dict; it is saved with the model, and its keys that
        are parameters are compared with ``set_params`` changes before the model is used.
        """
        raise self._not_defined("_architecture")

    def _initial_progress(self) -> dict[str, Any]:
        """The progress of a fresh fit: a dict with ``"steps": 0`` and each phase's state (e.g. not done)."""
        raise self._not_defined("_initial_progress")

    def _network_inputs(self, run: FitRun) -> int:
        """The input size of the network for this fit, as ``_build_network`` takes it (from ``run.X``)."""
        raise self._not_defined("_network_inputs")

    def _fitted_network_inputs(self) -> int:
        """The input size of the fitted network, from fitted attributes (``n_features_in_``, ...)."""
        raise self._not_defined("_fitted_network_inputs")

    def _build_network(self, n_inputs: int, n_clusters: int, latent_dim: int) -> torch.nn.Module:
        """A new, untrained network (a ``torch.nn.Module``) of these sizes and the estimator's parameters.

        Called by ``fit`` on a fresh start and, on torch's meta device, by ``save`` and ``load``
        (through ``_fitted_network``): it must draw only from torch's generators.
        """
        raise self._not_defined("_build_network")

    def _loop_plan(self, run: FitRun) -> dict[str, Any]:
        """The training loop's settings, as a dict of :class:`~skdeepcluster._engine.TrainingLoop` arguments.

        Required: ``"optimizer"`` (over ``run.network``'s parameters), ``"learning_rate_at"``
        (global step -> learning rate) and ``"total_steps"`` (the budget of the whole fit,
        counted from step 0). Optional: other keyword arguments of the loop
        (``steps_per_epoch``, ``planned_epochs``, ``patience``, ``guard``, ...).
        """
        raise self._not_defined("_loop_plan")

    def _train(self, run: FitRun) -> None:
        """Train ``run.network``: the phases, as ``run.loop.run(...)`` calls; returns nothing."""
        raise self._not_defined("_train")

    def _set_fitted_attributes(self, run: FitRun) -> None:
        """Set the fitted attributes (``labels_``, ``cluster_centers_``, ``n_iter_``, ...) after training.

        ``module_``, ``device_`` and ``history_`` are already set; ``labels_`` covers every row
        of ``run.X_all``. Returns nothing.
        """
        raise self._not_defined("_set_fitted_attributes")

    def _embedding(self, X: ArrayLike) -> tuple[np.dtype, np.ndarray]:
        """``(dtype, embedding)`` of X for ``transform``.

        ``dtype`` is that of the validated X (``transform`` casts to it); ``embedding`` is the
        float64 embedding, of shape ``(n_samples, latent_dim)``.
        """
        raise self._not_defined("_embedding")

    def _cluster_scores(self, X: ArrayLike) -> np.ndarray:
        """Scores of shape ``(n_samples, n_clusters)`` whose row-wise argmax is ``predict`` (X validated here)."""
        raise self._not_defined("_cluster_scores")

    def _check_saved_network(self, counts: tuple[int, int]) -> None:
        """For ``load``: refuse parameters that describe a network larger than the saved weights.

        ``counts`` is (number of tensors, number of values) saved for ``module_``; raises
        ``ValueError`` when they cannot hold the network (see ``_persistence.check_network_size``).
        Returns nothing.
        """
        raise self._not_defined("_check_saved_network")

    def _probe_sample(self) -> np.ndarray:
        """For ``load``: one made-up sample, in the layout of the training data, that a loaded model must predict."""
        raise self._not_defined("_probe_sample")

    # ---- inference every algorithm shares -------------------------------------------------------

    @_reading_a_snapshot
    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict the cluster of each sample: the most probable one under the fitted model.

        S3VDC: argmax_c [ln pi_c + ln N(z | mu_c, sigma_c^2)] with z the latent mean of x;
        LoSTer: the nearest centroid of the original-view embedding. Equal to ``labels_`` on
        the training data.

        Parameters
        ----------
        X : array-like
            Data in the layout of the training data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster index of each sample.
        """
        return self._cluster_scores(X).argmax(axis=1)

    @_reading_a_snapshot
    def transform(self, X: ArrayLike) -> np.ndarray:
        """Embed X in the latent space of the encoder (S3VDC: the mean of q(z|x)).

        Parameters
        ----------
        X : array-like
            Data in the layout of the training data.

        Returns
        -------
        embedding : ndarray of shape (n_samples, latent_dim)
            The embedding, in the dtype of X.
        """
        dtype, embedding = self._embedding(X)
        # Checked after the cast: a finite float64 value can still overflow float32.
        return self._finite_output(embedding.astype(dtype, copy=False), X)

    # ---- validation -------------------------------------------------------------------------

    def _validate_training_data(self, X: ArrayLike) -> np.ndarray:
        X = validate_data(self, X, dtype=list(FLOAT_DTYPES), ensure_min_samples=2)
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")
        return X

    def _training_weights(self, sample_weight: ArrayLike | None,
                          X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Validate ``sample_weight`` for X: ``(rows, weights)`` of the rows that train the model.

        ``rows``: indices of the rows of positive weight, or None when all are (rows of weight 0
        are left out of training as if absent; they still get ``labels_``). ``weights``: those
        rows' weights divided by their mean, so that a batch's weighted mean loss has the scale
        of the unweighted one, or None when they are all equal: uniform weights are the
        unweighted fit, bit for bit. Raises ``ValueError`` for weights of the wrong shape,
        negative or non-finite ones, all-zero ones and fewer positive weights than clusters.
        """
        if sample_weight is None:
            return None, None
        n_samples = X.shape[0]
        sample_weight = _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=np.float64,
                                             ensure_non_negative=True)
        positive = sample_weight > 0
        n_positive = int(np.count_nonzero(positive))
        if n_positive < max(2, self.n_clusters):
            raise ValueError(f"sample_weight has {n_positive} positive weight(s); at least "
                             f"max(2, n_clusters={self.n_clusters}) samples need a weight above zero.")
        rows = None if n_positive == n_samples else np.flatnonzero(positive)
        weights = sample_weight if rows is None else sample_weight[rows]
        if np.all(weights == weights[0]):
            return rows, None
        return rows, weights / weights.mean()

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, plus: no bool where an integer is expected.

        ``Interval(Integral, ...)`` admits ``True`` (bool is an int in Python), which would
        silently mean 1 or fail deep inside torch.
        """
        super()._validate_params()
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name, None)
            integer_only = all((isinstance(c, Interval) and c.type is Integral) or c is Integral
                               for c in constraints if c is not None)
            if isinstance(value, (bool, np.bool_)) and integer_only:
                raise InvalidParameterError(f"The {name!r} parameter of {type(self).__name__} must be an int, not "
                                            f"a bool; got {value!r}.")

    def _finite_output(self, output: np.ndarray, X: ArrayLike) -> np.ndarray:
        """``output`` unchanged, or a ValueError if the network overflowed on X."""
        if np.isfinite(output).all():
            return output
        rows = np.flatnonzero(~np.isfinite(output.reshape(len(output), -1)).all(axis=1))
        raise ValueError(f"{type(self).__name__} produced non-finite outputs for {len(rows)} sample(s) (first: row "
                         f"{rows[0]}): their values are far outside the range of the training data, beyond "
                         "what the network can compute in floating point. Scale X as the training data was.")

    def _validate_inference_data(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=list(FLOAT_DTYPES))

    # ---- fit transactions, interrupts, warm starts ---------------------------------------------

    @contextlib.contextmanager
    def _fit_transaction(self) -> Iterator[_BaseDeepClustering]:
        """Yield a copy of the estimator to fit; swap its state in at the end, in one step.

        The copy shares the fitted objects, which a fit replaces and never modifies in place.
        If the block raises (even ``KeyboardInterrupt``) the estimator is left exactly as it
        was. Otherwise the estimator's ``__dict__`` is replaced by the copy's in a single
        assignment, so a method running in another thread, which reads one ``__dict__``
        from start to end (:func:`_reading_a_snapshot`), sees the old model or the new one,
        never a mix of the two.
        """
        model = object.__new__(type(self))
        model.__dict__.update(self.__dict__)
        yield model
        self.__dict__ = model.__dict__

    def _check_architecture_unchanged(self) -> None:
        """Refuse to use a fitted network whose shaping parameters were changed with ``set_params``."""
        fitted = getattr(self, "_progress", {}).get("architecture")
        if not fitted:
            return  # a file from before architectures were recorded
        changed = [name for name in fitted if name in self._get_param_names() and _plain(getattr(self, name))
                   != fitted[name]]
        if changed:
            described = ", ".join(f"{name}={fitted[name]!r} (now {getattr(self, name)!r})" for name in changed)
            raise ValueError(f"{type(self).__name__} was fitted with {described}: these parameters shape the "
                             "network and were changed with set_params after fit. Restore them, or fit again.")

    def _warm_start_network(self, architecture: dict[str, Any]) -> torch.nn.Module | None:
        """A trainable float32 copy of the fitted network, or None for a fresh start.

        ``architecture`` (what shapes the network, recorded at fit time) must match: a model
        cannot continue with other layer sizes or another number of clusters.
        """
        if not (self.warm_start and hasattr(self, "module_")):
            return None
        fitted = getattr(self, "_progress", {}).get("architecture")
        if fitted != architecture:
            changed = sorted(key for key in architecture if fitted is None or fitted.get(key) != architecture[key])
            raise ValueError(f"warm_start=True cannot continue the fitted model: {', '.join(changed)} changed "
                             "since it was fitted. Restore them or set warm_start=False to train a new model.")
        return copy.deepcopy(self.module_).float()

    def _start_training(
        self, architecture: dict[str, Any], initial_progress: dict[str, Any], group: DataParallel, X: np.ndarray,
    ) -> tuple[torch.nn.Module | None, dict[str, Any], list[dict[str, Any]], np.random.RandomState, int]:
        """Where this fit starts: the network to continue (or None), progress, history, generators.

        Returns ``(network, progress, history, rng, torch_seed)``. A fresh fit seeds everything
        from ``random_state``; a continued one (``warm_start``) from it and the step count, since
        the same seed would replay the first run's batches and noise. Under data-parallel
        training every rank gets rank 0's seed and must hold the same ``X``.
        """
        network = self._warm_start_network(architecture)
        progress = dict(initial_progress)
        if network is not None:
            progress.update(self._progress)
        seed = group.broadcast_int(derive_seed(self.random_state))  # random_state=None differs per rank
        group.check_same_data(X)
        start_step = progress["steps"]
        rng = np.random.RandomState([seed, start_step] if start_step else seed)
        torch_seed = int(rng.randint(np.iinfo(np.int32).max)) if start_step else seed
        history = list(self.history_) if start_step else []
        return network, progress, history, rng, torch_seed

    def _warn_if_interrupted(self, loop: TrainingLoop) -> None:
        if loop.interrupted:
            warnings.warn(f"{type(self).__name__}.fit was interrupted after {loop.step} training steps; the "
                          "estimator holds the model reached so far. Call fit again with warm_start=True to "
                          "continue training.", UserWarning, stacklevel=5)

    def _complete_fitted_state(self) -> None:
        """Fill fitted attributes that a model file of an older version lacks (called by ``load``)."""

    # ---- devices and pickling ------------------------------------------------------------------

    def _module_device(self) -> torch.device:
        return next(self.module_.parameters()).device

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for name in self._torch_attributes:
            module = state.get(name)
            if isinstance(module, torch.nn.Module) and any(p.is_cuda for p in module.parameters()):
                state[name] = copy.deepcopy(module).to("cpu")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._move_to_fitted_device()

    def _move_to_fitted_device(self) -> None:
        """After unpickling or ``load``: back to the CUDA ``device_`` if this machine has CUDA, else the CPU."""
        fitted_device = getattr(self, "device_", "cpu")
        if not (fitted_device.startswith("cuda") and torch.cuda.is_available()):
            return  # stays on the CPU, where __getstate__ and load put it
        try:
            target = resolve_device(fitted_device)
        except ValueError:  # e.g. trained on cuda:1, loaded on a one-GPU machine
            target = torch.device("cuda")
        for name in self._torch_attributes:
            if isinstance(getattr(self, name, None), torch.nn.Module):
                getattr(self, name).to(target)

    # ---- safe persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted estimator to a file that :func:`skdeepcluster.load` reads without unpickling code.

        The file is a zip archive holding the parameters and fitted attributes as JSON and the
        arrays and network weights in the safetensors layout, which ``load`` reads without
        any unpickler. Unlike a pickle, loading it cannot run code, so a model file can be
        shared with, or received from, people you do not fully trust. Weights are stored on
        the CPU whatever the training device. The file is written completely, flushed to disk
        and then renamed over ``path`` (whose permission bits it keeps), so an interrupted
        save never leaves a partial file at ``path``. The optimiser state is not saved. The
        estimator is read once, so a fit finishing in another thread meanwhile does not mix
        two models in the file.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file; an existing file is replaced. Any extension works, for
            instance ``.skdc``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``random_state`` is a ``RandomState`` instance (set an int or None first), or
            if parameters that shape the network were changed with ``set_params`` after fit.
        TypeError
            If a fitted attribute holds a value the format cannot store.
        """
        save_estimator(self, path)


def _plain(value: Any) -> Any:
    """A parameter value as recorded in an architecture: tuples as lists, numpy ints as ints."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return value
