"""A slow, direct transcription of Lucid Sonic Dreams' vector formulas, for comparison.

Written from the behavioural specification (shared/reference/lucid-sonic-dreams.md §2.7–2.10),
frame by frame with Python lists and the O(N²) re-summation of the motion steps, exactly as the
prose describes. Random draws are passed in, so the fast engine can be compared draw for draw.
"""

from __future__ import annotations

import numpy as np


def full_frame_interpolation(keys, steps, len_out):
    """The original's keyframe path: ``steps`` points per pair (ends included), then the last
    vector repeated to ``len_out`` (the static tail)."""
    out = []
    for a, b in zip(keys[:-1], keys[1:], strict=True):
        for t in np.linspace(0, 1, steps):
            out.append((1 - t) * a + t * b)
    while len(out) < len_out:
        out.append(out[-1])
    return np.array(out[:len_out])


def lsd_noise(base, pulse_env, motion_env, *, fps, pulse_react, motion_react,
              motion_randomness, truncation, signs0, r_draws):
    """§2.9: z_i = base_i + p_i + sum_{k<=i} m_k with direction flips at ±2·truncation.

    ``r_draws[j]`` is the randomness vector drawn at the j-th redraw (every round(4·fps)
    frames, starting at frame 0).
    """
    n, d = base.shape
    scaled_motion = motion_react * 20 / fps
    signs = np.array(signs0, dtype=np.float64)
    pulse_list, motion_list, noise = [], [], []
    redraw = round(4 * fps)
    r = None
    for i in range(n):
        if i % redraw == 0:
            r = np.asarray(r_draws[i // redraw], dtype=np.float64)
        pulse_raw = pulse_react * pulse_env[i] * np.ones(d)
        motion_raw = scaled_motion * motion_env[i] * signs * r
        if i == 0:
            pulse, motion = pulse_raw, motion_raw
        else:
            pulse = 0.75 * pulse_list[-1] + 0.25 * pulse_raw
            motion = 0.75 * motion_list[-1] + 0.25 * motion_raw
        pulse_list.append(pulse)
        motion_list.append(motion)
        z = base[i] + pulse + np.sum(motion_list, axis=0)  # the original's O(N²) sum
        noise.append(z)
        signs = np.where(z - motion_react < -2 * truncation, 1.0,
                         np.where(z + motion_react >= 2 * truncation, -1.0, signs))
    return np.array(noise)


def lsd_classes(chroma, *, classes, num_classes, fps, class_pitch_react, class_complexity,
                class_shuffle_seconds=None, class_shuffle_strength=0.5,
                dominant_classes_first=False, pitches_sorted=None):
    """§2.7 and §2.10 steps 1–4 (no smoothing): one class vector per frame."""
    classes = list(classes)
    if len(classes) < 12:
        classes = (classes * 12)[:12]
    if dominant_classes_first:
        ranked = [0] * 12
        for rank, pitch in enumerate(pitches_sorted):
            ranked[pitch] = classes[rank]
        classes = ranked + classes[12:]
    n = chroma.shape[1]
    voiced = [i for i in range(n) if chroma[:, i].any()]
    first = voiced[0] if voiced else 0
    gain = class_pitch_react * 43 / fps
    shift = round(12 * class_shuffle_strength)
    out = []
    prev = None
    for i in range(n):
        if class_shuffle_seconds is not None and i != 0 and i % round(
                class_shuffle_seconds * fps) == 0:
            classes = classes[shift:] + classes[:shift]

        vec = (_mapped(chroma[:, first], classes, num_classes) if i == 0
               else prev + gain * _mapped(chroma[:, i], classes, num_classes))
        if vec.any():
            vec = (vec - vec.min()) / np.ptp(vec)
        if np.all(vec == vec[0]):
            vec = vec.copy()
            vec[0] += 0.1
        vec = vec * class_complexity
        out.append(vec)
        prev = vec
    return np.array(out)


def _mapped(column, classes, num_classes):
    """A class vector with ``v[classes[p]] = column[p]`` (a repeated class keeps the later)."""
    v = np.zeros(num_classes)
    for p in range(12):
        v[classes[p]] = column[p]
    return v


def lsd_smooth(vectors, window):
    """§2.10 step 5: chunk means shown at each chunk's start, interpolated, tail held."""
    n = len(vectors)
    means = [vectors[k:k + window].mean(axis=0) for k in range(0, n, window)]
    return full_frame_interpolation(np.array(means), window, n)
