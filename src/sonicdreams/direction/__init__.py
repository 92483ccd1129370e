"""Directing the video: a scene plan and per-frame cues computed once from the song.

One place decides how a song is filmed — scenes at its sections, palettes matched to its key
and energy, hits by band, flow with its harmony — and the trajectory, the styles and the
effects read that decision (see :func:`direct`).
"""

from .palettes import PALETTES, Palette, get_palette, palette_mix, palette_names, palette_table
from .plan import CUE, CUES, Direction, Scene, direct, key_and_mode, neutral_cues

__all__ = ["CUE", "CUES", "Direction", "Scene", "direct", "key_and_mode", "neutral_cues",
           "PALETTES", "Palette", "get_palette", "palette_mix", "palette_names",
           "palette_table"]
