"""The original's API: the article's and tutorial's examples run as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from _formats import sg2_tf_networks, tiny_sg2, write_nvlabs_pickle
from _tf_pickle import write_tf_pickle
from sonicdreams.errors import DownloadError, SettingsError, SonicDreamsError
from sonicdreams.video import probe_video


@pytest.fixture(scope="module")
def songs(excerpt, tmp_path_factory):
    """A short song as mp3 and two 'stems' (its percussive-ish and tonal halves)."""
    folder = tmp_path_factory.mktemp("songs")
    y, sr = sf.read(excerpt, dtype="float32")
    clip = y[: 4 * sr]
    sf.write(folder / "song.mp3", clip, sr)
    sf.write(folder / "drums.wav", clip[:, 0], sr)
    sf.write(folder / "piano.wav", clip[:, 1], sr)
    return folder


@pytest.fixture()
def in_songs(songs, monkeypatch):
    monkeypatch.chdir(songs)
    yield songs
    for video in songs.glob("*.mp4"):
        video.unlink()


def test_import_has_no_side_effects(tmp_path):
    code = ("import os, sys; os.chdir(sys.argv[1]); import lucidsonicdreams; "
            "print(sorted(os.listdir('.')), 'tensorflow' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[] False False"


def test_example_1_a_named_style(in_songs):
    from lucidsonicdreams import LucidSonicDream

    L = LucidSonicDream(song="song.mp3", style="cppn")
    L.hallucinate(file_name="song.mp4")
    info = probe_video("song.mp4")
    assert info.fps == 43 and info.n_frames == round(4 * 43)  # exactly 43 fps, every frame
    assert (info.audio_rate, info.audio_channels) == (44100, 2)
    # The article's own style is a StyleGAN network on mega.nz, which cannot be fetched
    # automatically: a clear error that says what to do, and no file.
    with pytest.raises(DownloadError, match="abstract photos.*mega.*--style"):
        LucidSonicDream(song="song.mp3", style="abstract photos").hallucinate(file_name="x.mp4")
    assert not Path("x.mp4").exists()


def test_example_1_the_named_stylegan_style_once_its_weights_are_there(in_songs):
    """With the weights in the model cache (downloaded by hand, as the error says), the
    article's first example runs as written."""
    from lucidsonicdreams import LucidSonicDream
    from sonicdreams.generators.catalog import lookup
    from sonicdreams.generators.download import models_dir

    record = lookup("abstract photos")
    models_dir().mkdir(parents=True, exist_ok=True)
    write_tf_pickle(models_dir() / record.filename, sg2_tf_networks(tiny_sg2(res=16)))
    LucidSonicDream(song="song.mp3", style="abstract photos").hallucinate(
        file_name="song.mp4", duration=1)
    info = probe_video("song.mp4")
    assert info.size == (16, 16) and info.n_frames == 43


def test_example_2_show_styles(capsys):
    from lucidsonicdreams import show_styles

    assert show_styles() is None
    printed = capsys.readouterr().out.split()
    assert "cppn" in printed


def test_example_3_effects_and_a_static_base(in_songs):
    from lucidsonicdreams import LucidSonicDream

    L = LucidSonicDream("song.mp3", style="cppn")
    L.hallucinate(file_name="song", speed_fpm=0, motion_react=0.8, contrast_strength=0.5,
                  flash_strength=0.7, resolution=128)  # no .mp4: the original failed here
    info = probe_video("song.mp4")
    assert info.size == (128, 128) and info.n_frames == 172


def test_example_4_own_weights(in_songs):
    from lucidsonicdreams import LucidSonicDream

    G = tiny_sg2(res=32, c_dim=3)
    write_nvlabs_pickle(Path("my_weights.pkl"), G)
    L = LucidSonicDream(song="song.mp3", style="my_weights.pkl")
    L.hallucinate(file_name="song.mp4", pulse_react=1.2, motion_react=0.7, duration=2)
    info = probe_video("song.mp4")
    assert info.size == (32, 32) and info.n_frames == 86
    # A file that is not weights: a clear error naming it, and no video.
    Path("bad_weights.pkl").write_bytes(b"\x80\x04not really weights")
    with pytest.raises(SonicDreamsError, match="bad_weights.pkl"):
        LucidSonicDream(song="song.mp3", style="bad_weights.pkl").hallucinate(
            file_name="bad.mp4")
    assert not Path("bad.mp4").exists()
    Path("my_weights.pkl").unlink()
    Path("bad_weights.pkl").unlink()


def test_example_5_isolated_tracks(in_songs):
    from lucidsonicdreams import LucidSonicDream

    L = LucidSonicDream(song="song.mp3", pulse_audio="drums.wav", class_audio="piano.wav",
                        style="cppn")
    L.hallucinate(file_name="song.mp4", classes=[1, 5, 9, 2, 7, 11, 0, 3, 8, 4, 10, 6],
                  dominant_classes_first=True, class_shuffle_seconds=8, class_smooth_seconds=4,
                  class_pitch_react=0.2, resolution=96, seed=5)
    assert probe_video("song.mp4").n_frames == 172


def test_example_6_custom_effect_with_skimage_swirl(in_songs):
    from skimage.transform import swirl

    from lucidsonicdreams import EffectsGenerator, LucidSonicDream

    def swirl_func(array, strength, amplitude):
        swirled_image = swirl(array, rotation=0, strength=100 * strength * amplitude,
                              radius=650)
        return (swirled_image * 255).astype(np.uint8)

    swirl_effect = EffectsGenerator(swirl_func, audio="drums.wav", strength=0.2,
                                    percussive=False)
    effects = [swirl_effect]
    L = LucidSonicDream("song.mp3", style="cppn")
    L.hallucinate(file_name="song.mp4", custom_effects=effects, resolution=96, duration=2)
    assert effects == [swirl_effect]  # the original appended contrast/flash to this list
    assert probe_video("song.mp4").n_frames == 86


def _dcgan():
    """The real pretrained 64x64 DCGAN shipped by gan-face-generate (its own weights)."""
    torch = pytest.importorskip("torch")
    gfg = pytest.importorskip("gan_face_generate")
    from gan_face_generate.models import Generator

    net = Generator(0, 3, 100, 64)
    weights = Path(gfg.__file__).with_name("weights.tar")
    net.load_state_dict(torch.load(weights, weights_only=True,
                                   map_location="cpu")["netG_state_dict"])
    return torch, net.eval()


def test_example_7_a_pytorch_generator_as_a_function(in_songs):
    from PIL import Image

    from lucidsonicdreams import LucidSonicDream

    torch, net = _dcgan()
    calls = []

    def dcgan_style(noise_batch, class_batch):
        calls.append((noise_batch.shape, class_batch.shape))
        with torch.inference_mode():
            z = torch.from_numpy(noise_batch.astype(np.float32))[:, :, None, None]
            images = (net(z).clamp(-1, 1) + 1) * 127.5
        array = images.permute(0, 2, 3, 1).to(torch.uint8).numpy()
        return [Image.fromarray(img) for img in array]

    L = LucidSonicDream(song="song.mp3", style=dcgan_style, input_shape=100,
                        num_possible_classes=1000)
    L.hallucinate(file_name="song.mp4", output_audio="piano.wav", class_shuffle_seconds=10,
                  class_shuffle_strength=0.1, class_complexity=0.5, duration=2, batch_size=4)
    info = probe_video("song.mp4")
    assert info.size == (64, 64) and info.n_frames == 86
    assert info.audio_channels == 1  # the soundtrack is output_audio (mono), not the song
    assert all(shape[0][1] == 100 and shape[1][1] == 1000 for shape in calls)
    # Real faces: structured images, not noise or a flat frame.
    import av

    with av.open("song.mp4") as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert 40 < frame.mean() < 220 and frame.std() > 20


def test_function_style_needs_its_sizes(in_songs):
    from lucidsonicdreams import LucidSonicDream

    def style(noise_batch, class_batch):
        return [np.zeros((8, 8, 3), np.uint8)] * len(noise_batch)

    with pytest.raises(SettingsError, match="input_shape"):
        LucidSonicDream("song.mp3", style=style).hallucinate("song.mp4")


def test_errors_are_exceptions_not_exits(in_songs):
    from lucidsonicdreams import LucidSonicDream

    with pytest.raises(SonicDreamsError):
        LucidSonicDream("song.mp3", style="cppn").hallucinate("x.mp4", motion_randomness=2)
    with pytest.raises(ValueError):  # SettingsError is a ValueError too
        LucidSonicDream("song.mp3", style="cppn").hallucinate("x.mp4", truncation=3)
    with pytest.raises(SonicDreamsError, match="no such file"):
        LucidSonicDream("missing.mp3", style="cppn").hallucinate("x.mp4")


def test_helpers_of_the_original():
    from lucidsonicdreams import full_frame_interpolation, get_spec_norm, interpolate

    steps = interpolate(np.zeros(3), np.ones(3), 5)
    assert len(steps) == 5 and steps[0].sum() == 0 and steps[-1].sum() == 3
    path = full_frame_interpolation([np.zeros(2), np.ones(2), 2 * np.ones(2)], 4, 10)
    assert len(path) == 10 and path[3].sum() == 2 and path[-1].sum() == 4
    env = get_spec_norm(np.zeros(22050, np.float32), 22050, 128, 512)
    assert np.all(env == 0)  # silence: zeros, not NaN


def test_download_weights_helper_fetches_and_checks(tmp_path):
    import functools
    import http.server
    import threading

    from lucidsonicdreams import download_weights

    served = tmp_path / "served"
    served.mkdir()
    write_nvlabs_pickle(served / "net.pkl", tiny_sg2(res=16))
    (served / "quota.pkl").write_text("<!DOCTYPE html><html>Quota exceeded</html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = download_weights(f"{base}/net.pkl", tmp_path / "mine.pkl")
        assert Path(out).read_bytes() == (served / "net.pkl").read_bytes()
        with pytest.raises(DownloadError, match="web page"):
            download_weights(f"{base}/quota.pkl", tmp_path / "quota.pkl")
        assert not (tmp_path / "quota.pkl").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.pkl", "served"]
    finally:
        server.shutdown()
