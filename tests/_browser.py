"""Headless Chromium for the studio's browser tests: the distribution's browser (Debian's
``chromium`` package, which ``make test`` installs), driven by Playwright from PyPI.
Playwright's own browser download is never used."""

from __future__ import annotations

import os
import shutil

ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic", "--mute-audio"]


def chromium_path() -> str | None:
    """The system Chromium (``$SONICDREAMS_CHROMIUM`` first), or None."""
    given = os.environ.get("SONICDREAMS_CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def launch(playwright):
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found: install the distribution's chromium package "
                           "(make test does: apt-get install chromium) or set "
                           "SONICDREAMS_CHROMIUM to the browser's path")
    return playwright.chromium.launch(executable_path=path, args=ARGS, headless=True)
