"""The ``flow`` and ``julia`` styles: what is their own (the contract, sizes, continuity and
classes of every style are in test_styles.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from _style_inputs import latents, one_hot
from sonicdreams.direction import neutral_cues
from sonicdreams.generators.builtin import flow, julia
from sonicdreams.generators.builtin._noise import TEX_SIZE, sample_noise
from sonicdreams.generators.builtin.flow import Flow
from sonicdreams.generators.builtin.julia import Julia

STYLES = [Flow, Julia]
SIZE = (96, 128)



@pytest.fixture(scope="module", params=STYLES, ids=lambda cls: cls.name)
def style(request):
    return request.param(size=SIZE)


def test_pitch_a_and_b_differ(style):
    if style.name == "julia":  # its colours are the scene's palette; pitch moves them (hue cue)
        pytest.skip("julia takes its colours from the director's palette, not the classes")
    frames = style.render(np.repeat(latents(1, 6), 2, axis=0),
                          np.concatenate([one_hot(9), one_hot(11)])).astype(float)
    assert np.abs(frames[0] - frames[1]).mean() > 10


def _flow_frame(style, z, c, trace, ink):
    """A flow frame drawn by the given trace and ink functions (compiled or plain)."""
    xs, ys, view, field, dye, fine, look, lut = style._params(z, c, neutral_cues(1)[0])
    planes = [np.empty((len(ys), len(xs)), dtype=np.float32) for _ in range(3)]
    trace(xs, ys, view, field, dye, fine, look, *planes)
    return ink(*planes, look, lut, np.empty((*style.size, 3), dtype=np.uint8))


def test_python_fallback_draws_what_the_compiled_kernel_draws():
    """Without numba the same functions run as plain Python: same picture (up to rounding)."""
    z, c = latents(1, 9)[0], one_hot(2)[0]
    xs, ys, *params = Julia._kernel_args(z, c, neutral_cues(1)[0], (18, 24))
    points = np.tile(xs, len(ys)), np.repeat(ys, len(xs))
    drawn = []
    for kernel in (julia._points(), julia._points_py):
        rgb, dist = np.empty((len(points[0]), 3), np.float32), np.empty(len(points[0]), np.float32)
        kernel(*points, *params, rgb, dist)
        drawn.append((rgb * 255).astype(int))
    assert julia._points() is not julia._points_py  # numba is installed
    assert np.mean(np.abs(drawn[0] - drawn[1]) > 2) < 0.01
    style = Flow(size=(18, 24))
    compiled = _flow_frame(style, z, c, flow._trace(), flow._ink()).astype(int)
    plain = _flow_frame(style, z, c, flow._trace_py, flow._ink_py).astype(int)
    assert flow._trace() is not flow._trace_py and flow._ink() is not flow._ink_py
    assert np.mean(np.abs(compiled - plain) > 2) < 0.01


# --- flow ---------------------------------------------------------------------------------


def test_flow_fields_are_divergence_free_swirls():
    fields = flow._flows()
    assert fields.shape == (TEX_SIZE, TEX_SIZE, 4) and fields.dtype == np.float32
    for k in (0, 2):
        vx, vy = fields[..., k].astype(float), fields[..., k + 1].astype(float)
        assert abs(np.hypot(vx, vy).mean() - 1.0) < 1e-3  # unit mean speed
        # Rows are v (y), columns u (x), as the kernel reads them.
        div = ((np.roll(vx, -1, axis=1) - np.roll(vx, 1, axis=1))
               + (np.roll(vy, -1, axis=0) - np.roll(vy, 1, axis=0))) * 0.5
        curl = ((np.roll(vy, -1, axis=1) - np.roll(vy, 1, axis=1))
                - (np.roll(vx, -1, axis=0) - np.roll(vx, 1, axis=0))) * 0.5
        assert np.abs(div).max() < 1e-4 * np.abs(curl).max()
    # The two flows are unrelated, so blending them reshapes the flow.
    assert abs(np.corrcoef(fields[..., 0].ravel(), fields[..., 2].ravel())[0, 1]) < 0.2


@pytest.mark.parametrize("seed", range(4))
def test_flow_ink_is_drawn_out_along_the_streamlines(seed):
    """The filaments lie along the flow: the picture changes less along the local velocity
    than across it (an isotropic picture would change as much both ways)."""
    z, c = latents(1, seed)[0], one_hot(seed)[0]
    style = Flow(size=(160, 160))
    xs, ys, view, field = style._params(z, c, neutral_cues(1)[0])[:4]
    grey = _flow_frame(style, z, c, flow._trace(), flow._ink()).astype(float).mean(axis=-1)
    x, y = np.meshgrid(xs, ys)
    a, b = view[0], view[1]
    u = (a * x - b * y + view[2]).astype(np.float32)
    v = (b * x + a * y + view[3]).astype(np.float32)
    vel = sample_noise((field[0::2] + 1j * field[1::2]).astype(np.complex64), u, v)
    # The velocity in texels, turned back into the picture's columns (x) and rows (y).
    dx = a * vel.real + b * vel.imag
    dy = -b * vel.real + a * vel.imag
    norm = np.hypot(dx, dy) + 1e-9
    dx, dy = dx / norm, dy / norm
    rows, cols = np.mgrid[0:160, 0:160].astype(float)

    def change(d_row, d_col, reach=2.0):
        ahead = map_coordinates(grey, [rows + reach * d_row, cols + reach * d_col], order=1)
        behind = map_coordinates(grey, [rows - reach * d_row, cols - reach * d_col], order=1)
        return np.abs(ahead - behind)[8:-8, 8:-8].mean()

    along, across = change(dy, dx), change(dx, -dy)
    assert along < 0.75 * across, (along, across)


# --- julia --------------------------------------------------------------------------------


def test_julia_parameter_lies_just_outside_the_main_cardioid():
    """The cardioid's points are its boundary, the normal points out of it: k moved along the
    normal leaves the cardioid (c is in it when |1 - sqrt(1 - 4c)| < 1). Away from the cusp:
    there the outside is a thin wedge that a step along the normal crosses."""
    for t in np.linspace(0.6, 2 * np.pi - 0.6, 40):
        point, normal = julia._cardioid(float(t))
        assert abs(abs(1 - np.sqrt(1 - 4 * point)) - 1) < 1e-9
        assert abs(abs(normal) - 1) < 1e-9
        assert abs(1 - np.sqrt(1 - 4 * (point + 0.02 * normal))) > 1
        assert abs(1 - np.sqrt(1 - 4 * (point - 0.02 * normal))) < 1


def test_julia_shows_the_set_and_its_escape():
    """The set glows near the middle and the points that escape fade to the dark around it:
    the picture holds both, and the middle is far brighter than the corners."""
    frames = Julia(size=(128, 128)).render(latents(6, 30), one_hot(0, 6)).astype(float)
    grey = frames.mean(axis=-1)
    for g in grey:
        middle = g[40:88, 40:88].mean()
        corners = np.mean([g[:20, :20].mean(), g[:20, -20:].mean(), g[-20:, :20].mean(),
                           g[-20:, -20:].mean()])
        assert middle > corners + 40, (middle, corners)
        assert 0.1 < np.mean(g > 60) < 0.9 and np.mean(g < 30) > 0.1


@pytest.mark.parametrize("n", range(2, 12))
def test_julia_lattice_covers_every_pixel(n):
    """Lattice lines every few pixels and the last one; each pixel between two lines (or on
    one) with its weight towards the next, so the blocks' fill meets the points exactly."""
    lines, at, t = julia._lattice(n)
    assert lines[0] == 0 and lines[-1] == n - 1 and np.all(np.diff(lines) > 0)
    assert np.all((at >= 0) & (at <= len(lines) - 2)) and np.all((t >= 0) & (t <= 1))
    position = lines[at] + t * (lines[at + 1] - lines[at])
    np.testing.assert_allclose(position, np.arange(n), atol=1e-5)
