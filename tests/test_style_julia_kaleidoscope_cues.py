"""The ``julia`` and ``kaleidoscope`` styles under the director's cues: hits show as a swell,
colours come from the scene's palette, scenes differ and change without jumps."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from _style_inputs import latents
from sonicdreams.direction import CUE, CUES, PALETTES, neutral_cues, palette_table
from sonicdreams.generators.builtin import kaleidoscope
from sonicdreams.generators.builtin.julia import Julia
from sonicdreams.generators.builtin.kaleidoscope import Kaleidoscope

STYLES = [Julia, Kaleidoscope]
SIZE = (72, 128)


@pytest.fixture(scope="module", params=STYLES, ids=lambda cls: cls.name)
def style(request):
    return request.param(size=SIZE)


def _cues(n: int = 1, **values) -> np.ndarray:
    cues = neutral_cues(n)
    for name, value in values.items():
        cues[:, CUE[name]] = value
    return cues


def _render(style, cues: np.ndarray, seed: int = 5) -> np.ndarray:
    n = len(cues)
    z = np.repeat(latents(1, seed), n, axis=0)
    c = np.full((n, 12), 0.5, np.float32)
    return style.render(z, c, cues).astype(float)


def test_a_hit_brightens_the_frame_and_more_pulse_brightens_more(style):
    """A strong hit (cue 1, pulse_react 0.5) is a clearly visible swell; a cue of 4
    (pulse_react 2) goes further, but the response saturates instead of blowing out."""
    for seed in (1, 2, 3):
        luma = [_render(style, _cues(hit=x, kick=x, snare=x, hat=x), seed).mean()
                for x in (0.0, 0.15, 1.0, 4.0)]
        assert luma[1] - luma[0] < 0.25 * (luma[2] - luma[0]), luma  # a faint onset: little
        assert 6 < luma[2] - luma[0] < 40, luma  # a strong hit: visible, not a cut
        assert luma[3] > luma[2] + 2, luma
        # Saturating: four times the cue gives well under four times the swell.
        assert luma[3] - luma[0] < 3.0 * (luma[2] - luma[0]), luma


def test_each_band_answers_on_its_own(style):
    rest = _render(style, _cues())
    for band in ("kick", "snare", "hat"):
        frame = _render(style, _cues(**{band: 2.0}))
        assert np.abs(frame - rest).mean() > 1.0, band


@pytest.mark.parametrize("warm, cool", [("ember", "ocean"), ("sunset", "ice")])
def test_the_scene_palette_colours_the_frame(style, warm, cool):
    """Frames take their colours from the scene's palette: a warm palette gives a red-orange
    frame, a cool one a blue frame, and most bright pixels lie near the palette's colours
    (up to their shading)."""
    names = [p.name for p in PALETTES]
    frames = {}
    for name in (warm, cool):
        k = names.index(name)
        frames[name] = _render(style, _cues(palette_a=k, palette_b=k))
    mean_w, mean_c = frames[warm].mean(axis=(0, 1, 2)), frames[cool].mean(axis=(0, 1, 2))
    assert mean_w[0] > mean_w[2] + 10 and mean_c[2] > mean_c[0] + 10, (mean_w, mean_c)
    for name, frame in frames.items():
        table = palette_table(names.index(name)) * 255.0
        px = frame.reshape(-1, 3)
        px = px[px.max(axis=1) > 60]
        # Compare directions (chromaticity) so the shading and the light do not matter.
        unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-6)  # noqa: E731
        cos = unit(px) @ unit(table).T
        assert np.median(cos.max(axis=1)) > 0.985, name


def test_frames_are_colourful_with_darks_and_brights(style):
    """Saturated colour (Hasler-Süsstrunk colourfulness) and value contrast in one frame."""
    for k in range(0, len(PALETTES), 3):
        frame = _render(style, _cues(palette_a=k, palette_b=k, variant_a=0.3, variant_b=0.3))
        r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
        rg, yb = r - g, 0.5 * (r + g) - b
        m = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
        grey = frame.mean(axis=-1)
        assert m > 20, (PALETTES[k].name, m)
        assert np.percentile(grey, 10) < 40 and np.percentile(grey, 99) > 110, PALETTES[k].name


def test_scene_variants_differ(style):
    a = _render(style, _cues(variant_a=0.1, variant_b=0.1))
    b = _render(style, _cues(variant_a=0.6, variant_b=0.6))
    assert np.abs(a - b).mean() > 12


def test_a_scene_transition_has_no_jump_or_ghost(style):
    """Through a transition (mix 0 → 1, new palette and variant) every frame-to-frame change is
    a small part of the whole change, halving the step shrinks the largest change, and the
    end of the transition is the next scene as it will be shown (mix 1 = scene b at mix 0)."""
    largest = []
    for n in (32, 64):
        cues = _cues(n, palette_a=0, palette_b=2, variant_a=0.05, variant_b=0.55)
        cues[:, CUE["mix"]] = np.linspace(0.0, 1.0, n)
        frames = _render(style, cues)
        total = np.abs(frames[-1] - frames[0]).mean()
        steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        assert total > 15 and steps.max() < 0.3 * total, (total, steps.max())
        largest.append(steps.max())
    assert largest[1] < 0.75 * largest[0], largest
    after = _render(style, _cues(palette_a=2, palette_b=2, variant_a=0.55, variant_b=0.55))
    np.testing.assert_allclose(frames[-1], after[0], atol=1.0)


def test_the_flow_moves_smoothly(style):
    """A steady flow (2 per second at 30 fps, a full song's pace) moves the picture, with no
    back-and-forth change from frame to frame (low second differences)."""
    n = 30
    frames = _render(style, _cues(n, flow=np.arange(n) / 15.0)).mean(axis=-1)
    moved = np.abs(frames[-1] - frames[0]).mean()
    d1 = np.abs(frames[2:] - frames[:-2]).sum()
    d2 = np.abs(frames[2:] - 2 * frames[1:-1] + frames[:-2]).sum()
    assert moved > 2 and d2 / d1 < 0.6, (moved, d2 / d1)


def test_odd_cues_give_finite_frames(style):
    for value in (np.nan, np.inf, -np.inf, 1e6, -5.0):
        cues = np.full((1, len(CUES)), value, dtype=np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            frame = style.render(latents(1, 0), np.full((1, 12), 0.5, np.float32), cues)
        assert frame.shape == (1, *SIZE, 3) and frame.dtype == np.uint8


def test_kaleidoscope_orders_span_six_to_twelve_mirrors():
    orders = {kaleidoscope._order(v) for v in np.linspace(0.0, 0.999, 200)}
    assert orders == set(range(6, 13))
    assert kaleidoscope._order(1.0) == kaleidoscope._order(0.0)  # a variant is a phase
