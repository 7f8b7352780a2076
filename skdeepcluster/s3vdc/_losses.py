"""The S3VDC objective as pure functions (Cao et al. 2020, arXiv 2005.08047).

Shapes: ``B`` samples, ``C`` clusters, ``D`` latent dimensions. ``log_var`` is always a log
variance. Every function returns per-sample values (shape ``(B,)``) or ``(B, C)`` matrices;
averaging over the batch is the caller's choice.
"""

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def diagonal_gaussian_log_density(z, means, log_vars):
    """ln N(z | mu_c, diag sigma_c^2) for every sample and cluster, shape (B, C).

    The standard diagonal Gaussian log-density: the paper's Eq. 12 is a garbled form of it
    (it drops the z of the cross term and the ln sigma sum); the authors' code computes this.
    """
    squared = (z.unsqueeze(1) - means.unsqueeze(0)) ** 2 / log_vars.exp().unsqueeze(0)
    return -0.5 * (z.shape[-1] * LOG_2PI + squared.sum(-1) + log_vars.sum(-1).unsqueeze(0))


def inverse_minmax_transform(scores, scale):
    """Rescale a (B, C) score matrix affinely onto [-scale, 0] (Eq. 14, code semantics).

    One min and one max over the whole mini-batch matrix (not per row): the largest score maps
    to 0 and the smallest to ``-scale``, so softmax responsibilities stay >= e^-scale / C and
    ln q(c|x) is finite. Gradients flow through min and max, as in the authors' code.
    """
    top, bottom = scores.max(), scores.min()
    return scale * (scores - top) / (top - bottom + 1e-12)


def cluster_responsibilities(z_mean, log_weights, means, log_vars, scale):
    """Training-time q(c|x) (Eq. 11 with Eq. 14), shape (B, C).

    Like the authors' code, ln pi_c is added before the transform and the encoder mean is
    used for z; the paper's Eq. 11 multiplies by p(c) after it.
    """
    scores = diagonal_gaussian_log_density(z_mean, means, log_vars) + log_weights
    return torch.softmax(inverse_minmax_transform(scores, scale), dim=-1)


def guided_responsibilities(responsibilities, parts, floor=1e-6):
    """q(c|x) of a guided period: one-hot on the initial part of each sample, unchanged where it has none.

    ``parts`` (B,) holds the part of each sample in the initial partition, -1 where the sample was
    not partitioned. Not in the paper (see the estimator's ``guided_periods``): the VaDE KL then
    pulls each sample towards its part's Gaussian, so that the encoder turns the partition of the
    warm-up embedding, which need not be Gaussian-shaped, into one the mixture prior can represent.
    ``floor`` keeps ln q(c|x) finite.
    """
    n_clusters = responsibilities.shape[1]
    known = parts >= 0
    one_hot = torch.nn.functional.one_hot(parts.clamp_min(0), n_clusters).to(responsibilities.dtype)
    guided = one_hot * (1.0 - n_clusters * floor) + floor
    return torch.where(known.unsqueeze(1), guided, responsibilities)


def posterior_responsibilities(z_mean, log_weights, means, log_vars):
    """Exact p(c|z) for prediction: softmax_c [ln pi_c + ln N(z | mu_c, sigma_c^2)].

    Its argmax equals the argmax of :func:`cluster_responsibilities` (the transform is one
    affine map per batch), but unlike it the values do not depend on the other samples.
    """
    return torch.softmax(diagonal_gaussian_log_density(z_mean, means, log_vars) + log_weights, dim=-1)


def vade_kl(z_mean, z_log_var, responsibilities, log_weights, means, log_vars):
    """D(q(z, c | x) || p(z, c)) per sample: the two KL terms of Eq. 7 / Eq. 10.

    KL = -1/2 sum_d (1 + ln s_d^2) + sum_c g_c (ln g_c - ln pi_c)
         + 1/2 sum_c g_c sum_d [ln sigma_cd^2 + ((m_d - mu_cd)^2 + s_d^2) / sigma_cd^2]

    with q(z|x) = N(m, diag s^2) and g = q(c|x). The ln 2 pi terms cancel exactly; the
    authors' code leaves a constant 1/2 D^2 ln 2 pi in, which only shifts reported values.
    """
    variances = log_vars.exp().unsqueeze(0)
    expected_log_prior = (log_vars.unsqueeze(0)
                          + ((z_mean.unsqueeze(1) - means.unsqueeze(0)) ** 2
                             + z_log_var.exp().unsqueeze(1)) / variances).sum(-1)
    log_responsibilities = torch.log(responsibilities.clamp_min(torch.finfo(responsibilities.dtype).tiny))
    categorical = (responsibilities * (log_responsibilities - log_weights)).sum(-1)
    return (-0.5 * (1.0 + z_log_var).sum(-1) + categorical
            + 0.5 * (responsibilities * expected_log_prior).sum(-1))


def standard_normal_kl(z_mean, z_log_var):
    """KL(q(z|x) || N(0, I)) per sample: the gamma-training penalty of the authors' code."""
    return -0.5 * (1.0 + z_log_var - z_mean ** 2 - z_log_var.exp()).sum(-1)


def gaussian_reconstruction_loss(x, reconstruction):
    """Per-sample sum of squared errors: the code's MSE x input size ("an important fix").

    It is exactly -ln p(x|z) up to a constant for a Gaussian observation model with variance
    1/2 per feature, which is the likelihood ``score_samples`` uses.
    """
    return ((x - reconstruction) ** 2).flatten(1).sum(-1)


def bernoulli_reconstruction_loss(x, logits):
    """Per-sample binary cross-entropy summed over features (the paper's Eq. 5 likelihood)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(-1)


def gaussian_log_likelihood(x, reconstruction):
    """ln p(x|z) under N(x | x_hat, I/2): -SSE - (n_features / 2) ln pi."""
    n_features = x[0].numel()
    return -gaussian_reconstruction_loss(x, reconstruction) - 0.5 * n_features * math.log(math.pi)


def bernoulli_log_likelihood(x, logits):
    """ln p(x|z) under independent Bernoulli pixels with the given logits."""
    return -bernoulli_reconstruction_loss(x, logits)


def mixture_log_density(z, log_weights, means, log_vars):
    """ln p(z) = ln sum_c pi_c N(z | mu_c, sigma_c^2), shape (B,): the prior's marginal density."""
    return torch.logsumexp(diagonal_gaussian_log_density(z, means, log_vars) + log_weights, dim=-1)


def reparameterised_log_density(noise, z_log_var):
    """ln q(z_s | x) for z_s = m + s * eps_s, from the draws eps (S, D) and ln s^2 (B, D); shape (B, S).

    Written in eps rather than z: (z_s - m)^2 / s^2 = eps_s^2, so no subtraction of large numbers.
    """
    return -0.5 * (LOG_2PI + z_log_var.unsqueeze(1) + noise.unsqueeze(0) ** 2).sum(-1)


def importance_weighted_log_likelihood(log_weights):
    """ln (1/S) sum_s w_s from log importance weights (B, S): the IWAE estimate of ln p(x).

    With ln w_s = ln p(x|z_s) + ln p(z_s) - ln q(z_s|x) and z_s ~ q(z|x) (Burda et al. 2016);
    a lower bound of ln p(x) in expectation that tightens as S grows.
    """
    return torch.logsumexp(log_weights, dim=1) - math.log(log_weights.shape[1])
