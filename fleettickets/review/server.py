"""The review page: a local web app over the queue and the gazetteer writes.

Safe by default: it binds 127.0.0.1 unless told otherwise; every request needs the token made at
start: in `?token=` (the printed URL: the page then keeps it in an HttpOnly, SameSite=Strict cookie
and takes it out of the address bar), the `X-Review-Token` header, or that cookie. A write needs
either the token in the header (scripts), or the cookie together with the page's own header
`X-Requested-By`: a page of another origin cannot send a custom header without a CORS preflight,
and no CORS header is ever sent. Everything the page shows is set as text, under a
Content-Security-Policy that allows no inline script. Points go through gazetteer.set_point, as
`gazetteer set` does (Kenya and the guard checked there), and every placement is in the database's
trail, so undo is `revert placement N` there: it works across tabs and restarts, and is refused if
the entry changed since. Handlers that touch the database run in the threadpool, never in the
event loop: a placement waiting on a lock holds no other request. The page never sees the database
URL; nothing is logged per request (the token is in the first URL).
"""

from __future__ import annotations

import html
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fleettickets.db import connect, first_line
from fleettickets.errors import FleetError
from fleettickets.geocode import gazetteer
from fleettickets.geocode.places import GUARD_KM
from fleettickets.migrate import open_current
from fleettickets.review import queue

STATIC = Path(__file__).parent / "static"
HEADER = "X-Review-Token"
PAGE_HEADER = ("X-Requested-By", "fleettickets-review")  # what the page's own writes carry with the cookie
COOKIE = "fleettickets_review"
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Review:
    """One page's settings: the database, the token, the tiles, and who places (recorded with each
    placement beside the database role)."""

    database_url: str
    token: str
    tiles: str = OSM_TILES
    reviewer: str | None = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A session per request; the schema was checked once, at start (serve)."""
        with connect(self.database_url) as conn:
            yield conn


def content_security_policy(tiles: str) -> str:
    """Scripts, styles and requests from the page's own origin only (no inline script, no inline
    event handler); images also from the tile server."""
    images = ["'self'", "data:"]
    if tiles:
        parts = urlsplit(tiles)
        if parts.scheme and parts.netloc:  # a {s} subdomain template is any subdomain
            images.append(f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get(HEADER)
    if given is None and request.method == "GET":
        given = request.query_params.get("token") or request.cookies.get(COOKIE)
    elif given is None and request.headers.get(PAGE_HEADER[0]) == PAGE_HEADER[1]:
        given = request.cookies.get(COOKIE)
    return given is not None and secrets.compare_digest(given, token)


class _TokenGate(BaseHTTPMiddleware):
    def __init__(self, app: Any, review: Review) -> None:
        super().__init__(app)
        self.review = review

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method not in ("GET", "POST"):
            return JSONResponse({"error": "method not allowed"}, status_code=405)
        if not _authorised(request, self.review.token):
            hint = (
                f"a write needs the token in the {HEADER} header, or the page's cookie and its own header"
                if request.method == "POST"
                else "the token is required"
            )
            return JSONResponse({"error": f"forbidden: {hint} (see the URL printed at start)"}, status_code=403)
        try:
            return await call_next(request)
        except (FleetError, psycopg.Error) as e:  # one line for the page, never a traceback in the log
            return JSONResponse({"error": first_line(e)}, status_code=503)


async def _body(request: Request, fields: dict[str, type]) -> dict[str, Any] | None:
    """The JSON object a write sends, its fields converted; None if it is not that."""
    try:
        body = await request.json()
        return {name: kind(body[name]) for name, kind in fields.items()}
    except (ValueError, KeyError, TypeError):
        return None


def create_app(review: Review) -> Starlette:
    page_html = (
        (STATIC / "index.html")
        .read_text()
        .replace("{{TILES}}", html.escape(review.tiles))
        .replace("{{GUARD_KM}}", html.escape(str(GUARD_KM)))
    )
    page_headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": content_security_policy(review.tiles),
        "X-Content-Type-Options": "nosniff",
    }

    def page(request: Request) -> Response:
        response = HTMLResponse(page_html, headers=page_headers)
        response.set_cookie(COOKIE, review.token, httponly=True, samesite="strict")
        return response

    def listing(request: Request) -> Response:
        with review.connection() as conn:
            entries = [e.to_json() for e in queue.entries(conn)]
        return JSONResponse({"entries": entries, "guard_km": GUARD_KM})

    def tickets(request: Request) -> Response:
        with review.connection() as conn:
            points = queue.ticket_points(conn, request.query_params.get("key", ""))
        return JSONResponse({"tickets": points})

    def place_now(key: str, lat: float, lng: float) -> Response:
        with review.connection() as conn:
            try:
                placed = gazetteer.set_point(conn, "location", key, lng, lat, review.reviewer)
            except FleetError as e:
                return JSONResponse({"error": str(e)}, status_code=422)
        return JSONResponse({"placement": placed.placement, "moved": placed.moved})

    def revert_now(placement: int) -> Response:
        with review.connection() as conn:
            try:
                done = gazetteer.revert(conn, placement, review.reviewer)
            except FleetError as e:
                return JSONResponse({"error": str(e)}, status_code=409)
        return JSONResponse({"placement": done.placement, "reverted": placement, "key": done.key, "moved": done.moved})

    # A write reads its body in the loop, then waits on the database in the threadpool.
    async def place(request: Request) -> Response:
        if (body := await _body(request, {"key": str, "lat": float, "lng": float})) is None:
            return JSONResponse({"error": "expected JSON {key, lat, lng}"}, status_code=400)
        return await run_in_threadpool(place_now, **body)

    async def revert(request: Request) -> Response:
        if (body := await _body(request, {"placement": int})) is None:
            return JSONResponse({"error": "expected JSON {placement}"}, status_code=400)
        return await run_in_threadpool(revert_now, **body)

    routes = [
        Route("/", page),
        Route("/api/queue", listing),
        Route("/api/tickets", tickets),
        Route("/api/place", place, methods=["POST"]),
        Route("/api/revert", revert, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_TokenGate, review=review)])


def serve(review: Review, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve until interrupted; announce() gets the URL (with the token) once the port is bound."""
    import uvicorn

    with open_current(review.database_url):
        pass  # a database that is missing or behind this release: its one-line error now
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        raise FleetError(f"cannot listen on {host}:{port}: {os.strerror(e.errno) if e.errno else e}") from None
    config = uvicorn.Config(create_app(review), host=host, port=port, log_level="warning", access_log=False)
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{sock.getsockname()[1]}/?token={review.token}")
    uvicorn.Server(config).run(sockets=[sock])
