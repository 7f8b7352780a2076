"""The LoSTer objective, one pure function per term (user guide, "The model" and "Joint objective and training").

Reductions follow the authors' code (element-wise means, both contrastive directions
summed), the code whose runs produced the published numbers; the spec lists where the
paper's printed formulas differ.
"""

import torch
import torch.nn.functional as F

from .._engine import torch_generator


def weighted_mean(values, weights=None):
    """Mean of per-sample ``values`` (B,), each counted ``weights`` (B,) times; plain mean when None."""
    if weights is None:
        return values.mean()
    return (values * weights.to(values.dtype)).mean()


def masked_mse(target, reconstruction, observed=None, weights=None):
    """Mean squared error over the observed entries (all of them when ``observed`` is None).

    The code's ``nn.MSELoss`` per view (user guide, "Where we differ from the paper and the
    code"); with trailing-NaN padding or missing values only the observed timestamps count, so
    short series are not rewarded for reconstructing padding and gaps are not reconstructed as
    the zeros they are filled with. ``weights`` (B,):
    each series' entries count as many times (the weights have mean 1 over the data set).
    """
    difference = target - reconstruction
    squared = difference * difference  # the same value as ** 2, without the slower generic pow kernel
    if weights is not None:
        row_weights = weights.to(squared.dtype).unsqueeze(1)
        if observed is None:
            return (squared * row_weights).mean()
        counted = observed * row_weights
        return (squared * counted).sum() / observed.sum().clamp_min(1)
    if observed is None:
        return squared.mean()
    return (squared * observed).sum() / observed.sum().clamp_min(1)


def expanded_squared_distances(z, centroids):
    """||z_i - mu_j||^2 for every sample and centroid, shape (B, k), by the expansion |z|^2 - 2 z.mu + |mu|^2.

    One matrix product, differentiable, for training batches; its rounding depends on the
    batch's shape, so inference uses :func:`skdeepcluster._partition.squared_distances` instead.
    """
    distances = (z * z).sum(1, keepdim=True) - 2.0 * z @ centroids.T + (centroids * centroids).sum(1)
    return distances.clamp_min(0.0)


def rbf_log_assignments(z, centroids, bandwidth=1.0):
    """log p(C_j | x_i) = log softmax_j(-||z_i - mu_j||^2 / sigma^2) (paper eq. "rbf")."""
    return torch.log_softmax(-expanded_squared_distances(z, centroids) / bandwidth**2, dim=1)


def gumbel_hard_assignments(log_assignments, temperature):
    """One-hot samples from p(C | x) with straight-through gradients (paper eq. "gumbel").

    Forward: the one-hot of argmax_j(log p_ij + g_ij), g ~ Gumbel(0, 1); backward: the
    gradient of the relaxed softmax((log p + g) / tau), as ``gumbel_softmax(hard=True)``.
    """
    # g = -log(e), e ~ Exp(1), is Gumbel(0, 1) noise (Jang et al. 2017, eq. 1), drawn from the fit's
    # own generator: F.gumbel_softmax, the same computation, can only draw from torch's global one.
    exponential = torch.empty_like(log_assignments).exponential_(generator=torch_generator(log_assignments.device))
    soft = torch.softmax((log_assignments - exponential.log()) / temperature, dim=1)
    hard = torch.zeros_like(soft).scatter_(1, soft.argmax(dim=1, keepdim=True), 1.0)
    return hard - soft.detach() + soft  # straight-through: the value of hard, the gradient of soft


def kmeans_loss(z, assignments, centroids, weights=None):
    """mean ||z_i - q_i M||^2 over the batch and the latent dimensions (paper eq. k-means, code reduction).

    ``weights`` (B,): the weighted mean over the batch of each sample's mean over dimensions.
    """
    if weights is None:
        return ((z - assignments @ centroids) ** 2).mean()
    return weighted_mean(((z - assignments @ centroids) ** 2).mean(dim=1), weights)


def weighted_nll(log_probabilities, targets, weights=None):
    """``F.nll_loss`` (mean over the batch), each sample's term multiplied by its weight when given."""
    if weights is None:
        return F.nll_loss(log_probabilities, targets)
    return weighted_mean(F.nll_loss(log_probabilities, targets, reduction="none"), weights)


def _nt_xent(anchors, others, temperature, weights=None):
    """Cross-entropy of each anchor against its positive among both views.

    For anchor i the logits are sim(a_i, o_j) for every j (positive j = i) and sim(a_i, a_j)
    for j != i: 2m - 1 candidates, as in the authors' code (user guide, "Joint objective and
    training"). Rows must be unit-norm.
    ``weights`` (m,): the anchors' terms are averaged with these weights (the negatives are not
    weighted).
    """
    count = anchors.shape[0]
    cross = anchors @ others.T
    within = (anchors @ anchors.T).masked_fill(torch.eye(count, dtype=torch.bool, device=anchors.device),
                                               float("-inf"))
    logits = torch.cat([cross, within], dim=1) / temperature
    if weights is not None:
        return weighted_mean(F.cross_entropy(logits, torch.arange(count, device=anchors.device), reduction="none"),
                             weights)
    return F.cross_entropy(logits, torch.arange(count, device=anchors.device))


def instance_contrastive_loss(z, z_augmented, temperature=1.0, weights=None):
    """Instance-level NT-Xent between the two views' embeddings, summed over both directions.

    See the user guide, "Joint objective and training". ``weights`` (B,): each series' own
    terms (as anchor, in both directions) are weighted; it still counts once among the others'
    negatives.
    """
    z, z_augmented = F.normalize(z, dim=1), F.normalize(z_augmented, dim=1)
    return _nt_xent(z, z_augmented, temperature, weights) + _nt_xent(z_augmented, z, temperature, weights)


def cluster_contrastive_loss(assignments, assignments_augmented, temperature=1.0, weights=None):
    """Cluster-level NT-Xent plus the negative assignment entropy of both views.

    See the user guide, "Joint objective and training". As in the authors' code the (hard)
    assignments first go through a row softmax, then each cluster is represented by its column
    over the batch; the entropy term sum_j p_j log p_j,
    with p_j the share of cluster j in the batch, discourages collapsing into few clusters.

    ``weights`` (B,): as if series i appeared ``w_i`` times in the batch. The cosine
    similarity of two columns is then sum_i w_i s_ij s'_il over the weighted norms, which is
    that of the columns with rows scaled by sqrt(w_i); the shares p_j are weighted sums.

    Returns
    -------
    loss, contrastive, entropy : scalar tensors (loss = contrastive - entropy)
    """
    soft = torch.softmax(assignments, dim=1)
    soft_augmented = torch.softmax(assignments_augmented, dim=1)
    if weights is not None:
        row_weights = weights.to(soft.dtype).unsqueeze(1)
        scale = row_weights.sqrt()
        columns = F.normalize((soft * scale).T, dim=1)
        columns_augmented = F.normalize((soft_augmented * scale).T, dim=1)
        contrastive = _nt_xent(columns, columns_augmented, temperature) + _nt_xent(columns_augmented, columns,
                                                                                  temperature)
        entropy = assignment_entropy(soft * row_weights) + assignment_entropy(soft_augmented * row_weights)
        return contrastive - entropy, contrastive, entropy
    columns = F.normalize(soft.T, dim=1)
    columns_augmented = F.normalize(soft_augmented.T, dim=1)
    contrastive = _nt_xent(columns, columns_augmented, temperature) + _nt_xent(columns_augmented, columns,
                                                                              temperature)
    entropy = assignment_entropy(soft) + assignment_entropy(soft_augmented)
    return contrastive - entropy, contrastive, entropy


def assignment_entropy(soft_assignments):
    """H(p) with p_j = sum_i S_ij / sum_ij S_ij, the batch share of each cluster."""
    shares = soft_assignments.sum(0) / soft_assignments.sum()
    return -(shares * torch.log(shares.clamp_min(1e-12))).sum()
