"""A picture of the features on one time axis (needs matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import numpy as np

from ..errors import SonicDreamsError
from .analyze import PITCH_NAMES, Features

__all__ = ["plot_features", "require_matplotlib"]


def require_matplotlib() -> None:
    """Raise a clear error if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SonicDreamsError(
            "plotting needs matplotlib: pip install 'sonicdreams[plot]'"
        ) from None


def plot_features(features: Features, path: str, *, fmt: str = ".png") -> None:
    """Draw loudness, pulse and motion envelopes, onsets, the chromagram, beats and sections."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    t = features.times
    fig, axes = plt.subplots(3, 1, figsize=(14, 8), sharex=True,
                             gridspec_kw={"height_ratios": [1.0, 1.4, 1.2]})
    ax_wave, ax_env, ax_chroma = axes
    ax_wave.fill_between(t, -features.rms, features.rms, color="0.35", lw=0)
    ax_wave.set_ylabel("RMS")
    ax_wave.set_title(f"{features.song.path} — {features.tempo_bpm:.1f} BPM, "
                      f"{len(features.beat_times)} beats, {len(features.section_times)} sections")
    ax_env.plot(t, features.pulse, lw=0.8, label=f"pulse ({features.pulse_source})")
    ax_env.plot(t, features.motion, lw=0.8, label=f"motion ({features.motion_source})")
    ax_env.plot(t, features.onset, lw=0.6, alpha=0.6, label="onset strength")
    ax_env.set_ylim(0, 1.05)
    ax_env.legend(loc="upper right", fontsize=8)
    dt = 1.0 / float(features.fps)
    ax_chroma.imshow(features.chroma, aspect="auto", origin="lower", cmap="magma",
                     extent=(-dt / 2, t[-1] + dt / 2 if len(t) else 1, -0.5, 11.5),
                     interpolation="nearest")
    ax_chroma.set_yticks(np.arange(12), PITCH_NAMES)
    ax_chroma.set_xlabel("time (s)")
    for ax in axes:
        for b in features.beat_times:
            ax.axvline(b, color="tab:green", lw=0.4, alpha=0.35)
        for s in features.section_times[1:]:
            ax.axvline(s, color="tab:red", lw=1.6)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format=fmt.lstrip(".") or "png")
    plt.close(fig)
