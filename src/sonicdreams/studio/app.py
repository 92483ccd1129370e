"""The studio's web server: one page, a JSON API, and a WebSocket per live preview.

Starlette (ASGI) under uvicorn: the live preview needs a WebSocket and a thread per page,
the rest is a handful of JSON routes, and both are plain there. The page is static files
from the package (no CDN, no build step). Who may talk to it: :mod:`.guard`.

Every answer to a bad request is ``{"error": "one line for the user"}``: 404 for a song or
render that does not exist (any more), 413 for a body too large, 400 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import AudioError, NotFoundError, SettingsError, SonicDreamsError, StudioError
from .guard import Guard, cookie_name, is_loopback
from .live import PreviewStream, option_of
from .options import FROM_BROWSER_NOT, changed_values, option_schema, page_lists, page_values
from .songs import Session, Song, display_name
from .state import Studio

__all__ = ["create_app", "StudioError", "is_loopback"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DEMO = Path(__file__).parent.parent / "data" / "demo.ogg"
_MAX_BODY = 1 << 20  # a JSON request or a settings file


def create_app(*, host: str = "127.0.0.1", token: str | None = None,
               data_dir: str | Path | None = None, max_upload_mb: float = 500,
               max_song_minutes: float = 60, cache: bool = True) -> Starlette:
    """The studio as an ASGI app. Its state starts with the app (lifespan): the data
    folder's lock, the render queue resuming what an earlier run left unfinished.

    Raises
    ------
    StudioError
        ``host`` is not loopback and there is no ``token``; (at start) another studio uses
        ``data_dir``.
    """
    from ..paths import cache_root, user_cache_dir

    if not is_loopback(host) and not token:
        raise StudioError(f"--host {host} lets other machines reach the studio; it needs an "
                          "access token (leave --token out to get a random one)")
    root = Path(data_dir) if data_dir else (cache_root() or user_cache_dir()) / "studio"
    studio = Studio(root, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                    max_song_minutes=max_song_minutes, cache=cache)
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
        await run_in_threadpool(studio.start)
        try:
            yield
        finally:
            await run_in_threadpool(studio.close)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={SonicDreamsError: _sonicdreams_error})
    app.router.redirect_slashes = False  # (an id with a slash is no id: 404, not a redirect)
    app.state.studio = studio
    app.add_middleware(Guard, token=token or None, host=host)
    return app


async def _sonicdreams_error(request: Request, err: Exception) -> Response:
    status = {NotFoundError: 404, _TooLarge: 413, _NotReady: 409}.get(type(err), 400)
    return _error(str(err), status)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _TooLarge(SonicDreamsError):
    """A request body past its limit (413)."""


class _NotReady(SonicDreamsError):
    """A song not (or not yet) analysed (409)."""


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request's body, refused (413) past ``limit`` bytes before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"{what} is larger than the studio takes ({_size(limit)})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"{what} is larger than the studio takes ({_size(limit)})")
        chunks.append(chunk)
    return b"".join(chunks)


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit // 1024} KB"


async def _json(request: Request) -> dict:
    raw = await _body(request, _MAX_BODY, "the request")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise SettingsError("the request is not JSON") from None
    if not isinstance(body, dict):
        raise SettingsError("the request must be a JSON object")
    return body


def _time(value: Any, song: Song) -> float:
    """A time in the song from a request: a number, clamped to the song."""
    try:
        t = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(max(t, 0.0), song.duration_s) if math.isfinite(t) else 0.0


class _Handlers:
    """The routes (each a method; the studio's state on ``self.studio``)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    # -- sessions ---------------------------------------------------------------------------

    def _session(self, request) -> tuple[Session, bool]:
        """The request's session, or a new one (True: set its cookie on the answer)."""
        sessions = self.studio.sessions
        session = sessions.get(request.cookies.get(cookie_name("sonicdreams_session",
                                                               request.scope)))
        if session is not None:
            return session, False
        return sessions.create(), True

    @staticmethod
    def _answer(response: Response, request: Request, session: Session,
                new: bool) -> Response:
        if new:
            response.set_cookie(cookie_name("sonicdreams_session", request.scope), session.id,
                                httponly=True, samesite="strict")
        return response

    def _song(self, request: Request | WebSocket, song_id: Any) -> Song:
        session = self.studio.sessions.get(request.cookies.get(
            cookie_name("sonicdreams_session", request.scope)))
        if session is None:
            raise NotFoundError("no such song: this session has ended; open the song again")
        return session.song(song_id)

    @staticmethod
    def _ready(song: Song) -> None:
        if song.state == "analysing":
            raise _NotReady(f"{song.name} is still being analysed; wait for it")
        if song.state != "ready":
            raise _NotReady(song.error or f"{song.name} could not be analysed; open it again")

    async def index(self, request: Request) -> Response:
        session, new = self._session(request)
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return self._answer(HTMLResponse(html, headers={"Cache-Control": "no-store"}),
                            request, session, new)

    async def end_session(self, request: Request) -> Response:
        session_id = request.cookies.get(cookie_name("sonicdreams_session", request.scope))
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
        too_large = (f"{name} is larger than the studio takes ({_size(limit)}); start it "
                     "with a larger --max-upload-mb")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return self._answer(_error(too_large, 413), request, session, new)
        path = session.upload_path()
        size = 0
        try:
            with open(path, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge(too_large)
                    f.write(chunk)
            if size == 0:
                raise AudioError(f"{name}: the file is empty (0 bytes)")
            song = await run_in_threadpool(self.studio.add_song, session, path, name)
        except SonicDreamsError as err:
            path.unlink(missing_ok=True)
            return self._answer(_error(str(err), 413 if isinstance(err, _TooLarge) else 400),
                                request, session, new)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self._answer(JSONResponse(song.to_dict()), request, session, new)

    async def demo(self, request: Request) -> Response:
        session, new = self._session(request)
        song = await run_in_threadpool(self.studio.add_song, session, DEMO, "demo song.ogg")
        return self._answer(JSONResponse(song.to_dict()), request, session, new)

    async def song(self, request: Request) -> Response:
        return JSONResponse(self._song(request, request.path_params["song_id"]).to_dict())

    async def audio(self, request: Request) -> Response:
        song = self._song(request, request.path_params["song_id"])
        return FileResponse(song.path, media_type=_media_type(song.path),
                            headers={"Cache-Control": "no-store"})

    async def timeline(self, request: Request) -> Response:
        song = self._song(request, request.path_params["song_id"])
        self._ready(song)
        return JSONResponse(await run_in_threadpool(song.timeline))

    async def thumbnails(self, request: Request) -> Response:
        body = await _json(request)
        song = self._song(request, body.get("song"))
        self._ready(song)
        values = page_values(body.get("values") or {})
        try:
            thumbs = await run_in_threadpool(self.studio.thumbnails, song,
                                             _time(body.get("t"), song), values)
        except SonicDreamsError as err:
            raise type(err)(song.scrub(str(err))) from None
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

        raw = await _body(request, _MAX_BODY, "the settings file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error("the settings file is not UTF-8 text; save it as UTF-8")
        values = parse_toml(text, where="settings file")
        defaults = RenderSettings().to_dict()
        # What only the command line can set is left out, and named where it is not the
        # default (an exported file lists every option).
        ignored = sorted(k for k in set(values) & FROM_BROWSER_NOT
                         if RenderSettings.create({k: values[k]}).to_dict()[k] != defaults[k])
        s = RenderSettings.create({k: v for k, v in values.items()
                                   if k not in FROM_BROWSER_NOT})
        values = changed_values(s)
        page_values(values)  # (its styles too must be ones the page can draw)
        return JSONResponse({"values": values, "ignored": ignored})

    # -- renders ------------------------------------------------------------------------------

    async def renders(self, request: Request) -> Response:
        queue = self.studio.renders
        if request.method == "GET":
            return JSONResponse({"renders": [job.to_dict() for job in queue.list()]})
        body = await _json(request)
        song = self._song(request, body.get("song"))
        self._ready(song)
        values = page_values(body.get("values") or {})
        job = await run_in_threadpool(queue.submit, song, values, str(body.get("format",
                                                                               "mp4")))
        return JSONResponse(job.to_dict())

    async def cancel_render(self, request: Request) -> Response:
        return JSONResponse(self.studio.renders.cancel(request.path_params["job_id"]).to_dict())

    async def resume_render(self, request: Request) -> Response:
        return JSONResponse(self.studio.renders.resume(request.path_params["job_id"]).to_dict())

    async def remove_render(self, request: Request) -> Response:
        await run_in_threadpool(self.studio.renders.remove, request.path_params["job_id"])
        return JSONResponse({"removed": True})

    async def render_file(self, request: Request) -> Response:
        job, path = self.studio.renders.output(request.path_params["job_id"])
        return FileResponse(path, filename=job.filename, media_type=_media_type(path))

    # -- the live preview ---------------------------------------------------------------------

    async def preview(self, ws: WebSocket) -> None:
        session = self.studio.sessions.get(ws.cookies.get(
            cookie_name("sonicdreams_session", ws.scope)))
        try:
            song = session.song(ws.query_params.get("song")) if session else None
        except SonicDreamsError:
            song = None
        await ws.accept()  # (then a reason the page can read: closed before, it sees none)
        if song is None or song.state != "ready":
            await ws.close(code=4404, reason="this song is no longer open here; open it again")
            return
        loop = asyncio.get_running_loop()

        def deliver(send: Callable[[Any], Any]) -> Callable[[Any], None]:
            def call(item: Any) -> None:
                asyncio.run_coroutine_threadsafe(send(item), loop).result(timeout=30)
            return call

        def stopped(why: str, code: int = 1011) -> None:  # (the page reconnects after 1011)
            asyncio.run_coroutine_threadsafe(ws.close(code=code, reason=why[:120]), loop)

        stream = PreviewStream(song, send_text=deliver(ws.send_json),
                               send_frame=deliver(ws.send_bytes), on_stop=stopped)
        await run_in_threadpool(self.studio.open_preview, session, stream)
        try:
            while True:
                await self._preview_message(ws, stream, song, await ws.receive_text())
        except (WebSocketDisconnect, RuntimeError):  # (RuntimeError: closed by ``stopped``)
            pass
        finally:
            await run_in_threadpool(self.studio.close_preview, session, stream)

    @staticmethod
    async def _preview_message(ws: WebSocket, stream: PreviewStream, song: Song,
                               message: str) -> None:
        try:
            event = json.loads(message)
            kind = event.get("type")
            if kind == "clock":
                stream.clock(_time(event.get("t"), song), bool(event.get("playing")))
            elif kind == "settings":
                stream.settings(page_values(event.get("values") or {}))
        except SettingsError as err:
            await ws.send_json({"type": "error", "message": str(err),
                                "option": option_of(err)})
        except (ValueError, AttributeError, TypeError, ArithmeticError):
            await ws.send_json({"type": "error", "message": "the page sent a message the "
                                "studio does not understand", "option": None})


def _media_type(path: Path) -> str:
    return {".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac",
            ".m4a": "audio/mp4", ".mkv": "video/x-matroska", ".mp4": "video/mp4",
            ".webm": "video/webm", ".mov": "video/quicktime", ".gif": "image/gif",
            ".aiff": "audio/aiff", ".aac": "audio/aac", ".wma": "audio/x-ms-wma",
            ".avi": "video/x-msvideo", ".caf": "audio/x-caf", ".w64": "audio/x-w64"}.get(
        path.suffix.lower(), "application/octet-stream")
