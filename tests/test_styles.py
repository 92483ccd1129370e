"""Every built-in style: the Generator contract, determinism, continuity, classes, extremes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

import sonicdreams
from _style_inputs import latents, one_hot
from sonicdreams.errors import StyleError
from sonicdreams.generators.base import Generator
from sonicdreams.generators.builtin import BUILTIN_STYLES, DEFAULT_STYLE

STYLES = sorted(BUILTIN_STYLES)
# Every built-in style is coloured by the scene's palette and hit by the director's cues:
# their reactions are tested in test_style_cues.py and test_style_julia_kaleidoscope_cues.py.

@pytest.fixture(scope="module", params=STYLES)
def style(request):
    return sonicdreams.load_style(request.param, size=(96, 128))


def test_registry_lists_every_style_with_a_description():
    infos = sonicdreams.list_styles()
    assert {s.name for s in infos} >= set(STYLES) and DEFAULT_STYLE in STYLES
    assert all(s.description and "\n" not in s.description for s in infos)


def test_unknown_style_suggests_names():
    with pytest.raises(StyleError, match="did you mean cppn"):
        sonicdreams.load_style("cpnn")
    assert sonicdreams.load_style("CPPN").name == "cppn"  # case-insensitive


def test_contract_and_determinism(style):
    assert isinstance(style, Generator)
    assert (style.z_dim, style.c_dim, style.size) == (512, 12, (96, 128))
    z, c = latents(3, 0), np.random.default_rng(1).random((3, 12)).astype(np.float32)
    a, b = style.render(z, c), style.render(z, c)
    assert a.shape == (3, 96, 128, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(style.render(z[1:2], c[1:2])[0], a[1])  # batch-independent
    fresh = sonicdreams.load_style(style.name, size=(96, 128))  # empty caches, same pixels
    np.testing.assert_array_equal(fresh.render(z, c), a)


@pytest.mark.parametrize("size", [(512, 512), (270, 480), (480, 270), (17, 31)])
def test_any_size_and_aspect(size):
    for name in STYLES:
        frames = sonicdreams.load_style(name, size=size).render(latents(1, 2), one_hot(3))
        assert frames.shape == (1, *size, 3) and frames.dtype == np.uint8, name
        assert frames.std() > 5, name  # a picture, not a flat fill


def test_small_steps_change_little_and_random_latents_differ(style):
    """A tiny step in z barely changes the picture, at several latents (chaotic flows and
    fractals could flicker at some), while random latents give widely different pictures."""
    if style.name == "julia":
        pytest.skip("julia's scenes, not its latent, make its widest changes")
    c = np.full((1, 12), 0.5, np.float32)
    others = style.render(latents(4, 50), np.repeat(c, 4, axis=0)).astype(float)
    ratios = []
    for seed in range(6):
        z = latents(1, 10 + seed)
        step = 0.01 * np.random.default_rng(20 + seed).standard_normal((1, 512))
        base = style.render(z, c)[0].astype(float)
        near = style.render((z + step).astype(np.float32), c)[0].astype(float)
        far = np.mean([np.abs(o - base).mean() for o in others])
        assert far > 15, "random latents should give widely different images"
        ratios.append(np.abs(near - base).mean() / far)
    assert max(ratios) < 0.1, f"a tiny step flickers: ratios {np.round(ratios, 3)}"


@pytest.mark.parametrize("name", STYLES)
def test_wide_and_tall_frames_are_not_stretched(name):
    """A 16:9 frame shows more of the same picture at the same scale: its middle square is the
    square frame. A 9:16 frame shows the same picture at its height's scale."""
    from sonicdreams.direction import CUE, neutral_cues

    z, c = latents(1, 3), one_hot(7)
    square = sonicdreams.load_style(name, size=(90, 90)).render(z, c)[0].astype(float)
    elsewhere = neutral_cues(1)  # another latent in another scene: an unrelated picture
    elsewhere[:, [CUE["variant_a"], CUE["variant_b"]]] = 0.61
    other = sonicdreams.load_style(name, size=(90, 90)).render(latents(1, 4), c, elsewhere)[0]
    unrelated = np.abs(other - square).mean()
    wide = sonicdreams.load_style(name, size=(90, 160)).render(z, c)[0].astype(float)
    assert np.abs(wide[:, 35:125] - square).mean() < 0.35 * unrelated
    tall = sonicdreams.load_style(name, size=(160, 90)).render(z, c)[0].astype(float)
    middle = np.asarray(Image.fromarray(tall.astype(np.uint8)).resize((50, 90))).astype(float)
    assert np.abs(middle - square[:, 20:70]).mean() < 0.35 * unrelated


@pytest.mark.parametrize("case", ["plus10", "minus10", "zeros", "huge", "classes_zero",
                                  "classes_one", "classes_huge"])
def test_extreme_inputs_give_finite_frames(style, case):
    z = {"plus10": np.full((1, 512), 10.0), "minus10": np.full((1, 512), -10.0),
         "huge": np.full((1, 512), 1e6)}.get(case, np.zeros((1, 512)))
    c = {"classes_zero": np.zeros((1, 12)), "classes_one": np.ones((1, 12)),
         "classes_huge": np.full((1, 12), 1e6)}.get(case, np.full((1, 12), 0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings
        frames = style.render(z.astype(np.float32), c.astype(np.float32))
    assert frames.shape == (1, 96, 128, 3) and frames.dtype == np.uint8


def test_preview_contact_sheet(tmp_path):
    from sonicdreams.cli import main

    path = tmp_path / "sheet.png"
    assert main(["styles", "--preview", str(path), "--tile", "48"]) == 0
    from PIL import Image

    from sonicdreams.direction import PALETTES

    sheet = Image.open(path)
    strip = 14  # a strip per palette under the styles
    assert sheet.size[1] == 48 * len(STYLES) + strip * len(PALETTES) + 8
    assert sheet.size[0] > 48 * 4
    pixels = np.asarray(sheet.convert("RGB")).astype(int)
    palettes = pixels[48 * len(STYLES) + 8:, 150 + 4:]
    assert (palettes.max(axis=-1) - palettes.min(axis=-1)).mean() > 40  # colours, not grey
