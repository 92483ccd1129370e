"""The studio's web server: one page, a JSON API, and a WebSocket per live preview.

Starlette (ASGI) under uvicorn: the live preview needs a WebSocket and a thread per page,
the rest is a handful of JSON routes, and both are plain there. The page is static files
from the package (no CDN, no build step).

Safety (see :class:`Guard`): the server binds to loopback unless told otherwise, and then
only answers requests whose ``Host`` is this machine (a web page elsewhere cannot reach it
through DNS rebinding) and whose ``Origin``, when a browser sends one, is the studio itself
(another site's page cannot post to it). Bound to any other address it needs its access
token, given once in the URL it prints and kept in a cookie from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import AudioError, SettingsError, SonicDreamsError
from .live import PreviewStream, live_plan
from .options import changed_values, option_schema, page_lists, page_values
from .renders import RenderQueue
from .songs import Session, Sessions, Song, check_audio, display_name, new_id

__all__ = ["create_app", "Guard", "StudioError", "is_loopback"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DEMO = Path(__file__).parent.parent / "data" / "demo.ogg"
SESSION_COOKIE = "sonicdreams_session"
TOKEN_COOKIE = "sonicdreams_token"
_CONTAINER_SUFFIX = {"ogg": ".ogg", "mp3": ".mp3", "wav": ".wav", "flac": ".flac",
                     "matroska,webm": ".mkv", "mov,mp4,m4a,3gp,3g2,mj2": ".m4a", "aiff": ".aiff",
                     "aac": ".aac", "w64": ".w64", "caf": ".caf"}


class StudioError(SonicDreamsError):
    """The studio cannot start as asked (an unsafe address, a port in use…)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: the Host, Origin and token checks of the module notes."""

    _LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")

    def __init__(self, app, *, token: str | None, loopback: bool) -> None:
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        why = None
        if self.loopback and _hostname(host) not in self._LOCAL_NAMES:
            why = f"this studio answers on this machine only, not as {host[:60]!r}"
        origin = headers.get("origin")
        writes = scope["type"] == "websocket" or scope.get("method") not in ("GET", "HEAD")
        if why is None and writes and origin is not None and urlsplit(origin).netloc != host:
            why = "a request from another web site was refused"
        if why is None and self.token is not None:
            given = _token_of(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                why = ("this studio needs its access token: open the address with ?token=… "
                       "that `sonicdreams studio` printed")
            elif scope["type"] == "http" and scope["path"] == "/" and b"token=" in scope.get(
                    "query_string", b""):
                # Into a cookie, and out of the address bar (and the browser history).
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                return await response(scope, receive, send)
        if why is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": why[:120]})
            return None
        return await _error(why, 403)(scope, receive, send)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _token_of(scope, headers: Headers) -> str | None:
    from http.cookies import SimpleCookie
    from urllib.parse import parse_qs

    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:
        return None
    morsel = cookie.get(TOKEN_COOKIE)
    return morsel.value if morsel else None


class Studio:
    """The server's state: sessions, the render queue, the live previews."""

    def __init__(self, *, data_dir: Path, max_upload_bytes: int, cache: bool) -> None:
        self.sessions = Sessions()
        self.renders = RenderQueue(Path(data_dir) / "renders", cache=cache)
        self.max_upload_bytes = max_upload_bytes
        self.cache = cache
        self.previews: set[PreviewStream] = set()
        self._thumbs: dict[str, Any] = {}  # style → plan, for the settings of _thumbs_key
        self._thumbs_key: tuple | None = None
        self._thumb_lock = threading.Lock()

    def close(self) -> None:
        for stream in list(self.previews):
            stream.close()
        self.renders.close()
        self.sessions.close()

    # -- songs ----------------------------------------------------------------------------

    def add_song(self, session: Session, path: Path, name: str) -> Song:
        """Check ``path`` by decoding it, name it by what FFmpeg found, start its analysis."""
        import av

        duration = check_audio(path, name)
        with av.open(str(path), metadata_errors="ignore") as container:
            suffix = _CONTAINER_SUFFIX.get(container.format.name, ".audio")
        song_id = path.name if path.parent == session.dir else new_id()
        if path.parent == session.dir:
            final = path.with_name(f"{song_id}{suffix}")
            path.rename(final)
        else:
            final = path
        song = Song(song_id, name, final, duration)
        session.add(song)
        threading.Thread(target=song.analyse, kwargs={"cache": self.cache},
                         name="analyse", daemon=True).start()
        return song

    def thumbnails(self, song: Song, t: float, values: dict) -> dict[str, str]:
        """A small frame of every built-in style at time ``t`` (data: URLs)."""
        import base64

        from ..generators.builtin import BUILTIN_STYLES
        from .live import jpeg

        out = {}
        with self._thumb_lock:
            key = (song.id, json.dumps(values, sort_keys=True, default=str))
            if key != self._thumbs_key:  # plans for the latest settings only
                self._thumbs, self._thumbs_key = {}, key
            for style in BUILTIN_STYLES:
                plan = self._thumbs.get(style)
                if plan is None:
                    # at 6 fps: a thumbnail is refreshed every second or so, and a plan keeps
                    # every frame's vectors
                    plan = self._thumbs[style] = live_plan(song, {**values, "style": style},
                                                           pixels=112 * 112, max_fps=6)
                index = min(plan.n_frames - 1, max(0, int(t * plan.fps)))
                data = base64.b64encode(jpeg(plan.frames(index, index + 1)[0], quality=80))
                out[style] = "data:image/jpeg;base64," + data.decode("ascii")
        return out


def create_app(*, host: str = "127.0.0.1", token: str | None = None,
               data_dir: str | Path | None = None, max_upload_mb: float = 500,
               cache: bool = True) -> Starlette:
    """The studio as an ASGI app (see the module notes).

    Raises
    ------
    StudioError
        ``host`` is not loopback and there is no ``token``.
    """
    from ..paths import cache_root, user_cache_dir

    loopback = is_loopback(host)
    if not loopback and not token:
        raise StudioError(f"--host {host} lets other machines reach the studio; it needs an "
                          "access token (leave --token out to get a random one)")
    root = Path(data_dir) if data_dir else (cache_root() or user_cache_dir()) / "studio"
    studio = Studio(data_dir=root, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                    cache=cache)
    handlers = _Handlers(studio)
    routes = [
        Route("/", handlers.index),
        Route("/api/options", handlers.options),
        Route("/api/songs", handlers.upload, methods=["POST"]),
        Route("/api/songs/demo", handlers.demo, methods=["POST"]),
        Route("/api/songs/{song_id}", handlers.song),
        Route("/api/songs/{song_id}/audio", handlers.audio),
        Route("/api/songs/{song_id}/timeline", handlers.timeline),
        Route("/api/thumbnails", handlers.thumbnails, methods=["POST"]),
        Route("/api/config/export", handlers.export_config, methods=["POST"]),
        Route("/api/config/import", handlers.import_config, methods=["POST"]),
        Route("/api/renders", handlers.renders, methods=["GET", "POST"]),
        Route("/api/renders/{job_id}", handlers.remove_render, methods=["DELETE"]),
        Route("/api/renders/{job_id}/cancel", handlers.cancel_render, methods=["POST"]),
        Route("/api/renders/{job_id}/resume", handlers.resume_render, methods=["POST"]),
        Route("/api/renders/{job_id}/file", handlers.render_file),
        Route("/api/session/end", handlers.end_session, methods=["POST"]),
        WebSocketRoute("/api/preview", handlers.preview),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(studio.close)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={SonicDreamsError: _sonicdreams_error})
    app.router.redirect_slashes = False  # (an id with a slash is no id: 404, not a redirect)
    app.state.studio = studio
    app.add_middleware(Guard, token=token or None, loopback=loopback)
    return app


async def _sonicdreams_error(request: Request, err: Exception) -> Response:
    status = 404 if "no such" in str(err) else 400
    return _error(str(err), status)


class _Handlers:
    """The routes (each a method; the studio's state on ``self.studio``)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    # -- sessions ---------------------------------------------------------------------------

    def _session(self, request) -> tuple[Session, bool]:
        """The request's session, or a new one (True: set its cookie on the answer)."""
        session = self.studio.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            return session, False
        return self.studio.sessions.create(), True

    @staticmethod
    def _answer(response: Response, session: Session, new: bool) -> Response:
        if new:
            response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="strict")
        return response

    async def index(self, request: Request) -> Response:
        session, new = self._session(request)
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return self._answer(HTMLResponse(html, headers={"Cache-Control": "no-store"}),
                            session, new)

    async def end_session(self, request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await run_in_threadpool(self.studio.sessions.end, session_id)
        return JSONResponse({"ended": True})

    # -- options ------------------------------------------------------------------------------

    async def options(self, request: Request) -> Response:
        return JSONResponse({**option_schema(), **page_lists(),
                             "max_upload_bytes": self.studio.max_upload_bytes})

    # -- songs --------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        session, new = self._session(request)
        name = display_name(request.query_params.get("name", "song"))
        limit = self.studio.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _error(f"{name} is larger than the studio takes ({limit // 2**20} MB); "
                          "start it with a larger --max-upload-mb", 413)
        path = session.dir / new_id()
        size = 0
        try:
            with open(path, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge
                    f.write(chunk)
            if size == 0:
                raise AudioError(f"{name}: the file is empty (0 bytes)")
            song = await run_in_threadpool(self.studio.add_song, session, path, name)
        except _TooLarge:
            path.unlink(missing_ok=True)
            return _error(f"{name} is larger than the studio takes ({limit // 2**20} MB); "
                          "start it with a larger --max-upload-mb", 413)
        except SonicDreamsError as err:
            path.unlink(missing_ok=True)
            return self._answer(_error(str(err)), session, new)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self._answer(JSONResponse(song.to_dict()), session, new)

    async def demo(self, request: Request) -> Response:
        session, new = self._session(request)
        song = await run_in_threadpool(self.studio.add_song, session, DEMO, "demo song.ogg")
        return self._answer(JSONResponse(song.to_dict()), session, new)

    def _song(self, request: Request, song_id: Any) -> Song:
        session = self.studio.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise SonicDreamsError("no such song: this session has ended; open the song again")
        return session.song(song_id)

    async def song(self, request: Request) -> Response:
        return JSONResponse(self._song(request, request.path_params["song_id"]).to_dict())

    async def audio(self, request: Request) -> Response:
        song = self._song(request, request.path_params["song_id"])
        return FileResponse(song.path, media_type=_media_type(song.path),
                            headers={"Cache-Control": "no-store"})

    async def timeline(self, request: Request) -> Response:
        song = self._song(request, request.path_params["song_id"])
        if song.state != "ready":
            return _error(f"{song.name} is {song.state}", 409)
        return JSONResponse(await run_in_threadpool(song.timeline))

    async def thumbnails(self, request: Request) -> Response:
        body = await _json(request)
        song = self._song(request, body.get("song"))
        if song.state != "ready":
            return _error(f"{song.name} is {song.state}", 409)
        values = page_values(body.get("values") or {})
        t = body.get("t", 0.0)
        t = float(t) if isinstance(t, (int, float)) and t == t and t >= 0 else 0.0
        thumbs = await run_in_threadpool(self.studio.thumbnails, song, t, values)
        return JSONResponse({"thumbnails": thumbs})

    # -- the config file ----------------------------------------------------------------------

    async def export_config(self, request: Request) -> Response:
        from .._cli_render import to_toml
        from ..settings import RenderSettings

        body = await _json(request)
        s = RenderSettings.create(page_values(body.get("values") or {}))
        return PlainTextResponse(to_toml(s), media_type="application/toml", headers={
            "Content-Disposition": 'attachment; filename="sonicdreams.toml"'})

    async def import_config(self, request: Request) -> Response:
        from .._cli_render import parse_toml
        from ..settings import RenderSettings

        raw = await request.body()
        if len(raw) > 1 << 20:
            return _error("the settings file is larger than 1 MB, which no settings file is")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error("the settings file is not UTF-8 text")
        values = parse_toml(text, where="settings file")
        defaults = RenderSettings()
        ignored = sorted(k for k in set(values) & _server_only()
                         if RenderSettings.create({k: values[k]}).to_dict()[k]
                         != defaults.to_dict()[k])
        values = {k: v for k, v in values.items() if k not in _server_only()}
        s = RenderSettings.create({k: v for k, v in values.items() if k not in ignored})
        values = changed_values(s)
        page_values(values)  # (its style too must be one the page can draw)
        return JSONResponse({"values": values, "ignored": ignored})

    # -- renders ------------------------------------------------------------------------------

    async def renders(self, request: Request) -> Response:
        queue = self.studio.renders
        if request.method == "GET":
            return JSONResponse({"renders": [job.to_dict() for job in queue.list()]})
        body = await _json(request)
        song = self._song(request, body.get("song"))
        if song.state != "ready":
            return _error(f"{song.name} is {song.state}; wait for its analysis", 409)
        values = page_values(body.get("values") or {})
        fmt = body.get("format", "mp4")
        job = await run_in_threadpool(queue.submit, song, values, str(fmt))
        return JSONResponse(job.to_dict())

    async def cancel_render(self, request: Request) -> Response:
        job = self.studio.renders.cancel(request.path_params["job_id"])
        return JSONResponse(job.to_dict())

    async def resume_render(self, request: Request) -> Response:
        job = self.studio.renders.resume(request.path_params["job_id"])
        return JSONResponse(job.to_dict())

    async def remove_render(self, request: Request) -> Response:
        await run_in_threadpool(self.studio.renders.remove, request.path_params["job_id"])
        return JSONResponse({"removed": True})

    async def render_file(self, request: Request) -> Response:
        job, path = self.studio.renders.output(request.path_params["job_id"])
        return FileResponse(path, filename=job.filename, media_type=_media_type(path))

    # -- the live preview ---------------------------------------------------------------------

    async def preview(self, ws: WebSocket) -> None:
        session = self.studio.sessions.get(ws.cookies.get(SESSION_COOKIE))
        try:
            song = session.song(ws.query_params.get("song")) if session else None
        except SonicDreamsError:
            song = None
        if song is None or song.state != "ready":
            await ws.close(code=4404, reason="no such song in this session (or not analysed)")
            return
        await ws.accept()
        loop = asyncio.get_running_loop()

        def deliver(send: Callable[[Any], Any]) -> Callable[[Any], None]:
            def call(item: Any) -> None:
                asyncio.run_coroutine_threadsafe(send(item), loop).result(timeout=30)
            return call

        def stopped(why: str) -> None:  # (the page reconnects after 1011)
            asyncio.run_coroutine_threadsafe(ws.close(code=1011, reason=why[:120]), loop)

        stream = PreviewStream(song, send_text=deliver(ws.send_json),
                               send_frame=deliver(ws.send_bytes), on_stop=stopped)
        self.studio.previews.add(stream)
        stream.start()
        try:
            while True:
                message = await ws.receive_text()
                try:
                    event = json.loads(message)
                    kind = event.get("type")
                    if kind == "clock":
                        stream.clock(event.get("t", 0.0), bool(event.get("playing")))
                    elif kind == "settings":
                        stream.settings(page_values(event.get("values") or {}))
                except SettingsError as err:
                    from .live import option_of

                    await ws.send_json({"type": "error", "message": str(err),
                                        "option": option_of(err)})
                except (ValueError, AttributeError, TypeError):
                    await ws.send_json({"type": "error", "message": "the page sent a message "
                                        "the studio does not understand", "option": None})
        except (WebSocketDisconnect, RuntimeError):  # (RuntimeError: closed by ``stopped``)
            pass
        finally:
            self.studio.previews.discard(stream)
            await run_in_threadpool(stream.close)


class _TooLarge(Exception):
    pass


def _server_only() -> frozenset[str]:
    from .options import FROM_BROWSER_NOT

    return FROM_BROWSER_NOT


async def _json(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > 1 << 20:
        raise SettingsError("the request is too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise SettingsError("the request is not JSON") from None
    if not isinstance(body, dict):
        raise SettingsError("the request must be a JSON object")
    return body


def _media_type(path: Path) -> str:
    return {".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac",
            ".m4a": "audio/mp4", ".mkv": "video/x-matroska", ".mp4": "video/mp4",
            ".webm": "video/webm", ".mov": "video/quicktime", ".gif": "image/gif",
            ".aiff": "audio/aiff", ".aac": "audio/aac"}.get(path.suffix.lower(),
                                                             "application/octet-stream")
