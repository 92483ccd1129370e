"""Contact sheets: every style at a few latents and classes, so a user sees what they pick."""

from __future__ import annotations

import numpy as np

from .styles import list_styles, load_style

__all__ = ["contact_sheet"]

_PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def contact_sheet(names: list[str] | None = None, *, tile: int = 192, columns: int = 4,
                  seed: int = 0):
    """A PIL image: one row per style, ``columns`` tiles of random latents, one class each.

    Each tile is labelled with the pitch whose class is active, the row with the style name.
    """
    from PIL import Image, ImageDraw

    names = names or [s.name for s in list_styles()]
    rng = np.random.default_rng(seed)
    z = np.clip(rng.standard_normal((columns, 512)), -2, 2).astype(np.float32)
    label_w = 150
    sheet = Image.new("RGB", (label_w + columns * tile, len(names) * tile), (16, 16, 20))
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        style = load_style(name, size=(tile, tile))
        c = np.zeros((columns, style.c_dim), dtype=np.float32)
        pitches = []
        for col in range(columns):
            if style.c_dim:
                k = (col * 5 + row * 2) % style.c_dim  # different pitches per row and column
                c[col, k] = 1.0
                pitches.append(_PITCHES[k % 12])
        frames = style.render(z[:, :style.z_dim], c)
        for col, frame in enumerate(frames):
            sheet.paste(Image.fromarray(frame), (label_w + col * tile, row * tile))
            if pitches:
                draw.text((label_w + col * tile + 6, row * tile + 4), pitches[col],
                          fill=(255, 255, 255))
        draw.text((10, row * tile + tile // 2 - 6), name, fill=(235, 235, 235))
    return sheet
