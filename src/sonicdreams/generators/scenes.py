"""Several styles in one video: the ``scenes`` table names a style per scene.

:class:`SceneStyles` is a generator made of one generator per style. Each frame is drawn by
the style of its scene; during the move from one scene to the next, whose styles differ, both
draw the frame and the two pictures are blended — a crossfade, or a *morph* in which the old
picture pushes in and the new one comes out of it — so a change of style lands on the
section's downbeat like any other scene change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["SceneStyles", "TRANSITIONS", "scene_styles"]

TRANSITIONS = ("crossfade", "morph")
_PUSH = 0.12  # how far a morph zooms the outgoing picture in (and the incoming one out of)


class SceneStyles:
    """A generator that draws each scene in its own style (see the module docstring).

    Parameters
    ----------
    styles : list of generators
        The styles used; ``styles[0]`` is the render's own style.
    scene_style : sequence of int
        For each scene of the plan, the index of its style in ``styles``.
    size : (height, width)
        The frame size; frames of styles drawn at another size are fitted (``fit``).
    transitions : sequence of str
        For each scene, how the move into it blends two styles: "crossfade" or "morph".
    """

    directed = True

    def __init__(self, styles: Sequence, scene_style: Sequence[int], *, size: tuple[int, int],
                 fit: str = "cover", transitions: Sequence[str] | None = None) -> None:
        self.styles = list(styles)
        self.scene_style = np.asarray(scene_style, dtype=np.int64)
        self.size = (int(size[0]), int(size[1]))
        self.fit = fit
        self.transitions = tuple(transitions or ("morph",) * len(self.scene_style))
        self.z_dim = max(int(g.z_dim) for g in self.styles)
        self.c_dim = max(int(g.c_dim) for g in self.styles)
        self.batch_size = min(int(getattr(g, "batch_size", 1) or 1) for g in self.styles)
        self.concurrent_calls = min(int(getattr(g, "concurrent_calls", 1)) for g in self.styles)

    def __repr__(self) -> str:
        return f"SceneStyles({self.styles!r})"

    @property
    def fingerprint(self) -> str | None:
        parts = [getattr(g, "fingerprint", None) for g in self.styles]
        if not all(isinstance(p, str) for p in parts):
            return None  # a style that cannot be fingerprinted
        return (f"scenes|{','.join(self.transitions)}|{self.scene_style.tolist()}|"
                + "|".join(parts))

    def _draw(self, k: int, z: np.ndarray, c: np.ndarray, cues: np.ndarray) -> np.ndarray:
        from ..segment import fit_frames

        g = self.styles[k]
        zk, ck = z[:, :g.z_dim], c[:, :g.c_dim]
        frames = (g.render(zk, ck, cues=cues) if getattr(g, "directed", False)
                  else g.render(zk, ck))
        return fit_frames(np.asarray(frames, dtype=np.uint8), self.size, self.fit)

    def render(self, z: npt.NDArray[np.float32], c: npt.NDArray[np.float32] | None = None,
               cues: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.uint8]:
        from ..direction import CUE, neutral_cues

        z = np.asarray(z, dtype=np.float32)
        n = z.shape[0]
        c = np.zeros((n, self.c_dim), np.float32) if c is None else np.asarray(c, np.float32)
        cues = neutral_cues(n) if cues is None else np.asarray(cues, np.float32)
        scenes = len(self.scene_style)
        scene_b = np.clip(cues[:, CUE["scene_b"]].astype(np.int64), 0, scenes - 1)
        a = self.scene_style[np.clip(cues[:, CUE["scene_a"]].astype(np.int64), 0, scenes - 1)]
        b = self.scene_style[scene_b]
        mix = cues[:, CUE["mix"]]
        out = np.empty((n, *self.size, 3), dtype=np.uint8)
        first = np.empty((n, *self.size, 3), dtype=np.uint8)
        for k in np.unique(a):
            rows = np.flatnonzero(a == k)
            first[rows] = self._draw(int(k), z[rows], c[rows], cues[rows])
        blend = (a != b) & (mix > 0)
        out[~blend] = first[~blend]
        if blend.any():
            second = np.empty((n, *self.size, 3), dtype=np.uint8)
            for k in np.unique(b[blend]):
                rows = np.flatnonzero(blend & (b == k))
                second[rows] = self._draw(int(k), z[rows], c[rows], cues[rows])
            for i in np.flatnonzero(blend):
                out[i] = _blend(first[i], second[i], float(mix[i]),
                                self.transitions[scene_b[i]])
        return out


def _blend(old: np.ndarray, new: np.ndarray, m: float, how: str) -> np.ndarray:
    if how == "morph":
        old = _zoomed(old, 1.0 + _PUSH * m)
        new = _zoomed(new, 1.0 + _PUSH * (1.0 - m))
    # In linear light: a crossfade of two bright pictures does not dip to grey.
    lin = (1.0 - m) * (old.astype(np.float32) / 255.0) ** 2.2 + m * (
        new.astype(np.float32) / 255.0) ** 2.2
    return np.clip(255.0 * lin ** (1 / 2.2) + 0.5, 0, 255).astype(np.uint8)


def _zoomed(frame: np.ndarray, factor: float) -> np.ndarray:
    """The frame zoomed into its centre by ``factor``."""
    from PIL import Image

    if factor <= 1.0 + 1e-4:
        return frame
    h, w = frame.shape[:2]
    cw, ch = w / factor, h / factor
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BILINEAR, box=box))


def scene_styles(generator, direction, *, load, size: tuple[int, int], fit: str):
    """``generator`` itself when no scene names a style, else a :class:`SceneStyles` with
    ``generator`` for the scenes that do not (``load(style)`` loads the others)."""
    if all(scene.style is None for scene in direction.scenes):
        return generator
    styles, index, keys = [generator], [], [None]
    for scene in direction.scenes:
        key = scene.style if isinstance(scene.style, str) or scene.style is None else id(
            scene.style)
        if key not in keys:
            keys.append(key)
            styles.append(load(scene.style))
        index.append(keys.index(key))
    return SceneStyles(styles, index, size=size, fit=fit,
                       transitions=[scene.transition for scene in direction.scenes])
