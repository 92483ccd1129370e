"""Every built-in style: the Generator contract, determinism, continuity, classes, extremes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sonicdreams
from _style_inputs import latents, one_hot
from sonicdreams.errors import StyleError
from sonicdreams.generators.base import Generator
from sonicdreams.generators.builtin import BUILTIN_STYLES, DEFAULT_STYLE

STYLES = sorted(BUILTIN_STYLES)



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


@pytest.mark.parametrize("size", [(512, 512), (270, 480), (480, 270), (17, 31)])
def test_any_size_and_aspect(size):
    for name in STYLES:
        frames = sonicdreams.load_style(name, size=size).render(latents(1, 2), one_hot(3))
        assert frames.shape == (1, *size, 3), name


def test_small_steps_change_little_and_random_latents_differ(style):
    z = latents(1, 3)
    step = np.random.default_rng(4).standard_normal((1, 512)).astype(np.float32)
    step *= 0.01
    c = np.full((1, 12), 0.5, np.float32)
    base = style.render(z, c)[0].astype(float)
    near = style.render(z + step, c)[0].astype(float)
    others = style.render(latents(4, 5), np.repeat(c, 4, axis=0)).astype(float)
    small = np.abs(near - base).mean()
    far = np.mean([np.abs(o - base).mean() for o in others])
    assert far > 15, "random latents should give widely different images"
    assert small < 0.1 * far, f"{small=:.2f} {far=:.2f}: a tiny step flickers"


def test_each_class_shows_on_screen(style):
    z = np.repeat(latents(1, 6), 12, axis=0)
    frames = style.render(z, np.eye(12, dtype=np.float32)).astype(float)
    means = frames.mean(axis=(1, 2))  # average colour per class
    spread = np.abs(means[:, None, :] - means[None, :, :]).sum(axis=-1)
    distinct = np.abs(frames[:, None] - frames[None, :]).mean(axis=(2, 3, 4))
    off_diagonal = distinct[~np.eye(12, dtype=bool)]
    assert off_diagonal.min() > 3, "two pitches give (nearly) the same picture"
    assert spread.max() > 30


@pytest.mark.parametrize("case", ["plus10", "minus10", "zeros", "classes_zero", "classes_one",
                                  "huge"])
def test_extreme_inputs_give_finite_frames(style, case):
    z = {"plus10": np.full((1, 512), 10.0), "minus10": np.full((1, 512), -10.0),
         "huge": np.full((1, 512), 1e6)}.get(case, np.zeros((1, 512)))
    c = {"classes_one": np.ones((1, 12)), "classes_zero": np.zeros((1, 12))}.get(
        case, np.full((1, 12), 0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings
        frames = style.render(z.astype(np.float32), c.astype(np.float32))
    assert frames.shape == (1, 96, 128, 3) and frames.dtype == np.uint8


def test_preview_contact_sheet(tmp_path):
    from sonicdreams.cli import main

    path = tmp_path / "sheet.png"
    assert main(["styles", "--preview", str(path), "--tile", "48"]) == 0
    from PIL import Image

    sheet = Image.open(path)
    assert sheet.size[1] == 48 * len(STYLES) and sheet.size[0] > 48 * 4
