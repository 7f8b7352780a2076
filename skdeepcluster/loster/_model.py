"""The LoSTer network: two dense residual autoencoders and two sets of centroids (spec section 2)."""

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """o = LayerNorm(Dropout(W2 ReLU(W1 x)) + W_s x) (spec 2.1), a TiDE-style dense block.

    W1 and the learned skip W_s read the same input, so they are one ``nn.Linear`` whose
    output is split: the same maths and initialisation, one matrix product instead of two.
    The last decoder block (``output=True``) has neither dropout nor LayerNorm, as in the
    authors' code (its "PredictionResidualBlock"): the reconstruction must not be normalised.
    """

    def __init__(self, in_features, hidden_features, out_features, dropout, output=False):
        super().__init__()
        self.hidden_features = hidden_features
        self.input = nn.Linear(in_features, hidden_features + out_features)
        self.project = nn.Linear(hidden_features, out_features)
        self.dropout = nn.Identity() if output else nn.Dropout(dropout)
        self.norm = nn.Identity() if output else nn.LayerNorm(out_features)

    def forward(self, x):
        hidden, skip = self.input(x).split([self.hidden_features, self.project.out_features], dim=-1)
        return self.norm(self.dropout(self.project(torch.relu(hidden))) + skip)


class DenseResidualAutoencoder(nn.Module):
    """Encoder and decoder stacks of residual blocks over the whole flattened series.

    Encoder widths ``n_features -> hidden ... -> latent``, decoder ``latent -> hidden ... ->
    n_features``; every block's inner width is ``hidden_dim``. The paper: 3 + 3 blocks,
    hidden = latent = 256, dropout 0.1.
    """

    def __init__(self, n_features, latent_dim, hidden_dim, n_encoder_blocks, n_decoder_blocks, dropout):
        super().__init__()
        encoder_sizes = [n_features] + [hidden_dim] * (n_encoder_blocks - 1) + [latent_dim]
        decoder_sizes = [latent_dim] + [hidden_dim] * (n_decoder_blocks - 1) + [n_features]
        self.encoder = nn.Sequential(*(ResidualBlock(a, hidden_dim, b, dropout)
                                       for a, b in zip(encoder_sizes[:-1], encoder_sizes[1:])))
        self.decoder = nn.Sequential(*(ResidualBlock(a, hidden_dim, b, dropout, output=(i == n_decoder_blocks - 1))
                                       for i, (a, b) in enumerate(zip(decoder_sizes[:-1], decoder_sizes[1:]))))

    def forward(self, x):
        z = self.encoder(x)
        return z, self.decoder(z)


class LoSTerNetwork(nn.Module):
    """The original-view and augmented-view autoencoders (separate weights) and their centroids.

    ``centroids`` (M) and ``augmented_centroids`` (M_a) are set by k-means++ on the pretrained
    embeddings, then trained with the networks; they are not shared between the views.
    """

    def __init__(self, n_features, n_clusters, latent_dim, hidden_dim, n_encoder_blocks, n_decoder_blocks,
                 dropout):
        super().__init__()
        sizes = (n_features, latent_dim, hidden_dim, n_encoder_blocks, n_decoder_blocks, dropout)
        self.original = DenseResidualAutoencoder(*sizes)
        self.augmented = DenseResidualAutoencoder(*sizes)
        self.centroids = nn.Parameter(torch.zeros(n_clusters, latent_dim))
        self.augmented_centroids = nn.Parameter(torch.zeros(n_clusters, latent_dim))

    def autoencoder_parameters(self):
        """Parameters of both autoencoders (what pretraining optimises), without the centroids."""
        return [*self.original.parameters(), *self.augmented.parameters()]

    def set_centroids(self, centroids, augmented_centroids):
        """Write the k-means++ initialisation of M and M_a."""
        with torch.no_grad():
            self.centroids.copy_(torch.as_tensor(centroids, dtype=self.centroids.dtype))
            self.augmented_centroids.copy_(torch.as_tensor(augmented_centroids, dtype=self.centroids.dtype))
