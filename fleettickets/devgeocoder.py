"""A stand-in LocationIQ server for the demo and the benchmarks: it knows devdata's places.

Answers GET /v1/search in LocationIQ's format (CONTRACT section 5) on a loopback port. With
`naive`, a place name is answered with the first place of that name anywhere in the country,
whatever the context, as a real provider may: the wrong-city guard has to catch those.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from fleettickets.devdata import CLUSTERS

Answer = tuple[float, float, str]  # lng, lat, display name


def places() -> tuple[dict[str, Answer], dict[str, Answer]]:
    """(exact: 'query, kenya' lowercased -> answer, by_name: place name lowercased -> first answer)."""
    exact: dict[str, Answer] = {}
    by_name: dict[str, Answer] = {}
    for cluster, (_, lng, lat, spots) in CLUSTERS.items():
        exact[f"{cluster}, kenya".lower()] = (lng, lat, f"{cluster}, Kenya")
        for name, plng, plat in spots:
            answer = (plng, plat, f"{name}, {cluster}, Kenya")
            exact[f"{name}, {cluster}, kenya".lower()] = answer
            by_name.setdefault(name.lower(), answer)
    return exact, by_name


class DevGeocoder:
    def __init__(self, naive: bool = False) -> None:
        exact, by_name = places()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                url = urlparse(self.path)
                query = parse_qs(url.query).get("q", [""])[0]
                outer.requests += 1
                found = exact.get(query.lower())
                if naive and "," in query:
                    found = by_name.get(query.split(",")[0].strip().lower(), found)
                if url.path != "/v1/search" or found is None:
                    self.reply(404, {"error": "Unable to geocode"})
                else:
                    self.reply(200, [{"lat": str(found[1]), "lon": str(found[0]), "display_name": found[2]}])

            def reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # quiet: the query string carries the key
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DevGeocoder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
