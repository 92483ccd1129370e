"""Rendering on a Ray cluster (``backend="ray"``): the same video as a local render, a killed
worker retried, an interrupted driver resumed, clear errors. A local Ray instance of two CPUs
plays the cluster."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from sonicdreams.errors import SettingsError
from sonicdreams.generators.callable import CallableStyle
from sonicdreams.pipeline import render, work_dir_for
from sonicdreams.video import read_manifest
from test_render import decode_frames, run_cli

try:
    import ray
except ImportError:  # (the error tests below run without it)
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="the cluster extra (ray) is not installed")

# 3 s at 12 fps in 1 s segments: three tasks.
CLIP = dict(duration=3.0, fps=12, width=96, height=96, segment_seconds=1.0, seed=7)


@pytest.fixture(scope="module")
def worker_cache(tmp_path_factory):
    """Where Ray's worker processes keep their compiled kernels (the tests' cache is off,
    and compiling in every new worker takes a while)."""
    return tmp_path_factory.mktemp("worker-cache")


@needs_ray
def test_a_render_starts_and_stops_its_own_ray(excerpt, tmp_path, monkeypatch, worker_cache):
    # No ray.init before: the render starts a Ray of this machine, renders on it, stops it,
    # and leaves the CLI's SIGTERM handler in place.
    import signal

    assert not ray.is_initialized()
    monkeypatch.setenv("SONICDREAMS_CACHE", str(worker_cache))  # (inherited by the workers)

    def on_term(signum, frame):
        pass

    saved = signal.signal(signal.SIGTERM, on_term)
    try:
        result = render(excerpt, tmp_path / "ray.mp4", backend="ray", ray_address="local",
                        **CLIP)
        assert signal.getsignal(signal.SIGTERM) is on_term
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert not ray.is_initialized()
    assert result.n_frames == 36
    assert "ray_address" not in read_manifest(result.output)["settings"]


@pytest.fixture(scope="module")
def cluster(worker_cache):
    """A local Ray of two CPUs."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"SONICDREAMS_CACHE": str(worker_cache)}})
    yield
    ray.shutdown()


def _grey(noise_batch, class_batch):
    level = (128 + 60 * np.tanh(noise_batch[:, 0])).astype(np.uint8)
    return [np.full((48, 48, 3), v, np.uint8) for v in level]


@needs_ray
def test_a_ray_render_is_the_local_render(cluster, excerpt, tmp_path):
    local = render(excerpt, tmp_path / "local.mp4", **CLIP)
    seen = []
    remote = render(excerpt, tmp_path / "ray.mp4", backend="ray", **CLIP,
                    progress=lambda p: seen.append((p.done, p.total)) if p.stage == "render"
                    else None)
    assert remote.n_frames == local.n_frames == 36
    assert np.array_equal(decode_frames(remote.output), decode_frames(local.output))
    a, b = read_manifest(local.output), read_manifest(remote.output)
    assert (a["settings"].pop("backend"), b["settings"].pop("backend")) == ("local", "ray")
    assert a == b
    # Progress from the workers reaches the bar, in order, up to every frame.
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 36 and len(set(done)) > 2
    assert not any(tmp_path.glob("*.sonicdreams*")), "the work folder is left behind"


@needs_ray
def test_a_stylegan_network_renders_on_ray_as_here(cluster, excerpt, tmp_path):
    # The network (weights and all) travels through the object store once.
    pytest.importorskip("torch")
    from _formats import tiny_sg2, write_nvlabs_pickle

    write_nvlabs_pickle(tmp_path / "mine.pkl", tiny_sg2(res=32))
    clip = dict(CLIP, width=None, height=None, style=str(tmp_path / "mine.pkl"))
    local = render(excerpt, tmp_path / "local.mp4", **clip)
    remote = render(excerpt, tmp_path / "ray.mp4", backend="ray", **clip)
    assert remote.size == (32, 32) and remote.n_frames == 36
    assert np.array_equal(decode_frames(remote.output), decode_frames(local.output))


@needs_ray
def test_a_killed_worker_is_retried_and_the_video_is_complete(cluster, excerpt, tmp_path):
    # A function style (sent by cloudpickle) that kills its worker process the first time
    # it draws there: Ray runs the task again, and the video is the one a local render makes.
    marker = tmp_path / "killed-once"
    driver = os.getpid()

    def dies_once(noise_batch, class_batch):
        if os.getpid() != driver and not marker.exists():
            marker.touch()
            os._exit(1)
        return _grey(noise_batch, class_batch)

    local = render(excerpt, tmp_path / "local.mp4", style=CallableStyle(dies_once, z_dim=8),
                   **CLIP)
    remote = render(excerpt, tmp_path / "ray.mp4", style=CallableStyle(dies_once, z_dim=8),
                    backend="ray", **CLIP)
    assert marker.exists(), "no worker was killed"
    assert remote.n_frames == 36
    assert np.array_equal(decode_frames(remote.output), decode_frames(local.output))


@needs_ray
def test_an_interrupted_driver_resumes_from_the_segments_that_arrived(cluster, excerpt,
                                                                       tmp_path):
    class Stop(Exception):
        pass

    def stopper(output):
        def stop_after_a_segment(p):  # (once one segment and its record are in)
            if p.stage == "render" and any(work_dir_for(output).glob("segment_*.json")):
                raise Stop

        return stop_after_a_segment

    out = tmp_path / "ray.mp4"
    with pytest.raises(Stop):
        render(excerpt, out, backend="ray", progress=stopper(out), **CLIP)
    assert not out.exists()
    resumed = render(excerpt, out, backend="ray", **CLIP)
    assert resumed.resumed_segments >= 1
    local = render(excerpt, tmp_path / "local.mp4", **CLIP)
    assert np.array_equal(decode_frames(out), decode_frames(local.output))
    # A local render takes up a Ray render's segments too (the backend is not in the
    # fingerprint), and the other way round.
    again = tmp_path / "again.mp4"
    with pytest.raises(Stop):
        render(excerpt, again, progress=stopper(again), **CLIP)
    assert render(excerpt, again, backend="ray", **CLIP).resumed_segments >= 1
    assert np.array_equal(decode_frames(again), decode_frames(local.output))


@needs_ray
def test_a_style_that_cannot_be_sent_is_a_clear_error(cluster, excerpt, tmp_path):
    import threading

    lock = threading.Lock()

    def locked(noise_batch, class_batch):
        with lock:
            return _grey(noise_batch, class_batch)

    with pytest.raises(SettingsError, match="cannot be sent to the Ray cluster"):
        render(excerpt, tmp_path / "v.mp4", style=CallableStyle(locked, z_dim=8),
               backend="ray", **CLIP)


def test_a_segment_from_a_machine_with_other_versions_is_refused():
    from sonicdreams.cluster import _store
    from sonicdreams.errors import SonicDreamsError
    from sonicdreams.fingerprint import library_versions

    theirs = {**library_versions(), "numpy": "0.0.1"}
    with pytest.raises(SonicDreamsError, match="numpy 0.0.1 there"):
        _store(None, None, None, (b"", "", theirs))


def test_slots_and_cores_of_a_task():
    # CPU styles: a task a core. GPU styles: a task a GPU, with the cores of the least
    # equipped GPU machine's share; a cluster without GPUs is refused, not waited on.
    from types import SimpleNamespace

    from sonicdreams.cluster import _slots

    def fake(resources, nodes=()):
        return SimpleNamespace(cluster_resources=lambda: resources, nodes=lambda: list(nodes))

    assert _slots(fake({"CPU": 6.0}), gpu=False) == (6, 1)
    nodes = [{"Alive": True, "Resources": {"CPU": 4.0, "GPU": 2.0}},
             {"Alive": True, "Resources": {"CPU": 64.0, "GPU": 2.0}},
             {"Alive": True, "Resources": {"CPU": 96.0}}]
    assert _slots(fake({"CPU": 164.0, "GPU": 4.0}, nodes), gpu=True) == (4, 2)
    with pytest.raises(SettingsError, match="has none"):
        _slots(fake({"CPU": 64.0}), gpu=True)


@needs_ray
def test_a_numbered_gpu_is_refused_on_ray(excerpt, tmp_path):
    with pytest.raises(SettingsError, match="a Ray task sees the GPU"):
        render(excerpt, tmp_path / "v.mp4", backend="ray", device="cuda:1", **CLIP)


def test_without_ray_the_backend_is_a_clear_error(excerpt, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(SettingsError, match=r"pip install 'sonicdreams\[cluster\]'"):
        render(excerpt, tmp_path / "v.mp4", backend="ray", **CLIP)


@needs_ray
def test_cli_backend_flags(excerpt, tmp_path):
    run = run_cli("render", "--help")
    assert "--backend" in run.stdout and "--ray-address" in run.stdout
    run = run_cli("render", excerpt, "-o", tmp_path / "v.mp4", "--backend", "ray",
                  "--save-frames", "--duration", "1")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "save_frames works with backend='local'" in run.stderr
    run = run_cli("render", excerpt, "-o", tmp_path / "v.mp4", "--backend", "ray",
                  "--ray-address", "127.0.0.1:1", "--duration", "1")
    assert run.returncode == 2 and "could not join the Ray cluster" in run.stderr
