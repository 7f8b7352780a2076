"""Test configuration: one torch thread keeps the suite fast and free of oversubscription."""

import os

# Before scipy is imported: lets scikit-learn run check_array_api_input instead of skipping it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import torch

# Tiny models on a 2-core machine: sklearn's OpenMP plus torch's threads oversubscribe the
# cores and make the common checks 5-50x slower (specs/conventions.md, A.9).
torch.set_num_threads(1)
