"""The review page served from a thread on a free loopback port, for the tests and the benchmark
(`fleettickets review` itself serves in the foreground: fleettickets/review/server.py serve)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from fleettickets.review import server


@contextmanager
def running(review: server.Review) -> Iterator[str]:
    """The page's base URL while it serves; stopped on leaving."""
    sock = socket.create_server(("127.0.0.1", 0))
    app = uvicorn.Server(uvicorn.Config(server.create_app(review), log_level="warning", access_log=False))
    thread = threading.Thread(target=app.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    give_up = time.monotonic() + 60  # a hang guard, not a speed check: a server that never starts fails here
    while not app.started:
        if not thread.is_alive() or time.monotonic() > give_up:
            raise RuntimeError("the review page's server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        app.should_exit = True
        thread.join(5)
