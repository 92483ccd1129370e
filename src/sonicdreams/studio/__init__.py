"""sonicdreams studio: make a video in the browser, tuning it live while the song plays.

``sonicdreams studio`` starts a local web server (the ``studio`` extra: Starlette, uvicorn,
websockets) and opens its page. See :mod:`sonicdreams.studio.app` for the server and its
safety rules, :mod:`.live` for the live preview, :mod:`.renders` for the render queue.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path

from ..errors import SonicDreamsError, StudioError

__all__ = ["serve", "require_studio"]

log = logging.getLogger(__name__)


def require_studio() -> None:
    """Raise a SonicDreamsError that says how to install the studio if it is missing."""
    missing = []
    for module in ("starlette", "uvicorn", "websockets"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise SonicDreamsError(f"the studio needs {', '.join(missing)}: pip install "
                               "'sonicdreams[studio]'")


def serve(*, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          open_browser: bool = True, data_dir: str | Path | None = None,
          max_upload_mb: float = 500, max_song_minutes: float = 60,
          say: Callable[[str], None] | None = None) -> None:
    """Run the studio until interrupted (Ctrl+C).

    ``port=0`` picks a free port. Bound to an address other than loopback, the studio needs
    an access token: ``token`` or, left out, a random one (in the address given to ``say``,
    by default the log).
    """
    require_studio()
    import uvicorn

    from .app import create_app
    from .guard import is_loopback

    say = say or log.warning
    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (a restart right after)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise StudioError(f"cannot listen on {host}:{port} ({err.strerror or err}); "
                          "another program may use it: pass --port with another number "
                          "(or 0 for any free one)") from None
    port = sock.getsockname()[1]
    try:
        app = create_app(host=host, token=token, data_dir=data_dir,
                         max_upload_mb=max_upload_mb, max_song_minutes=max_song_minutes)
        app.state.studio.start()  # (another studio on the folder: an error here, not a log)
    except BaseException:
        sock.close()
        raise
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio",
                                           lifespan="on", timeout_graceful_shutdown=5))

    def started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            say(f"sonicdreams studio is running at {url}  (Ctrl+C stops it)")
            if open_browser:
                _open(url, token)

    threading.Thread(target=started, name="studio-started", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _open(url: str, token: str | None) -> None:
    """Open ``url`` in the browser; with a token, through a local page that redirects (a
    browser's command line, where the address would go, is visible to other users)."""
    if token is None:
        webbrowser.open(url)
        return
    import html
    import tempfile

    fd, path = tempfile.mkstemp(prefix="sonicdreams-studio-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as f:  # (mkstemp: readable by us only)
        f.write(f'<!doctype html><meta http-equiv="refresh" content="0;url={html.escape(url)}">'
                f'<a href="{html.escape(url)}">sonicdreams studio</a>')
    webbrowser.open(Path(path).as_uri())
    timer = threading.Timer(60, lambda: Path(path).unlink(missing_ok=True))
    timer.daemon = True
    timer.start()
