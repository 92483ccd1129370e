"""Where a StyleGAN network runs: the one check of a device name, shared by loading and drawing."""

from __future__ import annotations

import torch

from ...errors import SettingsError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/``None`` → CUDA when available, else CPU; otherwise the named device, checked."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device={device!s}: no CUDA GPU is available here; use "
                            "device=cpu (or auto)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SettingsError(f"device={device!s}: Apple's MPS backend is not available here")
    return dev
