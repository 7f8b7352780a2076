"""LoSTerClustering: concrete dense network clustering of long time series."""

import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn import config_context
from sklearn.base import _fit_context
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._base import FLOAT_DTYPES, _BaseDeepClustering
from .._engine import BatchStream, TrainingLoop, derive_seed, map_batches, resolve_device, seeded_torch
from . import _losses
from ._augment import augment_series
from ._model import AUGMENTED, ORIGINAL, LoSTerNetwork
from ._series import (
    as_three_dimensional,
    channel_statistics,
    flatten,
    observed_lengths,
    resample_to_full_length,
    z_normalize,
)


class LoSTerClustering(_BaseDeepClustering):
    """Long-sequence time-series clustering with a concrete dense network (LoSTer).

    Two dense residual autoencoders, one for the series and one for a fixed augmented copy
    (sign flip, segment permutation, time warp), read each whole series at once. After
    autoencoder pretraining, k-means++ on each view's embedding initialises its centroids;
    then networks and centroids are trained jointly on the hard k-means objective, made
    differentiable by Gumbel-softmax assignments with straight-through gradients and an
    annealed temperature, together with instance- and cluster-level contrastive losses
    between the views. Training stops when fewer than ``tol`` of the labels change in an epoch.

    It works like :class:`~sklearn.cluster.KMeans` on time series in tslearn's layout:
    ``predict`` assigns the nearest centroid of the original-view embedding, ``transform``
    gives that embedding, ``inverse_transform`` decodes embeddings (the centroids, say) back
    to series and ``score`` gives the negative k-means objective.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k.
    latent_dim : int, default=256
        Size d of the embedding (the paper: 256, equal to the block width).
    hidden_dim : int, default=256
        Inner width of every residual block.
    n_encoder_blocks : int, default=3
        Residual blocks of each encoder.
    n_decoder_blocks : int, default=3
        Residual blocks of each decoder, the last one a linear prediction block.
    dropout : float, default=0.1
        Dropout probability inside the residual blocks.
    pretrain_epochs : int, default=50
        Epochs of autoencoder pretraining (reconstruction only, Adam) for both views.
    max_epochs : int, default=100
        Most epochs of joint training. ``0`` stops after pretraining and the k-means
        initialisation.
    tol : float, default=1e-3
        Joint training stops, from its second epoch on, when the fraction of samples whose
        label changed in an epoch is below ``tol``. ``0`` always runs ``max_epochs``.
    pretrain_learning_rate : float, default=1e-3
        Adam learning rate of pretraining.
    learning_rate : float, default=1e-2
        Initial SGD learning rate of joint training.
    learning_rate_decay : float, default=0.1
        Factor applied to the joint learning rate every ``learning_rate_decay_epochs`` epochs.
    learning_rate_decay_epochs : int, default=5
        Period of the step decay.
    initial_temperature : float, default=10.0
        Gumbel-softmax temperature tau_0 of the first joint epoch.
    temperature_decay : float, default=0.65
        Decay of the temperature per joint epoch e: tau_e = max(tau_0 * temperature_decay^e,
        min_temperature).
    min_temperature : float, default=0.01
        Floor of the temperature.
    bandwidth : float, default=1.0
        The sigma of the RBF assignment p(C_j | x) ~ exp(-||z - mu_j||^2 / sigma^2).
    kmeans_weight : float, default=1.0
        Weight of the k-means loss in the joint objective.
    contrastive_weight : float, default=1.0
        Weight of the instance- and cluster-level contrastive losses; ``0`` is the paper's
        "without contrastive learning" ablation.
    instance_temperature : float, default=1.0
        Temperature tau_I of the instance-level contrastive loss.
    cluster_temperature : float, default=1.0
        Temperature tau_C of the cluster-level contrastive loss.
    max_segments : int, default=4
        The augmentation cuts each series into 1 to ``max_segments`` segments (uniformly) and
        shuffles them.
    warp_sigma : float, default=0.2
        Standard deviation of the random speed of time in the time-warp augmentation.
    warp_knots : int, default=4
        Inner knots of the time warp.
    normalize : bool, default=True
        ``True``: z-normalise every series (and channel) over its observed timestamps, as in
        the paper's protocol, so clusters depend on shape only. ``False``: keep differences of
        level and amplitude between series; each channel is only standardised with the mean
        and standard deviation of the whole training set (one affine map for all series, which
        keeps joint training's SGD stable on data of any scale).
    variable_length : {"resample", "mask"}, default="resample"
        How series shorter than ``n_timestamps`` (trailing NaN) are read. ``"resample"``
        stretches each one linearly to the full length; ``"mask"`` keeps the time axis, feeds
        zeros for the padding and leaves padded timestamps out of the reconstruction loss.
        Equal-length data is unaffected.
    n_init : int, default=10
        Runs of k-means++ (best inertia kept) that initialise each view's centroids. The
        authors' code runs one; ten restarts cost little on the embedding and make the
        initial partition, which joint training mostly keeps, less of a draw with many
        clusters.
    batch_size : int, default=128
        Mini-batch size for training (incomplete last batches are dropped) and inference.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the augmentation, weight initialisation, batch order, dropout, Gumbel noise
        and k-means. The same int gives the same labels on the CPU. Global random generators
        are left untouched.
    verbose : int, default=0
        0 silent, 1 one progress bar, 2 one line per epoch.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training series.
    cluster_centers_ : ndarray of shape (n_clusters, latent_dim)
        Centroids M of the original-view embedding.
    module_ : torch.nn.Module
        The trained network (both autoencoders and both centroid sets), kept in float64 for
        inference.
    n_iter_ : int
        Epochs run: ``pretrain_epochs`` plus the joint epochs before stopping.
    converged_ : bool
        Whether joint training stopped on ``tol`` before ``max_epochs``.
    history_ : list of dict
        One entry per epoch with the phase (``"pretrain"`` or ``"joint"``), the mean losses,
        the learning rate, the Gumbel temperature and fraction of changed labels (joint
        epochs), skipped non-finite steps and seconds, plus one ``"init"`` entry for the
        k-means initialisation.
    device_ : str
        Device the model was trained on.
    n_features_in_ : int
        Number of timestamps of the training series (``X.shape[1]``).
    n_timestamps_in_ : int
        Same as ``n_features_in_``.
    n_channels_in_ : int
        Number of channels (1 for 2-D input).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the columns of a 2-D DataFrame seen during ``fit``.

    See Also
    --------
    sklearn.cluster.KMeans : K-means on the raw series.
    S3VDCClustering : Variational deep clustering of tabular and image data.

    Notes
    -----
    The objective follows the authors' code where it and the paper differ (spec section 10):
    element-wise mean reductions, both contrastive directions summed, the positive pair kept
    in the contrastive denominators, a row softmax on the hard assignments in the
    cluster-level loss, segment counts uniform on 1..4. Deliberate changes: the time warp
    integrates a positive random speed, so it is monotone, which the code's warp is not;
    one augmented snapshot serves both training and the k-means initialisation (the code
    draws a second one for the latter); pretraining runs both autoencoders in one loop (their
    parameters and Adam states are disjoint, so the updates are those of two loops);
    multivariate series are flattened time-major, so the dense blocks mix channels and time;
    inference runs in float64 so that a series' label does not depend on its batch.

    References
    ----------
    R. J. L. Taloma, P. Pisani, D. Comminiello. Concrete Dense Network for Long-Sequence Time
    Series Clustering. arXiv:2405.05015, 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepcluster import LoSTerClustering
    >>> t = np.linspace(0, 1, 64)
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([np.sin(2 * np.pi * (3 + i % 2 * 4) * t + rng.uniform(0, 0.5)) for i in range(40)])
    >>> model = LoSTerClustering(n_clusters=2, latent_dim=16, hidden_dim=16, pretrain_epochs=10,
    ...                          max_epochs=5, batch_size=16, random_state=0).fit(X)
    >>> model.labels_.shape, model.transform(X).shape
    ((40,), (40, 16))
    """

    _parameter_constraints: dict = {
        **_BaseDeepClustering._parameter_constraints,
        "hidden_dim": [Interval(Integral, 1, None, closed="left")],
        "n_encoder_blocks": [Interval(Integral, 1, None, closed="left")],
        "n_decoder_blocks": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "pretrain_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_decay": [Interval(Real, 0, 1, closed="right")],
        "learning_rate_decay_epochs": [Interval(Integral, 1, None, closed="left")],
        "initial_temperature": [Interval(Real, 0, None, closed="neither")],
        "temperature_decay": [Interval(Real, 0, 1, closed="right")],
        "min_temperature": [Interval(Real, 0, None, closed="neither")],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "kmeans_weight": [Interval(Real, 0, None, closed="left")],
        "contrastive_weight": [Interval(Real, 0, None, closed="left")],
        "instance_temperature": [Interval(Real, 0, None, closed="neither")],
        "cluster_temperature": [Interval(Real, 0, None, closed="neither")],
        "max_segments": [Interval(Integral, 1, None, closed="left")],
        "warp_sigma": [Interval(Real, 0, None, closed="left")],
        "warp_knots": [Interval(Integral, 0, None, closed="left")],
        "normalize": ["boolean"],
        "variable_length": [StrOptions({"resample", "mask"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        latent_dim=256,
        hidden_dim=256,
        n_encoder_blocks=3,
        n_decoder_blocks=3,
        dropout=0.1,
        pretrain_epochs=50,
        max_epochs=100,
        tol=1e-3,
        pretrain_learning_rate=1e-3,
        learning_rate=1e-2,
        learning_rate_decay=0.1,
        learning_rate_decay_epochs=5,
        initial_temperature=10.0,
        temperature_decay=0.65,
        min_temperature=0.01,
        bandwidth=1.0,
        kmeans_weight=1.0,
        contrastive_weight=1.0,
        instance_temperature=1.0,
        cluster_temperature=1.0,
        max_segments=4,
        warp_sigma=0.2,
        warp_knots=4,
        normalize=True,
        variable_length="resample",
        n_init=10,
        batch_size=128,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.n_encoder_blocks = n_encoder_blocks
        self.n_decoder_blocks = n_decoder_blocks
        self.dropout = dropout
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.tol = tol
        self.pretrain_learning_rate = pretrain_learning_rate
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_decay_epochs = learning_rate_decay_epochs
        self.initial_temperature = initial_temperature
        self.temperature_decay = temperature_decay
        self.min_temperature = min_temperature
        self.bandwidth = bandwidth
        self.kmeans_weight = kmeans_weight
        self.contrastive_weight = contrastive_weight
        self.instance_temperature = instance_temperature
        self.cluster_temperature = cluster_temperature
        self.max_segments = max_segments
        self.warp_sigma = warp_sigma
        self.warp_knots = warp_knots
        self.normalize = normalize
        self.variable_length = variable_length
        self.n_init = n_init
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ---- input ---------------------------------------------------------------------------------

    def _check_series(self, X):
        """Convert and check X without touching the estimator: series (n, T, d) and their lengths."""
        X = check_array(X, dtype=list(FLOAT_DTYPES), allow_nd=True, ensure_all_finite="allow-nan",
                        ensure_min_features=2, input_name="X")
        series = as_three_dimensional(X)
        if series.shape[2] < 1:
            raise ValueError(f"X has 0 channels (shape {X.shape}); time series need at least one.")
        return series, observed_lengths(series)

    def _prepare(self, series, lengths, channel_stats=None):
        """Normalise and lay out validated series the way the network reads them (float64, 3-D).

        ``channel_stats`` (mean, scale) of ``normalize=False``: the training set's, learned in fit.
        """
        series = series.astype(np.float64, copy=False)
        if self.variable_length == "resample" and (lengths < series.shape[1]).any():
            # Stretch first, so that the series the network reads is the one normalised.
            series = resample_to_full_length(series, lengths)
            lengths = np.full_like(lengths, series.shape[1])
        if self.normalize:
            series = z_normalize(series)
        else:
            mean, scale = self._channel_stats if channel_stats is None else channel_stats
            series = (series - mean) / scale
        return series, lengths

    def _validate_inference_series(self, X):
        check_is_fitted(self)
        X_checked = check_array(X, dtype=list(FLOAT_DTYPES), allow_nd=True, ensure_all_finite="allow-nan",
                                input_name="X")
        series = as_three_dimensional(X_checked)
        if series.shape[1] != self.n_timestamps_in_:
            # The first clause is scikit-learn's standard wording, which its common checks expect.
            raise ValueError(f"X has {series.shape[1]} features, but LoSTerClustering is expecting "
                             f"{self.n_timestamps_in_} features as input (timestamps per series). Pad shorter "
                             f"series with trailing NaN, or truncate longer ones, to {self.n_timestamps_in_}.")
        if series.shape[2] != self.n_channels_in_:
            raise ValueError(f"X has {series.shape[2]} channel(s), but LoSTerClustering was fitted on "
                             f"{self.n_channels_in_} channel(s).")
        validate_data(self, X, reset=False, dtype=list(FLOAT_DTYPES), allow_nd=True,
                      ensure_all_finite="allow-nan")  # feature-name checks of DataFrames
        prepared, _ = self._prepare(series, observed_lengths(series))
        return X_checked.dtype, flatten(prepared)

    # ---- fit -----------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train both autoencoders and the centroids on the series X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
            Training series; shorter series padded with trailing NaN.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : LoSTerClustering
            The fitted estimator.
        """
        series, lengths = self._check_series(X)
        if series.shape[0] < max(2, self.n_clusters):
            raise ValueError(f"n_samples={series.shape[0]} should be >= max(2, n_clusters={self.n_clusters}).")
        device = resolve_device(self.device)
        seed = derive_seed(self.random_state)
        rng = np.random.RandomState(seed)
        channel_stats = None if self.normalize else channel_statistics(series)
        series, lengths = self._prepare(series, lengths, channel_stats)
        augmented = augment_series(series, lengths, rng, self.max_segments, self.warp_sigma, self.warp_knots)
        # One array holds both views, so a batch of rows brings its augmented copies along;
        # NaN padding (mask mode) travels with it and becomes the loss mask on the device.
        views = np.stack([flatten(series), flatten(augmented)], axis=1).astype(np.float32)
        del augmented
        history = []
        with seeded_torch(seed, device):
            network = LoSTerNetwork(views.shape[2], self.n_clusters, self.latent_dim, self.hidden_dim,
                                    self.n_encoder_blocks, self.n_decoder_blocks, self.dropout).to(device)
            batches = BatchStream(views, self.batch_size, rng, device, drop_last=True)
            steps = batches.steps_per_epoch
            pretrain_steps = self.pretrain_epochs * steps
            # fused: one kernel for the whole update; the per-tensor Adam took a third of a CPU step.
            optimizer = torch.optim.Adam(network.autoencoder_parameters(), lr=self.pretrain_learning_rate,
                                         fused=True)
            loop = TrainingLoop(network, optimizer, batches, self._learning_rate_schedule(pretrain_steps, steps),
                                pretrain_steps + self.max_epochs * steps, self.verbose, history,
                                description="LoSTer")
            try:
                loop.run(pretrain_steps, self._pretrain_loss(network), phase="pretrain")
                labels = self._initialize_centroids(network, views, rng, device, history)
                # Joint training: plain SGD on networks and centroids (spec section 6, step 6).
                loop.optimizer = torch.optim.SGD(network.parameters(), lr=self.learning_rate)
                epochs_run, converged = 0, False
                for epoch in range(self.max_epochs):
                    temperature = _losses.gumbel_temperature(epoch, self.initial_temperature,
                                                             self.temperature_decay, self.min_temperature)
                    loop.run(steps, self._joint_loss(network, temperature), phase="joint")
                    new_labels = self._nearest_centroids(network, views[:, 0], device, torch.float32)
                    changed = float(np.mean(new_labels != labels))
                    history[-1].update(temperature=temperature, label_change=changed)
                    labels, epochs_run = new_labels, epoch + 1
                    if epoch >= 1 and changed < self.tol:
                        converged = True
                        break
            finally:
                loop.close()
        n_timestamps, n_channels = series.shape[1:]
        X_checked = validate_data(self, X, dtype=list(FLOAT_DTYPES), allow_nd=True, ensure_all_finite="allow-nan")
        self.n_timestamps_in_, self.n_channels_in_ = n_timestamps, n_channels
        # Inference runs in float64: a series' outputs then do not depend on its batch.
        self.module_ = network.double().eval()
        self.device_ = str(device)
        self.history_ = history
        self.n_iter_ = self.pretrain_epochs + epochs_run
        self.converged_ = converged
        self._channel_stats = channel_stats
        # inverse_transform gives back the layout of the training input: 2-D, or 3-D with channels.
        self._two_dimensional_input = X_checked.ndim == 2
        self.cluster_centers_ = network.centroids.detach().cpu().numpy().copy()
        # The same float64 rows predict() would build from X: labels_ == predict(X).
        self.labels_ = self._nearest_centroids(network, flatten(series), device, torch.float64)
        return self

    def _learning_rate_schedule(self, pretrain_steps, steps_per_epoch):
        def learning_rate_at(step):
            if step < pretrain_steps:
                return self.pretrain_learning_rate
            epoch = (step - pretrain_steps) // steps_per_epoch
            # StepLR(step_size, gamma) of the authors' code, stepped once per joint epoch.
            return self.learning_rate * self.learning_rate_decay ** (epoch // self.learning_rate_decay_epochs)

        return learning_rate_at

    @staticmethod
    def _views(batch):
        """(B, 2, F) batch -> (2, B, F) views (NaN padding read as 0) and the observed mask (or None)."""
        # One contiguous copy: the batched products and the losses then read dense memory (at
        # 10^5 steps the strided reads made the loss's elementwise operations the slowest part).
        views = batch.transpose(0, 1).contiguous()
        observed = ~torch.isnan(views)
        if bool(observed.all()):
            return views, None
        return views.masked_fill(~observed, 0.0), observed

    def _pretrain_loss(self, network):
        def loss_fn(batch, step):
            views, observed = self._views(batch)
            reconstructed = network(views)[1]
            reconstruction, reconstruction_augmented = (
                _losses.masked_mse(views[v], reconstructed[v], None if observed is None else observed[v])
                for v in (ORIGINAL, AUGMENTED))
            loss = reconstruction + reconstruction_augmented
            return loss, {"loss": loss, "reconstruction": reconstruction,
                          "reconstruction_augmented": reconstruction_augmented}

        return loss_fn

    def _joint_loss(self, network, temperature):
        def loss_fn(batch, step):
            views, observed = self._views(batch)
            embeddings, reconstructed = network(views)
            reconstruction, reconstruction_augmented = (
                _losses.masked_mse(views[v], reconstructed[v], None if observed is None else observed[v])
                for v in (ORIGINAL, AUGMENTED))
            z, z_augmented = embeddings[ORIGINAL], embeddings[AUGMENTED]
            assignments = _losses.gumbel_hard_assignments(
                _losses.rbf_log_assignments(z, network.centroids, self.bandwidth), temperature)
            assignments_augmented = _losses.gumbel_hard_assignments(
                _losses.rbf_log_assignments(z_augmented, network.augmented_centroids, self.bandwidth), temperature)
            kmeans = 0.5 * (_losses.kmeans_loss(z, assignments, network.centroids)
                            + _losses.kmeans_loss(z_augmented, assignments_augmented, network.augmented_centroids))
            instance = _losses.instance_contrastive_loss(z, z_augmented, self.instance_temperature)
            cluster, _, entropy = _losses.cluster_contrastive_loss(assignments, assignments_augmented,
                                                                   self.cluster_temperature)
            # L_LoSTer = L_rec + L_k-means + L_instance + L_cluster (paper; code weight alpha on k-means)
            loss = (reconstruction + reconstruction_augmented + self.kmeans_weight * kmeans
                    + self.contrastive_weight * (instance + cluster))
            return loss, {"loss": loss, "reconstruction": reconstruction,
                          "reconstruction_augmented": reconstruction_augmented, "kmeans": kmeans,
                          "instance": instance, "cluster": cluster, "entropy": entropy}

        return loss_fn

    def _embed(self, network, X, device, dtype, view=ORIGINAL):
        """One view's embeddings of flattened rows (NaN padding read as 0), batched, no grad."""
        network.eval()
        return map_batches(lambda batch: network.encode(torch.nan_to_num(batch, nan=0.0), view),
                           X, self.batch_size, device, dtype=dtype)

    def _nearest_centroids(self, network, X, device, dtype):
        centroids = network.centroids.detach().cpu().numpy().astype(np.float64)
        return _closest(self._embed(network, X, device, dtype).astype(np.float64), centroids)[0]

    def _initialize_centroids(self, network, views, rng, device, history):
        """Spec section 6, step 5: k-means++ on each view's pretrained embedding of all samples."""
        started = time.perf_counter()
        centroids, labels = [], None
        for view in (ORIGINAL, AUGMENTED):
            embedding = self._embed(network, views[:, view], device, torch.float32, view)
            with config_context(array_api_dispatch=False):
                kmeans = KMeans(self.n_clusters, init="k-means++", n_init=self.n_init,
                                random_state=rng.randint(np.iinfo(np.int32).max)).fit(embedding.astype(np.float64))
            centroids.append(kmeans.cluster_centers_)
            labels = kmeans.labels_ if labels is None else labels
        network.set_centroids(*centroids)
        history.append({"epoch": None, "phase": "init", "seconds": time.perf_counter() - started})
        return labels

    # ---- inference -----------------------------------------------------------------------------

    def _embedding(self, X):
        dtype, prepared = self._validate_inference_series(X)
        return dtype, self._embed(self.module_, prepared, self._module_device(), torch.float64)

    def predict(self, X):
        """Assign each series to the nearest centroid of its original-view embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
            Series to assign, with the training data's number of timestamps and channels.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster index of each series.
        """
        return _closest(self._embedding(X)[1], self.cluster_centers_)[0]

    def predict_proba(self, X):
        """Soft assignments p(C_j | x) = softmax_j(-||z - mu_j||^2 / bandwidth^2).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
            Series to assign.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            The RBF assignment probabilities the Gumbel-softmax samples from; rows sum to 1.
        """
        _, embedding = self._embedding(X)
        logits = -_squared_distances(embedding, self.cluster_centers_) / self.bandwidth**2
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def transform(self, X):
        """Embed each series with the original-view encoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
            Series to embed.

        Returns
        -------
        embedding : ndarray of shape (n_samples, latent_dim)
            Latent representation, in the dtype of X.
        """
        dtype, embedding = self._embedding(X)
        return embedding.astype(dtype, copy=False)

    def inverse_transform(self, X):
        """Decode embeddings back to series with the original-view decoder.

        ``inverse_transform(cluster_centers_)`` gives each centroid as a series. The decoder
        reconstructs the series the network reads: with ``normalize=True`` each series was
        z-normalised on its own, and that scale and offset cannot be recovered from the
        embedding, so the output is a z-normalised shape. With ``normalize=False`` the training
        set's per-channel standardisation is undone, so the output is in the units of the data.
        Series that were resampled (``variable_length="resample"``) come back stretched to the
        full length.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Embeddings, such as the output of ``transform`` or ``cluster_centers_``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
            Decoded series, 2-D if the training series were 2-D and 3-D otherwise, in the dtype
            of X.
        """
        check_is_fitted(self)
        embedding = check_array(X, dtype=list(FLOAT_DTYPES), input_name="X")
        latent_dim = self.cluster_centers_.shape[1]  # the fitted one, even if set_params changed latent_dim
        if embedding.shape[1] != latent_dim:
            raise ValueError(f"X has {embedding.shape[1]} features, but LoSTerClustering.inverse_transform is "
                             f"expecting {latent_dim} features as input (latent_dim: embeddings such as the "
                             "output of transform).")
        self.module_.eval()
        decoded = map_batches(lambda batch: self.module_.decode(batch, ORIGINAL), embedding, self.batch_size,
                              self._module_device(), dtype=torch.float64)
        series = decoded.reshape(embedding.shape[0], self.n_timestamps_in_, self.n_channels_in_)
        if not self.normalize:
            mean, scale = self._channel_stats
            series = series * scale + mean
        if getattr(self, "_two_dimensional_input", self.n_channels_in_ == 1):
            series = series[:, :, 0]
        return series.astype(embedding.dtype, copy=False)

    def score(self, X, y=None):
        """Opposite of the k-means objective of X's embedding, like ``KMeans.score``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
            Series to score.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
            ``-sum_i min_j ||z_i - mu_j||^2`` (higher is better).
        """
        return -float(_closest(self._embedding(X)[1], self.cluster_centers_)[1].sum())


def _squared_distances(embedding, centers):
    distances = (embedding**2).sum(1)[:, None] - 2.0 * embedding @ centers.T + (centers**2).sum(1)[None, :]
    return np.maximum(distances, 0.0)


def _closest(embedding, centers):
    """Index of and squared distance to the nearest centre of every row."""
    distances = _squared_distances(embedding, centers)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(nearest)), nearest]
