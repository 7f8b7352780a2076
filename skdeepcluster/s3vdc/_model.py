"""The S3VDC network: a VaDE variational autoencoder with a learnable Gaussian-mixture prior."""

import itertools

import torch
from torch import nn

from ._losses import posterior_responsibilities

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}
LOG_VAR_BOUND = 20.0  # variances in [2e-9, 5e8]: wide, and exp() stays finite in float32


def _xavier_init(module):
    # TF1 defaults of the authors' code: Glorot-uniform kernels, zero biases.
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def _mlp(sizes, activation, last_activation):
    layers = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or index < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Dense encoder for any flat input: hidden layers, then linear mean and log-variance heads."""

    def __init__(self, n_features, hidden_dims, latent_dim, activation):
        super().__init__()
        self.body = _mlp((n_features, *hidden_dims), activation, last_activation=True)
        width = hidden_dims[-1] if hidden_dims else n_features
        self.mean = nn.Linear(width, latent_dim)
        self.log_var = nn.Linear(width, latent_dim)

    def forward(self, x):
        hidden = self.body(x)
        return self.mean(hidden), self.log_var(hidden)


class MLPDecoder(nn.Module):
    """Mirror of :class:`MLPEncoder` with a linear output layer."""

    def __init__(self, n_features, hidden_dims, latent_dim, activation):
        super().__init__()
        self.body = _mlp((latent_dim, *reversed(hidden_dims), n_features), activation, last_activation=False)

    def forward(self, z):
        return self.body(z)


def _conv_output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


class ConvEncoder(nn.Module):
    """DCEC-style encoder (Guo et al. 2017) as in the S3VDC code: 3 strided convolutions.

    Filters (32, 64, 128), kernels (5, 5, 3), stride 2, "same"-style padding k // 2 so any
    image size works (the code's "valid" last layer only fits 28 x 28); flat input rows are
    reshaped to ``input_shape`` = (channels, height, width).
    """

    filters = (32, 64, 128)
    kernels = (5, 5, 3)

    def __init__(self, input_shape, latent_dim, activation):
        super().__init__()
        self.input_shape = tuple(input_shape)
        channels, height, width = self.input_shape
        layers, self.feature_shapes = [], [(height, width)]
        for n_in, n_out, kernel in zip((channels, *self.filters[:-1]), self.filters, self.kernels, strict=True):
            layers += [nn.Conv2d(n_in, n_out, kernel, stride=2, padding=kernel // 2), ACTIVATIONS[activation]()]
            height = _conv_output_size(height, kernel, 2, kernel // 2)
            width = _conv_output_size(width, kernel, 2, kernel // 2)
            self.feature_shapes.append((height, width))
        self.body = nn.Sequential(*layers, nn.Flatten())
        flat = self.filters[-1] * height * width
        self.mean = nn.Linear(flat, latent_dim)
        self.log_var = nn.Linear(flat, latent_dim)

    def forward(self, x):
        hidden = self.body(x.reshape(-1, *self.input_shape))
        return self.mean(hidden), self.log_var(hidden)


class ConvDecoder(nn.Module):
    """Transposed mirror of :class:`ConvEncoder`, restoring each encoder feature map size."""

    def __init__(self, encoder, latent_dim, activation):
        super().__init__()
        self.input_shape = encoder.input_shape
        self.feature_shapes = encoder.feature_shapes
        height, width = self.feature_shapes[-1]
        self.project = nn.Sequential(nn.Linear(latent_dim, encoder.filters[-1] * height * width),
                                     ACTIVATIONS[activation]())
        outs = (*reversed(encoder.filters[:-1]), self.input_shape[0])
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(n_in, n_out, kernel, stride=2, padding=kernel // 2)
            for n_in, n_out, kernel in zip(reversed(encoder.filters), outs, reversed(encoder.kernels), strict=True))
        self.activation = ACTIVATIONS[activation]()

    def forward(self, z):
        height, width = self.feature_shapes[-1]
        hidden = self.project(z).reshape(z.shape[0], -1, height, width)
        targets = list(reversed(self.feature_shapes[:-1]))
        for index, (deconv, size) in enumerate(zip(self.deconvs, targets, strict=True)):
            hidden = deconv(hidden, output_size=size)
            if index < len(self.deconvs) - 1:
                hidden = self.activation(hidden)
        return hidden.flatten(1)


class VariationalMixture(nn.Module):
    """VaDE: q(z|x) encoder, p(x|z) decoder and the prior p(z, c) = pi_c N(z | mu_c, sigma_c^2).

    The prior is parameterised by ``weight_logits`` (pi = softmax) and per-cluster log
    variances. The authors' code trains raw pi (used as ln pi) and raw sigma^2 with no
    constraint, a NaN source once either crosses zero; this parameterisation keeps pi on the
    simplex and sigma^2 > 0 by construction.
    """

    def __init__(self, encoder, decoder, n_clusters, latent_dim):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.apply(_xavier_init)
        self.weight_logits = nn.Parameter(torch.zeros(n_clusters))
        # Code init: mu ~ N(0, 0.1^2), sigma^2 ~ 1; overwritten by the GMM initialisation.
        self.means = nn.Parameter(0.1 * torch.randn(n_clusters, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_clusters, latent_dim))

    @property
    def log_weights(self):
        """ln pi, shape (C,)."""
        return torch.log_softmax(self.weight_logits, dim=0)

    def encode(self, x):
        """Mean and log-variance of q(z|x).

        The log-variance is bounded to (-LOG_VAR_BOUND, LOG_VAR_BOUND): on inputs of 1e3 scale and
        above an unbounded head can overflow exp() in float32 within a few steps. The bound is
        soft, b tanh(v / b), not a clamp: a clamped head that reaches -b (gamma-training drives
        it there) gets no gradient, and the KL it carries into the clustering phase stays trapped.
        """
        z_mean, z_log_var = self.encoder(x)
        return z_mean, LOG_VAR_BOUND * torch.tanh(z_log_var / LOG_VAR_BOUND)

    def decode(self, z):
        """Decoder output: the reconstruction (Gaussian) or its logits (Bernoulli)."""
        return self.decoder(z)

    def posterior(self, x):
        """p(c | z = E[z | x]) under the prior, shape (B, C): what ``predict`` and the label checks read."""
        return posterior_responsibilities(self.encode(x)[0], self.log_weights, self.means, self.log_vars)

    def set_prior(self, weights, means, variances):
        """Write a fitted Gaussian mixture into the prior."""
        with torch.no_grad():
            self.weight_logits.copy_(torch.log(torch.as_tensor(weights, dtype=self.weight_logits.dtype)))
            self.means.copy_(torch.as_tensor(means, dtype=self.means.dtype))
            self.log_vars.copy_(torch.log(torch.as_tensor(variances, dtype=self.log_vars.dtype)))


def build_network(encoder, n_features, latent_dim, n_clusters, hidden_dims, input_shape, activation):
    """Build the encoder/decoder pair the estimator's parameters ask for."""
    if encoder == "conv":
        conv = ConvEncoder(input_shape, latent_dim, activation)
        return VariationalMixture(conv, ConvDecoder(conv, latent_dim, activation), n_clusters, latent_dim)
    return VariationalMixture(MLPEncoder(n_features, hidden_dims, latent_dim, activation),
                              MLPDecoder(n_features, hidden_dims, latent_dim, activation),
                              n_clusters, latent_dim)
