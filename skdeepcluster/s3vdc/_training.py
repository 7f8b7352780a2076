"""S3VDC's phases (Algorithm 1): gamma-training, the mixture prior's initialisation, annealing periods.

The functions read the estimator's hyper-parameters and work on the fit's
:class:`~skdeepcluster._base.FitRun`; :class:`~skdeepcluster.S3VDCClustering`'s ``_train`` hook
calls :func:`train`.
"""

import time
import warnings

import numpy as np
import torch
from joblib import parallel_config
from sklearn import config_context
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from .._engine import BatchWeights, map_batches, randn_like
from .._partition import nearest_centers, part_statistics, partition_embedding
from . import _losses
from ._prior import fit_mixture_prior

RECONSTRUCTION_LOSSES = {
    "gaussian": (_losses.gaussian_reconstruction_loss, _losses.gaussian_log_likelihood),
    "bernoulli": (_losses.bernoulli_reconstruction_loss, _losses.bernoulli_log_likelihood),
}


def train(estimator, run):
    """Warm-up (gamma-training), the prior's initialisation, then the annealing periods.

    Sets ``run.initial_labels`` (labels under the initialised prior, or those of the fit a warm
    start continues) and ``run.label_changes`` (per period).
    """
    loop, network, schedule, group = run.loop, run.network, run.schedule, run.group
    run.label_changes = []
    run.initial_labels = getattr(estimator, "initial_labels_", None) if run.start_step else None
    loop.run(schedule.warmup_steps - loop.step, warmup_loss(estimator, network, run.batch_weights), phase="warmup")
    guide = None
    if not run.progress["prior_initialized"] or loop.interrupted:
        rows, parts = initialize_clusters(estimator, run)
        if estimator.guided_periods and not loop.interrupted:
            guide = np.full(run.X.shape[0], -1, dtype=np.int64)
            guide[rows] = parts
        # The prior of an interrupted warm-up only makes the model usable: a continued fit
        # initialises it again once the warm-up is complete.
        run.progress["prior_initialized"] = not loop.interrupted
        run.initial_labels = group.map_shard(
            lambda share: cluster_labels(estimator, network, run.X_all[share], run.device), run.X_all.shape[0])
    else:
        rows = np.sort(run.rng.choice(run.X.shape[0], size=n_prior_samples(estimator, run.X), replace=False))
    # The clustering phase optimises another objective at another rate: the warm-up's Adam
    # moments would scale its first steps wrongly (they overshoot into one component).
    optimizer = None if estimator.clustering_learning_rate is None else make_optimizer(estimator, network)
    # Each rank checks the labels of its share of the rows.
    run.label_changes = train_periods(estimator, run, run.X[rows[group.shard(len(rows))]], guide, optimizer)


def train_periods(estimator, run, check_rows, guide=None, optimizer=None):
    """The clustering phase, period by period; the fraction of labels that changed in each.

    Labels are those of the samples that initialised the prior, compared with the labels
    they had when the period began: the stopping rule of the LoSTer paper, used here only
    to report ``converged_``, since S3VDC's schedule has a fixed length. Data-parallel,
    ``check_rows`` are this rank's share and the counts of changes are summed over ranks.
    """
    loop, network, schedule, group, device = run.loop, run.network, run.schedule, run.group, run.device
    n_checked = int(group.sum(len(check_rows)))
    loss_fn = clustering_loss(estimator, network, schedule, guide, run.batches, run.batch_weights)
    checked = {"labels": cluster_labels(estimator, network, check_rows, device), "period_end": None}
    changes = []

    def check_labels(loop, entry):
        """At the end of a period: the share of changed labels, then empty components re-seeded."""
        if loop.step != checked["period_end"]:
            return False
        new_labels = cluster_labels(estimator, network, check_rows, device)
        changes.append(int(group.sum(int(np.count_nonzero(new_labels != checked["labels"])))) / n_checked)
        entry["label_change"] = changes[-1]
        checked["labels"] = reseed_empty_components(estimator, loop, network, check_rows, new_labels, device)
        return False

    while loop.step < run.end_step and not loop.interrupted:
        period_step = (loop.step - schedule.warmup_steps) % schedule.period_steps
        n_steps = min(schedule.period_steps - period_step, run.end_step - loop.step)
        checked["period_end"] = loop.step + n_steps
        loop.run(n_steps, loss_fn, phase="clustering", optimizer=optimizer, on_epoch_end=[check_labels])
        optimizer = None  # the phase's optimiser stays in use for its later periods
    return changes


def reseed_empty_components(estimator, loop, network, check_rows, labels, device):
    """Give every component that lost all its samples half of the most populous one.

    A component that no checked sample prefers gets no gradient from the data any more and
    stays dead (or one component absorbs the others'), while ``weights_`` can still show it
    as alive. Not in the paper: the largest component's embeddings are split by 2-means, the
    empty component takes one half's mean and variances, the largest the other's, and the two
    share its weight. Recorded as a ``"reseeded"`` history event. Returns the updated labels.
    """
    group, n_clusters = loop.group, estimator.n_clusters
    counts = np.array([group.sum(int(count)) for count in np.bincount(labels, minlength=n_clusters)])
    empty = np.flatnonzero(counts == 0)
    if not len(empty) or n_clusters < 2:
        return labels
    embeddings = map_batches(lambda batch: network.encode(batch)[0], check_rows, estimator.batch_size, device,
                             dtype=torch.float32).astype(np.float64)
    with torch.no_grad():
        log_weights = network.log_weights.cpu().numpy().astype(np.float64)
        means = network.means.cpu().numpy().astype(np.float64)
        variances = network.log_vars.exp().cpu().numpy().astype(np.float64)
    labels, reseeded = labels.copy(), []
    for component in empty:
        largest = int(np.argmax(counts))
        members = np.flatnonzero(labels == largest)
        if len(members) < 2:
            break
        with config_context(array_api_dispatch=False), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Number of distinct clusters")
            halves = KMeans(2, n_init=3, random_state=0).fit(embeddings[members]).labels_
        if halves.min() == halves.max():
            break  # identical embeddings: nothing to split
        weights, half_means, half_variances = part_statistics(embeddings[members], halves, 2)
        means[[component, largest]] = half_means
        variances[[component, largest]] = half_variances
        log_weights[[component, largest]] = log_weights[largest] + np.log(weights)
        labels[members[halves == 0]] = component
        counts[component], counts[largest] = np.bincount(halves, minlength=2)
        reseeded.append(int(component))
    if reseeded:
        weights = np.exp(log_weights - log_weights.max())
        network.set_prior(group.broadcast_array(weights / weights.sum()), group.broadcast_array(means),
                         group.broadcast_array(variances))
        for parameter in (network.weight_logits, network.means, network.log_vars):
            loop.optimizer.state.pop(parameter, None)  # moments of the dead component's last steps
        loop.history.append({"epoch": loop.step / loop.steps_per_epoch, "phase": "clustering",
                             "event": "reseeded", "components": reseeded})
    return labels


def cluster_labels(estimator, network, X, device):
    """The component of highest posterior p(c | z = E[z | x]) of every row, in float32."""
    network.eval()
    return map_batches(network.posterior, X, estimator.batch_size, device, dtype=torch.float32).argmax(axis=1)


def n_prior_samples(estimator, X):
    """The rows whose embeddings initialise the prior (GaussianMixture needs 2 and one per component)."""
    return min(X.shape[0], max(estimator.gmm_init_samples, estimator.n_clusters, 2))


def _noisy(estimator, batch):
    """The denoising input x~ of Algorithm 1."""
    return batch + estimator.noise_std * randn_like(batch) if estimator.noise_std else batch


def warmup_loss(estimator, network, batch_weights=None):
    """gamma-training as in the authors' code: decoder fed the encoder mean, KL to N(0, I)."""
    reconstruction_loss = RECONSTRUCTION_LOSSES[estimator.reconstruction][0]
    mean = (BatchWeights() if batch_weights is None else batch_weights).mean

    def loss_fn(batch, step):
        z_mean, z_log_var = network.encode(_noisy(estimator, batch))
        reconstruction = mean(reconstruction_loss(batch, network.decode(z_mean)))
        kl = mean(_losses.standard_normal_kl(z_mean, z_log_var))
        loss = reconstruction + estimator.gamma * kl
        return loss, {"loss": loss, "reconstruction": reconstruction, "kl": kl}

    return loss_fn


def clustering_loss(estimator, network, schedule, guide=None, batches=None, batch_weights=None):
    """The VaDE ELBO with the annealed KL weight beta (Eq. 10, Eq. 7 when beta = 1).

    During the first ``guided_periods`` periods the rows of ``guide`` (>= 0; from ``batches``'
    last batch) take their part of the initial partition as q(c|x).
    """
    reconstruction_loss = RECONSTRUCTION_LOSSES[estimator.reconstruction][0]
    mean = (BatchWeights() if batch_weights is None else batch_weights).mean
    guided_steps = estimator.guided_periods * schedule.period_steps if guide is not None else 0
    guide = None if guide is None else torch.as_tensor(guide)

    def loss_fn(batch, step):
        beta = schedule.beta(step - schedule.warmup_steps)
        z_mean, z_log_var = network.encode(_noisy(estimator, batch))
        z = z_mean + torch.exp(0.5 * z_log_var) * randn_like(z_mean)
        reconstruction = mean(reconstruction_loss(batch, network.decode(z)))
        log_weights = network.log_weights
        responsibilities = _losses.cluster_responsibilities(z_mean, log_weights, network.means, network.log_vars,
                                                            estimator.minmax_scale)
        if step - schedule.warmup_steps < guided_steps:
            responsibilities = _losses.guided_responsibilities(
                responsibilities, guide[torch.as_tensor(batches.last_indices)].to(batch.device))
        kl = mean(_losses.vade_kl(z_mean, z_log_var, responsibilities, log_weights, network.means, network.log_vars))
        loss = reconstruction + beta * kl  # Eq. 10 during annealing, Eq. 7 when beta = 1
        return loss, {"loss": loss, "reconstruction": reconstruction, "kl": kl, "beta": torch.tensor(beta)}

    return loss_fn


def initialize_clusters(estimator, run):
    """Algorithm 1 line 4: fit the mixture prior on k x L encoded training samples.

    As in the authors' code: KMeans on the embeddings, then a diagonal GaussianMixture
    started from its centres (10^4 EM iterations at most); mu <- KMeans centres,
    sigma^2 <- GMM variances, pi stays uniform. With sample weights (``run.weights``, of the
    rows of ``run.X``) the rows are drawn as without, and the partition and statistics of the
    drawn rows are weighted: weighted k-means, whose parts' weighted variances stand in for
    the GMM's (GaussianMixture takes no sample weights); ``"spectral"``: the graph of the
    drawn rows, weighted k-means of its eigenvectors, weighted pi, mu and sigma^2.
    Data-parallel, every rank draws the same rows, encodes its share of them and gathers the
    others'; every rank fits the same mixture, and rank 0's is broadcast so that the priors
    are identical bit for bit. Returns the drawn rows and their parts.
    """
    network, X, rng, device, group = run.network, run.X, run.rng, run.device, run.group
    started = time.perf_counter()
    n_init = n_prior_samples(estimator, X)
    rows = np.sort(rng.choice(X.shape[0], size=n_init, replace=False))
    network.eval()

    def encode(share):
        return map_batches(lambda batch: network.encode(_noisy(estimator, batch))[0], X[rows[share]],
                           estimator.batch_size, device, dtype=torch.float32)

    embeddings = group.map_shard(encode, n_init).astype(np.float64)
    if not np.isfinite(embeddings).all():
        raise ValueError("The warm-up produced non-finite embeddings, so the mixture prior cannot be "
                         "initialised: the data's scale or the learning rate is too large for the network. "
                         "Scale X (e.g. StandardScaler) or lower learning_rate.")
    kmeans_seed = rng.randint(np.iinfo(np.int32).max)
    mixture_seed = rng.randint(np.iinfo(np.int32).max)
    row_weights = None if run.weights is None else run.weights[rows]
    n_clusters = estimator.n_clusters
    if estimator.init_partition == "kmeans":
        means, variances, _ = fit_mixture_prior(embeddings, n_clusters, kmeans_seed=kmeans_seed,
                                                mixture_seed=mixture_seed, sample_weight=row_weights)
        weights = np.full(n_clusters, 1.0 / n_clusters)
        parts = nearest_centers(embeddings, means)[0]
    else:
        # A local joblib backend: under Dask's, the neighbour search's nested Parallel let a
        # worker start another grid-search trial meanwhile. One BLAS thread: the eigensolver's
        # iterates would otherwise depend on the process's thread count.
        with threadpool_limits(limits=1, user_api="blas"), parallel_config(backend="threading"):
            parts = partition_embedding(embeddings, n_clusters, estimator.init_partition, random_state=kmeans_seed,
                                        sample_weight=row_weights)
        weights, means, variances = part_statistics(embeddings, parts, n_clusters, sample_weight=row_weights)
    weights, means, variances = (group.broadcast_array(weights), group.broadcast_array(means),
                                 group.broadcast_array(variances))
    network.set_prior(weights, means, variances)
    parts = group.broadcast_array(parts)
    run.history.append({"epoch": None, "phase": "gmm_init", "samples": int(n_init),
                        "partition": estimator.init_partition, "seconds": time.perf_counter() - started})
    return rows, parts


def make_optimizer(estimator, network):
    """Adam over the network, and over the prior at ``prior_learning_rate_scale`` times the rate."""
    prior = [network.weight_logits, network.means, network.log_vars]
    network = [parameter for name, parameter in network.named_parameters()
               if name not in ("weight_logits", "means", "log_vars")]
    scale = 1.0 if estimator.clustering_learning_rate is None else float(estimator.prior_learning_rate_scale)
    return torch.optim.Adam([{"params": network}, {"params": prior, "lr_scale": scale}], lr=estimator.learning_rate)
