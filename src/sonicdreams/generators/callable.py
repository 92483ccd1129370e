"""The original's custom-generator contract: ``style(noise_batch=…, class_batch=…)``.

Any function (a PyTorch BigGAN or DCGAN wrapper, a StyleGAN-XL call…) that takes a batch of
latents and class vectors as keyword arguments and returns a list of images (PIL images or
HxWx3 uint8 arrays) becomes a :class:`~sonicdreams.generators.base.Generator`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ..errors import StyleError
from .base import check_batch

__all__ = ["CallableStyle"]


class CallableStyle:
    """Adapts ``func(noise_batch, class_batch) -> images`` to the Generator contract.

    Parameters
    ----------
    func : callable
        Takes keyword arguments ``noise_batch`` [shape=(B, z_dim)] and ``class_batch``
        [shape=(B, c_dim)] (float64, as the original passed them) and returns B images.
    z_dim, c_dim : int
        The original's ``input_shape`` and ``num_possible_classes``.
    size : (height, width) or None
        The frame size; ``None`` asks ``func`` for one frame to find out.
    batch_size : int
        Frames per call.
    concurrent_calls : int or None
        How many calls may run at once, each on its own thread. ``None`` (the default): one
        call at a time, because a function written for the original (which called it from
        one thread) may keep state, such as a model, a cache or a counter, that two threads
        would corrupt. A function that is safe to call from several threads at once can say
        so with an attribute, ``func.thread_safe = True``: it then gets up to 2 concurrent
        calls (1 on a single core), which uses two cores where numpy or torch release the
        GIL. An explicit ``concurrent_calls=N`` overrides both.

    Examples
    --------
    >>> import numpy as np
    >>> def grey(noise_batch, class_batch):
    ...     return [np.full((8, 8, 3), 128, np.uint8) for _ in noise_batch]
    >>> CallableStyle(grey, z_dim=4).concurrent_calls
    1
    >>> grey.thread_safe = True  # no shared state: calls may overlap
    >>> CallableStyle(grey, z_dim=4).concurrent_calls <= 2
    True
    """

    def __init__(self, func: Callable, *, z_dim: int, c_dim: int = 0,
                 size: tuple[int, int] | None = None, batch_size: int = 1,
                 concurrent_calls: int | None = None) -> None:
        if not callable(func):
            raise StyleError(f"style={func!r} is not callable")
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            params = {}
        if params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            missing = [n for n in ("noise_batch", "class_batch") if n not in params]
            if missing:
                raise StyleError(
                    f"style {getattr(func, '__name__', func)!s} must take the keyword "
                    f"arguments noise_batch and class_batch (missing: {', '.join(missing)})")
        if not isinstance(z_dim, int) or z_dim < 1:
            raise StyleError(f"input_shape={z_dim!r} must be a positive integer "
                             "(the length of the latent vector your generator takes)")
        if not isinstance(c_dim, int) or c_dim < 0:
            raise StyleError(f"num_possible_classes={c_dim!r} must be an integer >= 0")
        self.func = func
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.batch_size = max(1, int(batch_size))
        if concurrent_calls is not None:
            self.concurrent_calls = max(1, int(concurrent_calls))
        elif getattr(func, "thread_safe", False) is True:
            self.concurrent_calls = max(1, min(2, os.cpu_count() or 1))
        else:
            self.concurrent_calls = 1  # the original's contract: one call at a time
        self._size = size

    def __repr__(self) -> str:
        return (f"CallableStyle({getattr(self.func, '__name__', self.func)!s}, "
                f"z_dim={self.z_dim}, c_dim={self.c_dim})")

    @property
    def size(self) -> tuple[int, int]:
        if self._size is None:
            probe = self._call(np.zeros((1, self.z_dim), np.float32),
                               np.zeros((1, self.c_dim), np.float32))
            self._size = probe.shape[1:3]
        return self._size

    def _call(self, z: np.ndarray, c: np.ndarray) -> npt.NDArray[np.uint8]:
        images = self.func(noise_batch=z.astype(np.float64), class_batch=c.astype(np.float64))
        frames = [_to_rgb(img) for img in images]
        if len(frames) != len(z):
            raise StyleError(f"the style returned {len(frames)} images for a batch of {len(z)}")
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise StyleError(f"the style returned images of different sizes: {sorted(shapes)}")
        return np.stack(frames)

    def render(self, z: npt.NDArray[np.float32],
               c: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.uint8]:
        z, c = check_batch(self, z, c)
        frames = self._call(z, c)
        if self._size is not None and frames.shape[1:3] != tuple(self._size):
            raise StyleError(f"the style returned {frames.shape[2]}x{frames.shape[1]} images "
                             f"after {self._size[1]}x{self._size[0]} ones; all frames must "
                             "have the same size")
        self._size = frames.shape[1:3]
        return frames


def _to_rgb(img) -> np.ndarray:
    """A PIL image or array (HxW, HxWx3, HxWx4; uint8 or float in [0, 1]) as uint8 HxWx3."""
    if hasattr(img, "convert") and hasattr(img, "size"):
        return np.asarray(img.convert("RGB"))
    arr = np.asarray(img)
    if hasattr(img, "detach"):  # a torch tensor that slipped through
        arr = img.detach().cpu().numpy()
    if arr.dtype != np.uint8:
        arr = np.asarray(arr, dtype=np.float64)
        if arr.size and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # CHW
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise StyleError(f"the style returned an image of shape {arr.shape}; expected "
                         "height x width x 3")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[..., :3])
