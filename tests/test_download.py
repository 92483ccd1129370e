"""Downloads against a local HTTP server: resume, content checks, checksums, errors.

No test touches the network: a ThreadingHTTPServer on 127.0.0.1 plays every kind of server.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import random
import socket
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from _http import RouteHandler, local_server, record
from sonicdreams.cli import main
from sonicdreams.errors import DownloadError
from sonicdreams.generators.catalog import lookup
from sonicdreams.generators.download import CHECKSUMS, cached_path, download, models_dir
from sonicdreams.generators.hosts import gdrive_confirm

# A complete pickle of several chunks (downloads are checked to the pickle's STOP opcode).
PAYLOAD = pickle.dumps({"weights": random.Random(0).randbytes(700_000)}, protocol=4)
HALF = len(PAYLOAD) // 2


def _torch_like_zip() -> bytes:
    """A minimal ``torch.save`` archive: ``archive/data.pkl`` (no tensors) and a version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"step": 1}, protocol=2))
        zf.writestr("archive/version", "3\n")
    return buffer.getvalue()


ZIP = _torch_like_zip()


class _Handler(RouteHandler):
    def send_page(self, html: str, status: int = 200) -> None:
        self.send_body(html.encode(), ranges=False, content_type="text/html; charset=utf-8") \
            if status == 200 else self.send_error(status)

    # -- routes
    def route_file_pkl(self, n: int) -> None:
        self.send_body(PAYLOAD)

    def route_model_pt(self, n: int) -> None:
        self.send_body(ZIP)

    def route_flaky_pkl(self, n: int) -> None:  # first reply dies half-way
        self.send_body(PAYLOAD, cut=HALF if n == 1 else None)

    def route_norange_pkl(self, n: int) -> None:  # dies half-way and never honours Range
        self.send_body(PAYLOAD, ranges=False, cut=HALF if n == 1 else None)

    def route_page_pkl(self, n: int) -> None:
        self.send_page("<!DOCTYPE html><html><body>Sorry, too many users have viewed or "
                       "downloaded this file recently.</body></html>")

    def route_text_pkl(self, n: int) -> None:
        self.send_body(b"Access denied\n", ranges=False, content_type="text/plain")

    def route_short_pkl(self, n: int) -> None:  # always dies: the transfer cannot finish
        self.send_body(PAYLOAD, cut=1000)

    def route_slow_pkl(self, n: int) -> None:
        self.server.release.wait(2.0)
        self.send_body(PAYLOAD)

    def route_uc(self, n: int) -> None:  # Google Drive: the virus-scan warning page
        file_id = parse_qs(urlparse(self.path).query).get("id", [""])[0]
        port = self.server.server_address[1]
        self.send_page(
            "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>"
            "<body><p>Google Drive can't scan this file for viruses.</p>"
            f'<form id="download-form" action="http://127.0.0.1:{port}/download" method="get">'
            '<input type="submit" id="uc-download-link" value="Download anyway"/>'
            f'<input type="hidden" name="id" value="{file_id}">'
            '<input type="hidden" name="export" value="download">'
            '<input type="hidden" name="confirm" value="t">'
            '<input type="hidden" name="uuid" value="1a2b-3c4d"></form></body></html>')

    def route_download(self, n: int) -> None:
        query = parse_qs(urlparse(self.path).query)
        if query.get("confirm") == ["t"] and query.get("uuid") == ["1a2b-3c4d"] \
                and query.get("id") == ["FILEID"]:
            self.send_body(PAYLOAD)
        else:
            self.send_page("<html>wrong form</html>")

    def route_quota_uc(self, n: int) -> None:
        self.send_page("<html><body>Google Drive - Quota exceeded. Too many users have viewed "
                       "or downloaded this file recently.</body></html>")


@pytest.fixture
def server():
    with local_server(_Handler) as httpd:
        yield httpd


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("SONICDREAMS_MODELS", str(folder))
    return folder


def leftovers(folder: Path) -> list[str]:
    """The files in ``folder`` except lock files, which stay by design (removing a lock file
    while another process waits on it would let two processes in at once)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".lock")


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SONICDREAMS_MODELS", str(tmp_path / "m"))
    assert models_dir() == tmp_path / "m"
    monkeypatch.delenv("SONICDREAMS_MODELS")
    monkeypatch.setenv("SONICDREAMS_CACHE", str(tmp_path / "c"))
    assert models_dir() == tmp_path / "c" / "models"
    monkeypatch.setenv("SONICDREAMS_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if models_dir().is_relative_to(tmp_path):  # Linux; other platforms use their own folder
        assert models_dir() == tmp_path / "xdg" / "sonicdreams" / "models"


def test_plain_download_is_cached_checksummed_and_reported(server, cache):
    events = []
    path = download(record(server.url + "/file.pkl"), progress=events.append)
    assert path == cache / "test-style.pkl" and path.read_bytes() == PAYLOAD
    assert leftovers(cache) == sorted([CHECKSUMS, "test-style.pkl"])
    entry = json.loads((cache / CHECKSUMS).read_text())["test-style.pkl"]
    assert entry["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert entry["size"] == len(PAYLOAD)
    assert {e.stage for e in events} == {"download"}
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert events[-1].done == events[-1].total == len(PAYLOAD)
    # A later use verifies the cached file and does not ask the server again.
    assert download(record(server.url + "/file.pkl")) == path
    assert len(server.requests) == 1
    assert cached_path(record(server.url + "/file.pkl")) == path


def test_a_url_works_too_and_a_zip_is_accepted(server, cache, tmp_path):
    path = download(server.url + "/model.pt", cache_dir=tmp_path / "elsewhere")
    assert path.parent == tmp_path / "elsewhere" and path.suffix == ".pt"
    assert path.name.startswith("model-") and path.read_bytes() == ZIP
    assert not cache.exists()  # cache_dir wins over the environment


def test_interrupted_transfer_resumes_with_range(server, cache):
    path = download(record(server.url + "/flaky.pkl"))
    assert path.read_bytes() == PAYLOAD  # byte-identical
    assert [r for _, r, _ in server.requests] == [None, f"bytes={HALF}-"]
    assert not list(cache.glob("*.part"))


def test_a_partial_file_is_resumed_by_the_next_call(server, cache):
    rec = record(server.url + "/flaky.pkl")
    with pytest.raises(DownloadError, match="run again to resume"):
        download(rec, retries=0)
    part = cache / "test-style.pkl.part"
    assert part.stat().st_size == HALF and not (cache / "test-style.pkl").exists()
    assert download(rec).read_bytes() == PAYLOAD
    assert server.requests[-1][1] == f"bytes={HALF}-"
    assert not part.exists()


def test_server_without_range_support_restarts(server, cache):
    path = download(record(server.url + "/norange.pkl"))
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r, _ in server.requests] == [None, f"bytes={HALF}-"]  # asked, got 200


def test_transfer_that_keeps_failing_gives_up_and_keeps_the_part(server, cache):
    with pytest.raises(DownloadError, match=rf"stopped after [\d,]+ of {len(PAYLOAD):,} bytes"):
        download(record(server.url + "/short.pkl"), retries=2)
    assert len(server.requests) == 3
    assert leftovers(cache) == ["test-style.pkl.part"]


@pytest.mark.parametrize("route", ["/page.pkl", "/text.pkl"])
def test_a_web_page_is_refused_and_nothing_is_kept(server, cache, route):
    with pytest.raises(DownloadError) as info:
        download(record(server.url + route, name="vases"))
    message = str(info.value)
    assert "'vases'" in message and "web page" in message and "--style" in message
    if route == "/page.pkl":
        assert "quota" in message
    assert leftovers(cache) == []


def test_not_found(server, cache):
    with pytest.raises(DownloadError, match=r"HTTP 404 .*/missing\.pkl.*moved or removed"):
        download(record(server.url + "/missing.pkl"))
    assert leftovers(cache) == []


def test_slow_server_times_out(server, cache):
    with pytest.raises(DownloadError, match=r"did not answer within 0\.2 s.*--style"):
        download(record(server.url + "/slow.pkl"), timeout=0.2, backoff_s=0)
    assert leftovers(cache) == []


def test_no_network_says_to_download_elsewhere(cache):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as info:
        download(record(f"http://127.0.0.1:{port}/x.pkl"), timeout=1, backoff_s=0)
    message = str(info.value)
    assert "cannot reach 127.0.0.1" in message and "another computer" in message
    assert "--style /path/to/file.pkl" in message


def test_google_drive_confirmation_form_is_submitted(server, cache):
    rec = record(server.url + "/uc?id=FILEID", host="gdrive")
    assert download(rec).read_bytes() == PAYLOAD
    paths = [p for p, _, _ in server.requests]
    assert paths == ["/uc", "/download"]
    assert "confirm=t" in server.requests[1][2] and "uuid=1a2b-3c4d" in server.requests[1][2]


def test_google_drive_quota_page_is_explained(server, cache):
    rec = record(server.url + "/quota_uc?id=FILEID", host="gdrive")
    with pytest.raises(DownloadError, match="Google Drive returned a web page.*quota"):
        download(rec)
    assert leftovers(cache) == []


def test_google_drive_older_pages_are_understood():
    base = "https://drive.google.com/uc?export=download&id=X"
    page = (b'<html><a id="uc-download-link" href="/uc?export=download&amp;confirm=AbC1&amp;'
            b'id=X">Download anyway</a></html>')
    assert gdrive_confirm(page, base, []) == \
        "https://drive.google.com/uc?export=download&confirm=AbC1&id=X"
    assert gdrive_confirm(b"<html>nothing here</html>", base, []) is None


def test_a_tampered_cached_file_is_an_error(server, cache):
    rec = record(server.url + "/file.pkl")
    path = download(rec)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="changed or damaged.*delete it"):
        download(rec)
    assert len(server.requests) == 1


def test_a_catalogue_checksum_is_enforced_on_the_first_download(server, cache):
    good = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match="SHA-256"):
        download(record(server.url + "/file.pkl", sha256="0" * 64))
    assert leftovers(cache) == []
    assert download(record(server.url + "/file.pkl", sha256=good)).read_bytes() == PAYLOAD


def test_mirrors_are_tried_in_turn(server, cache):
    rec = record(server.url + "/missing.pkl", mirrors=(server.url + "/file.pkl",))
    assert download(rec).read_bytes() == PAYLOAD
    assert [p for p, _, _ in server.requests] == ["/missing.pkl", "/file.pkl"]


def test_hosts_that_need_their_own_client_are_refused_without_a_request(cache):
    for name in ("abstract photos", "doors"):
        with pytest.raises(DownloadError, match=r"--style /path/to/file\.pkl") as info:
            download(lookup(name))
        assert name in str(info.value) and lookup(name).url in str(info.value)
    assert not cache.exists()


def test_cli_download_prints_the_path(server, tmp_path, capsys):
    assert main(["download", server.url + "/file.pkl", "--cache-dir", str(tmp_path)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.parent == tmp_path and path.read_bytes() == PAYLOAD


def test_cli_download_failure_is_one_line(server, tmp_path, capsys):
    assert main(["download", server.url + "/page.pkl", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "web page" in err
