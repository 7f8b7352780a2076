"""Write one tiny model file of each estimator with the skdeepcluster on ``PYTHONPATH``.

Run by hand with the version whose format should be kept readable, e.g.::

    PYTHONPATH=/path/to/old/checkout python tests/persistence_files/write_fixture.py v1-80ed509

It writes ``<tag>-s3vdc.skdc``, ``<tag>-loster.skdc`` and ``<tag>-expected.json`` (the labels
and soft assignments each model predicted on ``probe_inputs()`` when it was saved) next to
this script. Only the public API is used, so the script runs against any version. The tag
starts with the format version (``v1-``, ``v2-``) and names the commit that wrote the files.
Committed files are never rewritten: they stand for what that version wrote; a new format
version gets new files, written before the format changes again.
"""

import json
import os
import sys

import numpy as np


def probe_inputs():
    rng = np.random.RandomState(0)
    table = np.vstack([rng.normal(-3, 1, (12, 3)), rng.normal(3, 1, (12, 3))])
    t = np.linspace(0.0, 1.0, 8)
    frequencies = np.where(np.arange(24) % 2 == 0, 1.0, 3.0)[:, None]
    series = np.sin(2 * np.pi * frequencies * t) + 0.1 * rng.normal(size=(24, 8))
    return table, series


def main(tag):
    import skdeepcluster
    from skdeepcluster import LoSTerClustering, S3VDCClustering

    table, series = probe_inputs()
    models = {
        "s3vdc": (S3VDCClustering(n_clusters=2, latent_dim=2, hidden_dims=(4,), warmup_epochs=3, anneal_epochs=1,
                                  static_epochs=1, n_periods=1, batch_size=12, n_score_samples=2,
                                  gmm_init_samples=24, device="cpu", random_state=0), table),
        "loster": (LoSTerClustering(n_clusters=2, latent_dim=2, hidden_dim=4, n_encoder_blocks=1,
                                    n_decoder_blocks=1, pretrain_epochs=2, max_epochs=1, batch_size=12,
                                    device="cpu", random_state=0), series),
    }
    folder = os.path.dirname(os.path.abspath(__file__))
    expected = {"written_by": skdeepcluster.__version__}
    for name, (model, X) in models.items():
        model.fit(X)
        model.save(os.path.join(folder, f"{tag}-{name}.skdc"))
        expected[name] = {"labels": model.predict(X).tolist(), "proba": model.predict_proba(X).tolist()}
    with open(os.path.join(folder, f"{tag}-expected.json"), "w") as file:
        json.dump(expected, file, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
