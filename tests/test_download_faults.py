"""Download faults, each played by a real local server (127.0.0.1) and real processes.

Servers that send no Content-Length or a wrong one, cut the connection, stall, trickle, fail
with 503; two processes fetching one file; a cache tampered with after the download; catalogue
sizes and checksums; a file that asks to run code. A file is kept only when its structure
verifies end to end; only then is its SHA-256 recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import pickletools
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _http import RouteHandler, local_server, record
from sonicdreams.errors import DownloadError, UnsafeModelError
from sonicdreams.generators.download import CHECKSUMS, download

SRC = Path(__file__).resolve().parent.parent / "src"
PAYLOAD = pickle.dumps({"weights": random.Random(2).randbytes(600_000)}, protocol=4)
SIZE = len(PAYLOAD)
HALF = SIZE // 2
SHA = hashlib.sha256(PAYLOAD).hexdigest()
# Where the weights' bytes end: what a pickle cut inside them declares it needs.
DECLARED = next(pos + 5 + len(arg) for op, arg, pos in pickletools.genops(PAYLOAD)
                if op.name == "BINBYTES")
STALL_S = 30.0  # how long a stalling server stays silent (the test ends it sooner)
FAST = dict(backoff_s=0.0)  # no waiting between tries in tests that retry


class _Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _Faults(RouteHandler):
    def route_nolength_pkl(self, n: int) -> None:  # no Content-Length; the first reply stops
        self.send_body(PAYLOAD, length=False, cut=HALF if n == 1 else None)

    def route_nolength_whole_pkl(self, n: int) -> None:  # all of it, but no Content-Length
        self.send_body(PAYLOAD, length=False)

    def route_nolength_short_pkl(self, n: int) -> None:  # never more than half, no Range
        self.send_body(PAYLOAD, length=False, ranges=False, cut=HALF)

    def route_too_long_pkl(self, n: int) -> None:  # always claims 1,000 bytes more than it has
        start, claimed = self.range_start(), SIZE + 1000
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{claimed - 1}/{claimed}")
        self.send_header("Content-Length", str(claimed - start))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(PAYLOAD[start:])
        self.hang_up()

    def route_too_short_pkl(self, n: int) -> None:  # the first reply announces half its body
        self.send_body(PAYLOAD, length=HALF if n == 1 else True)

    def route_too_short_always_pkl(self, n: int) -> None:  # announces half, ignores Range
        self.send_body(PAYLOAD, ranges=False, length=HALF)

    def route_stall_pkl(self, n: int) -> None:  # the first reply goes silent half-way
        if n > 1:
            return self.send_body(PAYLOAD)
        self.send_response(200)
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()
        self.wfile.write(PAYLOAD[:HALF])
        self.wfile.flush()
        self.server.release.wait(STALL_S)

    def route_stall_always_pkl(self, n: int) -> None:  # each reply: 10 kB, then silence
        start = self.range_start()
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{SIZE - 1}/{SIZE}")
        self.send_header("Content-Length", str(SIZE - start))
        self.end_headers()
        self.wfile.write(PAYLOAD[start:start + 10_000])
        self.wfile.flush()
        self.server.release.wait(STALL_S)

    def route_trickle_pkl(self, n: int) -> None:  # a byte stream that never quite stops
        self.send_slowly(PAYLOAD, pieces=3000, pause_s=0.05)

    def route_busy_pkl(self, n: int) -> None:  # 503 twice, then the file
        if n <= 2:
            return self.send_error(503, "Service Unavailable")
        self.send_body(PAYLOAD)

    def route_shared_pkl(self, n: int) -> None:  # about a second per transfer
        self.send_slowly(PAYLOAD, pieces=10, pause_s=0.1)

    def route_file_pkl(self, n: int) -> None:
        self.send_body(PAYLOAD)

    def route_model_pkl(self, n: int) -> None:
        self.send_body(self.server.model)

    def route_evil_pkl(self, n: int) -> None:
        marker = self.server.marker
        self.send_body(pickle.dumps({"G_ema": _Payload(os.system, f"touch {marker}")}, 4))


@pytest.fixture
def server(tmp_path):
    with local_server(_Faults) as httpd:
        httpd.marker = tmp_path / "pwned"
        yield httpd


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("SONICDREAMS_MODELS", str(folder))
    return folder


def ranges(server, path: str) -> list[str | None]:
    return [r for p, r, _ in server.requests if p == path]


def not_recorded(cache: Path) -> bool:
    """Nothing was kept as complete: no file under its name, no checksum recorded."""
    return not (cache / "test-style.pkl").exists() and not (cache / CHECKSUMS).exists()


def checksum(cache: Path) -> str:
    return json.loads((cache / CHECKSUMS).read_text())["test-style.pkl"]["sha256"]


# ---------------------------------------------------------------------------------------------
# Content-Length missing or wrong


def test_a_transfer_cut_short_without_content_length_is_resumed(server, cache):
    path = download(record(server.url + "/nolength.pkl"), **FAST)
    assert path.read_bytes() == PAYLOAD and checksum(cache) == SHA
    assert ranges(server, "/nolength.pkl") == [None, f"bytes={HALF}-"]


def test_a_file_that_never_completes_without_content_length_is_not_kept(server, cache):
    with pytest.raises(DownloadError) as info:
        download(record(server.url + "/nolength_short.pkl"), retries=2, **FAST)
    assert str(info.value) == (
        "style 'test style': the file from 127.0.0.1 is still truncated after 3 tries: the "
        f"pickle ends before its STOP opcode ({HALF:,} of {DECLARED:,} declared bytes); run "
        "again to resume it, or "
        "download the file by hand and pass it with --style /path/to/file.pkl")
    assert not_recorded(cache) and len(server.requests) == 3


def test_a_content_length_too_large_is_never_complete(server, cache):
    with pytest.raises(DownloadError, match=rf"stopped after {SIZE:,} of {SIZE + 1000:,} bytes"):
        download(record(server.url + "/too_long.pkl"), retries=2, **FAST)
    assert not_recorded(cache)
    assert (cache / "test-style.pkl.part").stat().st_size == SIZE  # kept for a later resume


def test_a_content_length_too_small_is_found_by_the_structure_and_resumed(server, cache):
    path = download(record(server.url + "/too_short.pkl"), **FAST)
    assert path.read_bytes() == PAYLOAD and checksum(cache) == SHA
    assert ranges(server, "/too_short.pkl") == [None, f"bytes={HALF}-"]


def test_a_content_length_always_too_small_is_refused(server, cache):
    with pytest.raises(DownloadError, match=r"truncated after 2 tries: the pickle ends before"):
        download(record(server.url + "/too_short_always.pkl"), retries=1, **FAST)
    assert not_recorded(cache)


# ---------------------------------------------------------------------------------------------
# Stalls, trickles, server errors


def test_a_stalled_transfer_is_resumed_with_range(server, cache):
    path = download(record(server.url + "/stall.pkl"), stall_timeout_s=0.5, **FAST)
    assert path.read_bytes() == PAYLOAD and checksum(cache) == SHA
    assert ranges(server, "/stall.pkl") == [None, f"bytes={HALF}-"]


def test_a_server_that_keeps_stalling_is_given_up_at_the_deadline(server, cache):
    with pytest.raises(DownloadError) as info:
        download(record(server.url + "/stall_always.pkl"), stall_timeout_s=0.3, deadline_s=2,
                 retries=100, **FAST)
    message = str(info.value)
    assert message.startswith("style 'test style': the download from 127.0.0.1 did not finish "
                              "within 2 s (")
    # why the last try stopped: almost always the stall, rarely the deadline as bytes came
    assert re.search(r"bytes: (no data for 0\.3 s|the deadline passed)\)", message), message
    assert message.endswith(
        "; run again to resume it, or download the file by hand and pass it with "
        "--style /path/to/file.pkl")
    tries = ranges(server, "/stall_always.pkl")
    assert len(tries) >= 2 and tries[1] == "bytes=10000-"  # resumed where it stopped
    assert not_recorded(cache) and (cache / "test-style.pkl.part").stat().st_size > 10_000


def test_a_trickling_server_is_stopped_by_the_deadline(server, cache):
    with pytest.raises(DownloadError, match=r"did not finish within 1\.5 s"):
        download(record(server.url + "/trickle.pkl"), stall_timeout_s=5, deadline_s=1.5)
    assert not_recorded(cache)


def test_server_errors_are_retried_with_backoff(server, cache):
    path = download(record(server.url + "/busy.pkl"), backoff_s=0.01)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 3


# ---------------------------------------------------------------------------------------------
# Two processes, one file


_FETCH = ("import sys; from sonicdreams.generators.download import download; "
          "print(download(sys.argv[1], cache_dir=sys.argv[2]))")


def test_two_processes_fetching_one_file_share_one_transfer(server, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    url, folder = server.url + "/shared.pkl", tmp_path / "shared-cache"
    procs = [subprocess.Popen([sys.executable, "-c", _FETCH, url, str(folder)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    paths = {Path(out.strip()) for out, _ in results}
    assert len(paths) == 1 and paths.pop().read_bytes() == PAYLOAD
    assert len(server.requests) == 1  # the second process waited, then found the file
    assert not list(folder.glob("*.part"))


# ---------------------------------------------------------------------------------------------
# Checksums: trust on first use, the catalogue's values where it has them


def test_a_catalogue_size_is_enforced_before_and_after_the_transfer(server, cache):
    with pytest.raises(DownloadError) as info:
        download(record(server.url + "/file.pkl", size=SIZE + 1))
    assert str(info.value) == (
        f"style 'test style': 127.0.0.1 offers {SIZE:,} bytes, but the catalogue expects "
        f"{SIZE + 1:,}; the file on the server changed; nothing was kept")
    assert not_recorded(cache) and not list(cache.glob("*.part"))
    with pytest.raises(DownloadError, match=rf"has {SIZE:,} bytes, but the catalogue expects "
                                            rf"{SIZE + 1:,}"):  # no Content-Length to compare
        download(record(server.url + "/nolength_whole.pkl", size=SIZE + 1))
    assert not_recorded(cache)
    path = download(record(server.url + "/file.pkl", size=SIZE, sha256=SHA))
    assert path.read_bytes() == PAYLOAD


def test_a_catalogue_checksum_is_checked_on_every_later_use(server, cache):
    rec = record(server.url + "/file.pkl", sha256=SHA, size=SIZE)
    path = download(rec)
    (cache / CHECKSUMS).unlink()  # the catalogue's value is enough
    data = bytearray(PAYLOAD)
    data[HALF] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"has SHA-256 [0-9a-f]{64}, not " + SHA):
        download(rec)
    assert len(server.requests) == 1


def test_a_tampered_cached_model_is_refused_when_loaded(server, cache, monkeypatch):
    torch = pytest.importorskip("torch")
    from _formats import tiny_sg2, write_nvlabs_pickle
    from sonicdreams.generators import catalog
    from sonicdreams.generators.stylegan import load_stylegan

    G = tiny_sg2(res=16)
    write_nvlabs_pickle(cache.parent / "tiny.pkl", G)
    server.model = (cache.parent / "tiny.pkl").read_bytes()
    rec = record(server.url + "/model.pkl", name="tiny")
    monkeypatch.setattr(catalog, "lookup", lambda name: rec if name == "tiny" else None)
    H = load_stylegan("tiny", device="cpu", cache=False)
    assert torch.equal(H.mapping.w_avg, G.mapping.w_avg)
    path = cache / "tiny.pkl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=rf"cached file {path} has SHA-256 .* changed or "
                                            "damaged; delete it and run again"):
        load_stylegan("tiny", device="cpu", cache=False)
    assert len(server.requests) == 1


def test_a_hand_placed_truncated_file_is_not_trusted(server, cache):
    cache.mkdir()
    (cache / "test-style.pkl").write_bytes(PAYLOAD[:HALF])
    with pytest.raises(DownloadError, match=r"the cached file .* is truncated: .*; delete it and "
                                            "run again to download it afresh"):
        download(record(server.url + "/file.pkl"))
    assert not (cache / CHECKSUMS).exists()


# ---------------------------------------------------------------------------------------------
# A file that asks to run code


def test_a_download_that_asks_to_run_code_is_refused_and_not_kept(server, cache):
    with pytest.raises(UnsafeModelError) as info:
        download(record(server.url + "/evil.pkl"))
    assert str(info.value) == ("style 'test style': refused: the file asks to run os.system — "
                               "it is not a model; nothing was executed")
    assert not server.marker.exists()
    assert sorted(p.name for p in cache.iterdir() if p.suffix != ".lock") == []


# ---------------------------------------------------------------------------------------------
# The command line: exit code 2 and one line


@pytest.mark.parametrize("route,message", [
    ("/evil.pkl", "refused: the file asks to run os.system — it is not a model; nothing was "
                  "executed"),
    ("/nolength_short.pkl", "still truncated after 4 tries: the pickle ends before its STOP"),
])
def test_cli_download_faults_exit_2_with_one_line(server, tmp_path, route, message):
    run = subprocess.run([sys.executable, "-m", "sonicdreams", "download", server.url + route,
                          "--cache-dir", str(tmp_path / "c")], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(SRC)), timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("sonicdreams: error: ") and run.stderr.count("\n") == 1
    assert message in run.stderr and run.stdout == ""
    assert not server.marker.exists()
