"""The two sequential recurrences of the motion engine, compiled with numba.

Both are inherently step-by-step (a walk that turns at bounds, a class vector fed back
through a normalisation), so each runs as one compiled O(N·D) loop. They are also importable
as plain Python (``*_py``) for tests and for machines without numba.

The walk runs on a fixed clock of ``REFERENCE_FPS`` ticks per second, the frame rate the
original's per-frame constants were made for, and is read at the video's frame times by linear
interpolation: the same song moves the same way at 24 or 60 fps, and at 43 fps the ticks are
the frames, exactly as in the original.
"""

from __future__ import annotations

import numpy as np

__all__ = ["latent_walk", "class_walk"]


def _emit_py(out, out_start, i, k, frame_tick, frame_frac, f_key_a, f_key_b, f_w_a, f_w_b,
             keys, state, scalars):
    """Write the frames that lie between tick ``k - 1`` and tick ``k`` (or on tick ``k``),
    from frame ``i`` on, into ``out`` (row = frame - out_start); stop at the end of ``out``.
    Returns the next frame to emit."""
    n = frame_tick.shape[0]
    d = out.shape[1]
    end = out_start + out.shape[0]
    while i < n and i < end and (frame_tick[i] < k or (frame_tick[i] == k
                                                       and frame_frac[i] == 0.0)):
        f = 1.0 if frame_tick[i] == k else frame_frac[i]
        if i >= out_start:
            pf = (1.0 - f) * scalars[1] + f * scalars[0]
            ka = f_key_a[i]
            kb = f_key_b[i]
            row = i - out_start
            for j in range(d):
                out[row, j] = (f_w_a[i] * keys[ka, j] + f_w_b[i] * keys[kb, j] + pf
                               + (1.0 - f) * state[3, j] + f * state[2, j])
        i += 1
    return i


def latent_walk_py(out, out_start, i, k0, k1, frame_tick, frame_frac, f_key_a, f_key_b,
                   f_w_a, f_w_b, t_key_a, t_key_b, t_w_a, t_w_b, keys, pulse, motion,
                   r_blocks, block, state, scalars, ema, motion_react, bound):
    """Advance the walk over ticks ``[k0, k1)`` and write frames ``out_start…`` into ``out``.

    Per tick k (``pulse``, ``motion``, ``block`` and the ``t_*`` base weights have one entry
    per tick):
      base_k = t_w_a[k] * keys[t_key_a[k]] + t_w_b[k] * keys[t_key_b[k]]
      p_k    = EMA of pulse[k]             (one scalar added to every dimension)
      m_k    = EMA of motion[k] * s * r    (s: direction per dimension, r: randomness)
      z_k    = base_k + p_k + sum_{j<=k} m_j
    and a dimension whose ``z_k`` is within ``motion_react`` of ``±bound`` turns back.
    Frame i lies ``frame_frac[i]`` of the way from tick ``frame_tick[i]`` to the next; its
    pulse and walk are interpolated there, its base is evaluated at its own time (``f_*``).

    The walk's state lives in ``state`` [4, D] (directions, smoothed step, sum, previous sum)
    and ``scalars`` [2] (pulse, previous pulse), so a long video is computed piece by piece
    in order: call again with the next ``k0`` and the returned frame index ``i``.
    """
    d = out.shape[1]
    if k0 > 0:  # frames left over from the last tick of the previous call
        i = _emit(out, out_start, i, k0 - 1, frame_tick, frame_frac, f_key_a, f_key_b, f_w_a,
                  f_w_b, keys, state, scalars)
    for k in range(k0, k1):
        r = r_blocks[block[k]]
        scalars[1] = scalars[0]
        if k == 0:
            scalars[0] = pulse[0]
        else:
            scalars[0] = ema * scalars[0] + (1.0 - ema) * pulse[k]
        p = scalars[0]
        ka = t_key_a[k]
        kb = t_key_b[k]
        wa = t_w_a[k]
        wb = t_w_b[k]
        amp = motion[k]
        for j in range(d):
            state[3, j] = state[2, j]
            step = amp * state[0, j] * r[j]
            if k == 0:
                state[1, j] = step
            else:
                state[1, j] = ema * state[1, j] + (1.0 - ema) * step
            state[2, j] += state[1, j]
            z = wa * keys[ka, j] + wb * keys[kb, j] + p + state[2, j]
            if z - motion_react < -bound:
                state[0, j] = 1.0
            elif z + motion_react >= bound:
                state[0, j] = -1.0
        i = _emit(out, out_start, i, k, frame_tick, frame_frac, f_key_a, f_key_b, f_w_a,
                  f_w_b, keys, state, scalars)
    return i


def class_walk_py(out, chroma_t, mapping, first, gain, complexity, min_is_zero, zero_slot):
    """Lucid Sonic Dreams' class vector recurrence on the compact set of used classes.

    out[N, U]      : result, U = number of class ids that ever receive a pitch (plus id 0)
    chroma_t[N, 12]: chroma per step; mapping[N, 12]: compact slot of each pitch's class
    first          : step whose chroma starts the walk (the first non-silent one)
    c_0 = norm(map(chroma[first])); c_i = norm(c_{i-1} + gain * map(chroma[i]))
    norm: min-max to [0, 1] (min is 0 when some classes never receive a pitch), a flat vector
    gets 0.1 on class 0, then everything is scaled by ``complexity``.
    """
    # (plain loops only: numba compiles array methods such as max() for seconds, once)
    n, u = out.shape
    prev = np.zeros(u)
    cur = np.zeros(u)
    mapped = np.zeros(u)
    for i in range(n):
        for k in range(u):
            mapped[k] = 0.0
        src = first if i == 0 else i
        for p in range(12):  # a class given to two pitches takes the later one's value
            mapped[mapping[i, p]] = chroma_t[src, p]
        for k in range(u):
            cur[k] = mapped[k] if i == 0 else prev[k] + gain * mapped[k]
        hi = cur[0]
        lo = cur[0]
        for k in range(1, u):
            hi = max(hi, cur[k])
            lo = min(lo, cur[k])
        if min_is_zero:
            lo = 0.0
        if hi > lo:
            for k in range(u):
                cur[k] = (cur[k] - lo) / (hi - lo)
        else:
            for k in range(u):
                cur[k] = 0.0
            cur[zero_slot] = 0.1
        for k in range(u):
            cur[k] *= complexity
            out[i, k] = cur[k]
            prev[k] = cur[k]
    return out


try:
    from .._compiled import njit

    _emit = njit(_emit_py)
    latent_walk = njit(latent_walk_py)
    class_walk = njit(class_walk_py)
except ImportError:  # pragma: no cover - numba is a dependency
    _emit = _emit_py
    latent_walk = latent_walk_py
    class_walk = class_walk_py
