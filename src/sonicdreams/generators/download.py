"""Cached, checksummed, resumable, atomic downloads of weight files.

``download(record_or_url)`` returns the path of the file in the model cache, fetching it first
if needed:

* The cache is ``$SONICDREAMS_MODELS`` if set, else ``models/`` under ``$SONICDREAMS_CACHE``
  (when that is a folder), else the user cache (``~/.cache/sonicdreams/models`` on Linux,
  ``~/Library/Caches/sonicdreams/models`` on macOS, ``%LOCALAPPDATA%\\sonicdreams\\Cache\\models``
  on Windows).
* Bytes stream into ``<file>.part`` in the cache. An interrupted transfer is resumed with an
  HTTP ``Range`` request, at once (``retries`` times) and on the next call; a server that
  ignores ``Range`` makes it start again. The size is checked against ``Content-Length``.
* The first bytes must look like a weight file (a pickle starts with ``0x80``, a
  ``torch.save`` zip with ``PK``): a web page (a quota or permission page) is refused and
  nothing is kept.
* The SHA-256 of the first verified download is recorded in ``checksums.json`` in the cache
  and checked on every later use; the finished file is renamed into place atomically.
* Google Drive's "can't scan this file for viruses" page is answered by submitting its form.
  mega.nz and Yandex Disk links need their own clients and raise :class:`DownloadError` with
  instructions, as does a computer without network access.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import http.cookiejar
import json
import logging
import os
import re
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

from ..errors import DownloadError
from ..progress import ProgressCallback, Reporter
from .catalog import StyleRecord, host_kind, lookup, slug

__all__ = ["download", "models_dir", "cached_path", "DEFAULT_TIMEOUT_S"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
CHECKSUMS = "checksums.json"
_CHUNK = 1 << 18
_PAGE_LIMIT = 1 << 20  # read at most this much of an HTML page while looking for a form
_USER_AGENT = "sonicdreams (python-urllib)"
_OFF = {"", "0", "off", "none", "false", "no"}


def models_dir() -> Path:
    """The folder downloaded weights are kept in (see the module docstring)."""
    env = os.environ.get("SONICDREAMS_MODELS")
    if env and env.strip():
        return Path(env).expanduser()
    cache = os.environ.get("SONICDREAMS_CACHE")
    if cache is not None and cache.strip().lower() not in _OFF:
        return Path(cache).expanduser() / "models"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "sonicdreams" / "Cache" / "models"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "sonicdreams" / "models"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sonicdreams" / "models"


def cached_path(record_or_url: StyleRecord | str, *,
                cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The cached file for a style or URL if it has been downloaded (not verified), else None."""
    record, url = _resolve(record_or_url)
    path = Path(cache_dir or models_dir()) / _filename(record, url)
    return path if path.is_file() else None


def download(record_or_url: StyleRecord | str, *,
             cache_dir: str | os.PathLike[str] | None = None,
             progress: ProgressCallback | None = None,
             timeout: float = DEFAULT_TIMEOUT_S,
             retries: int = 3) -> Path:
    """The path of the weights for a catalogue style (record or name) or a URL, downloading
    them into the cache first if they are not there.

    ``timeout`` is in seconds, for connecting and for each read. ``retries`` is how many times
    an interrupted transfer is resumed before giving up (the partial file is kept, so running
    again resumes). ``progress`` receives :class:`~sonicdreams.progress.Progress` events of
    stage ``"download"`` counting bytes (``total`` is 0 when the server does not say).

    Raises
    ------
    DownloadError
        If the file cannot be fetched or does not verify; the message names the style or URL
        and what to do.
    """
    record, url = _resolve(record_or_url)
    label = f"style {record.name!r}" if record else url
    folder = Path(cache_dir) if cache_dir is not None else models_dir()
    filename = _filename(record, url)
    dest = folder / filename
    if dest.is_file():
        _verify_cached(dest, record, label)
        return dest

    kind = record.host if record else host_kind(url)
    if kind in ("mega", "yadisk"):
        client = "MEGA's site or app (or megatools: megadl URL)" if kind == "mega" \
            else "a web browser (Yandex Disk)"
        raise DownloadError(
            f"{label}: {url} is on {'mega.nz' if kind == 'mega' else 'Yandex Disk'}, which "
            f"sonicdreams cannot download from; download it with {client} and pass the file "
            "with --style /path/to/file.pkl (style='/path/to/file.pkl' in Python), or save it "
            f"as {dest} to use the name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"{label}: cannot create the model cache {folder} ({err}); "
                            "set SONICDREAMS_MODELS to a writable folder") from None

    part = folder / (filename + ".part")
    urls = record.urls if record else (url,)
    failures: list[str] = []
    for candidate in urls:
        try:
            _fetch(candidate, part, kind=host_kind(candidate) if candidate != url else kind,
                   timeout=timeout, retries=max(0, int(retries)),
                   report=Reporter(progress, "download"), label=label)
            break
        except DownloadError as err:
            failures.append(str(err))
            if candidate != urls[-1]:
                log.warning("%s; trying a mirror", err)
    else:
        if len(failures) == 1:
            raise DownloadError(failures[0])
        raise DownloadError(f"{label}: every address failed: " + " | ".join(failures))

    digest = _sha256(part)
    expected = record.sha256 if record else None
    if expected and digest != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{label}: the downloaded file's SHA-256 is {digest}, but the "
                            f"catalogue expects {expected}; the file on the server changed or "
                            "was damaged in transit; the download was discarded")
    os.replace(part, dest)
    _record_checksum(folder, filename, sha256=digest, size=dest.stat().st_size, url=url)
    log.info("%s: saved %s (sha256 %s)", label, dest, digest)
    return dest


# --------------------------------------------------------------------------------------------
# What to download and where it goes


def _resolve(record_or_url: StyleRecord | str) -> tuple[StyleRecord | None, str]:
    if isinstance(record_or_url, StyleRecord):
        return record_or_url, record_or_url.url
    if isinstance(record_or_url, str):
        if urlparse(record_or_url).scheme in ("http", "https"):
            return None, record_or_url
        record = lookup(record_or_url)
        if record is not None:
            return record, record.url
    raise DownloadError(f"{record_or_url!r} is neither a catalogue style nor an http(s) URL; "
                        "see `sonicdreams styles`")


def _filename(record: StyleRecord | None, url: str) -> str:
    if record is not None:
        return record.filename
    path = urlparse(url).path
    base = slug(Path(path).stem)[:60] or "download"
    suffix = Path(path).suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,6}", suffix) else ".pkl"
    tag = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return f"{base}-{tag}{suffix}"


# --------------------------------------------------------------------------------------------
# Checksums


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_checksums(folder: Path) -> dict[str, dict]:
    try:
        data = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record_checksum(folder: Path, filename: str, **entry) -> None:
    data = _read_checksums(folder)
    data[filename] = entry
    fd, tmp = tempfile.mkstemp(prefix=f".{CHECKSUMS}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, folder / CHECKSUMS)
    except OSError as err:  # the file itself is fine; only the record is missing
        log.warning("could not record the checksum of %s: %s", filename, err)
        Path(tmp).unlink(missing_ok=True)


def _verify_cached(path: Path, record: StyleRecord | None, label: str) -> None:
    """A cached file must still have the checksum it had when it was downloaded."""
    entry = _read_checksums(path.parent).get(path.name) or {}
    expected = entry.get("sha256") or (record.sha256 if record else None)
    digest = _sha256(path)
    if expected is None:  # put there by hand or by an older version: check it, then record it
        with open(path, "rb") as f:
            problem = _sniff(f.read(512), "")
        if problem:
            raise DownloadError(f"{label}: the cached file {path} {problem}; delete it and "
                                "run again to download it afresh")
        _record_checksum(path.parent, path.name, sha256=digest, size=path.stat().st_size,
                         url=record.url if record else "")
        return
    if digest != expected:
        raise DownloadError(f"{label}: the cached file {path} has SHA-256 {digest}, not "
                            f"{expected} as when it was downloaded, so it was changed or "
                            "damaged; delete it and run again to download it afresh")


# --------------------------------------------------------------------------------------------
# Transfer


_PAGE = "is a web page, not a weights file"
_TEXT = "is text, not a weights file"


def _sniff(head: bytes, content_type: str) -> str | None:
    """``None`` if ``head`` starts like a weight file, else what it looks like instead."""
    if head[:1] == b"\x80" or head[:2] == b"PK":
        return None
    text = head.lstrip()[:512].lower()
    if content_type in ("text/html", "application/xhtml+xml") or text.startswith(b"<") \
            or b"<html" in text:
        return _PAGE
    if not head:
        return "is empty"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:512])
    if printable >= 0.95 * min(len(head), 512):
        return _TEXT
    return (f"is not a weights file (it starts with {head[:8].hex(' ')}; a pickle starts with "
            "80, a torch.save zip with 50 4b)")


def _gdrive_direct(url: str) -> str:
    """``drive.google.com/uc?id=ID`` or ``…/file/d/ID/view`` → the direct-download address."""
    parsed = urlparse(url)
    if parsed.hostname != "drive.google.com":
        return url
    ids = parse_qs(parsed.query).get("id")
    match = re.search(r"/file/d/([\w-]+)", parsed.path)
    file_id = ids[0] if ids else (match.group(1) if match else None)
    if not file_id:
        return url
    return "https://drive.google.com/uc?" + urlencode({"export": "download", "id": file_id})


class _FormFinder(HTMLParser):
    """Collects each ``<form>``'s action and its hidden/named inputs, and every link href."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[dict[str, str], dict[str, str]]] = []
        self.links: list[str] = []
        self._form: tuple[dict[str, str], dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = (a, {})
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() not in ("submit", "button", "image"):
                self._form[1][a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _gdrive_confirm(page: bytes, base_url: str, cookies: http.cookiejar.CookieJar) -> str | None:
    """The address that confirms Google Drive's virus-scan warning, if the page has one."""
    text = page.decode("utf-8", "replace")
    finder = _FormFinder()
    try:
        finder.feed(text)
    except Exception:  # a malformed page: fall back to the other clues
        pass
    for attrs, inputs in finder.forms:
        action = attrs.get("action", "")
        if attrs.get("id") == "download-form" or "confirm" in inputs or "download" in action:
            target = urljoin(base_url, html.unescape(action)) if action else base_url
            query = urlencode(inputs)
            return f"{target}{'&' if '?' in target else '?'}{query}" if query else target
    for href in finder.links:
        if "confirm=" in href and ("export=download" in href or "/uc?" in href
                                    or "download" in href):
            return urljoin(base_url, html.unescape(href))
    for cookie in cookies:  # the oldest scheme: a download_warning cookie holds the token
        if cookie.name.startswith("download_warning"):
            sep = "&" if "?" in base_url else "?"
            return f"{base_url}{sep}confirm={cookie.value}"
    return None


def _web_page_error(label: str, url: str, page: bytes, kind: str) -> DownloadError:
    text = page.decode("utf-8", "replace").lower()
    if "too many users" in text or "quota" in text:
        why = "the file's download quota is used up for now (Google Drive: too many users)"
    elif "sign in" in text or "access denied" in text or "request access" in text \
            or "permission" in text:
        why = "the file is private or needs a sign-in"
    else:
        why = "likely a quota, permission or 'file moved' page"
    where = "Google Drive" if kind == "gdrive" else "the server"
    return DownloadError(
        f"{label}: {where} returned a web page instead of the weights file ({why}); try again "
        f"later, or open {url} in a browser, download the file and pass it with "
        "--style /path/to/file.pkl")


def _network_error(label: str, url: str, err: BaseException, timeout: float) -> DownloadError:
    reason = getattr(err, "reason", err)
    host = urlparse(url).hostname or url
    if isinstance(reason, (TimeoutError, socket.timeout)):
        what = f"{host} did not answer within {timeout:g} s"
    else:
        what = f"cannot reach {host} ({reason})"
    return DownloadError(
        f"{label}: {what}. If this computer is offline or the host is blocked, download {url} "
        "on another computer and pass the local file with --style /path/to/file.pkl")


def _http_error(label: str, url: str, code: int, msg: str) -> DownloadError:
    if code in (404, 410):
        why = "the file is not there any more (moved or removed)"
    elif code in (401, 403):
        why = "access denied: the file is private or its download quota is used up"
    elif code == 429:
        why = "too many requests: the download quota is used up for now"
    elif code >= 500:
        why = "the server failed; try again later"
    else:
        why = msg
    return DownloadError(f"{label}: HTTP {code} from {url}: {why}; download the file by hand "
                         "if you can and pass it with --style /path/to/file.pkl")


class _Interrupted(Exception):
    """The transfer stopped early; the partial file is kept for a resume."""

    def __init__(self, size: int, progressed: bool, total: int | None, why: str) -> None:
        super().__init__(why)
        self.size, self.progressed, self.total, self.why = size, progressed, total, why


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    match = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", value or "")
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _fetch(url: str, part: Path, *, kind: str, timeout: float, retries: int,
           report: Reporter, label: str) -> None:
    """Stream ``url`` into ``part`` (resuming what is there) until it is complete."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    current = _gdrive_direct(url) if kind == "gdrive" else url
    confirmations = 0
    attempt = 0
    while True:
        offset = part.stat().st_size if part.is_file() else 0
        if offset:
            with open(part, "rb") as f:
                if _sniff(f.read(512), ""):
                    log.warning("%s: the partial download is damaged; starting again", label)
                    part.unlink()
                    offset = 0
        request = urllib.request.Request(current, headers={"User-Agent": _USER_AGENT,
                                                           "Accept": "*/*"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 416 and offset:  # our partial file does not fit the remote one
                log.warning("%s: the server refused to resume; starting again", label)
                part.unlink(missing_ok=True)
                continue
            raise _http_error(label, url, err.code, str(err.reason)) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            raise _network_error(label, url, err, timeout) from None

        with response:
            try:
                _receive(response, part, offset, report=report, label=label)
            except _WebPage as page:
                if kind == "gdrive" and confirmations < 3:
                    confirm = _gdrive_confirm(page.body, response.geturl(), cookies)
                    if confirm and confirm != current:
                        log.info("%s: answering Google Drive's confirmation page", label)
                        current, confirmations = confirm, confirmations + 1
                        continue
                raise _web_page_error(label, url, page.body, kind) from None
            except _Interrupted as err:
                attempt += 1
                if attempt > retries or not err.progressed:
                    of = f" of {err.total}" if err.total else ""
                    raise DownloadError(
                        f"{label}: the transfer from {urlparse(url).hostname} stopped after "
                        f"{err.size}{of} bytes ({err.why}); run again to resume it, or "
                        "download the file by hand and pass it with --style /path/to/file.pkl"
                    ) from None
                log.warning("%s: transfer interrupted (%s); resuming at byte %d", label,
                            err.why, err.size)
                continue
        return


class _WebPage(Exception):
    def __init__(self, body: bytes) -> None:
        super().__init__("web page")
        self.body = body


def _receive(response, part: Path, offset: int, *, report: Reporter, label: str) -> None:
    """Append the response body to ``part`` until it is complete, or raise."""
    status = getattr(response, "status", 200)
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    total: int | None
    if offset and status == 206:
        span = _content_range(response.headers.get("Content-Range"))
        if span is None or span[0] != offset:
            part.unlink(missing_ok=True)
            raise _Interrupted(0, True, None, "the server resumed at the wrong byte")
        total = span[1] if span[1] is not None else (offset + length if length else None)
    else:
        if offset:
            log.info("%s: the server does not resume downloads; starting again", label)
            offset = 0
        total = length
    content_type = response.headers.get_content_type()

    received = 0  # in this response
    try:
        head = response.read(_CHUNK)
        if offset == 0:
            problem = _sniff(head, content_type)
            if problem in (_PAGE, _TEXT) or (problem and content_type.startswith("text/")):
                body = head
                while len(body) < _PAGE_LIMIT and (more := response.read(_CHUNK)):
                    body += more
                raise _WebPage(body)
            if problem:
                raise DownloadError(f"{label}: the server's file {problem}")
        mode = "ab" if offset else "wb"
        with open(part, mode) as f:
            block = head
            while block:
                try:
                    f.write(block)
                except OSError as err:
                    raise DownloadError(f"{label}: cannot write {part} ({err}); free some "
                                        "space or set SONICDREAMS_MODELS to another folder"
                                        ) from None
                received += len(block)
                report(offset + received, total or 0)
                if total is not None and offset + received >= total:
                    break
                block = response.read(_CHUNK)
    except (http.client.HTTPException, OSError) as err:  # reset, timeout, IncompleteRead…
        raise _Interrupted(offset + received, received > 0, total,
                           type(err).__name__ + (f": {err}" if str(err) else "")) from None
    size = offset + received
    if total is not None and size < total:
        raise _Interrupted(size, received > 0, total, "the connection closed early")
    if total is not None and size > total:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{label}: the server sent {size} bytes but announced {total}; "
                            "the download was discarded")
