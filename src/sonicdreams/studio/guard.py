"""Who may talk to the studio (ASGI middleware), and its cookies.

On loopback (the default) the studio answers only requests that name this machine
(``Host``), so a web page elsewhere cannot reach it through DNS rebinding; it refuses
requests a browser marks as coming from another site (``Sec-Fetch-Site: cross-site``, any
method but following a link) and writes whose ``Origin`` is another site, so a page open in
the same browser cannot use it. Bound to any other address it also needs its access token:
given once in the address it prints, then kept in a cookie (and out of the address bar), or
as ``Authorization: Bearer``. Cookie names carry the port: a browser sends a host's cookies
to all its ports, and two studios (or another service) on one machine must not share them.
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse

__all__ = ["Guard", "is_loopback", "cookie_name"]

_LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_name(base: str, scope) -> str:
    """``base`` for the port this request came in on (``sonicdreams_session_8765``)."""
    server = scope.get("server") or ("", 0)
    return f"{base}_{server[1]}"


class Guard:
    """ASGI middleware: the Host, Sec-Fetch-Site, Origin and token checks (module notes).

    ``host``: the address the studio is bound to (another loopback address, 127.0.0.2 or
    ::1, is a name of this machine too)."""

    def __init__(self, app, *, token: str | None, host: str) -> None:
        self.app, self.token = app, token
        self.local = is_loopback(host)
        self.names = _LOCAL_NAMES | {host, f"[{host.strip('[]')}]"}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        why = self._refusal(scope, Headers(scope=scope))
        if why is None and self.token is not None and scope["type"] == "http" \
                and scope["path"] == "/" and b"token=" in scope.get("query_string", b""):
            # Into a cookie, and out of the address bar (and the browser history).
            response = RedirectResponse("/", status_code=303)
            # (lax: the browser opens the studio from a local page, another site to it, and
            # strict cookies would not come with that first visit)
            response.set_cookie(cookie_name("sonicdreams_token", scope), self.token,
                                httponly=True, samesite="lax")
            return await response(scope, receive, send)
        if why is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": why[:120]})
            return None
        return await JSONResponse({"error": why}, status_code=403)(scope, receive, send)

    def _refusal(self, scope, headers: Headers) -> str | None:
        """Why the request is refused, or None."""
        host = headers.get("host", "")
        if self.local and _hostname(host) not in self.names:
            return f"this studio answers on this machine only, not as {host[:60]!r}"
        if headers.get("sec-fetch-site") == "cross-site" and not (
                scope.get("method") == "GET" and headers.get("sec-fetch-mode") == "navigate"):
            return "a request from another web site was refused"  # (a link to it is fine)
        origin = headers.get("origin")
        writes = scope["type"] == "websocket" or scope.get("method") not in ("GET", "HEAD")
        if writes and origin is not None and urlsplit(origin).netloc != host:
            return "a request from another web site was refused"
        if self.token is not None:
            given = _token_of(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                return ("this studio needs its access token: open the address with ?token=… "
                        "that `sonicdreams studio` printed")
        return None


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _token_of(scope, headers: Headers) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # (a malformed Cookie header: no token)
        return None
    morsel = cookie.get(cookie_name("sonicdreams_token", scope))
    return morsel.value if morsel else None
