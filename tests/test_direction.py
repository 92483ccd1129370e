"""The director: scene plans, palettes, hits by band, looks and the scenes table."""

from __future__ import annotations

import numpy as np
import pytest

import sonicdreams
from sonicdreams.direction import (
    CUE,
    CUES,
    PALETTES,
    direct,
    get_palette,
    key_and_mode,
    neutral_cues,
    palette_mix,
    palette_table,
)
from sonicdreams.errors import SettingsError
from sonicdreams.settings import RenderSettings
from test_motion import synthetic_features

_MAJOR_TRIADS = {0: (0, 4, 7), 5: (5, 9, 0), 7: (7, 11, 2)}


def _chroma(n: int, pitches, *, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    chroma = rng.random((12, n)).astype(np.float32) * noise
    for p in pitches:
        chroma[p] += 1.0
    return chroma / chroma.max(axis=0, keepdims=True)


# -- key, mode, palettes -------------------------------------------------------------------


def test_key_and_mode_of_chord_progressions():
    # I-IV-V-I in C major, and a minor: i-iv-v in A minor (A C E, D F A, E G B)
    major = np.concatenate([_chroma(50, _MAJOR_TRIADS[k]) for k in (0, 5, 7, 0)], axis=1)
    assert key_and_mode(major)[:2] == (0, "major")
    minor = np.concatenate([_chroma(50, p) for p in ((9, 0, 4), (2, 5, 9), (4, 7, 11),
                                                     (9, 0, 4))], axis=1)
    assert key_and_mode(minor)[:2] == (9, "minor")
    assert key_and_mode(np.zeros((12, 10)))[2] == 0.0  # silence: no confidence


def test_palettes_are_rings_from_shadow_to_highlight_and_saturated():
    for k, palette in enumerate(PALETTES):
        table = palette_table(k)
        assert table.shape == (256, 3) and table.dtype == np.float32
        assert 0.0 <= table.min() and table.max() <= 1.0
        luma = table @ np.float32([0.2126, 0.7152, 0.0722])
        assert luma[0] < 0.1 and luma[128] > 0.6, palette.name  # shadow … highlight
        # A ring: no seam where t wraps, and small steps everywhere.
        assert np.abs(np.diff(table, axis=0, append=table[:1])).max() < 0.1, palette.name
        # Saturated mid-tones: the middle of the climb is far from grey.
        mid = table[40:100]
        assert (mid.max(axis=1) - mid.min(axis=1)).mean() > 0.25, palette.name


def test_palette_mix_goes_from_one_palette_to_the_other():
    a, b = palette_table(0), palette_table(2)
    np.testing.assert_array_equal(palette_mix(0, 2, 0.0), a)
    np.testing.assert_array_equal(palette_mix(0, 2, 1.0), b)
    half = palette_mix(0, 2, 0.5)
    assert np.abs(half - a).mean() > 0.05 and np.abs(half - b).mean() > 0.05


def test_an_unknown_palette_names_the_choices():
    with pytest.raises(SettingsError, match="ember"):
        get_palette("mud")
    with pytest.raises(SettingsError, match="palette='mud'"):
        RenderSettings(palette="mud")


# -- hits ------------------------------------------------------------------------------------


def _click_features(fps: int = 30, duration: float = 12.0):
    f = synthetic_features(duration, fps, beat_times=np.arange(0.5, duration, 0.5))
    n = f.n_frames
    bands = np.zeros((4, n), np.float32)
    kicks = np.round(np.arange(0.5, duration - 0.5, 0.5) * fps).astype(int)
    rng = np.random.default_rng(3)
    bands[0] = rng.random(n) * 0.05  # a noise floor that must stay still
    bands[0, kicks] = 1.0
    bands[1, kicks[1::2]] = 0.8  # snares on 2 and 4
    bands[3] = np.maximum(bands[0], bands[1])  # every onset
    return _replace(f, onset_bands=bands), kicks


def _replace(features, **changes):
    from dataclasses import replace

    return replace(features, **changes)


def test_kick_cue_attacks_on_the_kick_and_decays_before_the_next():
    f, kicks = _click_features()
    d = direct(f, settings=RenderSettings(), seed=1)
    kick = d.cue("kick")
    for k in kicks:
        assert kick[k] > 0.5  # the attack is on the kick's frame
        assert kick[k - 1] < 0.5 * kick[k]  # not before it
        assert kick[k + 1] < kick[k]  # a decay, not a hold
    gaps = [kick[k + 12] for k in kicks if k + 12 < len(kick)]
    assert max(gaps) < 0.2 * kick[kicks].min()  # calm before the next beat


def test_hits_scale_with_pulse_react():
    f, kicks = _click_features()
    soft = direct(f, settings=RenderSettings(pulse_react=0.5), seed=1).cue("kick")[kicks]
    hard = direct(f, settings=RenderSettings(pulse_react=2.0), seed=1).cue("kick")[kicks]
    np.testing.assert_allclose(hard, 4 * soft, rtol=1e-5)
    assert 0.5 < np.median(soft) < 1.6  # about 1 on a strong hit at the default


def test_surge_steps_forward_on_the_hits_only_and_never_back():
    """The surge moves on a kick's frame (most of the step) and the next, nowhere else; it
    never goes back, a louder look steps further, and the loudest hits are compressed."""
    f, kicks = _click_features()
    surge = direct(f, settings=RenderSettings(), seed=1).cue("surge").astype(np.float64)
    steps = np.diff(surge, prepend=0.0)
    assert steps.min() >= 0.0
    on = np.zeros(len(steps), bool)
    on[kicks] = on[np.minimum(kicks + 1, len(on) - 1)] = True
    assert (steps[kicks] > 0.2).all() and (steps[kicks] > steps[kicks + 1]).all()
    assert steps[~on].max() < 0.05 * steps[kicks].min()  # the noise floor stays still
    assert steps.max() <= 0.5 * 0.65 * 1.0 + 1e-6  # the cap (_SURGE_TOP): never a cut
    loud = direct(f, settings=RenderSettings(pulse_react=1.0), seed=1).cue("surge")
    # twice the pulse: twice the step, and more again past pulse_react 0.5 (up to a cap)
    assert 2.2 * surge[-1] < loud[-1] <= 4.0 * surge[-1] + 1e-3
    wild = direct(f, settings=RenderSettings(pulse_react=2.0), seed=1).cue("surge")
    assert np.diff(wild).max() <= 1.0 + 1e-5  # _SURGE_MAX caps the strongest looks too
    still = direct(f, settings=RenderSettings(pulse_react=0.0), seed=1).cue("surge")
    assert np.abs(still).max() == 0.0


def test_a_strong_look_steps_the_surge_in_proportion_to_the_onsets():
    """At the default, every picked hit steps the surge much alike; at pulse_react 1 a soft
    onset steps it less than a loud one, about in proportion (the intense look's picture
    moves as hard as the song hits)."""
    from scipy.stats import spearmanr

    f, kicks = _click_features()
    bands = np.array(f.onset_bands)
    sizes = np.random.default_rng(4).uniform(0.25, 1.0, len(kicks))
    bands[3, kicks] = sizes
    f = _replace(f, onset_bands=bands)
    soft, loud = sizes < 0.35, sizes > 0.9

    def steps(pulse_react: float) -> np.ndarray:
        surge = direct(f, settings=RenderSettings(pulse_react=pulse_react), seed=1).cue("surge")
        return np.diff(surge, prepend=0.0)

    default, every = steps(0.5)[kicks], steps(1.0)
    strong = every[kicks]
    assert default[soft].mean() > 0.7 * default[loud].mean()
    # in proportion, through a soft knee (a mid hit still shows)
    assert 0.45 * strong[loud].mean() < strong[soft].mean() < 0.6 * strong[loud].mean()
    assert spearmanr(strong, sizes).statistic > 0.95  # louder onset, longer step
    assert np.corrcoef(strong, sizes)[0, 1] > 0.95
    # between the onsets (a noise floor of a twentieth of the loudest) the picture drifts
    # with the texture, by a tenth of a strong onset's step at most
    between = np.ones(len(every), bool)
    between[kicks] = between[np.minimum(kicks + 1, len(every) - 1)] = False
    assert every[between].max() < 0.15 * strong.max()
    assert every[between].sum() < 0.5 * every[~between].sum()


def test_a_new_section_gets_a_palette_that_looks_different():
    """Consecutive scenes' palettes are far apart in colour (the same picture in both would
    look clearly different), not merely different names."""
    from sonicdreams.direction.palettes import palette_distances

    dist = palette_distances()
    assert dist.shape == (len(PALETTES), len(PALETTES)) and np.allclose(np.diag(dist), 0.0)
    np.testing.assert_allclose(dist, dist.T)
    f, _ = _song_with_sections()
    steps = []
    for seed in range(20):
        scenes = direct(f, settings=RenderSettings(), seed=seed).scenes
        steps += [dist[a.palette, b.palette] for a, b in zip(scenes[:-1], scenes[1:], strict=True)]
    # never two near-twins in a row (ocean and lagoon are 0.14 apart), and far apart on
    # average (picked for the mood alone, 0.25)
    assert min(steps) > 0.15 and np.mean(steps) > 0.33, (min(steps), np.mean(steps))


def test_a_flat_song_has_no_hits():
    f = synthetic_features(6.0, 30, silent=True)
    d = direct(f, settings=RenderSettings(), seed=0)
    assert np.isfinite(d.cues).all()
    assert d.cue("hit").max() == 0.0 and len(d.scenes) == 1


# -- scenes ----------------------------------------------------------------------------------


def _song_with_sections(duration: float = 64.0, fps: int = 30):
    """Four 16-s sections (verse, chorus, verse, chorus) with beats every 0.5 s."""
    beats = np.arange(0.0, duration, 0.5)
    n = int(np.floor(duration * 22050 / 512)) + 1
    t = np.arange(n) * 512 / 22050
    chroma = np.zeros((12, n), np.float32)
    chorus = (t // 16) % 2 == 1
    for p in _MAJOR_TRIADS[0]:
        chroma[p, ~chorus] = 1.0
    for p in (9, 0, 4):
        chroma[p, chorus] = 1.0
    chroma[5, chorus] = 0.6
    # sections detected slightly off the downbeats: the director moves them onto the bar
    f = synthetic_features(duration, fps, chroma=chroma, beat_times=beats,
                           section_times=[0.0, 16.3, 31.8, 48.2])
    return f, beats


def test_scenes_start_on_downbeats_and_their_transitions_end_there():
    f, beats = _song_with_sections()
    d = direct(f, settings=RenderSettings(), seed=4)
    bar = 2.0
    starts = [sc.start_s for sc in d.scenes]
    assert starts[0] == 0.0 and len(starts) == 4
    for start, section in zip(starts[1:], f.section_times[1:], strict=True):
        assert abs(start - section) <= bar / 2 + 1e-9  # the nearest downbeat …
        assert np.isclose(d.downbeat_times, start).any()  # … is where the scene starts
    for prev, scene in zip(d.scenes, d.scenes[1:], strict=False):
        assert 0.4 <= scene.transition_s <= 2.1  # one beat to one bar
        assert scene.palette != prev.palette
        fps = float(f.fps)
        k = int(round(scene.start_s * fps))
        mix = d.cue("mix")
        assert d.cues[k, CUE["scene_a"]] == d.cues[k, CUE["scene_b"]]  # arrived on the beat
        before = mix[k - int(scene.transition_s * fps) + 1:k]
        assert np.all(np.diff(before) > 0)  # moving all the way, faster towards the beat
        assert np.diff(before)[-1] > np.diff(before)[0]


def test_a_strong_look_moves_into_a_scene_on_the_onsets():
    """At pulse_react 1 a transition advances in jolts on the onsets and rests between them,
    and still arrives on the downbeat; at the default it is the eased curve."""
    f, beats = _song_with_sections()
    fps = float(f.fps)
    bands = np.zeros((4, f.n_frames), np.float32)
    onsets = np.round(beats * fps).astype(int)
    onsets = onsets[onsets < f.n_frames]
    bands[3] = np.random.default_rng(2).random(f.n_frames) * 0.02
    bands[3, onsets] = 1.0
    f = _replace(f, onset_bands=bands)
    strong = direct(f, settings=RenderSettings(pulse_react=1.0), seed=4)
    default = direct(f, settings=RenderSettings(), seed=4)
    on = np.zeros(f.n_frames, bool)
    on[onsets] = True
    for scene, eased in zip(strong.scenes[1:], default.scenes[1:], strict=True):
        assert scene.start_s == eased.start_s and scene.transition_s >= 0.9
        k = int(round(scene.start_s * fps))
        span = np.arange(k - int(scene.transition_s * fps) + 1, k)
        mix = strong.cue("mix")
        assert np.all(np.diff(mix[span]) >= 0) and mix[k - 1] < 1.0  # onward, not there yet
        assert strong.cues[k, CUE["scene_a"]] == strong.cues[k, CUE["scene_b"]] == \
            strong.scenes.index(scene)  # arrived on the downbeat
        steps = np.diff(mix[span[0] - 1:k])  # the step into each frame of the move
        moving = on[span] | on[span - 1]  # an onset's frame and the next
        assert steps[moving].min() > 4 * steps[~moving].max()
        landing = 1.0 - mix[k - 1]  # the step onto the downbeat (an onset)
        assert 4 * steps[~moving].max() < landing
        assert max(steps.max(), landing) <= 0.2 + 1e-6  # never a cut: a fifth at most
        u = (span / fps - (scene.start_s - scene.transition_s)) / scene.transition_s
        np.testing.assert_allclose(default.cue("mix")[span], u ** 3, atol=1e-6)


def test_a_paced_transition_never_jumps_more_than_a_fifth():
    from sonicdreams.direction.plan import _capped_shares

    weights = np.array([0.02] * 7 + [1.0, 0.35] + [0.02] * 5 + [1.0])  # one beat, two onsets
    share = _capped_shares(weights, 0.2)
    assert np.isclose(share.sum(), 1.0) and share.max() <= 0.2 + 1e-12
    np.testing.assert_allclose(share[[7, 8, 14]], 0.2)  # the onsets: as much as allowed
    rest = np.ones(len(weights), bool)
    rest[[7, 8, 14]] = False
    np.testing.assert_allclose(share[rest] / weights[rest], share[0] / weights[0])  # in step
    np.testing.assert_allclose(_capped_shares(np.ones(4), 0.25), 0.25)


def test_a_returning_section_gets_its_palette_back():
    f, _ = _song_with_sections()
    d = direct(f, settings=RenderSettings(), seed=4)
    palettes = [sc.palette for sc in d.scenes]
    assert palettes[2] == palettes[0] and palettes[3] == palettes[1]
    assert len({sc.seed for sc in d.scenes}) == 4  # but a new place in the style's space


def test_one_palette_and_no_scene_changes_when_asked():
    f, _ = _song_with_sections()
    fixed = direct(f, settings=RenderSettings(palette="ocean"), seed=4)
    assert {sc.palette_name for sc in fixed.scenes} == {"ocean"}
    assert len(direct(f, settings=RenderSettings(scene_changes=False), seed=4).scenes) == 1
    assert len(direct(f, settings=RenderSettings(look="original"), seed=4).scenes) == 1


def test_the_same_seed_gives_the_same_plan_and_another_seed_another():
    f, _ = _song_with_sections()
    a = direct(f, settings=RenderSettings(), seed=1)
    b = direct(f, settings=RenderSettings(), seed=1)
    c = direct(f, settings=RenderSettings(), seed=2)
    np.testing.assert_array_equal(a.cues, b.cues)
    assert [s.seed for s in a.scenes] != [s.seed for s in c.scenes]


def test_scenes_table_by_time_and_by_section():
    f, _ = _song_with_sections()
    timed = RenderSettings(scenes=[{"start": 0, "palette": "ice"},
                                   {"start": 20.2, "palette": "ember", "seed": 7,
                                    "snap": False, "transition_s": 1.0}])
    d = direct(f, settings=timed, seed=4)
    assert [(round(s.start_s, 3), s.palette_name) for s in d.scenes] == [(0.0, "ice"),
                                                                         (20.2, "ember")]
    assert d.scenes[1].seed == 7 and d.scenes[1].transition_s == 1.0
    by_section = RenderSettings(scenes=[{"section": 2, "palette": "neon", "pulse_react": 2.0}])
    d = direct(f, settings=by_section, seed=4)
    assert d.scenes[1].palette_name == "neon" and len(d.scenes) == 4
    assert d.scenes[1].pulse_react == 2.0


@pytest.mark.parametrize(("table", "message"), [
    ([{"start": 0}, {"section": 2}], "not a mix"),
    ([{"start": 10}, {"start": 5}], "increase"),
    ([{"start": 1, "crf": 20}], "'crf' cannot be set per scene"),
    ([{"palette": "ice"}], "needs either start"),
    ([{"start": 1, "transition": "wipe"}], "morph, crossfade"),
    ({"start": 1}, "list of tables"),
])
def test_a_bad_scenes_table_is_refused_with_the_reason(table, message):
    with pytest.raises(SettingsError, match=message):
        RenderSettings(scenes=table)


# -- looks -----------------------------------------------------------------------------------


def test_looks_are_bundles_that_options_given_override():
    assert RenderSettings().look == "default"
    intense = RenderSettings(look="intense")
    assert intense.pulse_react == 1.0 and intense.speed_fpm == 12
    original = RenderSettings(look="original")
    assert (original.pulse_react, original.speed_fpm, original.motion_space,
            original.sync_keyframes_to_beats, original.scene_changes) == (
        0.5, 12, "linear", False, False)
    assert original.flash_strength is None and original.contrast_strength is None
    given = RenderSettings.create({"look": "intense", "pulse_react": 0.5})
    assert given.pulse_react == 0.5 and given.speed_fpm == 12
    assert given.update(seed=3).pulse_react == 0.5  # later changes keep it
    calm = given.update(look="calm")
    assert calm.pulse_react == 0.5 and calm.speed_fpm == 6  # given stays, the rest follows


def test_cli_look_flag_and_dump_config(capsys, tmp_path):
    from sonicdreams.cli import main

    song = tmp_path / "x.wav"
    import soundfile

    soundfile.write(song, np.zeros(22050, np.float32), 22050)
    assert main(["render", str(song), "--look", "calm", "--palette", "ice",
                 "--dump-config"]) == 0
    out = capsys.readouterr().out
    assert 'look = "calm"' in out and "pulse_react = 0.3" in out and 'palette = "ice"' in out
    config = tmp_path / "scenes.toml"
    config.write_text('[[scenes]]\nstart = 0\npalette = "ember"\n\n'
                      '[[scenes]]\nstart = 12.5\nstyle = "julia"\ntransition = "crossfade"\n')
    assert main(["render", str(song), "--config", str(config), "--dump-config"]) == 0
    out = capsys.readouterr().out
    assert 'scenes = [{palette = "ember", start = 0.0}' in out
    reread = tmp_path / "again.toml"
    reread.write_text(out)
    assert main(["render", str(song), "--config", str(reread), "--dump-config"]) == 0
    assert capsys.readouterr().out == out


# -- styles draw the cues --------------------------------------------------------------------


def test_neutral_cues_are_a_still_scene():
    cues = neutral_cues(3)
    assert cues.shape == (3, len(CUES)) and cues[:, CUE["hit"]].max() == 0


def test_scene_styles_blend_two_styles_through_the_transition():
    from sonicdreams.generators.builtin import load_builtin
    from sonicdreams.generators.scenes import SceneStyles

    a, b = load_builtin("cppn", size=(32, 48)), load_builtin("julia", size=(32, 48))
    both = SceneStyles([a, b], [0, 1], size=(32, 48), transitions=["morph", "crossfade"])
    z = np.random.default_rng(0).standard_normal((4, 512)).astype(np.float32)
    c = np.zeros((4, 12), np.float32)
    cues = neutral_cues(4)
    cues[:, CUE["scene_b"]] = 1
    cues[:, CUE["mix"]] = [0.0, 0.0, 0.5, 1.0]
    cues[0, CUE["scene_b"]] = 0
    frames = both.render(z, c, cues=cues).astype(int)
    own_a = a.render(z, c, cues=cues).astype(int)
    own_b = b.render(z, c, cues=cues).astype(int)
    np.testing.assert_array_equal(frames[0], own_a[0])  # scene 0: style a alone
    np.testing.assert_array_equal(frames[1], own_a[1])  # no blend before the move starts
    np.testing.assert_array_equal(frames[3], own_b[3])  # arrived: style b alone
    mid = frames[2]
    assert np.abs(mid - own_a[2]).mean() > 3 and np.abs(mid - own_b[2]).mean() > 3
    assert both.fingerprint.startswith("scenes|")


def test_a_render_with_a_style_per_scene(tmp_path):
    import av
    import soundfile

    song = tmp_path / "beat.wav"
    sr = 22050
    y = np.zeros(sr * 6, np.float32)
    for t in np.arange(0.25, 6, 0.5):
        i = int(t * sr)
        y[i:i + 800] += np.random.default_rng(int(t * 10)).standard_normal(800) * 0.5
    soundfile.write(song, y, sr)
    out = tmp_path / "v.mp4"
    result = sonicdreams.render(song, out, width=48, height=32, fps=12,
                                scenes=[{"start": 0, "palette": "ice"},
                                        {"start": 3, "style": "julia", "palette": "ember",
                                         "snap": False, "transition_s": 1.0}])
    scenes = result.manifest["direction"]["scenes"]
    assert [s.get("style") for s in scenes] == [None, "julia"]
    with av.open(str(out)) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) == 72


def test_still_frames_are_the_frames_of_the_video(tmp_path, excerpt):
    import av

    out = tmp_path / "v.mkv"  # ffv1: lossless up to the colour conversion (4:2:0 chroma)
    # (still_frames leaves out the photosensitivity limiter, which needs the frames before)
    options = dict(style="kaleidoscope", width=64, height=48, fps=12, duration=3, seed=2,
                   allow_flashing=True)
    sonicdreams.render(excerpt, out, codec="ffv1", **options)
    with av.open(str(out)) as video:
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in video.decode(video=0)]
    stills = sonicdreams.still_frames(excerpt, [0.5, 2.25], **options).astype(int)
    assert stills.shape == (2, 48, 64, 3)
    for still, k in zip(stills, (6, 27), strict=True):
        assert np.abs(still - frames[k]).mean() < 2  # the same frame …
        assert np.abs(still - frames[k]).mean() < 0.2 * np.abs(still - frames[k + 2]).mean()
