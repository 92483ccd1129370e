"""What file hosts send instead of the file, and what to tell the user about it.

No HTTP library knows these: a quota, sign-in or "file moved" page served with status 200;
Google Drive's "can't scan this file for viruses" page, whose form must be submitted to get
the file; hosts (mega.nz, Yandex Disk) that need their own client. Every error here is a
one-line :class:`~sonicdreams.errors.DownloadError` that says what to do.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

from ..errors import DownloadError

__all__ = ["looks_like_a_page", "gdrive_direct", "gdrive_confirm", "web_page_error",
           "http_error", "own_client_error", "BY_HAND"]

BY_HAND = "download the file by hand and pass it with --style /path/to/file.pkl"


def looks_like_a_page(head: bytes, content_type: str) -> bool:
    """HTML or text (a quota, sign-in or confirmation page) rather than a weight file."""
    text = head.lstrip()[:512].lower()
    if content_type.startswith("text/") or content_type == "application/xhtml+xml" \
            or text.startswith(b"<") or b"<html" in text:
        return True
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:512])
    return printable >= 0.95 * min(len(head), 512)


def gdrive_direct(url: str) -> str:
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


def gdrive_confirm(page: bytes, base_url: str, cookies: Iterable) -> str | None:
    """The address that confirms Google Drive's virus-scan warning, if the page has one."""
    finder = _FormFinder()
    try:
        finder.feed(page.decode("utf-8", "replace"))
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


def web_page_error(label: str, url: str, page: bytes, kind: str) -> DownloadError:
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


def http_error(label: str, url: str, code: int, msg: str) -> DownloadError:
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


def own_client_error(label: str, url: str, kind: str, dest: Path) -> DownloadError:
    """mega.nz and Yandex Disk serve files only to their own clients."""
    client = "MEGA's site or app (or megatools: megadl URL)" if kind == "mega" \
        else "a web browser (Yandex Disk)"
    return DownloadError(
        f"{label}: {url} is on {'mega.nz' if kind == 'mega' else 'Yandex Disk'}, which "
        f"sonicdreams cannot download from; download it with {client} and pass the file "
        "with --style /path/to/file.pkl (style='/path/to/file.pkl' in Python), or save it "
        f"as {dest} to use the name")
