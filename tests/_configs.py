"""Tiny but still meaningful estimator configurations shared by the tests."""

from skdeepcluster import LoSTerClustering, S3VDCClustering


def tiny_s3vdc(**overrides):
    """An S3VDCClustering that fits 50-200 samples in well under a second."""
    params = dict(n_clusters=2, latent_dim=2, hidden_dims=(16,), warmup_epochs=20, anneal_epochs=3,
                  static_epochs=2, n_periods=1, batch_size=32, learning_rate=1e-2, gmm_init_samples=256,
                  n_score_samples=4,
                  device="cpu", random_state=0)
    params.update(overrides)
    return S3VDCClustering(**params)


def tiny_loster(**overrides):
    """A LoSTerClustering with 2 small blocks per network that fits 50-200 short series in about a second."""
    params = dict(n_clusters=2, latent_dim=8, hidden_dim=16, n_encoder_blocks=2, n_decoder_blocks=2,
                  pretrain_epochs=15, max_epochs=5, batch_size=32, device="cpu", random_state=0)
    params.update(overrides)
    return LoSTerClustering(**params)
