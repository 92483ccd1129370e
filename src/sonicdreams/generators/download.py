"""Cached, verified, resumable, atomic downloads of weight files.

``download(record_or_url)`` returns the path of the file in the model cache (see
:func:`models_dir`), fetching it first if needed:

* ``requests`` fetches, retrying refused connections and server errors with urllib3's ``Retry``
  (exponential backoff). Bytes stream into ``<file>.part``; a transfer that is cut or silent for
  ``stall_timeout_s`` resumes with a ``Range`` request; at ``deadline_s`` the download gives up,
  keeping the part for the next call.
* A file is complete only when its structure verifies end to end (:mod:`.verify`) and its size
  matches any ``Content-Length``: a server that sends no length, or a wrong one, cannot pass off
  a cut file. A file that asks to run code is refused and not kept. Only then is its SHA-256
  recorded in ``checksums.json`` (trust on first use) and checked on every later use; the
  catalogue's ``sha256`` and ``size``, where filled, are enforced. The file is renamed into place.
* Processes fetching one file share one download: the others wait on ``<file>.lock``
  (``filelock``), then find the finished, verified file.
* Web pages instead of the file, Google Drive's confirmation page and hosts that need their own
  client are handled in :mod:`.hosts`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import filelock
import requests
import urllib3
from requests.adapters import HTTPAdapter

from ..errors import DownloadError, ModelFormatError, UnsafeModelError
from ..progress import ProgressCallback, Reporter
from . import hosts
from .catalog import StyleRecord, host_kind, lookup, slug
from .checksums import CHECKSUMS, check_download, record_checksum, verify_cached
from .verify import TruncatedFileError, verify_model_file

__all__ = ["download", "models_dir", "cached_path", "CHECKSUMS", "DEFAULT_TIMEOUT_S",
           "DEFAULT_DEADLINE_S"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_DEADLINE_S = 4 * 3600.0  # a 400 MB model over 1 Mbit/s takes under an hour
_CHUNK = 1 << 18
_PAGE_LIMIT = 1 << 20  # read at most this much of an HTML page while looking for a form


def models_dir() -> Path:
    """The folder downloaded weights are kept in (see :func:`sonicdreams.paths.models_dir`)."""
    from ..paths import models_dir as where

    return where()


def cached_path(record_or_url: StyleRecord | str, *,
                cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The cached file for a style or URL if it has been downloaded (not verified), else None."""
    record, url = _resolve(record_or_url)
    path = Path(cache_dir or models_dir()) / _filename(record, url)
    return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class _Plan:
    """One download's limits, the catalogue's size, where it reports, its name in messages."""

    label: str
    timeout_s: float
    stall_timeout_s: float
    deadline_s: float
    deadline: float  # time.monotonic() at which to give up
    retries: int
    backoff_s: float
    expected_size: int | None
    report: Reporter


def download(record_or_url: StyleRecord | str, *,
             cache_dir: str | os.PathLike[str] | None = None,
             progress: ProgressCallback | None = None,
             timeout: float = DEFAULT_TIMEOUT_S,
             retries: int = 3,
             stall_timeout_s: float | None = None,
             deadline_s: float = DEFAULT_DEADLINE_S,
             backoff_s: float = 0.5) -> Path:
    """The path of the weights for a catalogue style (record or name) or a URL, downloading
    them into the cache first if they are not there.

    ``timeout`` (s) bounds connecting; ``stall_timeout_s`` (default ``timeout``) how long the
    server may send nothing before the transfer resumes; ``deadline_s`` the whole download,
    waiting for another process included. ``retries``: how often a refused connection, server
    error or interrupted transfer is tried again, the waits doubling from ``backoff_s``. A
    partial file is kept, so running again resumes. ``progress`` receives
    :class:`~sonicdreams.progress.Progress` events of stage ``"download"`` counting bytes
    (``total`` is 0 when the server does not say).

    Raises :class:`DownloadError` (the message names the style or URL and what to do) if the
    file cannot be fetched or does not verify, :class:`UnsafeModelError` if it asks to run
    code (it is not kept).
    """
    record, url = _resolve(record_or_url)
    label = f"style {record.name!r}" if record else url
    folder = Path(cache_dir) if cache_dir is not None else models_dir()
    dest = folder / _filename(record, url)
    if dest.is_file():
        verify_cached(dest, record, label)
        return dest
    kind = record.host if record else host_kind(url)
    if kind in ("mega", "yadisk"):
        raise hosts.own_client_error(label, url, kind, dest)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"{label}: cannot create the model cache {folder} ({err}); "
                            "set SONICDREAMS_MODELS to a writable folder") from None
    plan = _Plan(label, timeout, timeout if stall_timeout_s is None else stall_timeout_s,
                 deadline_s, time.monotonic() + deadline_s, max(0, int(retries)), backoff_s,
                 record.size if record else None, Reporter(progress, "download"))
    try:
        lock = filelock.FileLock(f"{dest}.lock", timeout=deadline_s)
        with lock, _session(plan) as session:
            if not dest.is_file():  # else another process downloaded it while we waited
                _download_locked(session, record, url, kind, dest, plan)
                return dest
    except filelock.Timeout:
        raise DownloadError(f"{label}: another sonicdreams process has been downloading "
                            f"{dest.name} for over {deadline_s:g} s; wait for it to finish "
                            "and run again") from None
    verify_cached(dest, record, label)
    return dest


def _download_locked(session: requests.Session, record: StyleRecord | None, url: str,
                     kind: str, dest: Path, plan: _Plan) -> None:
    """Fetch from the address or its mirrors, verify, rename into place, record the hash.
    The file's lock is held: lock files stay, as removing one while another process waits
    on it would let a third in beside it."""
    part = dest.with_name(dest.name + ".part")
    urls = record.urls if record else (url,)
    failures: list[str] = []
    for candidate in urls:
        try:
            _fetch(session, candidate, part, plan=plan,
                   kind=host_kind(candidate) if candidate != url else kind)
            break
        except DownloadError as err:
            failures.append(str(err))
            if candidate != urls[-1]:
                log.info("%s; trying a mirror", err)
    else:
        raise DownloadError(failures[0] if len(failures) == 1 else
                            f"{plan.label}: every address failed: " + " | ".join(failures))
    digest = check_download(part, record, plan.label)
    os.replace(part, dest)
    record_checksum(dest.parent, dest.name, sha256=digest, size=dest.stat().st_size, url=url)
    log.info("%s: saved %s (sha256 %s)", plan.label, dest, digest)


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
# Transfer


def _session(plan: _Plan) -> requests.Session:
    """Refused connections and 429/5xx answers are retried with exponential backoff (urllib3
    ``Retry``); Retry-After is not obeyed, so no server can push a try past the deadline."""
    retry = urllib3.Retry(total=None, connect=plan.retries, read=plan.retries,
                          status=plan.retries, other=0, redirect=10,
                          backoff_factor=plan.backoff_s, allowed_methods=frozenset({"GET"}),
                          status_forcelist=(429, 500, 502, 503, 504), raise_on_status=False,
                          respect_retry_after_header=False)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    # identity: Range offsets must count the file's bytes, not those of a compressed stream
    session.headers.update({"User-Agent": f"sonicdreams (requests {requests.__version__})",
                            "Accept": "*/*", "Accept-Encoding": "identity"})
    return session


class _Interrupted(Exception):
    """The transfer stopped early; the partial file is kept for a resume."""

    def __init__(self, size: int, total: int | None, why: str, truncated: bool = False) -> None:
        super().__init__(why)
        self.size, self.total, self.why, self.truncated = size, total, why, truncated


class _WebPage(Exception):
    def __init__(self, body: bytes, url: str) -> None:
        super().__init__("web page")
        self.body, self.url = body, url


def _fetch(session: requests.Session, url: str, part: Path, *, kind: str, plan: _Plan) -> None:
    """Stream ``url`` into ``part`` (resuming what is there) until it verifies, or raise."""
    host = urlparse(url).hostname or url
    current = hosts.gdrive_direct(url) if kind == "gdrive" else url
    confirmations = tries = 0
    while True:
        try:
            total = _transfer(session, current, part, url=url, plan=plan)
            verify_model_file(part, name=plan.label)
            return
        except _WebPage as page:
            confirm = hosts.gdrive_confirm(page.body, page.url, session.cookies) \
                if kind == "gdrive" and confirmations < 3 else None
            if confirm and confirm != current:
                log.info("%s: answering Google Drive's confirmation page", plan.label)
                current, confirmations = confirm, confirmations + 1
                continue
            raise hosts.web_page_error(plan.label, url, page.body, kind) from None
        except UnsafeModelError as err:
            part.unlink(missing_ok=True)
            raise UnsafeModelError(f"{plan.label}: {err.detail}") from None
        except TruncatedFileError as err:  # no or a wrong Content-Length: resume
            stop = _Interrupted(part.stat().st_size, total, err.detail, truncated=True)
        except ModelFormatError as err:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{plan.label}: the file from {host} is damaged: {err.detail}; "
                                f"the download was discarded; try again later, or {hosts.BY_HAND}"
                                ) from None
        except _Interrupted as err:
            stop = err
        tries += 1
        wait = plan.backoff_s * 2 ** (tries - 2) if tries > 1 else 0.0  # as urllib3's Retry
        of = f" of {stop.total:,}" if stop.total else ""
        if time.monotonic() + wait >= plan.deadline:
            raise DownloadError(f"{plan.label}: the download from {host} did not finish within "
                                f"{plan.deadline_s:g} s (stopped after {stop.size:,}{of} bytes: "
                                f"{stop.why}); run again to resume it, or {hosts.BY_HAND}")
        if tries > plan.retries and stop.truncated:
            raise DownloadError(f"{plan.label}: the file from {host} is still truncated after "
                                f"{tries} tries: {stop.why}; run again to resume it, or "
                                f"{hosts.BY_HAND}")
        if tries > plan.retries:
            raise DownloadError(f"{plan.label}: the transfer from {host} stopped after "
                                f"{stop.size:,}{of} bytes ({stop.why}); run again to resume it, "
                                f"or {hosts.BY_HAND}")
        log.info("%s: transfer interrupted (%s); resuming at byte %d", plan.label, stop.why,
                 stop.size)
        time.sleep(wait)


def _transfer(session: requests.Session, current: str, part: Path, *, url: str,
              plan: _Plan) -> int | None:
    """Append the body of ``current`` to ``part``; the total size announced, if any."""
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = session.get(current, headers={"Range": f"bytes={offset}-"} if offset else {},
                               stream=True, timeout=(plan.timeout_s, plan.stall_timeout_s))
    except requests.RequestException as err:
        raise _network_error(url, err, plan) from None
    with response:
        if response.status_code == 416 and offset:  # our part does not fit the remote file
            part.unlink(missing_ok=True)
            raise _Interrupted(0, None, "the server could not resume; starting again")
        if response.status_code >= 400:
            raise hosts.http_error(plan.label, url, response.status_code, response.reason or "")
        length = response.headers.get("Content-Length", "")
        length_n = int(length) if length.isdigit() else None
        span = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
        if offset and response.status_code == 206:
            if span is None or int(span.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise _Interrupted(0, None, "the server resumed at the wrong byte")
            total = int(span.group(2)) if span.group(2) != "*" else \
                (offset + length_n if length_n is not None else None)
        else:
            if offset:
                log.info("%s: the server does not resume downloads; starting again", plan.label)
            offset, total = 0, length_n
        if None not in (total, plan.expected_size) and total != plan.expected_size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{plan.label}: {urlparse(url).hostname} offers {total:,} bytes, but the "
                f"catalogue expects {plan.expected_size:,}; the file on the server changed; "
                "nothing was kept")
        _receive(response, part, offset, total, plan=plan)
    return total


def _receive(response: requests.Response, part: Path, offset: int, total: int | None, *,
             plan: _Plan) -> None:
    """Write the body after ``offset`` bytes of ``part``, checking the deadline as bytes
    arrive; raise :class:`_Interrupted` if it stops short."""
    # read1 returns what has arrived, so a trickling server meets the deadline (iter_content
    # waits for whole chunks); the stall timeout bounds each wait
    read = getattr(response.raw, "read1", response.raw.read)
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    received = 0
    try:
        head = b""
        while len(head) < 512 and (block := read(_CHUNK, decode_content=True)):
            head += block
        if offset == 0 and head and head[:1] != b"\x80" and head[:4] != b"PK\x03\x04":
            if not hosts.looks_like_a_page(head, content_type):
                raise DownloadError(
                    f"{plan.label}: the server's file is not a weights file (it starts with "
                    f"{head[:8].hex(' ')}; a pickle starts with 80, a torch.save zip with "
                    "50 4b); nothing was kept")
            while len(head) < _PAGE_LIMIT and (more := read(_CHUNK, decode_content=True)):
                head += more
            raise _WebPage(head, response.url)
        with open(part, "ab" if offset else "wb") as f:
            block = head
            while block:
                f.write(block)
                received += len(block)
                plan.report(offset + received, total or 0)
                if time.monotonic() > plan.deadline:
                    raise _Interrupted(offset + received, total, "the deadline passed")
                block = read(_CHUNK, decode_content=True)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
        network = (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError,
                   TimeoutError)
        if not isinstance(err, network):  # the disk, not the server
            raise DownloadError(f"{plan.label}: cannot write {part} ({err.strerror}); free some "
                                "space or set SONICDREAMS_MODELS to another folder") from None
        why = f"no data for {plan.stall_timeout_s:g} s" if _is_timeout(err) else \
            "the connection closed early" if "IncompleteRead" in repr(err) else type(err).__name__
        raise _Interrupted(offset + received, total, why) from None
    if total is not None and offset + received < total:
        raise _Interrupted(offset + received, total, "the connection closed early")


def _is_timeout(err: BaseException) -> bool:
    # requests wraps urllib3's MaxRetryError, whose reason is the error that counts
    inner = err.args[0] if isinstance(err, requests.RequestException) and err.args else err
    inner = getattr(inner, "reason", inner)
    return isinstance(inner, (TimeoutError, urllib3.exceptions.TimeoutError)) \
        and not isinstance(inner, urllib3.exceptions.NewConnectionError)  # a timeout by descent


def _network_error(url: str, err: BaseException, plan: _Plan) -> DownloadError:
    host = urlparse(url).hostname or url
    if _is_timeout(err):
        limit = plan.timeout_s if isinstance(err, requests.ConnectTimeout) \
            else plan.stall_timeout_s
        what = f"{host} did not answer within {limit:g} s"
    else:
        found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(err))
        what = f"cannot reach {host} ({found.group(1) if found else type(err).__name__})"
    return DownloadError(
        f"{plan.label}: {what}. If this computer is offline or the host is blocked, download "
        f"{url} on another computer and pass the local file with --style /path/to/file.pkl")
