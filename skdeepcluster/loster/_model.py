"""The LoSTer network: two dense residual autoencoders and two sets of centroids (user guide, "The model").

The original-view and augmented-view autoencoders have the same shape and separate weights,
so each layer stores both views' weights in one ``(2, in, out)`` tensor and runs both views
in one batched matrix product: on a 2-core CPU that was 2.6x faster than two ``nn.Linear``
calls for the first layer of a 1024-step series, forward plus backward.
"""

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .._engine import rand_like

N_VIEWS = 2  # 0: the original series, 1: the augmented series
ORIGINAL, AUGMENTED = 0, 1


def _dropout(x, probability, training):
    """Inverted dropout, as ``F.dropout``, with the mask drawn by ``rand_like``.

    The same distribution; on the CPU ``rand_like`` draws the mask in about a third of the
    time of the ``bernoulli_`` kernel that ``F.dropout`` uses, which was 8 % of a step.
    """
    if not training or probability == 0.0:
        return x
    return x * ((rand_like(x) >= probability) * (1.0 / (1.0 - probability)))


class TwinLinear(nn.Module):
    """One affine map per view, y_v = x_v W_v + b_v, with ``nn.Linear``'s initialisation.

    ``nn.Linear``'s default (Kaiming-uniform with a = sqrt(5)) draws weights and biases from
    U(-1/sqrt(in), 1/sqrt(in)); each view's slice is drawn the same way.
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(N_VIEWS, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(N_VIEWS, 1, out_features).uniform_(-bound, bound))

    @property
    def out_features(self):
        return self.weight.shape[2]

    def forward(self, x, view=None):
        """``x`` is ``(2, B, in)`` for both views, or ``(B, in)`` for the one ``view``."""
        if view is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.addmm(self.bias[view], x, self.weight[view])


class TwinResidualBlock(nn.Module):
    """o = LayerNorm(Dropout(W2 ReLU(W1 x)) + W_s x) per view (user guide, "Residual block"), a TiDE-style dense block.

    W1 and the learned skip W_s read the same input, so they are one affine map whose output is
    split: the same maths and initialisation, one matrix product instead of two. The last
    decoder block (``output=True``) has neither dropout nor LayerNorm, as in the authors' code
    (its "PredictionResidualBlock"): the reconstruction must not be normalised.
    """

    def __init__(self, in_features, hidden_features, out_features, dropout, output=False):
        super().__init__()
        self.hidden_features = hidden_features
        self.dropout = 0.0 if output else dropout
        self.input = TwinLinear(in_features, hidden_features + out_features)
        self.project = TwinLinear(hidden_features, out_features)
        self.norm_weight = None if output else nn.Parameter(torch.ones(N_VIEWS, 1, out_features))
        self.norm_bias = None if output else nn.Parameter(torch.zeros(N_VIEWS, 1, out_features))

    def forward(self, x, view=None):
        out_features = self.project.out_features
        hidden, skip = self.input(x, view).split([self.hidden_features, out_features], dim=-1)
        hidden = _dropout(self.project(torch.relu(hidden), view), self.dropout, self.training)
        out = hidden + skip
        if self.norm_weight is None:
            return out
        weight, bias = (self.norm_weight, self.norm_bias) if view is None else (self.norm_weight[view],
                                                                                 self.norm_bias[view])
        return F.layer_norm(out, (out_features,)) * weight + bias


class LoSTerNetwork(nn.Module):
    """The two autoencoders (encoder and decoder stacks of residual blocks) and their centroids.

    Encoder widths ``n_features -> hidden ... -> latent``, decoder ``latent -> hidden ... ->
    n_features``; every block's inner width is ``hidden_dim``. The paper: 3 + 3 blocks,
    hidden = latent = 256, dropout 0.1. ``centroids`` (M) and ``augmented_centroids`` (M_a)
    are set by k-means++ on the pretrained embeddings, then trained with the networks; they
    are not shared between the views.
    """

    def __init__(self, n_features, n_clusters, latent_dim, hidden_dim, n_encoder_blocks, n_decoder_blocks,
                 dropout):
        super().__init__()
        encoder_sizes = [n_features] + [hidden_dim] * (n_encoder_blocks - 1) + [latent_dim]
        decoder_sizes = [latent_dim] + [hidden_dim] * (n_decoder_blocks - 1) + [n_features]
        self.encoder = nn.ModuleList(TwinResidualBlock(a, hidden_dim, b, dropout)
                                     for a, b in itertools.pairwise(encoder_sizes))
        self.decoder = nn.ModuleList(
            TwinResidualBlock(a, hidden_dim, b, dropout, output=(index == n_decoder_blocks - 1))
            for index, (a, b) in enumerate(itertools.pairwise(decoder_sizes)))
        self.centroids = nn.Parameter(torch.zeros(n_clusters, latent_dim))
        self.augmented_centroids = nn.Parameter(torch.zeros(n_clusters, latent_dim))

    def encode(self, x, view=None):
        """Embeddings: ``(2, B, F) -> (2, B, d)``, or ``(B, F) -> (B, d)`` for one ``view``."""
        for block in self.encoder:
            x = block(x, view)
        return x

    def decode(self, z, view=None):
        """Reconstructions of the series from embeddings, same view convention as :meth:`encode`."""
        for block in self.decoder:
            z = block(z, view)
        return z

    def forward(self, x):
        """Both views at once: ``(2, B, F)`` series -> ``(2, B, d)`` embeddings and reconstructions."""
        z = self.encode(x)
        return z, self.decode(z)

    def autoencoder_parameters(self):
        """Parameters of both autoencoders (what pretraining optimises), without the centroids."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def set_centroids(self, centroids, augmented_centroids):
        """Write the k-means++ initialisation of M and M_a."""
        with torch.no_grad():
            self.centroids.copy_(torch.as_tensor(centroids, dtype=self.centroids.dtype))
            self.augmented_centroids.copy_(torch.as_tensor(augmented_centroids, dtype=self.centroids.dtype))
