"""Shared parts of the ``nebula`` and ``kaleidoscope`` styles: smooth fractal noise and more.

Smooth fractal noise: a fixed periodic texture, sampled bilinearly.

The texture is made once (per seed) by spectral synthesis: random complex amplitudes falling off
as a power of the frequency, inverse FFT. That gives isotropic fractal noise with every octave
baked in and no lattice artefacts, periodic so any coordinate is valid. Its real and imaginary
parts are two independent noises, stored together as complex64, so one gather fetches both
(numpy gathers single 8-byte elements far faster than rows of a float array; for the same
reason ``palette_table`` packs a palette's RGB rows into single 16-byte elements).

Sampling is a handful of numpy ops (they release the GIL, so the styles' threaded batches run
in parallel). Values are about N(0, 1) per channel.

Speed: the styles compute a frame in blocks of rows (``row_blocks``). Numpy makes a new array
for most operations; for a whole frame each is over a megabyte, which the allocator takes
fresh from the system (page faults, zeroing) and which falls out of the cache. Blocks of about
16k pixels are recycled from the heap and stay in the cache: two to three times faster.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["TEX_SIZE", "budget_size", "lookup", "noise_texture", "palette_table", "row_blocks",
           "sample_noise", "smoothstep"]

TEX_SIZE = 256
"""Side of the periodic noise texture, in texels (a power of two)."""
_MASK = TEX_SIZE - 1


@lru_cache(maxsize=8)
def noise_texture(seed: int, beta: float = 1.5, low: float = 1.0,
                  cutoff: float = 32.0) -> npt.NDArray[np.complex64]:
    """A periodic fractal-noise texture, flattened, complex64 [shape=(TEX_SIZE**2,)].

    Amplitude falls as ``frequency**-beta`` (2: soft clouds; 1.5: rougher, more detail).
    Frequencies below ``low`` cycles per texture are left out, and a Gaussian
    roll-off at ``cutoff`` cycles keeps every wave several texels long, so bilinear sampling
    shows no creases even where a warp stretches the texture. Real and imaginary parts are two
    independent noises (the imaginary part is made exactly uncorrelated with the real one),
    each scaled to zero mean and unit variance.
    """
    n = TEX_SIZE
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(n) * n
    fx, fy = np.meshgrid(f, f)
    radius = np.hypot(fx, fy)
    amp = np.where(radius >= low, np.maximum(radius, 1.0) ** -beta, 0.0)
    amp *= np.exp(-((radius / cutoff) ** 2))
    spectrum = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) * amp
    field = np.fft.ifft2(spectrum)  # complex: real and imaginary parts are independent
    re = field.real - field.real.mean()
    re /= re.std()
    im = field.imag - field.imag.mean()
    im -= re * (np.mean(re * im))
    im /= im.std()
    tex = (re + 1j * im).astype(np.complex64).ravel()
    tex.setflags(write=False)
    return tex


def sample_noise(tex: npt.NDArray[np.complex64], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``tex`` at texel coordinates (u, v) (any real values: it wraps).

    Returns complex64 of u's shape: real and imaginary parts are the two noise channels.
    ``u`` and ``v`` must be float32 and finite (callers keep coordinates within ±1e4).
    """
    fu = np.floor(u)
    fv = np.floor(v)
    au = u - fu
    av = v - fv
    i0 = fu.astype(np.int32)
    i0 &= _MASK
    j0 = fv.astype(np.int32)
    j0 &= _MASK
    j0 *= TEX_SIZE
    i1 = i0 + 1
    i1 &= _MASK
    j1 = j0 + TEX_SIZE
    j1 &= TEX_SIZE * TEX_SIZE - 1
    idx = j0 + i0
    a = np.take(tex, idx)
    np.add(j0, i1, out=idx)
    b = np.take(tex, idx)
    np.add(j1, i0, out=idx)
    c = np.take(tex, idx)
    np.add(j1, i1, out=idx)
    d = np.take(tex, idx)
    b -= a
    b *= au
    a += b
    d -= c
    d *= au
    c += d
    c -= a
    c *= av
    a += c
    return a


def smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic between (float32 in, float32 out)."""
    t = (x - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(t, 0.0, 1.0, out=t)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


def palette_table(lut: npt.NDArray[np.float32]) -> npt.NDArray[np.complex128]:
    """A (256, 3) palette packed for ``lookup``: one 16-byte element (R, G, B, 0) per entry."""
    packed = np.zeros((lut.shape[0], 4), dtype=np.float32)
    packed[:, :3] = lut
    return packed.view(np.complex128).ravel()


def lookup(table: npt.NDArray[np.complex128], t: np.ndarray) -> np.ndarray:
    """Colours of ``t`` (wrapped to [0, 1)) in a ``palette_table``: float32 [shape=(..., 4)],
    the 4th channel zero."""
    idx = np.floor(t)
    np.subtract(t, idx, out=idx)  # t mod 1 (np.mod is several times slower)
    idx *= np.float32(255.999)
    rgb0 = np.take(table, idx.astype(np.int32))
    return rgb0.view(np.float32).reshape(*t.shape, 4)


def budget_size(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    """The size to compute at: ``size`` scaled down (never up, aspect kept) to about ``pixels``.

    Unlike a cap on the longer side, a budget gives wide and tall frames as many pixels as
    square ones, so a 16:9 frame is no blurrier than a square one of the same cost.
    """
    h, w = size
    scale = min(1.0, float(np.sqrt(pixels / (h * w))))
    return max(2, int(round(h * scale))), max(2, int(round(w * scale)))


BLOCK_PIXELS = 16384
"""About how many pixels a block of ``row_blocks`` holds."""


def row_blocks(height: int, width: int) -> list[tuple[int, int]]:
    """(first, end) row ranges covering ``height`` rows, about ``BLOCK_PIXELS`` pixels each."""
    rows = max(4, BLOCK_PIXELS // max(1, width))
    starts = list(range(0, height, rows))
    if len(starts) > 1 and height - starts[-1] < rows // 2:
        starts.pop()  # no thin last block: it joins the one before
    return [(r0, end) for r0, end in zip(starts, starts[1:] + [height], strict=True)]
