"""A real studio server (uvicorn on a free loopback port, on a thread) for the studio tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx


@contextlib.contextmanager
def running_studio(app, *, host: str = "127.0.0.1"):
    """Serve ``app`` until the block ends; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the studio server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def client(base: str) -> httpx.Client:
    """An HTTP client of one browser session (its cookie set by the first page load)."""
    c = httpx.Client(base_url=base, timeout=60)
    assert c.get("/").status_code == 200
    return c


def session_cookie(c: httpx.Client) -> tuple[str, str]:
    """(name, value) of the client's studio session cookie (its name carries the port)."""
    for name, value in c.cookies.items():
        if name.startswith("sonicdreams_session_"):
            return name, value
    raise AssertionError("no session cookie")


def cookie_header(c: httpx.Client) -> dict[str, str]:
    """The Cookie header of the client's session, for a WebSocket."""
    name, value = session_cookie(c)
    return {"Cookie": f"{name}={value}"}


def wait_ready(c: httpx.Client, song_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        song = c.get(f"/api/songs/{song_id}").json()
        if song["state"] != "analysing" or time.monotonic() > deadline:
            return song
        time.sleep(0.1)


def wait_render(c: httpx.Client, job_id: str, timeout: float = 240, *,
                until=("done", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        jobs = {j["id"]: j for j in c.get("/api/renders").json()["renders"]}
        job = jobs[job_id]
        if job["state"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.1)
