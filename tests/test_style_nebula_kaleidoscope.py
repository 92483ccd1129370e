"""The ``nebula`` and ``kaleidoscope`` styles: what is their own (the contract, sizes,
continuity, pulse and extreme inputs of every style are in test_styles.py)."""

from __future__ import annotations

import numpy as np
import pytest

from _style_inputs import latents, one_hot
from sonicdreams.generators.builtin._noise import (
    TEX_SIZE,
    budget_size,
    noise_texture,
    row_blocks,
    sample_noise,
)
from sonicdreams.generators.builtin.kaleidoscope import Kaleidoscope
from sonicdreams.generators.builtin.nebula import Nebula

STYLES = [Nebula, Kaleidoscope]
SIZE = (96, 128)



@pytest.fixture(scope="module", params=STYLES, ids=lambda cls: cls.name)
def style(request):
    return request.param(size=SIZE)


def _edges(frame: np.ndarray) -> np.ndarray:
    grey = frame.astype(float).mean(axis=-1)
    return (np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1]).ravel()


def test_random_latents_differ_in_shapes_not_only_colour(style):
    """Where the edges lie does not depend on colours: random latents (same classes) put them
    in unrelated places, while a recoloured picture would keep them."""
    edges = [_edges(f) for f in style.render(latents(4, 60), one_hot(2, 4))]
    corr = [np.corrcoef(edges[0], e)[0, 1] for e in edges[1:]]
    assert max(corr) < 0.4, f"edge correlations {np.round(corr, 2)}"


def test_each_pitch_class_shows_on_screen(style):
    if style.name == "nebula":
        pytest.skip("nebula's colour comes from the scene's palette (test_style_cues.py)")
    z = np.repeat(latents(1, 6), 12, axis=0)
    frames = style.render(z, np.eye(12, dtype=np.float32)).astype(float)
    distinct = np.abs(frames[:, None] - frames[None, :]).mean(axis=(2, 3, 4))
    assert distinct[~np.eye(12, dtype=bool)].min() > 5, "two pitches give the same picture"
    means = frames.mean(axis=(1, 2))  # average colour per class
    assert np.abs(means[:, None, :] - means[None, :, :]).sum(axis=-1).max() > 30
    # Pitch A against pitch B, the example of the issue.
    assert np.abs(frames[9] - frames[11]).mean() > 10


@pytest.mark.parametrize("pitches", [(0, 7), (0, 6)], ids=["C-G", "C-F#"])
def test_classes_change_the_picture_without_jumps(pitches):
    """Sliding the class vector from one pitch to another changes the picture continuously:
    halving the step (here quartering) shrinks the largest change between neighbours. For the
    kaleidoscope this passes through one (C-G) or six (C-F#) changes of symmetry."""
    a, b = pitches
    for cls in (Kaleidoscope,):  # nebula: classes only nudge texture (test_style_cues.py)
        style = cls(size=(48, 64))
        largest = []
        for n in (101, 401):
            w = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
            c = (1 - w) * one_hot(a) + w * one_hot(b)
            frames = style.render(np.repeat(latents(1, 7), n, axis=0), c).astype(float)
            largest.append(np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3)).max())
        total = np.abs(frames[-1] - frames[0]).mean()
        assert total > 10, cls.name
        assert largest[1] < 0.5 * largest[0] and largest[1] < 0.2 * total, (cls.name, largest)


def test_noise_texture_and_sampling():
    tex = noise_texture(1, 2.1, cutoff=24.0)
    assert tex.dtype == np.complex64 and tex.shape == (TEX_SIZE * TEX_SIZE,)
    for part in (tex.real, tex.imag):
        assert abs(part.mean()) < 1e-3 and abs(part.std() - 1) < 1e-3
    assert abs(np.corrcoef(tex.real, tex.imag)[0, 1]) < 0.1  # two independent noises
    # Samples at texel centres are the texels; the texture wraps; nearby samples are close.
    i = np.float32([0, 5, 17])
    np.testing.assert_allclose(sample_noise(tex, i, i), tex[i.astype(int) * (TEX_SIZE + 1)],
                               rtol=1e-5, atol=1e-6)
    u = np.float32([3.25, 3.25 + TEX_SIZE, 3.25 - 4 * TEX_SIZE])
    s = sample_noise(tex, u, np.float32([7.5] * 3))
    np.testing.assert_allclose(s, s[0], atol=1e-4)
    a = sample_noise(tex, np.float32([40.0]), np.float32([9.0]))
    b = sample_noise(tex, np.float32([40.01]), np.float32([9.0]))
    assert abs(a - b)[0] < 0.05


def test_work_sizes_and_row_blocks():
    assert budget_size((512, 512), 384 * 384) == (384, 384)
    assert budget_size((1080, 1920), 384 * 384) == (288, 512)  # same pixels, same aspect
    assert budget_size((17, 31), 384 * 384) == (17, 31)  # never scaled up
    for h, w in [(17, 31), (384, 384), (288, 512)]:
        blocks = row_blocks(h, w)
        assert blocks[0][0] == 0 and blocks[-1][1] == h
        assert all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:], strict=True))
