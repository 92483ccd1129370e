"""Songs with known answers: a drum machine, pads and bass on an exact beat grid.

:func:`song_with_sections` makes a song whose beats, drum hits and section changes are known
exactly (:class:`SongTruth`), for tests and for the look benchmark. :func:`click_track` makes
a plain train of clicks (e.g. 8 hits a second, to test photosensitivity limits).
Deterministic from ``seed``; numpy only (``write`` imports soundfile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SongTruth", "song_with_sections", "click_track", "write"]


@dataclass(frozen=True)
class SongTruth:
    """Where everything is in a synthesized song (seconds, sorted).

    Attributes
    ----------
    beat_times : np.ndarray
        Every beat (quarter note).
    downbeat_times : np.ndarray
        The first beat of every bar.
    kick_times, snare_times, hat_times : np.ndarray
        Every drum hit of each kind (hats include the sixteenths of dense sections).
    section_times : np.ndarray
        Start of every section, the first at 0.
    """

    beat_times: np.ndarray
    downbeat_times: np.ndarray
    kick_times: np.ndarray
    snare_times: np.ndarray
    hat_times: np.ndarray
    section_times: np.ndarray

    @property
    def boundaries(self) -> np.ndarray:
        """Section starts after 0 (the changes)."""
        return self.section_times[1:]


# Each section type: a key (a chord and a colouring of it, alternating bar by bar: they share
# three notes, so a bar line inside a section is not mistaken for a section change), a pad
# timbre (number of harmonics and their roll-off), hats on eighths or sixteenths, and a
# loudness. Consecutive types differ in all of these, like verse and chorus. Tuned so that
# sonicdreams' section detector finds exactly the boundaries at the default tempo.
_SECTIONS = (
    {"chords": ((9, (0, 3, 7, 12)), (9, (0, 3, 7, 10))), "harmonics": 1, "rolloff": 2.0,
     "sixteenths": False, "gain": 0.45, "octave": 4},
    {"chords": ((4, (0, 4, 7, 12)), (4, (0, 4, 7, 11))), "harmonics": 9, "rolloff": 1.0,
     "sixteenths": True, "gain": 1.0, "octave": 4},
    {"chords": ((2, (0, 3, 7, 12)), (2, (0, 3, 7, 9))), "harmonics": 3, "rolloff": 1.5,
     "sixteenths": False, "gain": 0.6, "octave": 5},
    {"chords": ((6, (0, 4, 7, 12)), (6, (0, 4, 7, 10))), "harmonics": 7, "rolloff": 0.8,
     "sixteenths": True, "gain": 0.9, "octave": 4},
)


def _freq(semitone_from_c: float, octave: int) -> float:
    """Equal-tempered frequency of a pitch (C4 = 261.63 Hz)."""
    midi = 12 * (octave + 1) + semitone_from_c
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _add(y: np.ndarray, start_s: float, sound: np.ndarray, sr: int) -> None:
    i = int(round(start_s * sr))
    if i >= len(y):
        return
    n = min(len(sound), len(y) - i)
    y[i:i + n] += sound[:n]


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.35 * sr)) / sr
    f = 45.0 + 110.0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(f) / sr
    return (np.sin(phase) * np.exp(-t / 0.12)).astype(np.float32)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    noise = rng.standard_normal(len(t))
    noise = noise - np.concatenate([[0.0], noise[:-1]]) * 0.6  # brighter
    tone = np.sin(2 * np.pi * 190.0 * t)
    return (0.55 * noise * np.exp(-t / 0.06) + 0.5 * tone * np.exp(-t / 0.04)
            ).astype(np.float32)


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.06 * sr)) / sr
    noise = rng.standard_normal(len(t))
    noise = np.diff(noise, prepend=0.0)  # high-passed
    return (0.25 * noise * np.exp(-t / 0.015)).astype(np.float32)


def _tone(freq: float, n: int, sr: int, *, harmonics: int, rolloff: float) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, harmonics + 1):
        if freq * k >= sr / 2:
            break
        out += np.sin(2 * np.pi * freq * k * t) / k ** rolloff
    return out


def song_with_sections(
    *,
    bpm: float = 120.0,
    bars_per_section: int = 8,
    n_sections: int = 4,
    sr: int = 22050,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float32], int, SongTruth]:
    """Synthesize a song with an exact beat grid and clearly different sections.

    Kicks on every beat, snares on beats 2 and 4, hats on eighths (sixteenths in the dense
    sections), one pad chord per bar and a bass note on every beat. Section types cycle
    through four settings that differ in key and chord progression, pad timbre, hat
    density and loudness (quiet verse, loud chorus, …).

    Parameters
    ----------
    bpm : float
        Tempo in beats a minute (4 beats a bar).
    bars_per_section : int
        Bars in every section.
    n_sections : int
        Number of sections.
    sr : int
        Sample rate of the result.
    seed : int
        Seeds the noise of the drums and the order of the section types.

    Returns
    -------
    y : np.ndarray [shape=(n,)], float32
        Mono, peak 0.9.
    sr : int
    truth : SongTruth
    """
    if bpm <= 0 or bars_per_section < 1 or n_sections < 1 or sr < 8000:
        raise ValueError("bpm > 0, bars_per_section ≥ 1, n_sections ≥ 1 and sr ≥ 8000 needed")
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    bar = 4 * beat
    section_s = bars_per_section * bar
    duration = n_sections * section_s
    y = np.zeros(int(round(duration * sr)) + int(0.5 * sr), dtype=np.float64)
    offset = int(rng.integers(len(_SECTIONS)))
    kick = _kick(sr)
    snares = [_snare(sr, rng) for _ in range(4)]
    hats = [_hat(sr, rng) for _ in range(4)]
    kicks, snare_t, hat_t = [], [], []
    chord_n = int(round(bar * sr))
    env_t = np.arange(chord_n) / sr
    pad_env = np.minimum(env_t / 0.05, 1.0) * np.exp(-env_t / (2.5 * bar))
    pad_env[-int(0.02 * sr):] *= np.linspace(1, 0, int(0.02 * sr))
    bass_n = int(round(beat * sr))
    bass_t = np.arange(bass_n) / sr
    bass_env = np.minimum(bass_t / 0.01, 1.0) * np.exp(-bass_t / 0.25)
    bass_env[-int(0.01 * sr):] *= np.linspace(1, 0, int(0.01 * sr))
    for s in range(n_sections):
        kind = _SECTIONS[(s + offset) % len(_SECTIONS)]
        gain = kind["gain"]
        for b in range(bars_per_section):
            t_bar = s * section_s + b * bar
            root, intervals = kind["chords"][b % len(kind["chords"])]
            pad = np.zeros(chord_n)
            for interval in intervals:
                pad += _tone(_freq(root + interval, kind["octave"]), chord_n, sr,
                             harmonics=kind["harmonics"], rolloff=kind["rolloff"])
            _add(y, t_bar, (0.09 * gain * pad * pad_env).astype(np.float32), sr)
            bass = _tone(_freq(root, 2), bass_n, sr, harmonics=3, rolloff=1.5) * bass_env
            for q in range(4):
                t = t_bar + q * beat
                kicks.append(t)
                _add(y, t, 0.8 * gain * kick, sr)
                _add(y, t, (0.25 * gain * bass).astype(np.float32), sr)
                if q in (1, 3):
                    snare_t.append(t)
                    _add(y, t, 0.3 * gain * snares[len(snare_t) % 4], sr)
            step = beat / (4 if kind["sixteenths"] else 2)
            for k in range(int(round(bar / step))):
                t = t_bar + k * step
                hat_t.append(t)
                _add(y, t, gain * hats[len(hat_t) % 4], sr)
    y = y[: int(round(duration * sr))]
    y *= 0.9 / max(float(np.abs(y).max()), 1e-9)
    beats = np.arange(int(round(duration / beat))) * beat
    truth = SongTruth(
        beat_times=beats,
        downbeat_times=beats[::4].copy(),
        kick_times=np.asarray(kicks),
        snare_times=np.asarray(snare_t),
        hat_times=np.unique(np.round(np.asarray(hat_t), 9)),
        section_times=np.arange(n_sections) * section_s,
    )
    return y.astype(np.float32), sr, truth


def click_track(
    *, hits_per_s: float = 8.0, duration_s: float = 10.0, sr: int = 22050
) -> tuple[npt.NDArray[np.float32], int]:
    """A train of sharp clicks (a short decaying noise burst with a kick-like thump).

    Returns
    -------
    y : np.ndarray [shape=(round(duration_s * sr),)], float32
    sr : int
    """
    if hits_per_s <= 0 or duration_s <= 0:
        raise ValueError("hits_per_s and duration_s must be positive")
    rng = np.random.default_rng(0)
    n = int(round(duration_s * sr))
    y = np.zeros(n, dtype=np.float64)
    t = np.arange(int(0.05 * sr)) / sr
    click = (rng.standard_normal(len(t)) * 0.5 + np.sin(2 * np.pi * 80 * t)) * np.exp(-t / 0.01)
    for k in range(int(np.ceil(duration_s * hits_per_s))):
        _add(y, k / hits_per_s, click.astype(np.float32), sr)
    y *= 0.9 / max(float(np.abs(y).max()), 1e-9)
    return y.astype(np.float32), sr


def write(path: str | os.PathLike[str], y: npt.ArrayLike, sr: int) -> None:
    """Write ``y`` (mono ``[n]`` or ``[n, channels]``) as an audio file (format by extension)."""
    import soundfile as sf

    sf.write(os.fspath(path), np.asarray(y, dtype=np.float32), int(sr))
