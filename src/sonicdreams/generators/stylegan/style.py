"""A StyleGAN network as a sonicdreams Generator: latents and class vectors in, uint8 frames out."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import torch

from ..base import check_batch
from .device import resolve_device

__all__ = ["StyleGANStyle", "resolve_device", "autocast_dtype", "stylegan_style",
           "cuda_fast_math"]

log = logging.getLogger(__name__)


def _default_batch(resolution: int, device: torch.device) -> int:
    if device.type == "cuda":
        return max(2, min(32, (1024 // resolution) ** 2 * 4))
    # On a CPU a large network is as fast per image at batch 1 (measured), and frames arrive
    # sooner; small networks gain from batching.
    return 1 if resolution >= 256 else 4


def autocast_dtype(precision: str, device: torch.device,
                   G: torch.nn.Module) -> torch.dtype | None:
    """The reduced precision to run ``G`` in (``None``: fp32) for a ``precision`` setting.

    ``auto`` takes half precision only where it is both faster and visually the same: fp16 on
    CUDA for networks trained with clamped activations (conv_clamp: ADA, StyleGAN3). A CPU
    stays fp32: StyleGAN1/2 in bf16 change by a few levels, and StyleGAN3's float32 path (its
    compiled nonlinearity) is faster than bf16 even on CPUs with bf16 units (SG3-T 256²:
    1.9 s against 2.5 s an image on a 2-core Zen 4).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    config = getattr(G, "config", {}) or {}
    arch = config.get("arch")
    if device.type == "cuda":
        clamped = config.get("conv_clamp") is not None or arch == "sg3"
        return torch.float16 if clamped else None
    return None


class StyleGANStyle:
    """A StyleGAN module (``G(z, c, truncation_psi=…, noise_mode=…)``) as a Generator.

    Parameters
    ----------
    G : torch.nn.Module
        From :func:`~sonicdreams.generators.stylegan.load_stylegan` (or any module with the
        NVlabs interface).
    name : str
        Shown in logs and the manifest.
    truncation_psi, truncation_cutoff, noise_mode
        As in the NVlabs API; psi 1 (no truncation) and ``'const'`` noise are what the
        original rendered.
    batch_size : int or None
        Frames per network call; ``None`` picks by resolution and device.
    precision : {'auto', 'fp32', 'bf16', 'fp16'}
        Arithmetic for the network (see :func:`autocast_dtype`).
    """

    def __init__(self, G: torch.nn.Module, *, name: str = "stylegan",
                 truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                 noise_mode: str = "const", batch_size: int | None = None,
                 precision: str = "auto",
                 crop: tuple[int, int, int, int] | None = None,
                 weights_sha256: str | None = None) -> None:
        self.G = G.eval().requires_grad_(False)
        self.name = name
        self.z_dim = int(G.z_dim)
        self.c_dim = int(G.c_dim)
        self.truncation_psi = float(truncation_psi)
        self.truncation_cutoff = truncation_cutoff
        self.noise_mode = noise_mode
        param = next(G.parameters())
        self.device = param.device
        res = int(G.img_resolution)
        self.crop = crop  # (top, left, height, width): e.g. LSUN cars are 512x384 in 512x512
        self.size = (crop[2], crop[3]) if crop else (res, res)
        self.batch_size = int(batch_size or _default_batch(res, self.device))
        self.fresh_frames = True  # render() returns a new array: the pipeline may write in it
        self.autocast = autocast_dtype(precision, self.device, G)
        self.weights_sha256 = weights_sha256
        if self.device.type == "cuda":
            self.G = self.G.to(memory_format=torch.channels_last)

    @property
    def fingerprint(self) -> str | None:
        """Everything that decides this style's frames (``None`` without a weights digest)."""
        if not self.weights_sha256:
            return None
        return "|".join(str(v) for v in (
            "stylegan", self.weights_sha256, self.truncation_psi, self.truncation_cutoff,
            self.noise_mode, self.autocast, self.device.type, self.batch_size, self.crop,
            torch.__version__))

    def __repr__(self) -> str:
        return (f"StyleGANStyle({self.name!r}, z_dim={self.z_dim}, c_dim={self.c_dim}, "
                f"size={self.size}, device={self.device})")

    @torch.inference_mode()
    def render(self, z: npt.NDArray[np.float32],
               c: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.uint8]:
        z, c = check_batch(self, z, c)
        zt = torch.from_numpy(z).to(self.device)
        ct = torch.from_numpy(c).to(self.device)
        with cuda_fast_math(self.device.type == "cuda"), \
                torch.autocast(self.device.type, dtype=self.autocast or torch.float32,
                               enabled=self.autocast is not None):
            img = self.G(zt, ct, truncation_psi=self.truncation_psi,
                         truncation_cutoff=self.truncation_cutoff, noise_mode=self.noise_mode)
        return to_uint8(img, self.crop)


@contextlib.contextmanager
def cuda_fast_math(enabled: bool) -> Iterator[None]:
    """TF32 matrix products and convolutions and cuDNN autotuning for one call on a GPU.

    These switches are process-wide in PyTorch; they are put back as they were afterwards, so
    a user's own models in the same process keep the precision they chose.
    """
    if not enabled:
        yield
        return
    flags = (torch.backends.cuda.matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32"), \
        (torch.backends.cudnn, "benchmark")
    saved = [getattr(owner, name) for owner, name in flags]
    for owner, name in flags:
        setattr(owner, name, True)
    try:
        yield
    finally:
        for (owner, name), value in zip(flags, saved, strict=True):
            setattr(owner, name, value)


def to_uint8(img: torch.Tensor, crop: tuple[int, int, int, int] | None = None
             ) -> npt.NDArray[np.uint8]:
    """NCHW float in [-1, 1] → NHWC uint8 (×127.5 + 128, rounded and saturated as the TF tools)."""
    if crop:
        top, left, h, w = crop
        img = img[:, :, top:top + h, left:left + w]
    img = img.float()
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    elif img.shape[1] > 3:
        img = img[:, :3]
    out = (img * 127.5 + 128).round_().clamp_(0, 255).to(torch.uint8)
    return np.ascontiguousarray(out.permute(0, 2, 3, 1).cpu().numpy())


def stylegan_style(path_or_name: str, *, device: str = "auto", truncation_psi: float = 1.0,
                   noise_mode: str = "const", precision: str = "auto",
                   batch_size: int | None = None, cache: bool = True) -> StyleGANStyle:
    """Load weights (a file or a catalogue name) and wrap them as a Generator."""
    from ...audio.cache import file_digest
    from ..catalog import lookup
    from .load import load_stylegan, resolve_weights

    dev = resolve_device(device)
    path = resolve_weights(path_or_name)  # downloads a catalogue style once
    G = load_stylegan(path, device=dev, cache=cache)
    entry = lookup(str(path_or_name))
    crop = getattr(entry, "crop", None) if entry is not None else None
    name = os.path.basename(str(path_or_name))
    return StyleGANStyle(G, name=name, truncation_psi=truncation_psi, noise_mode=noise_mode,
                         batch_size=batch_size, precision=precision, crop=crop,
                         weights_sha256=file_digest(path))
