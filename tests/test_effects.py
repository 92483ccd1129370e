"""Effects: the original's contrast and flash (bugs fixed), the new ones, custom effects."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from sonicdreams import effects as fx
from sonicdreams.errors import SettingsError


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (4, 96, 128, 3), dtype=np.uint8)
    base[:, 40:56, 50:70] = (250, 30, 30)  # a red patch to follow
    return base


@pytest.mark.parametrize("name", sorted(fx.BUILTIN_EFFECTS))
def test_zero_amplitude_changes_nothing_and_shapes_are_kept(frames, name):
    out = fx.BUILTIN_EFFECTS[name].function(frames, np.zeros(4), 1.0)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frames).max() <= 1


@pytest.mark.parametrize("name", sorted(fx.BUILTIN_EFFECTS))
def test_full_amplitude_changes_the_frame(frames, name):
    out = fx.BUILTIN_EFFECTS[name].function(frames, np.ones(4), 1.0)
    assert np.abs(out.astype(int) - frames).mean() > 5


def test_contrast_matches_pillows_enhancer(frames):
    """The original used PIL's ImageEnhance.Contrast with factor 1 + amplitude·strength."""
    out = fx.contrast(frames[:1], np.array([0.8]), 0.5)[0]
    expected = np.asarray(ImageEnhance.Contrast(Image.fromarray(frames[0])).enhance(1.4))
    assert np.abs(out.astype(int) - expected).mean() < 1.5


def test_flash_brightens_and_full_flash_is_white_not_black(frames):
    half = fx.flash(frames[:1], np.array([0.5]), 1.0)[0]
    assert half.mean() > frames[0].mean() + 40
    full = fx.flash(frames[:1], np.array([1.0]), 1.0)[0]
    assert full.mean() > 240  # the original divided by zero here and showed black


def test_zoom_enlarges_the_centre():
    frame = np.full((1, 96, 128, 3), 90, np.uint8)
    frame[0, 40:56, 54:74] = (250, 30, 30)  # a red patch at the centre
    out = fx.zoom(frame, np.array([1.0]), 1.0)[0]  # 1.25x
    red = (out[..., 0] > 170) & (out[..., 1] < 80)
    assert 1.4 < red.sum() / (16 * 20) < 1.75  # area grows by 1.25² ≈ 1.56


def test_hue_turns_colours_but_keeps_brightness(frames):
    out = fx.hue(frames[:1], np.array([1.0]), 1.0)[0].astype(float)  # 180 degrees
    patch = out[44:52, 55:65].mean(axis=(0, 1))
    assert patch[0] < 150 and patch[1] + patch[2] > 150  # red turned cyan-ish
    luma = np.array([0.299, 0.587, 0.114])
    assert abs((out @ luma).mean() - (frames[0].astype(float) @ luma).mean()) < 6


def test_rgb_split_moves_red_and_blue_apart(frames):
    out = fx.rgb_split(frames[:1], np.array([1.0]), 1.0)[0]  # 2 % of 128 = 3 px
    np.testing.assert_array_equal(out[:, :-3, 0], frames[0, :, 3:, 0])
    np.testing.assert_array_equal(out[:, 3:, 2], frames[0, :, :-3, 2])
    np.testing.assert_array_equal(out[..., 1], frames[0, ..., 1])


def test_shake_is_deterministic_per_frame_index(frames):
    a = fx.shake(frames, np.ones(4), 1.0, frame_index=np.arange(10, 14))
    b = fx.shake(frames, np.ones(4), 1.0, frame_index=np.arange(10, 14))
    c = fx.shake(frames, np.ones(4), 1.0, frame_index=np.arange(20, 24))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_effects_generator_contract(frames):
    def invert(array, strength, amplitude):
        return (255 - array * 0 - array) if amplitude * strength > 0.1 else array

    gen = fx.EffectsGenerator(invert, strength=1.0, percussive=False)
    out = gen.apply(frames[:2], np.array([0.0, 1.0]))
    np.testing.assert_array_equal(out[0], frames[0])
    np.testing.assert_array_equal(out[1], 255 - frames[1])

    with pytest.raises(SettingsError, match="array, strength and amplitude"):
        fx.EffectsGenerator(lambda image, k: image)
    with pytest.raises(SettingsError, match="must be a function"):
        fx.EffectsGenerator("not callable")


def test_effects_generator_accepts_pil_images_and_other_sizes(frames):
    def to_pil_half(array, strength, amplitude):
        return Image.fromarray(array).resize((64, 48))

    out = fx.EffectsGenerator(to_pil_half).apply(frames[:1], np.array([0.5]))
    assert out.shape == frames[:1].shape


def test_sample_effects_keep_the_originals_signature(frames):
    out = fx.contrast_effect(array=frames[0], strength=0.5, amplitude=1.0)
    assert out.shape == frames[0].shape
    out = fx.flash_effect(array=frames[0], strength=0.5, amplitude=1.0)
    assert out.mean() > frames[0].mean()


def test_apply_effects_runs_the_chain_in_order(frames):
    amps = {"flash": np.ones(4), "contrast": np.ones(4)}
    ab = fx.apply_effects(frames, [("flash", 0.5), ("contrast", 0.5)], amps, np.arange(4))
    ba = fx.apply_effects(frames, [("contrast", 0.5), ("flash", 0.5)], amps, np.arange(4))
    assert not np.array_equal(ab, ba)


def test_frames_of_any_layout_and_size(frames):
    """Views (a flipped frame, every other column) and tiny frames go through the compiled
    pass like ordinary ones."""
    flipped = frames[:, :, ::-1]
    out = fx.contrast(flipped, np.full(4, 0.5), 0.5)
    np.testing.assert_array_equal(out, fx.contrast(np.ascontiguousarray(flipped),
                                                   np.full(4, 0.5), 0.5))
    chain = [(name, 0.5) for name in fx.BUILTIN_EFFECTS]
    for shape in ((1, 2, 2, 3), (1, 1, 7, 3), (1, 5, 3, 3)):
        tiny = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        amps = {name: np.ones(1) for name, _ in chain}
        assert fx.apply_effects(tiny, chain, amps, np.arange(1)).shape == shape


def test_all_effects_run_fused_in_one_pass(frames, monkeypatch):
    chain = [(name, 0.5) for name in ("contrast", "flash", "zoom", "hue", "rgb_split", "shake")]
    amps = {name: np.ones(4) for name, _ in chain}
    calls = []
    kernel = fx._fuse()
    monkeypatch.setattr(fx, "_fuse", lambda: lambda *a: calls.append(1) or kernel(*a))
    out = fx.apply_effects(frames, chain, amps, np.arange(4))
    assert len(calls) == len(frames)  # one pass a frame, whatever the chain
    # and each effect still shows: the centre's red patch is zoomed, turned and split
    assert np.abs(out.astype(int) - frames).mean() > 20


def test_unknown_effect_names_are_an_error(frames):
    with pytest.raises(SettingsError, match="unknown effect 'blur'"):
        fx.apply_effects(frames, [("blur", 0.5)], {"blur": np.ones(4)}, np.arange(4))


@pytest.mark.parametrize("moves", [[], ["zoom"], ["shake"], ["zoom", "rgb_split", "shake"]])
def test_a_turn_by_nothing_reads_the_same_pixels(frames, moves):
    # With a hue turn the kernel reads each row's channels apart, without one in the frame's
    # order: the same pixels either way (an identity turn changes nothing).
    frame = np.ascontiguousarray(frames[0])
    outs = []
    for turn in (False, True):
        p = fx._Pass(frame)
        for name in moves:
            p.add(name, 0.8, 0.5, index=3)
        p.pre = fx._flash_map(0.5, 0.5)
        if turn:
            p.matrix = np.eye(3, 4, dtype=np.float32)
        out = np.empty_like(frame)
        p.run(out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], frame)
