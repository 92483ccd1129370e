"""Fault injection: nothing lost, nothing stale, nothing unverified (issue 12, items 1–10).

Each case runs the real thing — the CLI in a child process, real signals, a real full disk
where the machine allows a small mount — and asserts the exit code, the one-line message,
that inputs are untouched, and that a following correct run gives the same video as a clean
render.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from sonicdreams.errors import AudioError, BusyError, OutputError, StyleError
from sonicdreams.pipeline import render, work_dir_for

SMALL = ["--size", "64x64", "--fps", "12", "--preset", "ultrafast", "--segment-seconds", "1",
         "--seed", "3", "--quiet"]
OPTIONS = dict(width=64, height=64, fps=12, preset="ultrafast", segment_seconds=1, seed=3)


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def song(excerpt, tmp_path_factory) -> Path:
    """3 s of the real excerpt as a wav (quick to analyse)."""
    y, sr = sf.read(excerpt, dtype="float32", start=44100 * 4, frames=44100 * 3)
    path = tmp_path_factory.mktemp("songs") / "song.wav"
    sf.write(path, y, sr)
    return path


@pytest.fixture(scope="module")
def clean(song, tmp_path_factory):
    """``clean(**changes)``: bytes of a clean render of ``song`` with OPTIONS + changes."""
    folder = tmp_path_factory.mktemp("clean")
    made: dict[str, bytes] = {}

    def make(**changes) -> bytes:
        key = json.dumps(changes, sort_keys=True, default=str)
        if key not in made:
            out = folder / f"clean{len(made)}.mp4"
            render(song, out, **{**OPTIONS, **changes})
            made[key] = out.read_bytes()
        return made[key]

    return make


def cli(*args, cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sonicdreams", *map(str, args)], cwd=cwd,
                          env={**os.environ, "SONICDREAMS_CACHE": "off", **(env or {})},
                          capture_output=True, text=True, timeout=300, **kw)


def start_cli(*args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sonicdreams", *map(str, args)], cwd=cwd,
                            env={**os.environ, "SONICDREAMS_CACHE": "off"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line_error(run, match: str, code: int = 2) -> None:
    assert run.returncode == code, run.stderr
    assert run.stderr.startswith("sonicdreams: error: "), run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert match in run.stderr, run.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"the render ended early: {proc.stderr.read()}")
        time.sleep(0.01)
    pytest.fail("timed out waiting for the render")


def segments(out: Path) -> list[Path]:
    return sorted(work_dir_for(out).glob("segment_*.mp4"))


def sonicdreams_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("sonicdreams")]


# --------------------------------------------------------------------------------------------
# 1. Never over the input; other outputs only with -y


def test_the_input_video_is_never_overwritten(song, tmp_path):
    clip = tmp_path / "clip.mp4"
    render(song, clip, **OPTIONS)  # a video with the song as its audio track
    before = digest(clip)
    (tmp_path / "link.mp4").symlink_to(clip)
    os.link(clip, tmp_path / "hard.mp4")
    for args in (["clip.mp4", "-o", "clip.mp4"], ["clip.mp4", "-o", "clip.mp4", "-y"],
                 ["clip.mp4", "-o", "link.mp4", "-y"], ["clip.mp4", "-o", "hard.mp4", "-y"],
                 ["clip.mp4", "-o", "./sub/../clip.mp4", "-y"]):
        (tmp_path / "sub").mkdir(exist_ok=True)
        one_line_error(cli("render", *args, *SMALL, cwd=tmp_path), "never writes over its input")
    assert digest(clip) == before
    # Stems, the soundtrack and weights are inputs too.
    one_line_error(cli("render", song, "--output-audio", "clip.mp4", "-o", "clip.mp4", "-y",
                       *SMALL, cwd=tmp_path), "is output_audio")
    assert digest(clip) == before


def test_the_default_output_name_is_never_the_input(song, tmp_path):
    clip = tmp_path / "clip.mp4"
    render(song, clip, **OPTIONS)
    before = digest(clip)
    run = cli("render", "clip.mp4", *SMALL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "clip.sonicdreams.mp4"
    assert digest(clip) == before
    # An audio file gets the plain name.
    run = cli("render", song, *SMALL, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "song.mp4"


def test_an_existing_output_needs_overwrite(song, tmp_path, clean):
    out = tmp_path / "video.mp4"
    out.write_bytes(b"my holiday video")
    one_line_error(cli("render", song, "-o", out, *SMALL, cwd=tmp_path),
                   "already exists; add -y (--overwrite)")
    assert out.read_bytes() == b"my holiday video"
    assert not work_dir_for(out).exists()
    with pytest.raises(OutputError, match="already exists"):
        render(song, out, **OPTIONS)
    run = cli("render", song, "-o", out, *SMALL, "-y", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == clean()


def test_compat_api_overwrites_outputs_but_not_the_song(song, tmp_path):
    from lucidsonicdreams import LucidSonicDream

    out = tmp_path / "old.mp4"
    out.write_bytes(b"an earlier attempt")
    dream = LucidSonicDream(str(song), style="cppn")
    dream.hallucinate(str(out), fps=12, resolution=64, seed=1, quiet=True, preset="ultrafast")
    assert out.read_bytes()[4:8] == b"ftyp"
    copy = tmp_path / "song.mp4"
    render(song, copy, **OPTIONS)
    before = digest(copy)
    with pytest.raises(OutputError, match="never writes over its input"):
        LucidSonicDream(str(copy), style="cppn").hallucinate(str(copy), fps=12, quiet=True)
    assert digest(copy) == before


# --------------------------------------------------------------------------------------------
# 2. One render per work folder


def test_a_second_render_of_the_same_output_is_refused_naming_the_first(song, tmp_path,
                                                                        clean):
    out = tmp_path / "video.mp4"
    first = start_cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
    owner = work_dir_for(out) / "owner.json"
    wait_for(owner.exists, first)
    first.send_signal(signal.SIGSTOP)  # hold it there, lock and all
    try:
        second = cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
        one_line_error(second, f"is being rendered by another render (process {first.pid}")
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert out.read_bytes() == clean()
    assert not work_dir_for(out).exists()


def test_a_lock_left_by_a_killed_render_is_taken_over(song, tmp_path, clean):
    out = tmp_path / "video.mp4"
    first = start_cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
    wait_for(lambda: len(segments(out)) >= 1, first)
    first.kill()
    first.wait()
    assert (work_dir_for(out) / "lock").exists()
    run = cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == clean()


def test_two_renders_in_one_process_share_nothing(song, tmp_path):
    out = tmp_path / "video.mp4"
    started, errors = threading.Event(), []

    def hold(event):
        started.set()
        time.sleep(0.5)

    def second():
        started.wait(60)
        try:
            render(song, out, **OPTIONS)
        except BusyError as err:
            errors.append(str(err))

    thread = threading.Thread(target=second)
    thread.start()
    render(song, out, progress=lambda e: hold(e) if e.stage == "render" else None, **OPTIONS)
    thread.join()
    assert len(errors) == 1 and f"process {os.getpid()}" in errors[0]


# --------------------------------------------------------------------------------------------
# 3, 4. Resume reuses only what verifies


@pytest.fixture()
def kept(song, tmp_path):
    """A finished render whose work folder is kept: ``(out, run(**changes) -> result)``."""
    out = tmp_path / "video.mp4"

    def run(**changes):
        return render(song, out, keep_work_dir=True, overwrite=True, **{**OPTIONS, **changes})

    first = run()
    assert first.resumed_segments == 0 and len(segments(out)) == 3
    return out, run


def test_an_unchanged_render_reuses_every_segment(kept, clean):
    out, run = kept
    assert run().resumed_segments == 3
    assert out.read_bytes() == clean()


@pytest.mark.parametrize("damage", ["truncated", "empty", "flipped bytes", "no record",
                                    "bad record", "deleted"])
def test_a_damaged_segment_is_rendered_again(kept, clean, caplog, damage):
    out, run = kept
    path = segments(out)[1]
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "flipped bytes":
        path.write_bytes(data[:500] + bytes(b ^ 0xFF for b in data[500:600]) + data[600:])
    elif damage == "no record":
        path.with_suffix(".json").unlink()
    elif damage == "bad record":
        path.with_suffix(".json").write_text("{not json")
    else:
        path.unlink()
    with caplog.at_level("WARNING", logger="sonicdreams"):
        result = run()
    assert result.resumed_segments == 2
    assert out.read_bytes() == clean()
    if damage != "deleted":
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "rendering again 1 of 3 segment(s)" in lines[0]


@pytest.mark.parametrize(("changes", "reason"), [
    (dict(seed=4), "another seed"),
    (dict(width=80, height=48), "another size"),
    (dict(style="nebula"), "another style or weights"),
    (dict(flash_strength=0.8), "other settings"),
    (dict(crf=30), "other encoder settings"),
])
def test_segments_of_other_settings_are_rendered_again(kept, clean, caplog, changes, reason):
    out, run = kept
    with caplog.at_level("WARNING", logger="sonicdreams"):
        result = run(**changes)
    assert result.resumed_segments == 0
    assert out.read_bytes() == clean(**changes)
    assert [r.getMessage() for r in caplog.records] == [
        f"rendering again 3 of 3 segment(s) of an earlier attempt (3 made with {reason})"]


def test_changed_stems_and_soundtrack_are_not_reused(kept, song, tmp_path, clean):
    out, run = kept
    y, sr = sf.read(song, dtype="float32")
    drums, other = tmp_path / "drums.wav", tmp_path / "other.wav"
    sf.write(drums, y[::-1], sr)
    sf.write(other, 0.5 * y[:, :1], sr)  # mono, quieter: another soundtrack
    assert run(pulse_audio=drums).resumed_segments == 0
    assert run(pulse_audio=drums).resumed_segments == 3
    sf.write(drums, y, sr)  # the same file name, other content
    assert run(pulse_audio=drums).resumed_segments == 0
    assert out.read_bytes() == clean(pulse_audio=drums)
    # The soundtrack follows --output-audio (the frames are reused).
    result = run(pulse_audio=drums, output_audio=other)
    assert result.resumed_segments == 3
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.channels == 1
    assert out.read_bytes() == clean(pulse_audio=drums, output_audio=other)


def test_segments_of_other_weights_in_the_same_file_are_rendered_again(song, tmp_path, caplog):
    pytest.importorskip("torch")
    from _formats import tiny_sg2, write_nvlabs_pickle

    weights = tmp_path / "net.pkl"
    write_nvlabs_pickle(weights, tiny_sg2(res=32, seed=0))
    out = tmp_path / "v.mp4"
    options = dict(OPTIONS, width=32, height=32, style=str(weights), keep_work_dir=True,
                   overwrite=True)
    render(song, out, **options)
    assert render(song, out, **options).resumed_segments == 3
    write_nvlabs_pickle(weights, tiny_sg2(res=32, seed=1))  # retrained: same name, new weights
    with caplog.at_level("WARNING", logger="sonicdreams"):
        assert render(song, out, **options).resumed_segments == 0
    assert "3 made with another style or weights" in caplog.records[-1].getMessage()


def test_function_styles_resume_only_when_asked(song, tmp_path, caplog):
    from sonicdreams.generators.callable import CallableStyle

    def grey(noise_batch, class_batch):
        return [np.full((64, 64, 3), 100 + 20 * np.tanh(z[0]), np.uint8) for z in noise_batch]

    style = CallableStyle(grey, z_dim=8)
    out = tmp_path / "v.mp4"
    options = dict(OPTIONS, style=style, keep_work_dir=True, overwrite=True)
    render(song, out, **options)
    with caplog.at_level("WARNING", logger="sonicdreams"):
        again = render(song, out, **options)
    assert again.resumed_segments == 0
    assert "cannot be fingerprinted" in caplog.records[0].getMessage()
    assert "resume=True" in caplog.records[0].getMessage()
    assert render(song, out, resume=True, **options).resumed_segments == 3


# --------------------------------------------------------------------------------------------
# 5, 6. Progress pipes and manifests


def test_a_closed_progress_pipe_does_not_end_the_render(song, tmp_path, clean):
    out = tmp_path / "video.mp4"
    args = [a for a in SMALL if a != "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "sonicdreams", "render", str(song), "-o",
                             str(out), *args, "--json-progress"], cwd=tmp_path,
                            env={**os.environ, "SONICDREAMS_CACHE": "off"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stderr.close()  # the reader goes away before the first line
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert stdout.decode().strip() == str(out)
    assert out.read_bytes() == clean()


def test_from_manifest_refuses_another_song_before_any_work(song, tmp_path, excerpt, clean):
    video = tmp_path / "made.mp4"
    video.write_bytes(clean())
    run = cli("render", excerpt, "--from-manifest", video, "-o", "again.mp4", cwd=tmp_path)
    one_line_error(run, "is not the song made.mp4 was made from (song.wav")
    assert "--allow-other-song" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["made.mp4"]
    run = cli("render", excerpt, "--from-manifest", video, "-o", "again.mp4",
              "--allow-other-song", "--duration", "1", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    run = cli("render", song, "--from-manifest", video, "-o", "same.mp4", "--quiet",
              cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "same.mp4").read_bytes() == clean()


def test_the_manifest_holds_names_and_digests_not_paths(song, tmp_path, clean):
    video = tmp_path / "made.mp4"
    render(song, video, pulse_audio=song, **OPTIONS)
    from sonicdreams.video import read_manifest

    manifest = read_manifest(video)
    text = json.dumps(manifest)
    assert str(song.parent) not in text and str(tmp_path) not in text
    assert manifest["song"] == {"name": "song.wav", "sha256": digest(song)}
    assert manifest["settings"]["pulse_audio"] == "song.wav"
    assert manifest["files"]["pulse_audio"] == {"name": "song.wav", "sha256": digest(song)}


def _video_with_comment(path: Path, comment: str | None) -> Path:
    with av.open(str(path), "w") as out:
        if comment is not None:
            out.metadata["comment"] = comment
        v = out.add_stream("libx264", rate=10)
        v.width = v.height = 32
        v.pix_fmt = "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


@pytest.mark.parametrize(("comment", "message"), [
    (None, "has no sonicdreams manifest"),
    ("{oops", "has no sonicdreams manifest"),
    (json.dumps({"generator": "sonicdreams", "settings": [1, 2]}), "manifest is damaged"),
    (json.dumps({"generator": "sonicdreams", "song": {"sha256": "ab"},
                 "settings": {"speed_fmp": 3}}), "unknown option 'speed_fmp'; did you mean"),
    (json.dumps({"generator": "sonicdreams", "song": {"sha256": "ab"},
                 "settings": {"fps": "fast"}}), "fps="),
])
def test_bad_manifests_are_one_line_errors(song, tmp_path, comment, message):
    video = _video_with_comment(tmp_path / "v.mp4", comment)
    one_line_error(cli("render", song, "--from-manifest", video, "-o", "x.mp4", cwd=tmp_path),
                   message)
    (tmp_path / "folder.mp4").mkdir()
    for bad in ("missing.mp4", "folder.mp4"):
        one_line_error(cli("render", song, "--from-manifest", bad, cwd=tmp_path), bad)


# --------------------------------------------------------------------------------------------
# 7. A full disk, a size limit, a read-only folder


def _mount_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture()
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    if not _mount_tmpfs(folder, "size=4m"):
        pytest.skip("this machine does not allow mounting a small file system")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_is_a_clear_error_and_the_render_resumes(song, small_disk, clean):
    size = len(clean(width=128, height=128))
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b"\0" * (free - int(0.6 * size)))  # room for about half the segments
    out = small_disk / "video.mp4"
    args = [*SMALL, "--size", "128x128"]
    run = cli("render", song, "-o", out, *args, cwd=small_disk)
    one_line_error(run, "no space left on device while writing")
    assert "MB more); free some space or choose --work-dir" in run.stderr
    assert "run the same command again to resume" in run.stderr
    assert not out.exists() and not list(small_disk.glob(".*.part*"))
    kept = len(segments(out))
    filler.unlink()
    run = cli("render", song, "-o", out, *args, cwd=small_disk)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == clean(width=128, height=128)
    assert kept >= 1


def _limit_file_size(limit: int):
    def apply() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE behaves like this on Linux")
def test_a_file_size_limit_is_a_clear_error_and_the_render_resumes(song, tmp_path, clean):
    out = tmp_path / "video.mp4"
    limit = len(clean()) - 2000  # the segments fit, the finished video does not
    run = cli("render", song, "-o", out, *SMALL, cwd=tmp_path,
              preexec_fn=_limit_file_size(limit))
    one_line_error(run, "grew past the largest file allowed here")
    assert not out.exists() and len(segments(out)) == 3
    run = cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == clean()


def test_a_read_only_folder_is_a_clear_error(song, tmp_path):
    folder = tmp_path / "ro"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not _mount_tmpfs(folder, "ro,size=1m"):
            pytest.skip("root ignores permissions and mounting is not allowed here")
    else:
        folder.mkdir()
        folder.chmod(0o555)
    try:
        one_line_error(cli("render", song, "-o", folder / "v.mp4", *SMALL, cwd=tmp_path),
                       "cannot write to the folder")
        with pytest.raises(OutputError, match="read-only or permission denied"):
            render(song, folder / "v.mp4", **OPTIONS)
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        folder.chmod(0o755)


# --------------------------------------------------------------------------------------------
# 9. Signals and cancellation


@pytest.mark.slow
def test_sigterm_says_how_to_resume_and_the_render_resumes(song, tmp_path, clean):
    out = tmp_path / "video.mp4"
    proc = start_cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
    wait_for(lambda: len(segments(out)) >= 1, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert err == "sonicdreams: terminated; run the same command again to resume\n"
    assert not out.exists()
    run = cli("render", song, "-o", out, *SMALL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == clean()


def _children() -> set[int]:
    """Child processes of this one (Linux: /proc)."""
    out = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        out |= {int(pid) for pid in task.read_text().split()}
    return out


@pytest.mark.parametrize("stop", [RuntimeError, KeyboardInterrupt])
def test_cancelling_from_python_leaves_no_thread_or_process(song, tmp_path, stop):
    before_threads, before_children = threading.active_count(), _children()

    def progress(event):
        if event.stage == "render" and event.done > 0:
            raise stop("stop")

    out = tmp_path / "v.mp4"
    with pytest.raises(stop):
        render(song, out, progress=progress, **OPTIONS)
    assert sonicdreams_threads() == []
    assert threading.active_count() == before_threads
    assert _children() <= before_children
    assert not out.exists()
    assert render(song, out, **OPTIONS).n_frames == 36  # and it resumes


def test_the_soundtrack_stops_when_cancelled(tmp_path):
    from sonicdreams._jobs import Cancelled
    from sonicdreams.video import AudioTrack, VideoSpec, encode_soundtrack

    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(8000 * 600, np.float32), 8000)  # ten minutes
    spec = VideoSpec.for_output(tmp_path / "v.mp4", fps=30, size=(64, 64))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        encode_soundtrack(AudioTrack(str(long), 0.0, 600.0), tmp_path / "s.m4a", spec,
                          cancel=cancel)
    assert list(tmp_path.iterdir()) == [long]


# --------------------------------------------------------------------------------------------
# 10. Everything is checked before any work


@pytest.mark.parametrize(("options", "error", "message"), [
    (dict(style="cppm"), StyleError, "did you mean cppn"),
    (dict(style="missing.pkl"), StyleError, "no such weight file"),
    (dict(pulse_audio="missing.wav"), AudioError, "no such file"),
    (dict(output_audio="/dev/zero"), AudioError, "not a regular audio file"),
])
def test_bad_settings_fail_before_the_analysis(song, tmp_path, options, error, message):
    stages = []
    with pytest.raises(error, match=message):
        render(song, tmp_path / "v.mp4", progress=lambda e: stages.append(e.stage),
               **{**OPTIONS, **options})
    assert stages == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["render", "--fps"], ["frobnicate"], [],
                                  ["analyze", "--start", "-inf"], ["render", "--size"]])
def test_usage_errors_are_one_line_too(argv, capsys):
    from sonicdreams.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err and "--help)" in err, err


@pytest.mark.parametrize(("make", "message"), [
    ("fifo", "not a regular audio file (it is a named pipe (FIFO))"),
    ("/dev/zero", "not a regular audio file (it is a character device)"),
    ("loop", "symlink loop"),
])
def test_odd_files_as_the_song(tmp_path, make, message):
    if make == "fifo":
        path = tmp_path / "pipe.mp3"
        os.mkfifo(path)
    elif make == "loop":
        path = tmp_path / "a.mp3"
        path.symlink_to(tmp_path / "b.mp3")
        (tmp_path / "b.mp3").symlink_to(path)
    else:
        path = Path(make)
    for command in ("render", "analyze"):
        one_line_error(cli(command, path, cwd=tmp_path), message)


# --------------------------------------------------------------------------------------------
# 17, 19. No global state; the user's batch is the generator's batch


def test_no_cache_leaves_the_environment_and_the_cache_alone(song, tmp_path, monkeypatch):
    from sonicdreams.cli import main

    cache = tmp_path / "cache"
    monkeypatch.setenv("SONICDREAMS_CACHE", str(cache))
    ours = lambda: {k: v for k, v in os.environ.items() if k.startswith("SONICDREAMS")}  # noqa: E731
    before = ours()
    assert main(["render", str(song), "-o", str(tmp_path / "v.mp4"), *SMALL,
                 "--no-cache"]) == 0
    assert ours() == before
    assert not cache.exists()  # nothing read or written there
    assert main(["render", str(song), "-o", str(tmp_path / "w.mp4"), *SMALL]) == 0
    assert list((cache / "features").glob("*.npz"))


def test_gpu_speed_switches_are_put_back():
    torch = pytest.importorskip("torch")
    from sonicdreams.generators.stylegan.style import cuda_fast_math

    flags = (torch.backends.cuda.matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32"), \
        (torch.backends.cudnn, "benchmark")
    before = [getattr(owner, name) for owner, name in flags]
    with cuda_fast_math(True):
        assert all(getattr(owner, name) for owner, name in flags)
    assert [getattr(owner, name) for owner, name in flags] == before
    with cuda_fast_math(False):
        assert [getattr(owner, name) for owner, name in flags] == before


def test_the_generator_gets_the_users_batch_and_the_frames_do_not_change(song, tmp_path):
    from sonicdreams.flashsafe import segment_limiter
    from sonicdreams.generators.styles import load_style

    class Recorded:
        def __init__(self, batch_size):
            self.style = load_style("cppn", size=(64, 64))
            self.z_dim, self.c_dim, self.size = self.style.z_dim, self.style.c_dim, (64, 64)
            self.batch_size, self.calls = batch_size, []

        def render(self, z, c):
            self.calls.append(len(z))
            return self.style.render(z, c)

    videos = []
    for batch in (1, 5):
        style = Recorded(batch)
        render(song, tmp_path / f"b{batch}.mp4", **{**OPTIONS, "style": style})
        def batches(count, batch=batch):
            return [batch] * (count // batch) + ([count % batch] if count % batch else [])

        # 3 segments of 12 frames, each after a warm-up of the frames before it (for the
        # photosensitivity limiter), rendered in batches of their own
        warmup = [segment_limiter(12, a, allow_flashing=False)[1] for a in (0, 12, 24)]
        assert style.calls == [n for w in warmup for n in batches(w) + batches(12)]
        videos.append((tmp_path / f"b{batch}.mp4").read_bytes())
    assert videos[0] == videos[1]


def test_the_soundtrack_keeps_behind_the_frames_and_stops_when_they_do(tmp_path):
    """The soundtrack's job waits for the frames to reach each part of it (spread over the
    render rather than all at its start), and stops on cancel while it waits."""
    from sonicdreams._jobs import Cancelled, Frontier
    from sonicdreams.video import AudioTrack, VideoSpec, encode_soundtrack

    song = tmp_path / "tone.wav"
    sr = 22050
    sf.write(song, 0.3 * np.sin(np.arange(sr * 6) * 0.05).astype(np.float32), sr)
    spec = VideoSpec.for_output(tmp_path / "v.mp4", fps=30, size=(64, 64))
    asked: list[float] = []
    path = encode_soundtrack(AudioTrack(str(song), 1.0, 4.0), tmp_path / "s.m4a", spec,
                             pace=asked.append)
    assert asked[0] == 0 and asked == sorted(asked) and 3.5 < asked[-1] < 4.0
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        assert float(a.duration * a.time_base) == pytest.approx(4.0, abs=0.05)

    cancel = threading.Event()
    frames = Frontier(cancel)
    frames.advance(1.0)  # the frames reached 1 s, then stop coming
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled):
        encode_soundtrack(AudioTrack(str(song), 0.0, 6.0), tmp_path / "t.m4a", spec,
                          cancel=cancel, pace=frames.wait_for)
    assert not (tmp_path / "t.m4a").exists()
