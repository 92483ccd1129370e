"""Every code block in README.md runs, as written, on a short clip of real music.

Python blocks are executed in order in one namespace; each line of a bash block is run by a
shell in the same folder, with ``sonicdreams`` on the PATH. Lines that install packages are
what ``make test`` itself does and are not run again. The weights the StyleGAN examples name
are tiny networks this test writes (``wikiart`` goes into the model cache, so ``sonicdreams
download wikiart`` finds it there); a line asking for a GPU runs only where there is one.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from sonicdreams.video import probe_video

README = Path(__file__).parents[1] / "README.md"
INSTALLS = ("pip ", "make ")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block."""
    return re.findall(r"^```(\w+)\n(.*?)^```", text, flags=re.S | re.M)


def commands(block: str) -> list[str]:
    """The shell commands of a bash block: continuations joined, comments dropped."""
    lines, current = [], ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        parts = shlex.split(current, comments=True)
        if parts:
            lines.append(current.split(" #")[0].strip())
        current = ""
    return lines


def _encode_mp3(path: Path, y: np.ndarray, sr: int) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=sr)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y.T), format="fltp",
                                           layout="stereo")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture()
def folder(tmp_path, excerpt, monkeypatch) -> Path:
    """song.mp3 / song.flac (6 s of the excerpt) and the weight files the README names."""
    y, sr = sf.read(excerpt, dtype="float32", start=44100 * 6, frames=44100 * 6)
    _encode_mp3(tmp_path / "song.mp3", y, sr)
    sf.write(tmp_path / "song.flac", y, sr)
    from _formats import sg2_tf_networks, tiny_sg2, write_nvlabs_pickle
    from _tf_pickle import write_tf_pickle

    write_nvlabs_pickle(tmp_path / "network-snapshot.pkl", tiny_sg2(res=32))
    write_nvlabs_pickle(tmp_path / "my-network.pkl", tiny_sg2(res=32, seed=1))
    models = tmp_path / "models"
    models.mkdir()
    write_tf_pickle(models / "wikiart.pkl", sg2_tf_networks(tiny_sg2(res=32, c_dim=4, seed=2)))
    monkeypatch.setenv("SONICDREAMS_MODELS", str(models))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_readme_code_block_runs(folder):
    import torch

    blocks = code_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    namespace: dict = {}
    env = {**os.environ, "SONICDREAMS_CACHE": str(folder / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = []
    for k, (language, code) in enumerate(blocks):
        if language == "python":
            exec(compile(code, f"README.md block {k}", "exec"), namespace)  # noqa: S102
            ran.append(f"python block {k}")
            continue
        assert language == "bash", language
        for line in commands(code):
            line = " && ".join(part.strip() for part in line.split("&&")
                               if not part.strip().startswith(INSTALLS))
            if not line:
                continue
            if "--device cuda" in line and not torch.cuda.is_available():
                continue
            run = subprocess.run(line, shell=True, cwd=folder, env=env, capture_output=True,
                                 text=True, timeout=600)
            assert run.returncode == 0, f"{line}\n{run.stderr}"
            ran.append(line)

    assert namespace["frames"].shape == (8, 720, 1280, 3)
    assert namespace["img"].shape == (4, 3, 32, 32)
    for name, frames in (("dream.mp4", 180), ("song.mp4", 258), ("video.mp4", 180),
                         ("again.mp4", 180), ("draft.mp4", 72), ("clip.webm", 120),
                         ("wikiart.mp4", 180), ("demo.mp4", 600)):
        assert probe_video(folder / name).n_frames == frames, name
    assert probe_video(folder / "clip.webm").size == (720, 1280)
    demo = probe_video(folder / "demo.mp4")
    assert demo.fps == 30 and demo.audio_channels == 2
    assert (folder / "look.toml").read_text().startswith("# sonicdreams settings")
    for picture in ("sheet.png", "features.png", "look.png"):
        assert (folder / picture).read_bytes()[:4] == b"\x89PNG"
    assert any(line.startswith("sonicdreams download wikiart") for line in ran)
