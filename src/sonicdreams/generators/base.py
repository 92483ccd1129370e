"""The Generator contract every style follows (built-in, StyleGAN or a user's callable).

A generator turns a batch of latent vectors ``z`` [shape=(B, z_dim)] and class vectors ``c``
[shape=(B, c_dim)] into frames, uint8 [shape=(B, H, W, 3)]. The same inputs always give the
same frames.

Optional attributes the pipeline reads: ``concurrent_calls`` (how many ``render`` calls may
run side by side, default 1) and ``fresh_frames`` (``True`` when ``render`` returns a new
array every call, so the pipeline may write into it instead of copying; default ``False``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Generator", "check_batch"]


@runtime_checkable
class Generator(Protocol):
    z_dim: int
    """Length of a latent vector."""
    c_dim: int
    """Length of a class vector (0: the generator takes no classes)."""
    size: tuple[int, int]
    """Frame size (height, width)."""
    batch_size: int
    """How many frames it prefers to render per call."""

    def render(self, z: npt.NDArray[np.float32],
               c: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Frames for a batch, uint8 [shape=(B, height, width, 3)]."""
        ...


def check_batch(generator: Generator, z: np.ndarray, c: np.ndarray | None):
    """Validate and normalise the inputs of ``render``: float32 ``z`` (B, z_dim), ``c`` (B, c_dim).

    Raises ``ValueError`` naming the wrong shape (a programming error, not user input).
    """
    z = np.asarray(z, dtype=np.float32)
    if z.ndim == 1:
        z = z[None, :]
    if z.ndim != 2 or z.shape[1] != generator.z_dim:
        raise ValueError(f"z must have shape (batch, {generator.z_dim}), got {z.shape}")
    if c is None:
        c = np.zeros((z.shape[0], generator.c_dim), dtype=np.float32)
    c = np.asarray(c, dtype=np.float32)
    if c.ndim == 1:
        c = c[None, :]
    if c.shape != (z.shape[0], generator.c_dim):
        raise ValueError(f"c must have shape ({z.shape[0]}, {generator.c_dim}), got {c.shape}")
    # Latents far outside their usual range (a user's ±1e6) must not produce NaN.
    z = np.nan_to_num(np.clip(z, -1e4, 1e4))
    c = np.nan_to_num(np.clip(c, -1e4, 1e4))
    return z, c
