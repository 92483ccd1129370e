"""The styles drawn from the director's cues (cppn, nebula, flow): hits, palettes, scenes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sonicdreams
from _style_inputs import latents
from sonicdreams.direction import CUE, neutral_cues, palette_table

STYLES = ["cppn", "nebula", "flow"]
SIZE = (72, 128)


@pytest.fixture(scope="module", params=STYLES)
def style(request):
    return sonicdreams.load_style(request.param, size=SIZE)


def _cues(n: int, **values) -> np.ndarray:
    cues = neutral_cues(n)
    for name, value in values.items():
        cues[:, CUE[name]] = value
    return cues


def _inputs(n: int = 3, seed: int = 4):
    return latents(n, seed), np.random.default_rng(seed).random((n, 12)).astype(np.float32)


def test_same_inputs_same_frame_and_no_cues_still_renders(style):
    z, c = _inputs()
    cues = _cues(3, kick=0.7, snare=0.3, flow=2.0, palette_a=5, palette_b=5)
    np.testing.assert_array_equal(style.render(z, c, cues), style.render(z, c, cues))
    plain = style.render(z, c)
    np.testing.assert_array_equal(plain, style.render(z, c, neutral_cues(3)))
    assert plain.std() > 10


@pytest.mark.parametrize("band", ["kick", "snare"])
def test_a_hit_changes_the_picture_visibly_and_harder_hits_more(style, band):
    """A strong hit (cue 1, the default look) changes the picture visibly — a swell of light,
    scale or glow (the issue's list) — but below a cut (40/255); pulse_react 2 (cue 4) is
    stronger still and stays bounded."""
    z, c = _inputs()
    rest = style.render(z, c, _cues(3)).astype(float)
    change = []
    for level in (1.0, 4.0):
        hit = style.render(z, c, _cues(3, **{band: level, "hit": level})).astype(float)
        change.append(np.abs(hit - rest).mean())
    assert (6 if band == "kick" else 2) < change[0] < 40, change
    assert change[1] > change[0] and change[1] < 70, change


def test_hats_touch_only_the_texture(style):
    z, c = _inputs()
    rest = style.render(z, c, _cues(3)).astype(float)
    hat = style.render(z, c, _cues(3, hat=1.0)).astype(float)
    kick = style.render(z, c, _cues(3, kick=1.0, hit=1.0)).astype(float)
    assert np.abs(hat - rest).mean() < 0.5 * np.abs(kick - rest).mean()


@pytest.mark.parametrize("palette", [0, 2, 8])
def test_colours_come_from_the_scene_palette(style, palette):
    """Most pixels lie near a colour of the palette (times a brightness): the hue and
    saturation are the palette's, whatever the class vector."""
    z, c = _inputs(2)
    frames = style.render(z, c, _cues(2, palette_a=palette, palette_b=palette)).astype(float)
    table = palette_table(palette) * 255.0
    px = frames.reshape(-1, 3)
    px = px[px.sum(axis=1) > 60]  # dark pixels carry little colour
    unit = px / np.linalg.norm(px, axis=1, keepdims=True)
    tab = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-6)
    best = (unit @ tab.T).max(axis=1)  # cosine of the nearest palette direction
    assert np.median(best) > 0.985, np.median(best)


def test_frames_have_shadows_and_highlights(style):
    z, c = _inputs(4, 9)
    for pal in (0, 3, 11):
        frames = style.render(z, c, _cues(4, palette_a=pal, palette_b=pal))
        lum = frames.astype(float) @ np.array([0.2126, 0.7152, 0.0722])
        lo, hi = np.percentile(lum, [5, 95], axis=(1, 2))
        assert (hi - lo).min() > 90, (pal, hi - lo)


def test_scenes_differ_and_a_transition_blends_them(style):
    """Two scenes (variants) at the same latent give different pictures; half way through the
    transition the picture lies between them, and small steps of the mix change it little."""
    z, c = _inputs(1, 12)
    a = style.render(z, c, _cues(1, variant_a=0.1, variant_b=0.1))[0].astype(float)
    b = style.render(z, c, _cues(1, variant_a=0.8, variant_b=0.8))[0].astype(float)
    far = np.abs(a - b).mean()
    assert far > 12
    mixes = np.linspace(0.0, 1.0, 41, dtype=np.float32)
    ramp = _cues(41, variant_a=0.1, variant_b=0.8)
    ramp[:, CUE["mix"]] = mixes
    frames = style.render(np.repeat(z, 41, 0), np.repeat(c, 41, 0), ramp).astype(float)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert steps.max() < 0.35 * far, (steps.max(), far)


def test_a_smooth_cue_ramp_changes_the_picture_smoothly(style):
    """Flow, hue and a decaying kick, sampled at 30 fps: neighbouring frames differ little."""
    n = 30
    t = np.arange(n, dtype=np.float32) / 30
    cues = _cues(n, flow=0.0)
    cues[:, CUE["flow"]] = t
    cues[:, CUE["hue"]] = 0.05 * np.sin(t)
    cues[:, CUE["kick"]] = np.exp(-t / 0.22)
    z, c = _inputs(1, 3)
    frames = style.render(np.repeat(z, n, 0), np.repeat(c, n, 0), cues).astype(float)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert steps.max() < 12, steps.round(2)
    assert steps[-5:].mean() < 4, steps.round(2)


@pytest.mark.parametrize("value", [np.nan, np.inf, -5.0, 1e6])
def test_wild_cues_give_finite_frames(style, value):
    z, c = _inputs(1)
    cues = np.full((1, len(CUE)), value, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = style.render(z, c, cues)
    assert frames.shape == (1, *SIZE, 3)


@pytest.mark.parametrize("name", ["cppn", "nebula", "flow", "julia", "kaleidoscope"])
def test_a_surge_step_moves_the_picture_but_keeps_its_colours(name):
    """A strong hit's step of the surge (0.4) moves the picture visibly and below a cut, and
    the colours on screen stay the scene's (a turn or a drift, not a new picture)."""
    style = sonicdreams.load_style(name, size=SIZE)
    z, c = _inputs(1, 5)
    cues = _cues(3, palette_a=4, palette_b=4)
    cues[:, CUE["surge"]] = [10.0, 10.0, 10.4]
    frames = style.render(np.repeat(z, 3, 0), np.repeat(c, 3, 0), cues)
    np.testing.assert_array_equal(frames[0], frames[1])
    luma = frames.astype(float) @ np.array([0.2126, 0.7152, 0.0722])
    step = np.abs(luma[2] - luma[1]).mean()
    assert 1.0 < step < 40.0, step  # julia turns its smooth set least visibly
    hist = [np.histogramdd(f.reshape(-1, 3), bins=4, range=[(0, 256)] * 3)[0].ravel()
            for f in frames[1:]]
    hist = [h / h.sum() for h in hist]
    assert 0.5 * np.abs(hist[0] - hist[1]).sum() < 0.3


def test_cppn_reads_its_fields_by_rank():
    """Whatever shape the network's field has (symmetric, heavily skewed, narrow), the
    same share of the frame gets each tone: the shapes morph, the scene's colours stay."""
    from sonicdreams.generators.builtin.cppn import _equalised, _tone_curves

    levels, tone_curve, _ = _tone_curves()
    rng = np.random.default_rng(0)
    fields = {"normal": rng.normal(size=(96, 96)),
              "skewed": rng.exponential(size=(96, 96)) ** 3,
              "narrow": 5.0 + 0.05 * rng.random((96, 96))}
    for name, field in fields.items():
        tone = _equalised(field, field[::4, ::4].ravel(), levels, tone_curve)
        assert np.isfinite(tone).all() and tone.min() >= 0.0 and tone.max() <= 0.5, name
        for q in (0.1, 0.25, 0.5, 0.75, 0.9):
            at = np.interp(q, levels, tone_curve)
            assert abs(float(np.mean(tone < at)) - q) < 0.04, (name, q)
    # A flat field (rounding noise, no shapes) stays one even mid-tone, not amplified noise.
    flat = 2.0 + 1e-6 * rng.random((32, 32))
    tone = _equalised(flat, flat.ravel(), levels, tone_curve)
    assert np.abs(tone - 0.25).max() < 0.02


def test_cppn_frames_keep_their_share_of_each_tone(monkeypatch):
    """What the frames are painted from: in every scene, at every latent, half the picture
    sits on the shadow side of the palette and half on the highlight side (by rank)."""
    from sonicdreams.generators.builtin import cppn

    seen = []
    paint = cppn._paint

    def spy():
        kernel = paint()

        def call(tone, *rest):
            seen.append(np.array(tone))
            return kernel(tone, *rest)

        return call

    monkeypatch.setattr(cppn, "_paint", spy)
    style = sonicdreams.load_style("cppn", size=SIZE)
    z, c = _inputs(4, 21)
    for variant in (0.1, 0.45, 0.8):
        style.render(3.0 * z, c, _cues(4, variant_a=variant, variant_b=variant))
    assert len(seen) == 12
    levels, tone_curve, _ = cppn._tone_curves()
    for tone in seen:
        for q in (0.1, 0.5, 0.9):
            share = float(np.mean(tone < np.interp(q, levels, tone_curve)))
            assert abs(share - q) < 0.05, (q, share)
