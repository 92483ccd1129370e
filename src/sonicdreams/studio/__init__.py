"""sonicdreams studio: make a video in the browser, tuning it live while the song plays.

``sonicdreams studio`` starts a local web server (the ``studio`` extra: Starlette, uvicorn,
websockets) and opens its page. See :mod:`sonicdreams.studio.app` for the server and its
safety rules, :mod:`.live` for the live preview, :mod:`.renders` for the render queue.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from ..errors import SonicDreamsError

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
          max_upload_mb: float = 500, say: Callable[[str], None] = print,
          ready: threading.Event | None = None) -> None:
    """Run the studio until interrupted (Ctrl+C).

    ``port=0`` picks a free port. Bound to an address other than loopback, the studio needs
    an access token: ``token`` or, left out, a random one (in the printed address).
    """
    require_studio()
    import uvicorn

    from .app import StudioError, create_app, is_loopback

    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
    app = create_app(host=host, token=token, data_dir=data_dir, max_upload_mb=max_upload_mb)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise StudioError(f"cannot listen on {host}:{port} ({err.strerror or err}); "
                          "another program may use it: pass --port with another number "
                          "(or 0 for any free one)") from None
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="on",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)

    def started() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            say(f"sonicdreams studio is running at {url}  (Ctrl+C stops it)")
            if ready is not None:
                ready.set()
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=started, name="studio-started", daemon=True).start()
    server.run(sockets=[sock])
