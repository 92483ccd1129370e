"""Inputs for the style tests: keyframe-like latents and one-hot pitch classes."""

from __future__ import annotations

import numpy as np


def latents(n: int, seed: int) -> np.ndarray:
    """Keyframe-like latents: N(0, 1) truncated to ±2."""
    return np.clip(np.random.default_rng(seed).standard_normal((n, 512)), -2, 2).astype(
        np.float32)


def one_hot(k: int, n: int = 1) -> np.ndarray:
    c = np.zeros((n, 12), np.float32)
    c[:, k] = 1.0
    return c
