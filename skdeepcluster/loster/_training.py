"""LoSTer's phases: autoencoder pretraining, the initial partition and centroids, joint training.

The functions read the estimator's hyper-parameters and work on the fit's
:class:`~skdeepcluster._base.FitRun`; :class:`~skdeepcluster.LoSTerClustering`'s ``_train``
hook calls :func:`train`.
"""

import time

import numpy as np
import torch
from joblib import parallel_config
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from .._base import MAX_SCALE, MIN_SCALE
from .._engine import resolve_cpu_threads
from .._partition import nearest_centers, part_statistics, partition_embedding
from . import _losses
from ._model import AUGMENTED, ORIGINAL
from ._schedule import joint_phase_converged

# joint_assignments="partition" with keep_better ends by keeping the better of the joint
# phase's start and end, judged by how many of each series' nearest neighbours (among the
# prepared series the network reads) share its label, on evenly spaced rows: at most
# SELECTION_SAMPLE of them, fewer for long series, so that the neighbour search costs about
# SELECTION_BUDGET multiply-adds (rows^2 x values per series), but at least SELECTION_MIN_SAMPLE.
SELECTION_SAMPLE = 2000
SELECTION_MIN_SAMPLE = 200
SELECTION_BUDGET = 2e9


def train(estimator, run):
    """Pretraining, the initial partition and centroids, then joint training until it converges.

    Sets ``run.partition`` (the labels joint training anchors on), ``run.initial_labels``,
    ``run.bandwidth``, ``run.converged``, ``run.epochs_run`` (joint epochs run),
    ``run.label_change`` (of the last joint epoch) and updates ``run.progress``.
    """
    loop, network, views, schedule = run.loop, run.network, run.views, run.schedule
    group, device, progress, n_series = run.group, run.device, run.progress, run.X.shape[0]
    run.converged, run.epochs_run, run.initial_labels, run.label_change = False, 0, None, None
    # The labels of the stopping rule: data-parallel, each rank those of its share of the series.
    share = group.shard(n_series)
    progress["pretrain_steps"] += loop.run(schedule.pretrain_left, pretrain_loss(estimator, network, run.batch_weights),
                                           phase="pretrain")
    if progress["centroids_initialized"] and not loop.interrupted:
        # A continued fit anchors on the partition it ended with.
        partition = group.map_shard(lambda rows: cluster_labels(
            estimator, network, views[rows, ORIGINAL], device, torch.float32), n_series)
    else:
        partition = initialize_clusters(estimator, network, views, run.rng, device, run.history, group, run.weights)
        run.initial_labels = partition
        if run.train_rows is not None:
            run.initial_labels = labels_with_absent_rows(
                estimator, network, partition, run.train_rows, run.X_all, run.per_row_all["lengths"],
                run.channel_stats, device)
        # Centroids of an interrupted pretraining only make the model usable: a continued fit
        # initialises them again once pretraining is complete.
        progress["centroids_initialized"] = not loop.interrupted
    run.partition = partition
    labels = cluster_labels(estimator, network, views[share, ORIGINAL], device, torch.float32)
    run.bandwidth = resolve_bandwidth(estimator, network, views, partition, device, group, run.weights)
    if schedule.joint_epochs and not loop.interrupted:
        start = None
        if estimator.keep_better and estimator.joint_assignments == "partition":
            start = joint_start(estimator, network, views, device)
        train_jointly(estimator, run, labels, share)
        if start is not None and run.epochs_run and not loop.interrupted:
            keep_the_better(estimator, network, start, views, device, run.history)
    progress["joint_epochs"] += run.epochs_run
    progress["finished"] = progress["centroids_initialized"] and not loop.interrupted


def train_jointly(estimator, run, labels, share):
    """Joint training of networks and centroids, one history entry per joint epoch.

    After each epoch (an ``on_epoch_end`` callback of the loop) the labels (nearest
    centroids) are compared with those before it: an epoch that emptied clusters is undone
    and ends the phase (the absorbing-cluster guard), otherwise the label change and the
    agreement with the partition join the epoch's history entry and the stopping rule
    (:func:`~skdeepcluster.loster._schedule.joint_phase_converged`) may end the phase.
    """
    loop, network, views, group, device = run.loop, run.network, run.views, run.group, run.device
    n_series, partition = run.X.shape[0], run.partition
    schedule = run.schedule = run.schedule.starting_at(loop.step)
    anchored = estimator.joint_assignments == "partition"
    if estimator.joint_optimizer == "adam":
        optimizer = torch.optim.Adam(network.parameters(), lr=estimator.learning_rate, fused=True)
    else:  # the paper's plain SGD on networks and centroids
        optimizer = torch.optim.SGD(network.parameters(), lr=estimator.learning_rate)
    if schedule.joint_steps != schedule.steps or loop.step % schedule.steps:
        # Joint epochs of their own length (small data), or a continued fit that stopped mid-epoch.
        loop.set_steps_per_epoch(schedule.joint_steps,
                                 epoch=-(-run.progress["pretrain_steps"] // schedule.steps) + schedule.first_epoch)
    n_occupied = occupied_clusters(estimator, labels, group)
    state = {"labels": labels, "snapshot": _weights(network)}

    def end_of_epoch(loop, entry):
        if (loop.step - schedule.joint_start) % schedule.joint_steps:
            return False  # not the end of a joint epoch
        epoch = schedule.epoch(loop.step - 1)
        new_labels = cluster_labels(estimator, network, views[share, ORIGINAL], device, torch.float32)
        occupied = occupied_clusters(estimator, new_labels, group)
        # Anchored on a fixed partition, a small part may empty for an epoch on the way to it;
        # only a collapse to fewer than half the clusters is absorbing there.
        if occupied < (n_occupied + 1) // 2 if anchored else occupied < n_occupied:
            # Absorbing-cluster guard: a cluster emptied into the others (one may take
            # everything). Undo the epoch and stop: the partition before it is kept.
            network.load_state_dict(state["snapshot"])
            run.history.append({"epoch": epoch, "phase": "joint", "event": "absorbed",
                                "reason": "a cluster lost all its series; the epoch was undone"})
            run.converged = True
            return "a cluster lost all its series (epoch undone)"
        changed = int(group.sum(int(np.count_nonzero(new_labels != state["labels"])))) / n_series
        agreement = int(group.sum(int(np.count_nonzero(new_labels == partition[share])))) / n_series
        entry.update(temperature=schedule.temperature(loop.step - 1), label_change=changed,
                     partition_agreement=agreement)
        state["labels"], run.label_change, run.epochs_run = new_labels, changed, run.epochs_run + 1
        if joint_phase_converged(run.epochs_run, changed, agreement, estimator.tol, anchored):
            run.converged = True
            return f"converged (label change {changed:.2%})"
        state["snapshot"] = _weights(network)
        return False

    loop.run(schedule.joint_epochs * schedule.joint_steps,
             joint_loss(estimator, network, schedule.temperature, run.bandwidth, partition, run.batches,
                        run.batch_weights),
             phase="joint", optimizer=optimizer, learning_rate_at=schedule.learning_rate_at,
             on_epoch_end=[end_of_epoch])


def _weights(network):
    """A copy of the network's weights and centroids (its state_dict), to restore later."""
    return {name: value.detach().clone() for name, value in network.state_dict().items()}


def views_of(batch):
    """(B, 2, F) batch -> (2, B, F) views (NaN padding read as 0) and the observed mask (or None)."""
    # One contiguous copy: the batched products and the losses then read dense memory (at
    # 10^5 steps the strided reads made the loss's elementwise operations the slowest part).
    views = batch.transpose(0, 1).contiguous()
    observed = ~torch.isnan(views)
    if bool(observed.all()):
        return views, None
    return views.masked_fill(~observed, 0.0), observed


def pretrain_loss(estimator, network, batch_weights=None):
    """Reconstruction of both views by their autoencoders."""

    def loss_fn(batch, step):
        weights = None if batch_weights is None else batch_weights.of_batch()
        views, observed = views_of(batch)
        reconstructed = network(views)[1]
        reconstruction, reconstruction_augmented = (
            _losses.masked_mse(views[v], reconstructed[v], None if observed is None else observed[v], weights)
            for v in (ORIGINAL, AUGMENTED))
        loss = reconstruction + reconstruction_augmented
        return loss, {"loss": loss, "reconstruction": reconstruction,
                      "reconstruction_augmented": reconstruction_augmented}

    return loss_fn


def joint_loss(estimator, network, temperature_at, bandwidth, partition, batches, batch_weights=None):
    """The joint objective at global step ``step``, with the Gumbel temperature ``temperature_at(step)``."""

    def loss_fn(batch, step):
        weights = None if batch_weights is None else batch_weights.of_batch()
        views, observed = views_of(batch)
        embeddings, reconstructed = network(views)
        reconstruction, reconstruction_augmented = (
            _losses.masked_mse(views[v], reconstructed[v], None if observed is None else observed[v], weights)
            for v in (ORIGINAL, AUGMENTED))
        z, z_augmented = embeddings[ORIGINAL], embeddings[AUGMENTED]
        if estimator.joint_assignments == "partition":
            # Both views are pulled to the centroids of their series' part of the initial
            # partition: the joint phase reshapes the embedding around it instead of
            # drifting to the nearest-centroid (k-means) partition of the embedding.
            targets = torch.as_tensor(partition[batches.last_indices], dtype=torch.long, device=z.device)
            assignments = torch.nn.functional.one_hot(targets, estimator.n_clusters).to(z.dtype)
            assignments_augmented = assignments
            # The k-means term as a cross-entropy of the RBF assignments (paper eq. "rbf") to the
            # part: it pulls z to its centroid and away from the others, so that the nearest
            # centroid (predict) comes to reproduce the partition.
            kmeans = 0.5 * sum(_losses.weighted_nll(_losses.rbf_log_assignments(embedding, centers, bandwidth),
                                                    targets, weights)
                               for embedding, centers in ((z, network.centroids),
                                                          (z_augmented, network.augmented_centroids)))
        else:
            temperature = temperature_at(step)
            assignments = _losses.gumbel_hard_assignments(
                _losses.rbf_log_assignments(z, network.centroids, bandwidth), temperature)
            assignments_augmented = _losses.gumbel_hard_assignments(
                _losses.rbf_log_assignments(z_augmented, network.augmented_centroids, bandwidth), temperature)
            kmeans = 0.5 * (_losses.kmeans_loss(z, assignments, network.centroids, weights)
                            + _losses.kmeans_loss(z_augmented, assignments_augmented, network.augmented_centroids,
                                                  weights))
        instance = _losses.instance_contrastive_loss(z, z_augmented, estimator.instance_temperature, weights)
        cluster, _, entropy = _losses.cluster_contrastive_loss(assignments, assignments_augmented,
                                                               estimator.cluster_temperature, weights)
        # L_LoSTer = L_rec + L_k-means + L_instance + L_cluster (paper; code weight alpha on k-means)
        loss = (reconstruction + reconstruction_augmented + estimator.kmeans_weight * kmeans
                + estimator.contrastive_weight * (instance + cluster))
        return loss, {"loss": loss, "reconstruction": reconstruction,
                      "reconstruction_augmented": reconstruction_augmented, "kmeans": kmeans,
                      "instance": instance, "cluster": cluster, "entropy": entropy}

    return loss_fn


def cluster_labels(estimator, network, X, device, dtype):
    """The index of the nearest original-view centroid of each flattened row."""
    centroids = network.centroids.detach().cpu().numpy().astype(np.float64)
    return nearest_centers(estimator._embed(network, X, device, dtype).astype(np.float64), centroids)[0]


def initialize_clusters(estimator, network, views, rng, device, history, group, weights=None):
    """Algorithm 1's centroid initialisation, with the partition of ``init``: each view's centroids are the
    means of its pretrained embeddings over the parts of one partition of the original view.

    ``init="kmeans"`` is the paper's k-means++; ``"spectral"`` partitions the k-nearest-
    neighbour graph of the embedding (:func:`~skdeepcluster._partition.partition_embedding`).
    Both views share the partition, so that the cluster-level contrastive loss compares
    matching clusters. With sample weights (``weights``) the partition and the part means
    are weighted (:func:`~skdeepcluster._partition.partition_embedding`). Data-parallel,
    each rank embeds its share of the series and gathers the others'; rank 0's partition
    and centroids are broadcast, identical bit for bit. Returns the partition (labels of
    all series).
    """
    started = time.perf_counter()
    seed = rng.randint(np.iinfo(np.int32).max)
    labels, centroids = None, []
    for view in (ORIGINAL, AUGMENTED):
        embedding = group.map_shard(
            lambda share, view=view: estimator._embed(network, views[share, view], device, torch.float32, view),
            views.shape[0])
        if not np.isfinite(embedding).all():
            raise ValueError("Pretraining produced non-finite embeddings, so the centroids cannot be "
                             "initialised: lower pretrain_learning_rate (or scale the data if normalize=False).")
        if labels is None:
            # A local joblib backend for the neighbour search: under an enclosing Dask backend (a
            # distributed grid search) its nested Parallel call let the worker start another
            # trial in the same process meanwhile, whose torch state then mixed with this fit's.
            # One BLAS thread: the eigensolver's iterates would otherwise depend on the
            # process's thread count.
            with threadpool_limits(limits=1, user_api="blas"), parallel_config(backend="threading"):
                labels = group.broadcast_array(partition_embedding(
                    embedding, estimator.n_clusters, method=estimator.init, n_neighbors=estimator.n_neighbors,
                    n_init=estimator.n_init, random_state=seed, n_jobs=resolve_cpu_threads(estimator.n_jobs),
                    sample_weight=weights))
        centroids.append(group.broadcast_array(part_statistics(embedding, labels, estimator.n_clusters,
                                                               sample_weight=weights)[1]))
    network.set_centroids(*centroids)
    history.append({"epoch": None, "phase": "init", "method": estimator.init,
                    "seconds": time.perf_counter() - started})
    return labels


def joint_start(estimator, network, views, device):
    """What :func:`keep_the_better` compares the end of the joint phase with: the network's
    weights (and centroids), the evenly spaced rows it judges on, their nearest neighbours
    among the prepared series and their labels (nearest centroids), all at the start."""
    n_samples, n_values = views.shape[0], views.shape[2]
    n_rows = min(n_samples, SELECTION_SAMPLE, max(SELECTION_MIN_SAMPLE, int(np.sqrt(SELECTION_BUDGET / n_values))))
    rows = np.unique(np.linspace(0, n_samples - 1, n_rows).round().astype(np.intp))
    series = np.nan_to_num(views[rows, ORIGINAL].astype(np.float64), nan=0.0)  # mask padding read as 0
    n_neighbors = min(estimator.n_neighbors, len(rows) - 1)
    # One BLAS thread and a local backend, as for the partition: the same neighbours on any machine.
    with threadpool_limits(limits=1, user_api="blas"), parallel_config(backend="threading"):
        neighbours = NearestNeighbors(n_neighbors=n_neighbors + 1, algorithm="brute").fit(series).kneighbors(
            series, return_distance=False)
    centroids = network.centroids.detach().cpu().numpy().astype(np.float64)
    embedding = estimator._embed(network, series.astype(np.float32), device, torch.float32).astype(np.float64)
    return {"state": _weights(network),
            "rows": rows, "neighbours": neighbours[:, 1:], "labels": nearest_centers(embedding, centroids)[0]}


def keep_the_better(estimator, network, start, views, device, history):
    """Restore the start of the joint phase when its labels were better than the end's.

    Better: a larger share of each series' ``n_neighbors`` nearest neighbours, among the
    series as the network reads them, in its own cluster. The series are a space both
    labellings share and neither network shaped (in its own embedding the end, which the
    phase makes compact around its centroids, would always win). Never the true labels.
    A tie keeps the end. Every rank decides alike: rows, neighbours and weights are the same.
    """
    end_labels = cluster_labels(estimator, network, views[start["rows"], ORIGINAL], device, torch.float32)
    start_score = neighbour_agreement(start["neighbours"], start["labels"])
    end_score = neighbour_agreement(start["neighbours"], end_labels)
    if start_score > end_score:
        network.load_state_dict(start["state"])
        history.append({"epoch": None, "phase": "joint", "event": "kept_start",
                        "reason": "the labels at the start of the joint phase agreed with more of the "
                                  "series' nearest neighbours",
                        "neighbour_agreement_start": start_score, "neighbour_agreement_end": end_score})


def resolve_bandwidth(estimator, network, views, partition, device, group, weights=None):
    """The RBF bandwidth sigma: ``bandwidth``, or with ``"auto"`` the root mean squared distance
    of the original-view embeddings to the centroid of their part, so that the assignment
    logits -||z - mu||^2 / sigma^2 are of order one whatever the embedding's scale."""
    if estimator.bandwidth != "auto":
        return float(estimator.bandwidth)
    embedding = group.map_shard(
        lambda rows: estimator._embed(network, views[rows, ORIGINAL], device, torch.float32),
        views.shape[0]).astype(np.float64)
    centroids = network.centroids.detach().cpu().numpy().astype(np.float64)
    squared = ((embedding - centroids[partition]) ** 2).sum(axis=1)
    mean_squared = float(squared.mean() if weights is None else np.average(squared, weights=weights))
    return float(np.clip(np.sqrt(mean_squared), MIN_SCALE, MAX_SCALE))


def labels_with_absent_rows(estimator, network, partition, train_rows, series, lengths, channel_stats, device):
    """The initial partition extended to the series of weight 0: their nearest initial centroid."""
    labels = np.empty(series.shape[0], dtype=np.intp)
    labels[train_rows] = partition
    absent = np.setdiff1d(np.arange(series.shape[0]), train_rows)
    absent_lengths = lengths[absent]

    def prepare(X, rows):
        return estimator._prepared_rows(X, rows, absent_lengths, channel_stats)

    embedding = estimator._embed(network, series[absent], device, torch.float32, prepare=prepare)
    centroids = network.centroids.detach().cpu().numpy().astype(np.float64)
    labels[absent] = nearest_centers(embedding.astype(np.float64), centroids)[0]
    return labels


def occupied_clusters(estimator, labels, group):
    """Number of clusters that hold at least one series (over all ranks)."""
    counts = np.bincount(labels, minlength=estimator.n_clusters)
    return sum(group.sum(int(count)) > 0 for count in counts)


def neighbour_agreement(neighbours, labels):
    """Share of the (row, neighbour) pairs of ``neighbours`` (row indices) with equal labels, beyond chance.

    Corrected like Cohen's kappa, (observed - expected) / (1 - expected) with expected the share
    of random pairs with equal labels, so that merging clusters does not score by itself (one
    cluster would agree everywhere); -1 for a single cluster.
    """
    observed = float(np.mean(labels[neighbours] == labels[:, None]))
    expected = float(np.sum((np.bincount(labels) / len(labels)) ** 2))
    return -1.0 if expected >= 1.0 else (observed - expected) / (1.0 - expected)


