"""``sonicdreams inspect`` on a small real render: the summary, the JSON and the picture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonicdreams.cli import main


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inspect")
    song = Path(__file__).parent / "data" / "noiz2sa-stg1-excerpt.ogg"
    out = folder / "v.mp4"
    assert main(["render", str(song), "-o", str(out), "--duration", "4", "--size", "64x64",
                 "--quiet", "--seed", "3"]) == 0
    return out


def test_inspect_json_and_plot(video, capsys):
    sheet = video.with_name("sheet.png")
    song = Path(__file__).parent / "data" / "noiz2sa-stg1-excerpt.ogg"
    capsys.readouterr()
    assert main(["inspect", str(video), "--song", str(song), "--plot", str(sheet),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sheet.read_bytes()[:4] == b"\x89PNG" and sheet.stat().st_size > 10_000
    assert data["made_by_sonicdreams"] and data["style"] == "cppn"
    assert data["n_frames"] == 120 and data["fps"] == "30"
    m = data["metrics"]
    assert -1 <= m["beat_corr"] <= 1 and m["hit_ratio"] > 0 and m["colourfulness"] > 0
    assert m["section_ratio"] is None  # a 4-second clip has no section boundary
    assert set(data["flashes"]) == {"general_flashes", "red_flashes", "max_general_per_s",
                                    "max_red_per_s"}


def test_inspect_summary_uses_the_videos_own_soundtrack(video, capsys):
    capsys.readouterr()
    assert main(["inspect", str(video)]) == 0
    out = capsys.readouterr().out
    for name in ("beat_corr", "hit_ratio", "flicker", "cuts_per_min", "colourfulness",
                 "section_ratio", "flashes"):
        assert f"\n{name}:" in out


def test_inspect_bad_video_is_one_line_exit_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.mp4")]) == 2
    err = capsys.readouterr().err
    assert "no such video file" in err and err.count("\n") == 1
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00junk" * 100)
    assert main(["inspect", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "cannot be decoded" in err and err.count("\n") == 1
