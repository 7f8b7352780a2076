"""S3VDCClustering: simple, scalable and stable variational deep clustering."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base import MAX_LEARNING_RATE, _BaseDeepClustering
from .._engine import MIN_STEPS_PER_EPOCH, map_batches
from .._persistence import check_network_size, fitted_centers, positive_int, register_estimator
from . import _losses, _training
from ._model import build_network
from ._schedule import S3VDCSchedule, learning_rate_schedule

# Float32 training squares the data in the Gaussian likelihood: (1e16)^2 * 1e6 features < 3.4e38.
_LARGEST_GAUSSIAN_INPUT = 1e16


@register_estimator
class S3VDCClustering(_BaseDeepClustering):
    """Simple, scalable and stable variational deep clustering (S3VDC).

    A VaDE-style variational autoencoder whose latent prior is a learnable Gaussian mixture
    p(z, c) = pi_c N(z | mu_c, diag sigma_c^2), made trainable in practice by the four
    devices of Cao et al. (2020): gamma-training (an autoencoder warm-up with a small KL
    weight ``gamma`` and a denoising input), mini-batch GMM initialisation of the prior from
    ``gmm_init_samples`` embeddings, periodic beta-annealing of the KL weight, and the inverse
    min-max transform that keeps q(c|x) away from 0 so that no loss is ever NaN.

    It behaves like :class:`~sklearn.mixture.GaussianMixture` on any numeric 2-D data:
    ``predict_proba`` gives cluster probabilities, ``score`` a held-out log-likelihood that
    :class:`~sklearn.model_selection.GridSearchCV` can maximise over ``n_clusters``, and
    ``sample`` generates new data per cluster. ``transform`` gives the latent embedding.

    Parameters
    ----------
    n_clusters : int, default=10
        Number of mixture components C.
    latent_dim : int, default=10
        Dimension of the latent space d_z.
    encoder : {"mlp", "conv"}, default="mlp"
        ``"mlp"``: dense layers of ``hidden_dims`` for any 2-D data. ``"conv"``: the DCEC-style
        convolutional encoder of the paper for images, whose flattened rows are reshaped to
        ``input_shape``.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the dense encoder layers (the decoder mirrors them); VaDE's architecture.
    input_shape : tuple of int, default=None
        ``(channels, height, width)`` of each image; required by ``encoder="conv"``.
    activation : {"elu", "relu"}, default="elu"
        Hidden activation; the authors' code uses ELU for MNIST and ReLU for InertialHAR.
    reconstruction : {"gaussian", "bernoulli"}, default="gaussian"
        Observation model p(x|z). ``"gaussian"``: variance 1/2 per feature, whose negative log
        likelihood is the per-sample sum of squared errors the authors' code trains with.
        ``"bernoulli"``: binary cross-entropy for data in [0, 1] (the paper's Eq. 5).
    warmup_epochs : float, default=30.0
        Epochs of gamma-training, T_gamma. On data of fewer than 10 mini-batches an epoch of
        every phase counts as 10 steps, so that tens of samples still get a trained encoder.
    anneal_epochs : float, default=10.0
        Epochs of beta-annealing at the start of every period, T_beta.
    static_epochs : float, default=2.0
        Epochs at KL weight 1 at the end of every period, T_s.
    n_periods : int, default=4
        Number of annealing periods, M.
    gamma : float, default=5e-4
        KL weight of gamma-training and the floor of the annealed weight beta.
    minmax_scale : float, default=50.0
        Scale lambda of the inverse min-max transform; the code uses 20, the paper suggests
        20 to 50. At 20, responsibilities are so soft (mean max q(c|x) 0.36 on MNIST) that the
        KL pulls samples towards blends of clusters.
    anneal_power : float, default=3.0
        Exponent u of the annealing curve beta = gamma + (t / T_beta)^u.
    gmm_init_samples : int, default=25600
        Number of training samples (k x L) whose embeddings initialise the mixture prior;
        clipped to the data size. The paper's MNIST setting is 200 x 128 = 25,600.
    init_partition : {"spectral", "kmeans", "umap"}, default="spectral"
        How the warm-up embeddings of those samples are partitioned before the prior is set.
        ``"kmeans"``: the paper and the authors' code, k-means then a diagonal
        GaussianMixture started from its centres (mu from k-means, sigma^2 from the mixture,
        uniform pi). ``"spectral"``: spectral clustering of their 10-nearest-neighbour graph,
        which follows the shape of the embedding rather than cutting it into convex cells (as
        N2D, McConville et al. 2019, does with UMAP); pi, mu and sigma^2 are the size, mean and
        variances of each part. Not in the paper; measured better on every benchmark set (see
        the user guide). ``"umap"``: N2D's own partition, UMAP to ``n_clusters`` dimensions
        then a full-covariance Gaussian mixture, statistics as for ``"spectral"``; needs the
        optional package umap-learn (``pip install skdeepcluster[umap]``). Far better on some
        sets (CBF, iris), slightly worse on others (wine, digits): see the user guide.
    guided_periods : int, default=1
        Annealing periods at the start of the clustering phase in which the initial partition
        stands in for q(c|x) of the samples it covers: the KL pulls each towards its part's
        Gaussian, so that the encoder makes the partition Gaussian-shaped before the mixture is
        left to itself. ``0`` is the paper. Not in the paper.
    noise_std : float, default=1e-8
        Standard deviation of the Gaussian noise added to the encoder input during training
        (the denoising input x~ of Algorithm 1); the reconstruction target stays clean.
    learning_rate : float, default=2e-3
        Initial Adam learning rate of the warm-up.
    clustering_learning_rate : float or None, default=5e-4
        Learning rate of the clustering phase, reached after a linear ramp over its first epoch
        (at least 100 steps, at most a tenth of the phase), with fresh Adam moments, then decaying exponentially to
        ``min_learning_rate`` at the end; the warm-up then decays from ``learning_rate`` to a
        tenth of it. ``None`` is the authors' code: one exponential decay from
        ``learning_rate`` to ``min_learning_rate`` over the whole budget, which in a short
        budget leaves the clustering phase at rates where the prior cannot move.
    prior_learning_rate_scale : float, default=1.0
        Multiplier of the clustering learning rate for pi, mu and sigma^2 (ignored when
        ``clustering_learning_rate`` is None).
    min_learning_rate : float, default=1e-6
        The learning rate decays exponentially, step by step, to this floor at the end of
        training.
    batch_size : int, default=128
        Mini-batch size L for training and inference.
    n_score_samples : int, default=64
        Importance samples per data point in ``score_samples``.
    tol : float, default=1e-2
        Convergence check (the schedule itself always runs in full): ``converged_`` is true
        when fewer than ``tol`` of the samples that initialised the prior changed cluster
        during the last annealing period; otherwise ``fit`` warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`. ``0`` disables the check.
    warm_start : bool, default=False
        Continue from the fitted model instead of starting anew: an interrupted fit resumes its
        schedule where it stopped; a finished one runs ``n_periods`` more annealing periods
        at ``min_learning_rate``. The architecture parameters and ``n_features_in_`` must be
        unchanged.
    n_jobs : int, default=None
        CPU threads for training: ``None`` torch's thread count (all cores), ``-1`` all cores. With a fixed count the
        same ``random_state`` gives bitwise identical results on any machine; more threads
        are faster, but their results can differ in the last bits between thread counts
        (see the user guide, "Reproducibility"). Inference uses the caller's thread settings.
        Ignored on CUDA.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    distributed : "auto" or bool, default="auto"
        Data-parallel training over the processes of a ``torch.distributed`` launch (e.g.
        ``torchrun --nproc_per_node=2 script.py``): every process calls ``fit`` with the same X
        and ``random_state`` and computes the gradients of its share of each mini-batch, which
        are averaged over the processes; the GMM initialisation, the label-change check and
        ``labels_`` are computed over all of them, and every process ends with the same fitted
        model. ``"auto"``: on when the script runs under torchrun with more than one process
        (or a process group is initialised); then ``"auto"``/``"cuda"`` devices mean the GPU
        ``LOCAL_RANK``. ``True``: the same, but a ``ValueError`` outside such a launch.
        ``False``: every process fits on its own. See the "Scaling out" guide.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order, noise and the GMM initialisation. The same
        int gives the same labels on the CPU. Global random generators are left untouched.
    verbose : int, default=0
        0 silent, 1 one progress bar, 2 one line per epoch.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample.
    initial_labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample under the prior as initialised, before the clustering
        phase: compare with ``labels_`` to see what that phase changed.
    weights_ : ndarray of shape (n_clusters,)
        Learned cluster weights pi.
    means_ : ndarray of shape (n_clusters, latent_dim)
        Means of the latent Gaussian mixture.
    covariances_ : ndarray of shape (n_clusters, latent_dim)
        Diagonal variances of the latent Gaussian mixture.
    cluster_centers_ : ndarray of shape (n_clusters, latent_dim)
        Same as ``means_``.
    module_ : torch.nn.Module
        The trained network, kept in float64 for inference.
    n_iter_ : int
        Epochs of training run (fractional epochs rounded up), warm starts included.
    converged_ : bool
        Whether the share of samples that changed cluster in the last annealing period was
        below ``tol``.
    history_ : list of dict
        One entry per epoch (and per phase end) with the phase, the mean losses, beta, the
        learning rate, the number of skipped non-finite steps and the seconds taken (the entry
        closing an annealing period adds ``label_change``), one ``"gmm_init"`` entry with the
        samples used and the seconds the initialisation took, and an ``"event"`` entry for every
        restore of the last good weights (``"restored"``) and for an interrupt
        (``"interrupted"``).
    device_ : str
        Device the model was trained on.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during ``fit``, when X has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : Gaussian mixture on the input space.
    sklearn.cluster.KMeans : K-means clustering.
    LoSTerClustering : Deep clustering of long time series.

    Notes
    -----
    Differences from the authors' TensorFlow code, each for a stated reason: pi is a softmax
    of logits and sigma_c^2 a log-variance (the code's unconstrained pi and sigma^2 can turn
    NaN); the learning rate reaches ``min_learning_rate`` at the end of training whatever the
    budget (the released configs reach it within 5 % of theirs); the gamma-training penalty is
    the code's KL to N(0, I) with the decoder fed the encoder mean, the paper's Algorithm 1
    writes the VaDE KL; ``predict_proba`` returns the exact posterior p(c | z), which has the
    same argmax as the training-time transformed q(c|x) but does not depend on which other
    samples share the batch. See the user guide for the full list.

    References
    ----------
    L. Cao, S. Asadi, W. Zhu, C. Schmidli, M. Sjoberg. Simple, Scalable, and Stable
    Variational Deep Clustering. ECML PKDD 2020. arXiv:2005.08047.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepcluster import S3VDCClustering
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-8, 1, (40, 3)), rng.normal(8, 1, (40, 3))])
    >>> model = S3VDCClustering(n_clusters=2, latent_dim=2, hidden_dims=(16,),
    ...                         warmup_epochs=20, anneal_epochs=2, static_epochs=1,
    ...                         n_periods=1, learning_rate=1e-2, random_state=0).fit(X)
    >>> bool((model.labels_[:40] != model.labels_[40:]).all())
    True
    >>> model.predict_proba(X[:2]).max(axis=1).round(2)
    array([1., 1.])
    >>> model.transform(X).shape
    (80, 2)
    """

    _progress_label = "S3VDC"

    _parameter_constraints: dict = {
        **_BaseDeepClustering._parameter_constraints,
        "encoder": [StrOptions({"mlp", "conv"})],
        "hidden_dims": [tuple],
        "input_shape": [tuple, None],
        "activation": [StrOptions({"elu", "relu"})],
        "reconstruction": [StrOptions({"gaussian", "bernoulli"})],
        "warmup_epochs": [Interval(Real, 0, None, closed="left")],
        "anneal_epochs": [Interval(Real, 0, None, closed="left")],
        "static_epochs": [Interval(Real, 0, None, closed="left")],
        "n_periods": [Interval(Integral, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "minmax_scale": [Interval(Real, 0, None, closed="neither")],
        "anneal_power": [Interval(Real, 0, None, closed="neither")],
        "gmm_init_samples": [Interval(Integral, 1, None, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "init_partition": [StrOptions({"spectral", "kmeans", "umap"})],
        "guided_periods": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, MAX_LEARNING_RATE, closed="right")],
        "clustering_learning_rate": [Interval(Real, 0, MAX_LEARNING_RATE, closed="right"), None],
        "prior_learning_rate_scale": [Interval(Real, 0, MAX_LEARNING_RATE, closed="right")],
        "min_learning_rate": [Interval(Real, 0, MAX_LEARNING_RATE, closed="right")],
        "n_score_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=10,
        *,
        latent_dim=10,
        encoder="mlp",
        hidden_dims=(500, 500, 2000),
        input_shape=None,
        activation="elu",
        reconstruction="gaussian",
        warmup_epochs=30.0,
        anneal_epochs=10.0,
        static_epochs=2.0,
        n_periods=4,
        gamma=5e-4,
        minmax_scale=50.0,
        anneal_power=3.0,
        gmm_init_samples=25600,
        init_partition="spectral",
        guided_periods=1,
        noise_std=1e-8,
        learning_rate=2e-3,
        clustering_learning_rate=5e-4,
        prior_learning_rate_scale=1.0,
        min_learning_rate=1e-6,
        batch_size=128,
        n_score_samples=64,
        tol=1e-2,
        warm_start=False,
        n_jobs=None,
        device="auto",
        distributed="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.hidden_dims = hidden_dims
        self.input_shape = input_shape
        self.activation = activation
        self.reconstruction = reconstruction
        self.warmup_epochs = warmup_epochs
        self.anneal_epochs = anneal_epochs
        self.static_epochs = static_epochs
        self.n_periods = n_periods
        self.gamma = gamma
        self.minmax_scale = minmax_scale
        self.anneal_power = anneal_power
        self.gmm_init_samples = gmm_init_samples
        self.init_partition = init_partition
        self.guided_periods = guided_periods
        self.noise_std = noise_std
        self.learning_rate = learning_rate
        self.clustering_learning_rate = clustering_learning_rate
        self.prior_learning_rate_scale = prior_learning_rate_scale
        self.min_learning_rate = min_learning_rate
        self.batch_size = batch_size
        self.n_score_samples = n_score_samples
        self.tol = tol
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.device = device
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    # ---- the hooks of the fit skeleton (_BaseDeepClustering.fit) ----------------------------------

    def _validate_training_input(self, X):
        X = self._validate_training_data(X)
        if not all(isinstance(width, Integral) and not isinstance(width, bool) and width >= 1
                   for width in self.hidden_dims):
            raise ValueError(f"hidden_dims must be a tuple of positive ints; got {self.hidden_dims!r}.")
        if self.encoder == "conv":
            shape = self.input_shape
            if shape is None or len(shape) != 3 or not all(isinstance(s, Integral) and s >= 1 for s in shape):
                raise ValueError("encoder='conv' needs input_shape=(channels, height, width) of positive "
                                 f"ints; got input_shape={shape!r}.")
            if math.prod(shape) != X.shape[1]:
                raise ValueError(f"input_shape={shape} holds {math.prod(shape)} values per image but X has "
                                 f"{X.shape[1]} features.")
        # max |x| from two reductions: np.abs(X) would copy all of X (a memmap, say) into memory.
        largest = max(abs(float(X.max())), abs(float(X.min()))) if X.size else 0.0
        if self.reconstruction == "gaussian" and largest > _LARGEST_GAUSSIAN_INPUT:
            raise ValueError(f"X has values up to {largest:.3g} in absolute value: S3VDC trains in float32, where "
                             "the squared reconstruction errors of such values overflow. Scale X first (e.g. "
                             "StandardScaler or MinMaxScaler).")
        if self.reconstruction == "bernoulli" and (X.min() < 0 or X.max() > 1):
            raise ValueError("reconstruction='bernoulli' needs X in [0, 1]; got values in "
                             f"[{X.min():.4g}, {X.max():.4g}]. Scale X (e.g. MinMaxScaler) or use "
                             "reconstruction='gaussian'.")
        return X, {}

    def _architecture(self, run):
        return {"n_features": int(run.X.shape[1]), "n_clusters": int(self.n_clusters),
                "latent_dim": int(self.latent_dim), "encoder": self.encoder,
                "hidden_dims": [int(width) for width in self.hidden_dims],
                "input_shape": None if self.input_shape is None else [int(size) for size in self.input_shape],
                "activation": self.activation, "reconstruction": self.reconstruction}

    def _initial_progress(self):
        return {"steps": 0, "prior_initialized": False}

    def _network_inputs(self, run):
        return run.X.shape[1]

    def _fitted_network_inputs(self):
        return self.n_features_in_

    def _build_network(self, n_inputs, n_clusters, latent_dim):
        return build_network(self.encoder, n_inputs, latent_dim, n_clusters, self.hidden_dims, self.input_shape,
                             self.activation)

    def _loop_plan(self, run):
        steps_per_epoch = run.batches.steps_per_epoch
        run.schedule = schedule = S3VDCSchedule.from_epochs(
            steps_per_epoch, self.warmup_epochs, self.anneal_epochs, self.static_epochs, self.n_periods,
            self.gamma, self.anneal_power)
        run.end_step = schedule.end_step(run.start_step)
        learning_rate_at = learning_rate_schedule(schedule, self.learning_rate, self.min_learning_rate,
                                                  self.clustering_learning_rate,
                                                  ramp_steps=schedule.ramp_steps(steps_per_epoch))
        return {"optimizer": _training.make_optimizer(self, run.network), "learning_rate_at": learning_rate_at,
                "total_steps": run.end_step, "steps_per_epoch": max(steps_per_epoch, MIN_STEPS_PER_EPOCH)}

    def _train(self, run):
        _training.train(self, run)

    def _set_fitted_attributes(self, run):
        loop, group, X_all = run.loop, run.group, run.X_all
        self.n_iter_ = math.ceil(loop.step / loop.steps_per_epoch)
        self.converged_ = bool(run.label_changes) and run.label_changes[-1] < self.tol
        self._score_seed = int(run.rng.randint(np.iinfo(np.int32).max))
        network = self.module_  # float64, as inference
        with torch.no_grad():
            self.weights_ = network.log_weights.exp().cpu().numpy()
            self.means_ = network.means.cpu().numpy().copy()
            self.covariances_ = network.log_vars.exp().cpu().numpy()
        self.cluster_centers_ = self.means_
        self.labels_ = group.map_shard(lambda share: self._predict_responsibilities(X_all[share]).argmax(axis=1),
                                       X_all.shape[0])
        self.initial_labels_ = self.labels_ if run.initial_labels is None else run.initial_labels

    def _warn_after_fit(self, run):
        counts = np.bincount(self.labels_, minlength=self.n_clusters)
        empty = np.flatnonzero(counts == 0)
        if len(empty) and len(self.labels_) >= self.n_clusters:
            warnings.warn(f"S3VDCClustering: component(s) {empty.tolist()} of {self.n_clusters} hold no training "
                          "sample at the end of the fit (their weights_ are "
                          f"{np.round(self.weights_[empty], 3).tolist()}): the data may have fewer separable "
                          "groups than n_clusters, or the warm-up embedding does not separate them. Lower "
                          "n_clusters, or train longer (warmup_epochs).", ConvergenceWarning, stacklevel=5)
        changes = run.label_changes
        if changes and not self.converged_ and self.tol > 0 and not run.loop.interrupted:
            warnings.warn(f"S3VDCClustering: {changes[-1]:.2%} of the checked samples changed cluster during the "
                          f"last annealing period, more than tol={self.tol}. Increase n_periods, or continue "
                          "training with warm_start=True.", ConvergenceWarning, stacklevel=5)

    # ---- model files ---------------------------------------------------------------------------

    def _check_saved_network(self, counts):
        fitted_centers(self)
        hidden = [positive_int(width, "hidden_dims entries") for width in self.hidden_dims]
        n_features = positive_int(self.n_features_in_, "n_features_in_")
        if self.encoder == "conv":
            # The convolutions' weights do not grow with the image; the layer after them reads at
            # least (height // 8) * (width // 8) positions (three stride-2 convolutions).
            shape = self.input_shape
            if (type(shape) is not tuple or len(shape) != 3
                    or math.prod(positive_int(size, "input_shape entries") for size in shape) != n_features):
                raise ValueError(f"input_shape {shape!r:.80} does not describe images of n_features_in_={n_features}.")
            n_features, hidden = max(1, (shape[1] // 8) * (shape[2] // 8)), []
        check_network_size(self, counts, hidden, n_features)

    def _probe_sample(self):
        return np.zeros((1, self.n_features_in_))

    # ---- inference ----------------------------------------------------------------------------

    def _predict_responsibilities(self, X):
        return self._finite_output(map_batches(self.module_.posterior, X, self.batch_size, self._module_device()), X)

    def predict_proba(self, X):
        """Posterior probability of each cluster, p(c | z = E[z | x]).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to assign.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Cluster probabilities; each row sums to 1.
        """
        X = self._validate_inference_data(X)
        return self._predict_responsibilities(X)

    def _cluster_scores(self, X):
        return self._predict_responsibilities(self._validate_inference_data(X))

    def _embedding(self, X):
        X = self._validate_inference_data(X)
        module = self.module_
        return X.dtype, map_batches(lambda batch: module.encode(batch)[0], X, self.batch_size, self._module_device())

    def score_samples(self, X):
        """Importance-sampling estimate of ln p(x) for each sample.

        ln p(x) ~ logsumexp_s [ln p(x|z_s) + ln sum_c pi_c N(z_s | mu_c, sigma_c^2)
        - ln q(z_s|x)] - ln S with z_s ~ q(z|x) and S = ``n_score_samples`` (the IWAE bound,
        a lower bound of ln p(x) that tightens as S grows); the quantity of the paper's
        Table 5. The same standard-normal draws are reused for every sample, so the value of a
        sample does not depend on the others.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Estimated ln p(x) in nats under the ``reconstruction`` observation model.
        """
        X = self._validate_inference_data(X)
        module = self.module_
        device = self._module_device()
        log_likelihood = _training.RECONSTRUCTION_LOSSES[self.reconstruction][1]
        # Common random numbers: the same draws for every sample, from a seed fixed at fit time.
        draws = np.random.RandomState(self._score_seed).standard_normal((self.n_score_samples, self.latent_dim))
        noise = torch.as_tensor(draws, dtype=torch.float64, device=device)
        n_draws = noise.shape[0]

        def importance_estimate(batch):
            z_mean, z_log_var = module.encode(batch)
            z = z_mean.unsqueeze(1) + torch.exp(0.5 * z_log_var).unsqueeze(1) * noise.unsqueeze(0)  # (B, S, D)
            flat_z = z.reshape(-1, z.shape[-1])
            log_px_z = log_likelihood(batch.repeat_interleave(n_draws, dim=0), module.decode(flat_z))
            log_prior = _losses.mixture_log_density(flat_z, module.log_weights, module.means, module.log_vars)
            log_q = _losses.reparameterised_log_density(noise, z_log_var)
            return _losses.importance_weighted_log_likelihood(
                log_px_z.reshape(-1, n_draws) + log_prior.reshape(-1, n_draws) - log_q)

        return self._finite_output(map_batches(importance_estimate, X, max(1, self.batch_size // 4), device), X)

    def score(self, X, y=None):
        """Mean estimated log-likelihood ln p(x) of X (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        log_likelihood : float
            Mean of :meth:`score_samples`, like ``GaussianMixture.score``.
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1):
        """Generate data: draw clusters from pi, latents from their Gaussians, then decode.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Decoder means (Bernoulli probabilities for ``reconstruction="bernoulli"``).
        y : ndarray of shape (n_samples,)
            Cluster of each sample.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at least "
                             "one sample.")
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        latents = np.vstack([rng.normal(mean, np.sqrt(variance), size=(count, self.latent_dim))
                             for mean, variance, count in zip(self.means_, self.covariances_, counts, strict=True)])
        labels = np.repeat(np.arange(self.n_clusters), counts)
        module = self.module_
        decode = module.decode if self.reconstruction == "gaussian" else (lambda z: torch.sigmoid(module.decode(z)))
        return map_batches(decode, latents, self.batch_size, self._module_device()), labels

