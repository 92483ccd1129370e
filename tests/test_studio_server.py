"""The studio's server, over real HTTP and WebSocket on loopback: uploads, safety, the live
preview, the config file and the render queue (the page itself: test_studio_browser.py)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from _studio import (  # noqa: E402
    client,
    cookie_header,
    running_studio,
    session_cookie,
    wait_ready,
    wait_render,
)
from conftest import video_without_audio  # noqa: E402
from sonicdreams.cli import main  # noqa: E402
from sonicdreams.settings import option_fields  # noqa: E402
from sonicdreams.studio.app import StudioError, create_app  # noqa: E402
from sonicdreams.studio.options import (  # noqa: E402
    FROM_BROWSER_NOT,
    GROUPS,
    OWN_CONTROLS,
    RENDER_FORM,
    option_schema,
    page_values,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def studio(tmp_path):
    app = create_app(data_dir=tmp_path / "studio", cache=False, max_upload_mb=2)
    with running_studio(app) as base:
        yield app, base


@pytest.fixture
def song(studio, excerpt):
    """A session with the excerpt uploaded and analysed: (client, song id)."""
    _, base = studio
    c = client(base)
    r = c.post("/api/songs", params={"name": "stg1.ogg"}, content=excerpt.read_bytes())
    assert r.status_code == 200, r.text
    assert wait_ready(c, r.json()["id"])["state"] == "ready"
    return c, r.json()["id"]


def _session_dir(app, c) -> Path:
    sessions = app.state.studio.sessions
    return sessions.get(session_cookie(c)[1]).dir


# --- uploads ----------------------------------------------------------------------------------

def test_bad_uploads_are_refused_with_a_reason_and_leave_nothing(studio, tmp_path, excerpt):
    app, base = studio
    c = client(base)
    cases = {
        "notes.txt": (b"just some text, not a song\n" * 20, 400, "not an audio or video file"),
        "empty.mp3": (b"", 400, "empty"),
        "silent-film.mp4": (video_without_audio(tmp_path / "v.mp4").read_bytes(), 400,
                            "no audio track"),
        # a text file named like a song: the extension is not trusted
        "fake.ogg": (b"OggS" + b"\x00" * 200, 400, "fake.ogg"),
        # a playlist naming a file of this machine: never followed
        "list.m3u8": (f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{excerpt}\n"
                      "#EXT-X-ENDLIST\n".encode(), 400, "list.m3u8"),
    }
    for name, (body, status, says) in cases.items():
        r = c.post("/api/songs", params={"name": name}, content=body)
        assert r.status_code == status, (name, r.text)
        assert says in r.json()["error"], (name, r.json())
        assert str(tmp_path) not in r.json()["error"] and "/tmp" not in r.json()["error"]
    big = excerpt.read_bytes() * 8  # > 2 MB
    r = c.post("/api/songs", params={"name": "big.ogg"}, content=big)
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    # without a length up front (chunked): cut off while it streams
    r = c.post("/api/songs", params={"name": "big.ogg"},
               content=(big[i:i + 65536] for i in range(0, len(big), 65536)))
    assert r.status_code == 413
    assert list(_session_dir(app, c).iterdir()) == []


def test_upload_names_never_reach_paths(song, studio):
    app, base = studio
    c, _ = song
    names = ["../../../../tmp/evil.ogg", "..\\..\\evil.ogg", "/etc/passwd", "a/../../b.ogg",
             "%2e%2e%2fevil.ogg", "\x00evil.ogg", "x" * 5000 + ".ogg"]
    data = Path(__file__).parent.joinpath("data", "noiz2sa-stg1-excerpt.ogg").read_bytes()
    for name in names:
        r = c.post("/api/songs", params={"name": name}, content=data)
        assert r.status_code == 200, (name, r.text)
        shown = r.json()["name"]
        assert "/" not in shown and "\\" not in shown and "\x00" not in shown
        assert len(shown) <= 80
    folder = _session_dir(app, c)
    for path in folder.iterdir():  # only names of our own, all inside the session folder
        assert path.parent == folder and len(path.stem) == 32, path
    assert not Path("/tmp/evil.ogg").exists()


def test_path_traversal_in_every_name_parameter_is_refused(song, studio):
    _, base = studio
    c, song_id = song
    bad_ids = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "0" * 31 + "/",
               "0" * 32, song_id.upper(), song_id + "%2F..%2F" + song_id]
    for bad in bad_ids:
        for url in (f"/api/songs/{bad}", f"/api/songs/{bad}/audio",
                    f"/api/songs/{bad}/timeline", f"/api/renders/{bad}/file"):
            r = c.get(url)
            assert r.status_code in (400, 404), (url, r.status_code)
            assert b"root:" not in r.content
        for url in (f"/api/renders/{bad}/cancel", f"/api/renders/{bad}/resume"):
            assert c.post(url).status_code in (400, 404, 405), url
        assert c.delete(f"/api/renders/{bad}").status_code in (400, 404, 405)
        for body in ({"song": bad, "values": {}}, {"song": bad, "t": 0, "values": {}}):
            assert c.post("/api/renders", json=body).status_code in (400, 404)
            assert c.post("/api/thumbnails", json=body).status_code in (400, 404)
    for path in ("/static/../app.py", "/static/..%2f..%2fapp.py", "/static/%2e%2e/app.py",
                 "/static//etc/passwd"):
        r = c.get(path)
        assert r.status_code == 404 and b"import" not in r.content, path
    for values in ({"style": "../../etc/passwd"}, {"style": "/tmp/x.pkl"},
                   {"palette": "../x"}, {"scenes": [{"section": 1, "style": "/etc/passwd"}]},
                   {"scenes": [[["section", 1], ["style", "/etc/passwd"]]]},  # pairs
                   {"scenes": [[1, 2]]}, {"scenes": [["a", "b", "c"]]},  # not pairs
                   {"scenes": [[["start", 0], ["style", "stylegan2-ffhq-256x256"]]]},
                   {"pulse_audio": "/etc/passwd"}, {"output_audio": "../../song.ogg"},
                   {"ray_address": "evil:1"}, {"nonsense_option": 1}):
        for url, body in (("/api/renders", {"song": song_id, "values": values}),
                          ("/api/thumbnails", {"song": song_id, "t": 0, "values": values}),
                          ("/api/config/export", {"values": values})):
            r = c.post(url, json=body)
            assert r.status_code == 400, (url, values, r.text)
            assert "error" in r.json() and "root:" not in r.text
    for bad in (b'style = "/etc/passwd.pkl"\n', b"scenes = [[1, 2]]\n"):
        r = c.post("/api/config/import", content=bad)
        assert r.status_code == 400, r.text
    r = c.post("/api/config/import", content=b'pulse_audio = "/etc/passwd"\nspeed_fpm = 3\n')
    assert r.status_code == 200 and r.json()["ignored"] == ["pulse_audio"]
    assert "pulse_audio" not in r.json()["values"]


# --- safety of the server ---------------------------------------------------------------------

def test_a_non_loopback_bind_needs_a_token(tmp_path, capsys):
    with pytest.raises(StudioError, match="token"):
        create_app(host="0.0.0.0", token=None, data_dir=tmp_path)
    with pytest.raises(StudioError, match="token"):
        create_app(host="192.168.1.5", token="", data_dir=tmp_path)
    assert main(["studio", "--host", "0.0.0.0", "--token", "", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "token" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_with_a_token_every_request_needs_it(tmp_path):
    app = create_app(host="0.0.0.0", token="s3cret-token", data_dir=tmp_path)
    with running_studio(app) as base:
        import httpx

        bare = httpx.Client(base_url=base)
        assert bare.get("/").status_code == 403
        assert bare.get("/api/options").status_code == 403
        assert bare.post("/api/songs/demo").status_code == 403
        assert bare.get("/?token=wrong").status_code == 403
        assert "access token" in bare.get("/api/options").json()["error"]
        r = bare.get("/?token=s3cret-token")
        assert r.status_code == 303 and r.headers["location"] == "/"  # out of the address bar
        assert bare.get("/").status_code == 200  # the cookie carries it now
        assert bare.get("/api/options").status_code == 200
        header = httpx.Client(base_url=base, headers={"Authorization": "Bearer s3cret-token"})
        assert header.get("/api/options").status_code == 200
        song_id = header.post("/api/songs/demo").json()["id"]
        cookies = "; ".join(f"{k}={v}" for k, v in header.cookies.items())
        assert wait_ready(header, song_id)["state"] == "ready"
        ws = base.replace("http", "ws") + f"/api/preview?song={song_id}"
        with pytest.raises(InvalidStatus):  # the session's cookie, but no token
            connect(ws, additional_headers={"Cookie": cookies}, open_timeout=10).close()
        with connect(ws, additional_headers={"Cookie": cookies,
                                             "Authorization": "Bearer s3cret-token"},
                     open_timeout=10) as conn:
            conn.send(json.dumps({"type": "settings", "values": {}}))
            assert json.loads(conn.recv(timeout=30))["type"] == "plan"


def test_loopback_studio_refuses_other_hosts_and_sites(studio):
    _, base = studio
    c = client(base)
    # DNS rebinding: a page of another site that resolves to 127.0.0.1
    assert c.get("/api/options", headers={"Host": "evil.example:80"}).status_code == 403
    # another site's page posting to the studio
    r = c.post("/api/songs/demo", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another web site" in r.json()["error"]
    assert c.post("/api/songs/demo", headers={"Origin": base}).status_code == 200
    ws = base.replace("http", "ws") + "/api/preview?song=" + "0" * 32
    with pytest.raises(InvalidStatus):
        connect(ws, origin="http://evil.example", open_timeout=10).close()


def test_session_folder_goes_when_the_session_ends(tmp_path, excerpt):
    sessions = tmp_path / "studio" / "sessions"
    left = sessions / ("ab" * 16)  # a session's folder a killed studio left
    (left / "x.ogg").parent.mkdir(parents=True)
    (left / "x.ogg").write_bytes(b"x")
    (sessions / "notes").mkdir()  # not ours (--dir may be the user's folder): kept
    app = create_app(data_dir=tmp_path / "studio", cache=False)
    with running_studio(app) as base:
        assert not left.exists() and (sessions / "notes").is_dir()
        a, b = client(base), client(base)
        for c in (a, b):
            assert c.post("/api/songs", params={"name": "s.ogg"},
                          content=excerpt.read_bytes()).status_code == 200
        folder_a, folder_b = _session_dir(app, a), _session_dir(app, b)
        assert folder_a != folder_b and len(list(folder_a.iterdir())) == 1
        assert a.post("/api/session/end").status_code == 200
        assert not folder_a.exists() and folder_b.exists()
    assert not folder_b.exists()  # the server stopped: every session ended


# --- options, config file ---------------------------------------------------------------------

def test_controls_come_from_the_settings_declaration():
    schema = option_schema()
    shown = [o["name"] for g in schema["groups"] for o in g["options"]]
    declared = [f.name for f in option_fields() if f.metadata["group"] in GROUPS
                and f.name not in OWN_CONTROLS | RENDER_FORM | FROM_BROWSER_NOT]
    assert sorted(shown) == sorted(declared)
    by_name = {o["name"]: o for g in schema["groups"] for o in g["options"]}
    assert by_name["pulse_react"]["kind"] == "number" and by_name["pulse_react"]["max"] == 10
    assert by_name["pulse_react"]["looks"]["intense"] == 1.0
    assert by_name["motion_space"]["choices"] == ["linear", "slerp"]
    assert by_name["zoom_strength"]["optional"] and by_name["zoom_strength"]["span"] == "[0, 1]"
    assert by_name["scene_changes"]["kind"] == "bool"
    assert all(o["help"] for o in by_name.values())


def test_config_export_import_round_trip_and_bad_files(song):
    from sonicdreams._cli_render import parse_toml
    from sonicdreams.settings import RenderSettings

    c, _ = song
    values = {"style": "julia", "look": "intense", "palette": "ember", "pulse_react": 1.7,
              "zoom_strength": 0.4, "scenes": [{"section": 2, "style": "nebula",
                                                "palette": "ice"}], "width": 640,
              "height": 360, "fps": 24, "seed": 2**62 + 1, "classes": [3, 5, 7]}
    toml = c.post("/api/config/export", json={"values": values})
    assert toml.status_code == 200
    assert RenderSettings.create(parse_toml(toml.text, where="t")) == RenderSettings.create(values)
    back = c.post("/api/config/import", content=toml.content).json()["values"]
    assert RenderSettings.create(page_values(back)) == RenderSettings.create(values)
    assert "speed_fpm" not in back  # still follows the look
    # text boxes get text: a seed past 2**53 survives JavaScript's numbers
    assert back["seed"] == str(2**62 + 1) and back["classes"] == "3,5,7"
    for bad, says in ((b"speed_fpm = = 3", "not valid TOML"), (b"\xff\xfe", "UTF-8"),
                      (b"speed_fpn = 3", "did you mean speed_fpm"),
                      (b"pulse_react = 50", "pulse_react")):
        r = c.post("/api/config/import", content=bad)
        assert r.status_code == 400 and says in r.json()["error"], r.json()


def test_timeline_and_thumbnails(song):
    c, song_id = song
    tl = c.get(f"/api/songs/{song_id}/timeline").json()
    assert tl["duration_s"] == pytest.approx(30.0, abs=0.1)
    assert len(tl["times"]) == len(tl["percussive"]) == len(tl["harmonic"]) <= 2000
    assert max(tl["percussive"]) == 1.0 and len(tl["beats"]) > 30
    assert tl["sections"][0]["start"] == 0 and tl["sections"][-1]["end"] == tl["duration_s"]
    thumbs = c.post("/api/thumbnails", json={"song": song_id, "t": 5.0, "values": {}}).json()
    assert sorted(thumbs["thumbnails"]) == sorted(["cppn", "nebula", "kaleidoscope", "flow",
                                                   "julia"])
    assert all(v.startswith("data:image/jpeg;base64,") for v in thumbs["thumbnails"].values())


# --- the live preview --------------------------------------------------------------------------

def _frames(ws, n: int, *, generation: int | None = None, timeout: float = 30):
    """The next ``n`` frames (generation, index, picture) and the text messages between."""
    from io import BytesIO

    from PIL import Image

    out, texts = [], []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        message = ws.recv(timeout=timeout)
        if isinstance(message, str):
            texts.append(json.loads(message))
            continue
        gen, index = struct.unpack("<II", message[:8])
        if generation is None or gen == generation:
            out.append((gen, index, np.asarray(Image.open(BytesIO(message[8:])))))
    return out, texts


def test_preview_follows_the_clock_and_the_settings(song, studio):
    _, base = studio
    c, song_id = song
    url = base.replace("http", "ws") + f"/api/preview?song={song_id}"
    with connect(url, additional_headers=cookie_header(c), origin=base,
                 open_timeout=10) as ws:
        ws.send(json.dumps({"type": "settings", "values": {"style": "kaleidoscope"}}))
        plan = json.loads(ws.recv(timeout=60))
        assert plan["type"] == "plan" and (plan["width"], plan["height"]) == (256, 256)
        assert plan["fps"] == 30 and plan["n_frames"] == 900
        # paused: exactly the frame of the clock's time
        ws.send(json.dumps({"type": "clock", "t": 10.0, "playing": False}))
        got = []  # (frame 0, the clock's start, may come first)
        while not got or got[-1][1] != 300:
            got += _frames(ws, 1, timeout=10)[0]
        assert len(got) <= 2
        gen, index, still = got[-1]
        assert gen == plan["generation"] and still.shape == (256, 256, 3)
        # playing: frames just ahead of the clock, in order, never for a time gone by
        ws.send(json.dumps({"type": "clock", "t": 20.0, "playing": True}))
        t0 = time.monotonic()
        got, _ = _frames(ws, 40)
        indices = [i for _, i, _ in got]
        assert indices == sorted(indices) and indices[0] >= 600
        assert indices[-1] - indices[0] >= 30
        assert indices[-1] / 30 <= 20.0 + (time.monotonic() - t0) + 1.0  # at most ~1 s ahead
        assert np.abs(got[0][2].astype(int) - got[-1][2].astype(int)).mean() > 1  # it moves
        # a setting: a new plan and frames of it at once; a bad one: an error naming it
        ws.send(json.dumps({"type": "settings", "values": {"style": "kaleidoscope",
                                                           "palette": "ember"}}))
        sent = time.monotonic()
        got, texts = _frames(ws, 1, generation=plan["generation"] + 1)
        assert got and time.monotonic() - sent < 5
        assert any(t["type"] == "plan" for t in texts)
        ws.send(json.dumps({"type": "settings", "values": {"pulse_react": 99}}))
        ws.send(json.dumps({"type": "settings", "values": {"style": "../x"}}))
        errors = []
        deadline = time.monotonic() + 20
        while len(errors) < 2 and time.monotonic() < deadline:
            message = ws.recv(timeout=20)
            if isinstance(message, str) and json.loads(message)["type"] == "error":
                errors.append(json.loads(message))
        by_option = {e["option"]: e["message"] for e in errors}
        assert "[0, 10]" in by_option["pulse_react"] and "cppn" in by_option["style"], errors
        ws.send("not json")
        assert any(json.loads(m)["type"] == "error" for m in
                   (ws.recv(timeout=10) for _ in range(50)) if isinstance(m, str))


def test_preview_needs_a_song_of_the_session_and_moves_with_the_tab(song, studio):
    from websockets.exceptions import ConnectionClosed

    _, base = studio
    c, song_id = song
    other = client(base)  # another browser: not its song
    url = base.replace("http", "ws") + f"/api/preview?song={song_id}"
    # closed with a code the page reads (it does not retry): 4404
    with connect(url, additional_headers=cookie_header(other), origin=base,
                 open_timeout=10) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404
    # one preview a session: a second tab takes it, the first hears so (4409)
    with connect(url, additional_headers=cookie_header(c), origin=base,
                 open_timeout=10) as first:
        first.send(json.dumps({"type": "settings", "values": {}}))
        assert json.loads(first.recv(timeout=30))["type"] == "plan"
        with connect(url, additional_headers=cookie_header(c), origin=base,
                     open_timeout=10) as second:
            second.send(json.dumps({"type": "settings", "values": {}}))
            assert json.loads(second.recv(timeout=30))["type"] == "plan"
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    first.recv(timeout=10)
            assert closed.value.rcvd.code == 4409


# --- renders -----------------------------------------------------------------------------------

def _check_video(path: Path, *, frames: int, fps: int, size: tuple[int, int]) -> None:
    with av.open(str(path)) as f:
        video = f.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == size
        assert video.average_rate == fps
        assert sum(1 for _ in f.decode(video=0)) == frames
    with av.open(str(path)) as f:
        assert f.streams.audio, "no soundtrack"


def test_two_renders_queue_one_after_the_other(song, studio, tmp_path):
    _, base = studio
    c, song_id = song
    ids = []
    for style, fmt in (("cppn", "mp4"), ("kaleidoscope", "webm")):
        r = c.post("/api/renders", json={"song": song_id, "format": fmt, "values": {
            "style": style, "width": 96, "height": 64, "fps": 12, "start": 3, "duration": 2}})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    both_running = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        jobs = c.get("/api/renders").json()["renders"]
        both_running |= sum(j["state"] == "running" for j in jobs) > 1
        if all(j["state"] == "done" for j in jobs if j["id"] in ids):
            break
        time.sleep(0.05)
    assert not both_running
    for job_id, fmt in zip(ids, ("mp4", "webm"), strict=True):
        job = wait_render(c, job_id)
        assert job["state"] == "done", job
        assert job["filename"].endswith(f".{fmt}") and "/" not in job["filename"]
        r = c.get(job["file"])
        assert r.status_code == 200 and job["filename"] in r.headers["content-disposition"]
        out = tmp_path / f"{job_id}.{fmt}"
        out.write_bytes(r.content)
        _check_video(out, frames=24, fps=12, size=(96, 64))
    assert c.post("/api/renders", json={"song": song_id, "format": "exe",
                                        "values": {}}).status_code == 400
    assert c.post("/api/renders", json={"song": song_id, "values": {"width": 7}}).status_code \
        == 400


def test_cancel_resume_and_remove(song, studio, tmp_path):
    app, base = studio
    c, song_id = song
    values = {"style": "julia", "width": 192, "height": 192, "fps": 30, "duration": 12}
    job_id = c.post("/api/renders", json={"song": song_id, "values": values}).json()["id"]
    job = wait_render(c, job_id, until=("running",))
    while wait_render(c, job_id, timeout=0)["done"] < 5:
        time.sleep(0.05)
    assert c.post(f"/api/renders/{job_id}/cancel").json()["id"] == job_id
    job = wait_render(c, job_id)
    assert job["state"] == "cancelled" and job["file"] is None
    assert c.get(f"/api/renders/{job_id}/file").status_code == 404
    assert c.post(f"/api/renders/{job_id}/resume").json()["state"] == "queued"
    job = wait_render(c, job_id)
    assert job["state"] == "done"
    out = tmp_path / "resumed.mp4"
    out.write_bytes(c.get(job["file"]).content)
    _check_video(out, frames=360, fps=30, size=(192, 192))
    assert c.delete(f"/api/renders/{job_id}").status_code == 200
    assert c.get("/api/renders").json()["renders"] == []
    assert c.get(f"/api/renders/{job_id}/file").status_code == 404


def test_a_render_the_server_stops_during_resumes_at_the_next_start(tmp_path, excerpt):
    values = {"style": "julia", "width": 320, "height": 320, "fps": 30, "duration": 14}
    root = tmp_path / "studio"
    with running_studio(create_app(data_dir=root, cache=False)) as base:
        c = client(base)
        song_id = c.post("/api/songs", params={"name": "s.ogg"},
                         content=excerpt.read_bytes()).json()["id"]
        assert wait_ready(c, song_id)["state"] == "ready"
        job_id = c.post("/api/renders", json={"song": song_id, "values": values}).json()["id"]
        while wait_render(c, job_id, timeout=0)["done"] < 310:  # the first segment is done
            time.sleep(0.05)
        # (another studio on the same folder meanwhile: refused, it would render the same)
        with pytest.raises(StudioError, match="another studio"):
            create_app(data_dir=root).state.studio.start()
    saved = json.loads((root / "renders" / job_id / "job.json").read_text())
    assert saved["state"] == "queued"  # stopped by the server, not by the user
    assert list((root / "renders" / job_id).glob(".video.mp4.sonicdreams/*"))  # its segments
    with running_studio(create_app(data_dir=root, cache=False)) as base:
        c = client(base)
        job = wait_render(c, job_id)
        assert job["state"] == "done", job
        out = tmp_path / "resumed.mp4"
        out.write_bytes(c.get(job["file"]).content)
        _check_video(out, frames=420, fps=30, size=(320, 320))


# --- the command ---------------------------------------------------------------------------------

def _start_cli(tmp_path, *args):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SONICDREAMS_CACHE": "off"}
    proc = subprocess.Popen([sys.executable, "-m", "sonicdreams", "studio", "--no-browser",
                             "--port", "0", "--dir", str(tmp_path / "studio"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    return proc, line


def test_the_studio_command_serves_prints_its_address_and_stops_cleanly(tmp_path):
    import re
    import signal

    import httpx

    proc, line = _start_cli(tmp_path)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        c = httpx.Client(base_url=url.group(0))
        assert "sonicdreams studio" in c.get("/").text
        assert c.post("/api/songs/demo").json()["state"] in ("analysing", "ready")
        song = Path(__file__).parent / "data" / "noiz2sa-stg1-excerpt.ogg"
        assert c.post("/api/songs", params={"name": "s.ogg"},
                      content=song.read_bytes()).status_code == 200
        sessions = tmp_path / "studio" / "sessions"
        assert len(list(sessions.glob("*/*.ogg"))) == 1  # the upload, in its session's folder
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not sessions.exists()

    # off loopback: the address it prints carries the token, and nothing answers without it
    proc, line = _start_cli(tmp_path, "--host", "0.0.0.0")
    try:
        token = re.search(r"\?token=([\w-]+)", line)
        base = re.search(r"http://[\d.]+:\d+/", line).group(0)
        assert token, line
        assert httpx.get(base + "api/options").status_code == 403
        assert httpx.get(base + "api/options", params={"token": token.group(1)}).status_code \
            == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)

    # a port in use: one line that says what to do
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc, _ = _start_cli(tmp_path, "--port", str(port))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "--port" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_song_longer_than_the_studio_takes_is_refused(tmp_path, excerpt):
    app = create_app(data_dir=tmp_path / "studio", cache=False, max_song_minutes=0.25)
    with running_studio(app) as base:
        c = client(base)
        r = c.post("/api/songs", params={"name": "long.ogg"}, content=excerpt.read_bytes())
        assert r.status_code == 400 and "--max-song-minutes" in r.json()["error"]


def test_bodies_times_and_messages_the_server_cannot_use(song, studio):
    _, base = studio
    c, song_id = song
    big = b'{"song": "' + b"x" * (2 << 20) + b'"}'
    for url in ("/api/thumbnails", "/api/renders", "/api/config/export"):
        r = c.post(url, content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "larger" in r.json()["error"], url
    assert c.post("/api/config/import", content=b"#" * (2 << 20)).status_code == 413
    for t in (1e308, -5, "nan", 10**400, None):
        r = c.post("/api/thumbnails", json={"song": song_id, "t": t, "values": {}})
        assert r.status_code == 200, (t, r.text)
    with connect(base.replace("http", "ws") + f"/api/preview?song={song_id}",
                 additional_headers=cookie_header(c), origin=base, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "settings", "values": {"style": "cppn"}}))
        ws.send('{"type": "clock", "t": 1e308, "playing": false}')  # clamped: the last frame
        got = []
        while not got or got[-1][1] != 899:
            got += _frames(ws, 1, timeout=20)[0]
        ws.send('{"type": "clock", "t": 3, "playing": false}')
        while got[-1][1] != 90:
            got += _frames(ws, 1, timeout=20)[0]
        ws.send('{"type": "clock", "t": ' + "9" * 400 + ', "playing": false}')  # no number
        while got[-1][1] != 0:
            got += _frames(ws, 1, timeout=20)[0]


def test_cross_site_requests_and_other_loopback_addresses(tmp_path, excerpt):
    app = create_app(host="127.0.0.2", data_dir=tmp_path / "studio", cache=False)
    with running_studio(app, host="127.0.0.2") as base:
        c = client(base)  # 127.0.0.2 is this machine too
        # a page elsewhere loading the studio as an image or a script: refused
        r = c.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
        assert r.status_code == 403
        # following a link to it: fine
        r = c.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
        assert r.status_code == 200
        song_id = c.post("/api/songs", params={"name": "s.ogg"},
                         content=excerpt.read_bytes()).json()["id"]
        assert wait_ready(c, song_id)["state"] == "ready"
        ws = base.replace("http", "ws") + f"/api/preview?song={song_id}"
        with connect(ws, additional_headers=cookie_header(c), origin=base,
                     open_timeout=10) as conn:  # its own song, its own page: yes
            conn.send(json.dumps({"type": "settings", "values": {}}))
            assert json.loads(conn.recv(timeout=30))["type"] == "plan"
        with pytest.raises(InvalidStatus):  # the same from another site's page: no
            connect(ws, additional_headers=cookie_header(c), origin="http://evil.example",
                    open_timeout=10).close()


def test_the_preview_grows_where_the_machine_has_time_to_spare_and_shrinks_where_not():
    from types import SimpleNamespace

    from sonicdreams.studio.live import GROWTH, PreviewStream

    stream = PreviewStream(None, send_text=lambda _: None, send_frame=lambda _: None, workers=2)
    plan = SimpleNamespace(fps=30)
    stream._values_now = {"style": "cppn"}

    def measure(cpu_s: float, *, behind: int = 0) -> bool:
        """Feed two measurements' frames; whether a new plan was asked for."""
        stream._values = None
        for k in range(2 * 53):
            if k % 53 == 20:
                stream._meter[2] += behind
            stream._resize(plan, cpu_s, lanes=2)
            if stream._values is not None:
                assert stream._reason == "size"
                return True
        return False

    # 5 ms a frame at 30 fps on 2 lanes: 7.5 % busy, 17 % at the next size: grow, twice
    assert measure(0.005) and stream._size_of["cppn"] == 1
    assert measure(0.005 * GROWTH[1]) and stream._size_of["cppn"] == 2
    assert not measure(0.005 * GROWTH[2])  # the largest
    assert measure(0.064) and stream._size_of["cppn"] == 1  # 96 % busy: a size down
    assert not measure(0.005 * GROWTH[1])  # and never up again (no back and forth)
    assert measure(0.005, behind=2) and stream._size_of["cppn"] == 0  # falling behind: down
    stream._values_now = {"style": "julia"}  # sizes are per style
    assert not measure(0.030)  # 45 % busy, 101 % at the next size: stays
    # a measurement alone does not move it: two in a row must agree
    stream._values_now = {"style": "flow"}
    stream._values = None
    for _ in range(53):
        stream._resize(plan, 0.005, lanes=2)
    for _ in range(53):
        stream._resize(plan, 0.030, lanes=2)
    assert stream._values is None and stream._size_of.get("flow", 0) == 0


def test_the_data_folder_is_one_studios_and_freed_from_any_thread(tmp_path):
    import threading

    first = create_app(data_dir=tmp_path).state.studio
    first.start()
    with pytest.raises(StudioError, match="another studio uses"):
        create_app(data_dir=tmp_path).state.studio.start()
    closer = threading.Thread(target=first.close)  # (a server stops on another thread)
    closer.start()
    closer.join()
    second = create_app(data_dir=tmp_path).state.studio.start()
    second.close()
    first.start()  # started again after a stop: a working queue
    assert first.renders is not None and first.renders._thread.is_alive()
    first.close()
