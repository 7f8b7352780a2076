"""Test configuration: one torch thread keeps the suite fast and free of oversubscription."""

import torch

# Tiny models on a 2-core machine: sklearn's OpenMP plus torch's threads oversubscribe the
# cores and make the common checks 5-50x slower (specs/conventions.md, A.9).
torch.set_num_threads(1)
