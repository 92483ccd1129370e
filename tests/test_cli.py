"""The ``sonicdreams`` command line: summaries, JSON and plot outputs, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from sonicdreams.cli import main


@pytest.fixture(scope="module")
def analysed(excerpt, tmp_path_factory):
    """Run ``sonicdreams analyze`` once with JSON and plot output."""
    out = tmp_path_factory.mktemp("cli")
    json_path, plot_path = out / "features.json", out / "features.png"
    argv = ["analyze", str(excerpt), "--fps", "30000/1001", "--start", "2", "--duration", "20",
            "--json", str(json_path), "--plot", str(plot_path)]
    return argv, json_path, plot_path, out


def test_analyze_prints_summary_and_writes_outputs(analysed, capsys):
    argv, json_path, plot_path, out = analysed
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    text = printed.out
    for label in ("length:", "audio:", "tempo:", "beats:", "sections:", "pitches:"):
        assert label in text
    assert "44100 Hz, stereo" in text
    assert "BPM" in text
    # 20 s at 30000/1001 fps: round(599.4) = 599 frames.
    assert "599 at 30000/1001" in text

    data = json.loads(json_path.read_text())
    assert Fraction(data["fps"]) == Fraction(30000, 1001)
    assert data["n_frames"] == 599
    frames = data["frames"]
    for key in ("pulse", "motion", "onset", "rms", "time"):
        assert len(frames[key]) == 599
    assert np.asarray(frames["chroma"]).shape == (12, 599)
    assert 100 < data["tempo_bpm"] < 160
    assert data["section_times"][0] == 0
    assert sorted(data["dominant_pitches"]) == sorted(
        ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"])
    assert data["song"]["sample_rate"] == 44100 and data["song"]["channels"] == 2

    png = plot_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in out.iterdir()) == ["features.json", "features.png"]


def test_missing_matplotlib_is_a_clear_error(excerpt, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    code = main(["analyze", str(excerpt), "--plot", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'sonicdreams[plot]'" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["analyze", "{excerpt}", "--fps", "0"], "fps"),
        (["analyze", "{excerpt}", "--fps", "abc"], "fps"),
        (["analyze", "{excerpt}", "--start", "-1"], "start"),
        (["analyze", "{excerpt}", "--start", "31"], "0:30.00"),
        (["analyze", "{excerpt}", "--duration", "0"], "duration"),
        (["analyze", "{excerpt}", "--pulse-audio", "/no/such/stem.wav"], "stem.wav"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, message, excerpt, capsys):
    code = main([a.format(excerpt=excerpt) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sonicdreams: error:") and err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["analyze"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--version"]) == 0
    assert "sonicdreams" in capsys.readouterr().out


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "analyze", str(tmp_path / "missing.mp3")])


def test_import_is_light():
    code = ("import sys, sonicdreams; heavy = {'librosa', 'av', 'torch', 'numba', 'scipy'} "
            "& set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_module_entry_point(excerpt, tmp_path):
    env_cache = {"SONICDREAMS_CACHE": str(tmp_path / "cache")}
    import os

    env = {**os.environ, **env_cache}
    run = subprocess.run([sys.executable, "-m", "sonicdreams", "analyze", str(excerpt),
                          "--duration", "5"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "tempo:" in run.stdout
    # The cache was filled by the child process.
    assert list((tmp_path / "cache" / "features").glob("*.npz"))
