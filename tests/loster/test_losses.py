"""Each LoSTer loss term against values computed by hand with numpy loops."""

import numpy as np
import pytest
import torch

from skdeepcluster.loster import _losses
from skdeepcluster.loster._schedule import gumbel_temperature


def _tensor(array):
    return torch.tensor(np.asarray(array), dtype=torch.float64)


def _nt_xent_by_hand(anchors, others, temperature):
    return np.mean(_per_anchor_nt_xent_by_hand(anchors, others, temperature))


def _per_anchor_nt_xent_by_hand(anchors, others, temperature):
    anchors = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    others = others / np.linalg.norm(others, axis=1, keepdims=True)
    losses = []
    for i in range(len(anchors)):
        candidates = [anchors[i] @ others[j] for j in range(len(others))]
        candidates += [anchors[i] @ anchors[j] for j in range(len(anchors)) if j != i]
        logits = np.array(candidates) / temperature
        losses.append(-logits[i] + np.log(np.exp(logits).sum()))
    return np.array(losses)


def test_temperature_schedule_matches_the_spec_table():
    expected = {0: 10.0, 1: 6.5, 2: 4.225, 5: 1.160, 10: 0.135, 16: 0.0102, 17: 0.01, 60: 0.01}
    for epoch, value in expected.items():  # the spec table rounds to 3-4 digits
        assert gumbel_temperature(epoch) == pytest.approx(value, rel=5e-3)


def test_masked_mse_counts_only_observed_entries():
    target = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    reconstruction = np.array([[0.0, 0.0, 9.0], [1.0, 7.0, 7.0]])
    observed = np.array([[True, True, False], [True, False, False]])
    value = _losses.masked_mse(_tensor(target), _tensor(reconstruction), torch.tensor(observed))
    assert value.item() == pytest.approx((1 + 4 + 4) / 3)
    full = _losses.masked_mse(_tensor(target), _tensor(reconstruction))
    assert full.item() == pytest.approx(np.mean((target - reconstruction) ** 2))


def test_rbf_assignments_are_a_softmax_of_negative_squared_distances():
    z = np.array([[0.0, 0.0], [1.0, 2.0]])
    centroids = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    distances = ((z[:, None, :] - centroids[None]) ** 2).sum(-1)
    np.testing.assert_allclose(_losses.expanded_squared_distances(_tensor(z), _tensor(centroids)).numpy(), distances)
    for bandwidth in (1.0, 2.0):
        logits = -distances / bandwidth**2
        expected = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        result = _losses.rbf_log_assignments(_tensor(z), _tensor(centroids), bandwidth)
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


def test_kmeans_loss_is_the_mean_squared_distance_to_the_assigned_centroid():
    z = np.array([[0.0, 1.0], [2.0, 2.0]])
    centroids = np.array([[0.0, 0.0], [3.0, 3.0]])
    one_hot = np.array([[1.0, 0.0], [0.0, 1.0]])
    # ||(0, 1) - (0, 0)||^2 = 1, ||(2, 2) - (3, 3)||^2 = 2; mean over 2 samples x 2 dims
    value = _losses.kmeans_loss(_tensor(z), _tensor(one_hot), _tensor(centroids))
    assert value.item() == pytest.approx(3 / 4)


def test_instance_contrastive_loss_matches_the_hand_computed_nt_xent():
    rng = np.random.RandomState(0)
    z, z_augmented = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    for temperature in (1.0, 0.5):
        expected = _nt_xent_by_hand(z, z_augmented, temperature) + _nt_xent_by_hand(z_augmented, z, temperature)
        value = _losses.instance_contrastive_loss(_tensor(z), _tensor(z_augmented), temperature)
        assert value.item() == pytest.approx(expected, rel=1e-10)


def test_cluster_contrastive_loss_uses_softmaxed_columns_and_the_batch_entropy():
    assignments = np.eye(3)[[0, 1, 1, 2]]
    assignments_augmented = np.eye(3)[[0, 1, 2, 2]]
    soft = np.exp(assignments) / np.exp(assignments).sum(1, keepdims=True)
    soft_augmented = np.exp(assignments_augmented) / np.exp(assignments_augmented).sum(1, keepdims=True)
    contrastive = _nt_xent_by_hand(soft.T, soft_augmented.T, 1.0) + _nt_xent_by_hand(soft_augmented.T, soft.T, 1.0)
    shares, shares_augmented = soft.sum(0) / soft.sum(), soft_augmented.sum(0) / soft_augmented.sum()
    entropy = -(shares * np.log(shares)).sum() - (shares_augmented * np.log(shares_augmented)).sum()
    loss, contrastive_value, entropy_value = _losses.cluster_contrastive_loss(
        _tensor(assignments), _tensor(assignments_augmented))
    assert contrastive_value.item() == pytest.approx(contrastive, rel=1e-10)
    assert entropy_value.item() == pytest.approx(entropy, rel=1e-10)
    assert loss.item() == pytest.approx(contrastive - entropy, rel=1e-10)


def test_entropy_is_highest_for_balanced_clusters():
    balanced = _losses.assignment_entropy(_tensor(np.eye(4)))
    collapsed = _losses.assignment_entropy(_tensor(np.eye(4)[[0, 0, 0, 1]]))
    assert balanced.item() == pytest.approx(np.log(4))
    assert collapsed.item() < balanced.item()


def test_gumbel_sample_is_one_hot_forward_and_carries_gradients_backward():
    torch.manual_seed(0)
    logits = torch.randn(64, 5, dtype=torch.float64, requires_grad=True)
    sample = _losses.gumbel_hard_assignments(torch.log_softmax(logits, dim=1), temperature=0.5)
    values = sample.detach().numpy()
    assert set(np.unique(values)) <= {0.0, 1.0}
    np.testing.assert_array_equal(values.sum(1), np.ones(64))
    # Straight-through: a loss of the one-hot sample still reaches the logits.
    (sample * torch.arange(5, dtype=torch.float64)).sum().backward()
    assert logits.grad is not None and torch.count_nonzero(logits.grad) > 0


def test_gumbel_samples_follow_the_assignment_probabilities():
    probabilities = torch.tensor([[0.7, 0.2, 0.1]], dtype=torch.float64).repeat(20000, 1)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(1)
    counts = _losses.gumbel_hard_assignments(probabilities.log(), temperature=10.0).sum(0) / 20000
    torch.random.set_rng_state(generator_state)
    np.testing.assert_allclose(counts.numpy(), [0.7, 0.2, 0.1], atol=0.015)


def test_masked_mse_ignores_what_is_under_the_mask_weighted_or_not():
    rng = np.random.RandomState(0)
    target, reconstruction = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    observed = rng.uniform(size=(4, 6)) > 0.3
    changed = np.where(observed, target, 1e3 * rng.normal(size=target.shape))  # other values in the gaps
    weights = torch.tensor([0.5, 1.5, 1.0, 1.0], dtype=torch.float64)
    for w in (None, weights):
        first = _losses.masked_mse(_tensor(target), _tensor(reconstruction), torch.tensor(observed), w)
        second = _losses.masked_mse(_tensor(changed), _tensor(reconstruction), torch.tensor(observed), w)
        assert first.item() == second.item()
    # the weighted value by hand: each row's squared errors count w_i times, over the observed count
    squared = (target - reconstruction) ** 2 * observed
    expected = (squared.sum(1) * weights.numpy()).sum() / observed.sum()
    assert _losses.masked_mse(_tensor(target), _tensor(reconstruction), torch.tensor(observed),
                              weights).item() == pytest.approx(expected, rel=1e-12)


def test_weighted_mse_and_kmeans_of_integer_weights_equal_repeated_rows():
    rng = np.random.RandomState(1)
    target, reconstruction, z = rng.normal(size=(4, 6)), rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    centroids, one_hot = rng.normal(size=(2, 3)), np.eye(2)[[0, 1, 1, 0]]
    counts = np.array([1, 3, 0, 4])
    weights = torch.tensor(counts / counts.mean())  # mean 1, as the estimator normalises them
    repeat = np.repeat(np.arange(4), counts)
    assert _losses.masked_mse(_tensor(target), _tensor(reconstruction), None, weights).item() == pytest.approx(
        _losses.masked_mse(_tensor(target[repeat]), _tensor(reconstruction[repeat])).item(), rel=1e-12)
    assert _losses.kmeans_loss(_tensor(z), _tensor(one_hot), _tensor(centroids), weights).item() == pytest.approx(
        _losses.kmeans_loss(_tensor(z[repeat]), _tensor(one_hot[repeat]), _tensor(centroids)).item(), rel=1e-12)
    log_p = torch.log_softmax(_tensor(z[:, :2]), dim=1)
    targets = torch.tensor([0, 1, 1, 0])
    assert _losses.weighted_nll(log_p, targets, weights).item() == pytest.approx(
        torch.nn.functional.nll_loss(log_p[repeat], targets[repeat]).item(), rel=1e-12)


def test_weighted_cluster_contrastive_loss_equals_that_of_repeated_rows():
    rng = np.random.RandomState(2)
    assignments, assignments_augmented = np.eye(3)[rng.randint(0, 3, 6)], np.eye(3)[rng.randint(0, 3, 6)]
    counts = np.array([2, 1, 0, 3, 1, 1])
    repeat = np.repeat(np.arange(6), counts)
    weighted = _losses.cluster_contrastive_loss(_tensor(assignments), _tensor(assignments_augmented), 0.7,
                                                torch.tensor(counts / counts.mean()))
    repeated = _losses.cluster_contrastive_loss(_tensor(assignments[repeat]), _tensor(assignments_augmented[repeat]),
                                                0.7)
    for value, expected in zip(weighted, repeated, strict=True):
        assert value.item() == pytest.approx(expected.item(), rel=1e-10)


def test_weighted_instance_contrastive_loss_weighs_each_anchor_term():
    # A series' weight scales its own terms as an anchor; it stays one negative among the others'.
    rng = np.random.RandomState(3)
    z, z_augmented = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    weights = np.array([0.0, 2.0, 1.0, 0.5, 1.5])
    expected = sum((weights * _per_anchor_nt_xent_by_hand(a, b, 0.5)).mean()
                   for a, b in ((z, z_augmented), (z_augmented, z)))
    value = _losses.instance_contrastive_loss(_tensor(z), _tensor(z_augmented), 0.5, torch.tensor(weights))
    assert value.item() == pytest.approx(expected, rel=1e-10)
    unweighted = _losses.instance_contrastive_loss(_tensor(z), _tensor(z_augmented), 0.5)
    ones = _losses.instance_contrastive_loss(_tensor(z), _tensor(z_augmented), 0.5, torch.ones(5, dtype=torch.float64))
    assert ones.item() == pytest.approx(unweighted.item(), rel=1e-14)
