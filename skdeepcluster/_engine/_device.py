"""Turn the user's ``device`` parameter into a :class:`torch.device`."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` to a usable device.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise. Asking for CUDA on a
    machine without it is a ``ValueError`` (not a torch ``RuntimeError`` deep in ``fit``).
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0'; got {device!r}.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a device; expected 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(f"device={device!r} is not supported; expected 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    if not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine; "
                         "use device='cpu' or device='auto'.")
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} does not exist: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s).")
    return resolved
