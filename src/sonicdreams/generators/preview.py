"""Contact sheets: every style in a few palettes and places, and every palette, so a user
sees what they pick."""

from __future__ import annotations

import numpy as np

from .styles import list_styles, load_style

__all__ = ["contact_sheet"]


def contact_sheet(names: list[str] | None = None, *, tile: int = 192, columns: int = 4,
                  seed: int = 0):
    """A PIL image: one row per style (``columns`` tiles, each a random latent in another
    palette, half of them on a hit), then a strip per palette with its name.

    Built-in styles draw the director's cues (see :mod:`sonicdreams.direction`); other styles
    (StyleGAN, callables) show their own colours, one class each.
    """
    from PIL import Image, ImageDraw

    from ..direction import CUE, PALETTES, neutral_cues, palette_table

    names = names or [s.name for s in list_styles()]
    rng = np.random.default_rng(seed)
    z = np.clip(rng.standard_normal((columns, 512)), -2, 2).astype(np.float32)
    label_w = 150
    strip = max(14, tile // 8)
    height = len(names) * tile + len(PALETTES) * strip + 8
    sheet = Image.new("RGB", (label_w + columns * tile, height), (16, 16, 20))
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        style = load_style(name, size=(tile, tile))
        cues = neutral_cues(columns)
        labels = []
        for col in range(columns):
            k = (col * 5 + row * 3) % len(PALETTES)  # different palettes per row and column
            cues[col, CUE["palette_a"]] = cues[col, CUE["palette_b"]] = k
            cues[col, CUE["variant_a"]] = cues[col, CUE["variant_b"]] = (col + 0.5) / columns
            hit = 1.0 if col % 2 else 0.0
            for cue in ("hit", "kick"):
                cues[col, CUE[cue]] = hit
            labels.append(PALETTES[k].name + (" · hit" if hit else ""))
        c = np.zeros((columns, style.c_dim), dtype=np.float32)
        if style.c_dim:
            c[np.arange(columns), (np.arange(columns) * 5 + row * 2) % style.c_dim] = 1.0
        if getattr(style, "directed", False):
            frames = style.render(z[:, :style.z_dim], c, cues=cues)
        else:
            frames = style.render(z[:, :style.z_dim], c)
            labels = [""] * columns
        for col, frame in enumerate(frames):
            sheet.paste(Image.fromarray(frame), (label_w + col * tile, row * tile))
            if labels[col]:
                draw.text((label_w + col * tile + 6, row * tile + 4), labels[col],
                          fill=(255, 255, 255))
        draw.text((10, row * tile + tile // 2 - 6), name, fill=(235, 235, 235))
    top = len(names) * tile + 8
    width = columns * tile
    for k, palette in enumerate(PALETTES):
        # The first half of the ring: shadow → highlight.
        table = palette_table(k, n=2 * width)[:width]
        bar = np.repeat((table * 255 + 0.5).astype(np.uint8)[None], strip - 2, axis=0)
        sheet.paste(Image.fromarray(bar), (label_w, top + k * strip))
        draw.text((10, top + k * strip), f"{palette.name} ({palette.description})",
                  fill=(220, 220, 220))
    return sheet
