"""``sonicdreams inspect``: how a video follows its song (look metrics, flashes, a picture).

Works on any video: the song is ``--song`` or else the video's own audio track. For a video
made by sonicdreams with ``--song``, the clip of the song it shows (``start``/``duration``
of its embedded manifest) is the one measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Inspection", "inspect_video", "add_inspect_parser", "plot_inspection"]

EXAMPLES = """\
examples:
  sonicdreams inspect video.mp4                       # the video's own soundtrack
  sonicdreams inspect video.mp4 --song song.mp3 --plot sheet.png
  sonicdreams inspect video.mp4 --json > look.json
"""


@dataclass(frozen=True)
class Inspection:
    """Everything ``inspect`` measured (frames at reduced size, for the thumbnails)."""

    video: str
    song: str
    fps: Fraction
    frames: np.ndarray
    change: np.ndarray
    onset: np.ndarray
    metrics: Any  # measure.LookMetrics
    flashes: Any  # measure.FlashReport
    features: Any  # Features of the song clip the video shows
    manifest: dict | None

    def to_dict(self) -> dict:
        settings = (self.manifest or {}).get("settings", {})
        return {
            "video": self.video,
            "song": self.song,
            "fps": str(self.fps),
            "n_frames": int(len(self.frames)),
            "made_by_sonicdreams": self.manifest is not None,
            "style": settings.get("style"),
            "tempo_bpm": round(float(self.features.tempo_bpm), 2),
            "section_times": [round(float(t), 3) for t in self.features.section_times],
            "metrics": _clean(self.metrics.to_dict()),
            "flashes": self.flashes.to_dict(),
        }


def _clean(d: dict) -> dict:
    """JSON-safe: NaN and infinities become null, floats are rounded."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float):
            v = round(v, 4) if math.isfinite(v) else None
        out[k] = v
    return out


def inspect_video(
    video: str | os.PathLike[str],
    *,
    song: str | os.PathLike[str] | None = None,
    height: int = 144,
    cache: bool = True,
) -> Inspection:
    """Measure how ``video`` follows ``song`` (default: the video's own audio track)."""
    from .audio.analyze import analyze
    from .audio.decode import load
    from .errors import SettingsError
    from .measure import (
        count_flashes,
        look_metrics,
        percussive_onset,
        read_manifest,
        read_video,
        visual_change,
    )

    frames, fps = read_video(video, height=height)
    if not fps:
        raise SettingsError(f"{video}: has no frame rate")
    manifest = read_manifest(video)
    start = 0.0
    if song is None:
        import av

        with av.open(os.fspath(video)) as c:
            if not c.streams.audio:
                raise SettingsError(f"{video}: has no audio track; name the song with --song")
        song = video
    elif manifest is not None:
        start = float(manifest.get("settings", {}).get("start") or 0.0)
    duration = len(frames) / float(fps)
    audio = load(song, start=start, duration=duration, sr=22050, mono=True)
    times = np.arange(len(frames)) / float(fps)
    onset = percussive_onset(audio.samples[0], audio.sr, times)
    features = analyze(song, fps=fps, start=start, duration=duration, cache=cache)
    metrics = look_metrics(frames, fps=fps, onset=onset, section_times=features.section_times)
    return Inspection(
        video=os.fspath(video), song=os.fspath(song), fps=Fraction(fps), frames=frames,
        change=visual_change(frames), onset=onset, metrics=metrics,
        flashes=count_flashes(frames, fps=fps), features=features, manifest=manifest,
    )


def summary(result: Inspection) -> str:
    """A few lines for people."""
    m, f = result.metrics, result.flashes

    def num(x: float, fmt: str = ".2f") -> str:
        return format(x, fmt) if math.isfinite(x) else "n/a"

    made = ""
    if result.manifest is not None:
        made = f" (sonicdreams, style {result.manifest.get('settings', {}).get('style')})"
    return "\n".join([
        f"video:          {result.video}{made}",
        f"song:           {result.song}",
        f"frames:         {len(result.frames)} at {float(result.fps):.3f} fps, "
        f"{len(result.features.section_times)} sections, "
        f"{result.features.tempo_bpm:.1f} BPM",
        f"beat_corr:      {num(m.beat_corr)}   (target ≥ 0.5)",
        f"hit_ratio:      {num(m.hit_ratio)}   (target ≥ 3)",
        f"flicker:        {num(m.flicker)}   (target ≤ 0.7)",
        f"cuts_per_min:   {num(m.cuts_per_min, '.1f')}   (target ≤ 1; "
        f"{num(m.cuts_per_min_all, '.1f')} with section changes)",
        f"colourfulness:  {num(m.colourfulness, '.1f')}   (target ≥ 45)",
        f"section_ratio:  {num(m.section_ratio)}   (target ≥ 3)",
        f"saturation:     {num(m.mean_saturation, '.1f')} of 255, mean luma "
        f"{num(m.mean_luma)}",
        f"flashes:        {f.max_general_per_s} general, {f.max_red_per_s} red in the worst "
        f"second ({'within' if f.passes else 'ABOVE'} the limit of 3)",
    ])


def plot_inspection(result: Inspection, path: str, *, fmt: str = ".png") -> None:
    """Envelopes, beats, sections and visual change on one time axis; a thumbnail a section."""
    from .audio.plot import require_matplotlib

    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    feats = result.features
    n = len(result.frames)
    t = np.arange(n) / float(result.fps)
    duration = n / float(result.fps)
    starts = [float(s) for s in feats.section_times if s < duration] or [0.0]
    ends = starts[1:] + [duration]
    mids = [0.5 * (a + b) for a, b in zip(starts, ends, strict=True)]
    thumbs = len(mids)
    fig = plt.figure(figsize=(14, 7.5))
    grid = fig.add_gridspec(2, thumbs, height_ratios=[2.2, 1.0])
    ax = fig.add_subplot(grid[0, :])
    ft = feats.times
    ax.fill_between(ft, 0, feats.percussive, color="tab:orange", alpha=0.35, lw=0,
                    label="percussive envelope")
    ax.plot(ft, feats.harmonic, color="tab:blue", lw=1.0, label="harmonic envelope")
    peak = float(result.onset.max()) if n else 0.0
    ax.plot(t, result.onset / (peak or 1.0), color="tab:purple", lw=0.7, alpha=0.8,
            label="percussive onset (measured; beat_corr uses it)")
    change = result.change
    scale = float(np.quantile(change, 0.99)) if n else 1.0
    ax.plot(t, change / (scale or 1.0), color="black", lw=0.9,
            label=f"visual change (÷ {scale * 255:.1f}/255)")
    for b in feats.beat_times:
        ax.axvline(b, color="tab:green", lw=0.4, alpha=0.35)
    for s in starts[1:]:
        ax.axvline(s, color="tab:red", lw=1.6)
    ax.set_xlim(0, duration)
    ax.set_ylim(0, 1.25)
    ax.set_xlabel("time (s)")
    m = result.metrics
    ax.set_title(f"{Path(result.video).name}: beat_corr {m.beat_corr:.2f}, hit_ratio "
                 f"{m.hit_ratio:.2f}, flicker {m.flicker:.2f}, colourfulness "
                 f"{m.colourfulness:.0f}, section_ratio {m.section_ratio:.2f}, flashes/s "
                 f"{result.flashes.max_general_per_s}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    for k, mid in enumerate(mids):
        sub = fig.add_subplot(grid[1, k])
        sub.imshow(result.frames[min(int(mid * float(result.fps)), n - 1)])
        sub.set_title(f"{mid:.1f} s", fontsize=8)
        sub.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format=fmt.lstrip(".") or "png")
    plt.close(fig)


def add_inspect_parser(commands, run) -> None:
    """Register ``inspect`` on the CLI's subparsers; ``run(args)`` is called with the args."""
    p = commands.add_parser(
        "inspect",
        help="measure how a video follows its song (beats, flicker, colour, flashes)",
        description="Measure how a video follows its song: visual change against the "
                    "percussive onsets, flicker, cuts, colourfulness, section changes and "
                    "photosensitive flashes (WCAG 2.3.1).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("video", help="any video file")
    p.add_argument("--song", metavar="SONG",
                   help="the song (default: the video's own audio track)")
    p.add_argument("--plot", metavar="SHEET.png",
                   help="draw envelopes, beats, sections, visual change and a thumbnail per "
                        "section (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--height", type=int, default=144, metavar="PX",
                   help="rows the frames are measured at (default: %(default)s)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.set_defaults(run=run)


def run_inspect(args: argparse.Namespace) -> int:
    from .errors import SettingsError

    if not 16 <= args.height <= 2160:
        raise SettingsError(f"--height={args.height} must be in [16, 2160]")
    plot_path = Path(args.plot) if args.plot else None
    if plot_path is not None:
        from .audio.plot import require_matplotlib

        require_matplotlib()  # fail before the work
    result = inspect_video(args.video, song=args.song, height=args.height,
                           cache=not args.no_cache)
    if plot_path is not None:
        from .paths import write_atomic

        write_atomic(plot_path, lambda tmp: plot_inspection(result, tmp,
                                                             fmt=plot_path.suffix))
    if args.json:
        data = result.to_dict()
        if plot_path is not None:
            data["plot"] = str(plot_path)
        print(json.dumps(data, indent=1))
    else:
        print(summary(result) + (f"\nplot:           {plot_path}" if plot_path else ""))
    return 0
