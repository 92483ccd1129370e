"""Curated palettes: colours that belong together, from deep shadow to bright highlight.

Averaging many hues by weight gives grey and brown, so a video's colours come from one palette
at a time (per scene) and the music moves *within* it. Each palette is a few colour stops from
a dark, saturated shadow through its main colours to a bright highlight; a style reads it as a
lookup table indexed by a value in [0, 1) (the table runs up and back down, so it wraps without
a seam). Every palette has a mood — warm or cool, calm or hot — which the director uses to match
it to the song's key, mode and energy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["Palette", "PALETTES", "palette_names", "palette_table", "get_palette",
           "palette_distances"]


@dataclass(frozen=True, slots=True)
class Palette:
    """A named gradient of colour stops (sRGB, 0-255) with its mood."""

    name: str
    stops: tuple[tuple[int, int, int], ...]
    warmth: float
    """-1 cool (blues, greens) … +1 warm (reds, oranges)."""
    heat: float
    """0 calm (soft contrast) … 1 hot (saturated, bright highlights): for loud sections."""

    @property
    def description(self) -> str:
        temper = "warm" if self.warmth > 0.25 else "cool" if self.warmth < -0.25 else "mixed"
        return f"{temper}, {'hot' if self.heat > 0.6 else 'calm' if self.heat < 0.35 else 'lively'}"


def _hex(*codes: str) -> tuple[tuple[int, int, int], ...]:
    return tuple((int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)) for c in codes)


PALETTES: tuple[Palette, ...] = (
    Palette("ember", _hex("0b0206", "4a0710", "a3140f", "ef5a10", "ffb53b", "fff1c9"), 1.0, 0.9),
    Palette("synthwave", _hex("0d0221", "2e0854", "7b1fa2", "e91e8c", "ff6f3c", "ffd166"),
            0.5, 0.9),
    Palette("ocean", _hex("010b19", "052a4d", "0a5c8a", "1aa3c4", "6fe3e1", "e6fffb"), -1.0, 0.4),
    Palette("aurora", _hex("020816", "0b2a4a", "0f7a6b", "35d07f", "a6f05a", "f0ffd8"), -0.6, 0.6),
    Palette("orchid", _hex("12031c", "3a0a66", "8424b8", "d448d0", "ff8ccf", "ffe3f4"), 0.1, 0.5),
    Palette("lagoon", _hex("03071e", "1b1f6b", "2f57b8", "2bb3c9", "9af0c8", "f4fff0"), -0.8, 0.5),
    Palette("sunset", _hex("14041a", "4f0c3a", "b2264a", "f0643c", "ffae5c", "ffe9b8"), 0.9, 0.7),
    Palette("gold", _hex("0e0701", "3b1f04", "86500a", "d99a1c", "ffd35c", "fff7d6"), 0.8, 0.45),
    Palette("neon", _hex("05010f", "1f0a5c", "3d1fd6", "00b3ff", "39ffb0", "f2fff5"), -0.5, 1.0),
    Palette("rose", _hex("120208", "55082a", "b0144f", "f04a7e", "ffa0bc", "fff0f3"), 0.6, 0.4),
    Palette("jungle", _hex("020d05", "05361a", "0f7a3a", "4cc23c", "c8f05a", "fbffd9"), -0.2, 0.45),
    Palette("ice", _hex("020a1a", "0b2f6e", "1d6fd6", "52b8ff", "b0e8ff", "f4fdff"), -1.0, 0.25),
    Palette("cyberpunk", _hex("08020f", "40006b", "ff0080", "ff8a00", "00e5ff", "f0ffff"),
            0.2, 1.0),
    Palette("dusk", _hex("07040f", "25145a", "5a3bb0", "b35bd6", "ff8f8f", "ffe0c4"), 0.0, 0.35),
    Palette("toxic", _hex("050a02", "1c3300", "4c8000", "a6e000", "f0ff4d", "ffffe0"), 0.1, 0.8),
    Palette("fire-ice", _hex("020a1f", "0b4f9c", "35b6e6", "ff6a3d", "ffc27a", "fff6e0"),
            0.0, 0.85),
)
"""The palettes, in a fixed order (their index is what a render records)."""

_BY_NAME = {p.name: p for p in PALETTES}


def palette_names() -> list[str]:
    return [p.name for p in PALETTES]


def get_palette(name: str) -> Palette:
    """The palette called ``name``; raises SettingsError naming the choices."""
    try:
        return _BY_NAME[name]
    except KeyError:
        from ..errors import SettingsError

        raise SettingsError(f"palette={name!r} is not a palette; choose one of "
                            f"{', '.join(palette_names())}") from None


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


@lru_cache(maxsize=64)
def _table(index: int, n: int) -> npt.NDArray[np.float32]:
    stops = np.asarray(PALETTES[index].stops, dtype=np.float64) / 255.0
    # Up the gradient and back down: a table that wraps without a seam.
    ring = np.concatenate([stops, stops[-2:0:-1]])
    pos = np.linspace(0.0, len(ring), n, endpoint=False)
    k = np.floor(pos).astype(int)
    t = (pos - k)[:, None]
    t = t * t * (3.0 - 2.0 * t)  # ease between stops: no visible bands at the stops
    a, b = ring[k % len(ring)], ring[(k + 1) % len(ring)]
    # Blend in linear light: mixing two saturated colours does not pass through grey-brown.
    mixed = _linear_to_srgb((1 - t) * _srgb_to_linear(a) + t * _srgb_to_linear(b))
    table = mixed.astype(np.float32)
    table.setflags(write=False)
    return table


def palette_table(index: int | float, *, n: int = 256) -> npt.NDArray[np.float32]:
    """The palette ``index`` (into :data:`PALETTES`) as a table [shape=(n, 3)] in [0, 1]; the
    position ``t`` of a colour is ``table[int(t * n) % n]``: 0 is the shadow, 0.5 the highlight,
    1 the shadow again."""
    return _table(int(index) % len(PALETTES), int(n))


def palette_mix(a: int | float, b: int | float, mix: float, *,
                n: int = 256) -> npt.NDArray[np.float32]:
    """Palette ``a`` moving to palette ``b`` (``mix`` 0 … 1), blended in linear light."""
    ta = palette_table(a, n=n)
    if mix <= 0.0 or int(a) == int(b):
        return ta
    tb = palette_table(b, n=n)
    if mix >= 1.0:
        return tb
    m = float(mix)
    return _linear_to_srgb((1 - m) * _srgb_to_linear(ta) + m * _srgb_to_linear(tb)).astype(
        np.float32)


@lru_cache(maxsize=1)
def palette_distances() -> npt.NDArray[np.float64]:
    """How different each pair of palettes makes the same picture look: the mean sRGB distance
    (0 … √3) of their tables entry by entry [shape=(len(PALETTES), len(PALETTES))]."""
    tables = np.stack([palette_table(k) for k in range(len(PALETTES))]).astype(np.float64)
    out = np.sqrt(((tables[:, None] - tables[None]) ** 2).sum(axis=-1)).mean(axis=-1)
    out.setflags(write=False)
    return out
