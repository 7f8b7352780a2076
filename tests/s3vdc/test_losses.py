"""Each S3VDC loss term against a value computed by hand or by scipy."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal, norm

from skdeepcluster.s3vdc import _losses
from skdeepcluster.s3vdc._schedule import S3VDCSchedule, epochs_to_steps, exponential_decay_to_floor

RNG = np.random.RandomState(0)
Z = RNG.normal(size=(5, 3))
MEANS = RNG.normal(size=(4, 3))
LOG_VARS = RNG.normal(scale=0.3, size=(4, 3))


def t(array):
    return torch.as_tensor(array, dtype=torch.float64)


def test_diagonal_gaussian_log_density_matches_scipy():
    got = _losses.diagonal_gaussian_log_density(t(Z), t(MEANS), t(LOG_VARS)).numpy()
    expected = np.array([[multivariate_normal(MEANS[c], np.diag(np.exp(LOG_VARS[c]))).logpdf(z)
                          for c in range(4)] for z in Z])
    assert_allclose(got, expected, rtol=1e-12)


def test_inverse_minmax_transform_maps_batch_range_onto_minus_lambda_zero():
    scores = t([[1.0, 3.0], [-1.0, 2.0]])
    got = _losses.inverse_minmax_transform(scores, scale=20.0).numpy()
    # max 3 -> 0, min -1 -> -20, and affine in between: 1 -> -10, 2 -> -5.
    assert_allclose(got, [[-10.0, 0.0], [-20.0, -5.0]], atol=1e-9)


def test_inverse_minmax_keeps_gradient_and_floors_responsibilities():
    scores = t([[0.0, -1e6], [5.0, -3e6]]).requires_grad_()
    responsibilities = torch.softmax(_losses.inverse_minmax_transform(scores, 20.0), dim=-1)
    # The floor that rules out NaN: every q(c|x) >= e^-lambda / C.
    assert responsibilities.min().item() >= math.exp(-20.0) / 2 * 0.999
    responsibilities[:, 0].sum().backward()
    assert scores.grad.abs().sum() > 0


def test_cluster_responsibilities_argmax_equals_posterior_argmax():
    log_weights = torch.log_softmax(t([0.3, -0.2, 0.1, 0.0]), 0)
    train = _losses.cluster_responsibilities(t(Z), log_weights, t(MEANS), t(LOG_VARS), 20.0)
    exact = _losses.posterior_responsibilities(t(Z), log_weights, t(MEANS), t(LOG_VARS))
    assert_allclose(train.sum(1).numpy(), 1.0)
    assert_allclose(exact.sum(1).numpy(), 1.0)
    assert (train.argmax(1) == exact.argmax(1)).all()


def _kl_normal(m, log_s2, mu, log_sigma2):
    """KL(N(m, s^2) || N(mu, sigma^2)) for diagonal Gaussians, summed over dimensions."""
    return np.sum(0.5 * (log_sigma2 - log_s2) + (np.exp(log_s2) + (m - mu) ** 2) / (2 * np.exp(log_sigma2)) - 0.5)


def test_vade_kl_equals_categorical_plus_gaussian_kls():
    z_log_var = RNG.normal(scale=0.2, size=(5, 3))
    responsibilities = RNG.dirichlet(np.ones(4), size=5)
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    got = _losses.vade_kl(t(Z), t(z_log_var), t(responsibilities), t(np.log(weights)), t(MEANS), t(LOG_VARS))
    expected = [np.sum(g * np.log(g / weights))
                + sum(g[c] * _kl_normal(Z[n], z_log_var[n], MEANS[c], LOG_VARS[c]) for c in range(4))
                for n, g in enumerate(responsibilities)]
    assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_vade_kl_is_zero_when_posterior_equals_prior():
    # One cluster, q(z|x) = p(z|c): the KL must vanish (no constant offset left in).
    got = _losses.vade_kl(t(MEANS[:1]), t(LOG_VARS[:1]), t([[1.0]]), t([0.0]), t(MEANS[:1]), t(LOG_VARS[:1]))
    assert_allclose(got.numpy(), [0.0], atol=1e-12)


def test_standard_normal_kl_closed_form():
    z_log_var = np.log([[0.5, 2.0, 1.0]])
    got = _losses.standard_normal_kl(t(Z[:1]), t(z_log_var)).numpy()
    assert_allclose(got, [_kl_normal(Z[0], z_log_var[0], 0.0, 0.0)], rtol=1e-12)


def test_gaussian_reconstruction_is_sse_and_likelihood_has_variance_half():
    x, x_hat = RNG.normal(size=(2, 6)), RNG.normal(size=(2, 6))
    sse = _losses.gaussian_reconstruction_loss(t(x), t(x_hat)).numpy()
    assert_allclose(sse, ((x - x_hat) ** 2).sum(1))
    log_lik = _losses.gaussian_log_likelihood(t(x), t(x_hat)).numpy()
    assert_allclose(log_lik, norm(loc=x_hat, scale=math.sqrt(0.5)).logpdf(x).sum(1), rtol=1e-12)


def test_bernoulli_reconstruction_is_summed_cross_entropy():
    x = np.array([[0.0, 1.0, 0.25]])
    logits = np.array([[0.3, -1.2, 2.0]])
    p = 1 / (1 + np.exp(-logits))
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    assert_allclose(_losses.bernoulli_reconstruction_loss(t(x), t(logits)).numpy(), expected, rtol=1e-12)
    assert_allclose(_losses.bernoulli_log_likelihood(t(x), t(logits)).numpy(), -expected, rtol=1e-12)


def test_schedule_beta_follows_equation_10_then_static():
    schedule = S3VDCSchedule(warmup_steps=5, anneal_steps=4, static_steps=2, n_periods=2, gamma=0.1, power=3)
    betas = [schedule.beta(step) for step in range(schedule.clustering_steps)]
    period = [0.1 + (1 / 4) ** 3, 0.1 + (2 / 4) ** 3, 0.1 + (3 / 4) ** 3, 1.1, 1.0, 1.0]
    assert_allclose(betas, period * 2)
    assert schedule.total_steps == 5 + 2 * 6


# Fewer than 10 batches: an epoch counts as 10 steps (small data still gets a trained encoder).
@pytest.mark.parametrize("epochs, steps_per_epoch, expected",
                         [(0, 10, 0), (0.01, 10, 1), (2.5, 10, 25), (3, 17, 51), (3, 7, 30), (3, 1, 30)])
def test_epochs_to_steps(epochs, steps_per_epoch, expected):
    assert epochs_to_steps(epochs, steps_per_epoch) == expected


def test_mixture_log_density_matches_scipy_mixture():
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    got = _losses.mixture_log_density(t(Z), t(np.log(weights)), t(MEANS), t(LOG_VARS)).numpy()
    expected = [np.log(sum(w * multivariate_normal(MEANS[c], np.diag(np.exp(LOG_VARS[c]))).pdf(z)
                           for c, w in enumerate(weights))) for z in Z]
    assert_allclose(got, expected, rtol=1e-12)


def test_reparameterised_log_density_equals_density_of_the_drawn_point():
    noise = RNG.normal(size=(6, 3))
    z_log_var = RNG.normal(scale=0.3, size=(2, 3))
    got = _losses.reparameterised_log_density(t(noise), t(z_log_var)).numpy()
    z = Z[:2, None, :] + np.exp(0.5 * z_log_var)[:, None, :] * noise[None]
    expected = [[multivariate_normal(Z[n], np.diag(np.exp(z_log_var[n]))).logpdf(z[n, s]) for s in range(6)]
                for n in range(2)]
    assert_allclose(got, expected, rtol=1e-12)


def test_importance_weighted_log_likelihood_is_log_mean_weight():
    log_weights = np.log([[1.0, 3.0], [0.5, 0.5]])
    got = _losses.importance_weighted_log_likelihood(t(log_weights)).numpy()
    assert_allclose(got, np.log([2.0, 0.5]), rtol=1e-12)


def test_exponential_decay_reaches_floor_at_end():
    schedule = exponential_decay_to_floor(1e-2, 1e-4, 100)
    assert schedule(0) == pytest.approx(1e-2)
    assert schedule(50) == pytest.approx(1e-3)
    assert schedule(100) == pytest.approx(1e-4)
    assert schedule(500) == pytest.approx(1e-4)
    assert exponential_decay_to_floor(1e-3, 1e-2, 100)(50) == 1e-3
