"""LocationIQ and OpenCage behind one small interface (request and response formats: CONTRACT section 5).

A lookup returns every candidate of the answer (point, display name, kind); choosing among
them is the caller's rule (places.choose_*). Every request passes the run's RateLimiter; 429,
5xx, timeouts and connection errors are retried with growing waits, a bounded number of times,
then reported as an 'error' outcome (never cached as final), and so is an answer with junk
coordinates. A bad key, a disabled account or an exhausted quota stops
the run at once with GeocoderError, and so does a provider that answers nothing: refused
connections or timeouts on every attempt, UNREACHABLE_STOP places in a row (a provider that only
times out would otherwise cost each hourly run hours). The API key
travels in the query string, so no URL is ever put into a message: errors are built from status
codes and the host only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fleettickets.config import Settings
from fleettickets.errors import GeocoderError
from fleettickets.geocode.places import Candidate, coordinate

RETRIES = 4
TIMEOUT_S = 15.0
UNREACHABLE_STOP = 3  # places in a row that no attempt got an answer for: the provider is down, stop the run
Box = tuple[float, float, float, float]  # west, south, east, north


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | not_found | error
    candidates: tuple[Candidate, ...] = ()
    detail: str | None = None


class Junk(ValueError):
    """An answer whose coordinates are not finite numbers in range."""


class RateLimiter:
    """At most `rate` request starts per second, sustained, across the whole run."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            if now < self.next_start:
                self.sleep(self.next_start - now)
                now = self.next_start
            self.next_start = now + self.interval


class Provider:
    """The HTTP mechanics shared by both providers; subclasses say how to ask and how to read."""

    name = ""
    default_base = ""

    def __init__(self, settings: Settings) -> None:
        self.key = settings.require_geocoder()
        self.base = (settings.geocoder_base_url or self.default_base).rstrip("/")
        self.limiter = RateLimiter(settings.geocoder_rate)
        self.requests = 0
        self.reached = False  # any HTTP answer at all, this run
        self.unreachable = 0  # places in a row whose every attempt went unanswered
        self.unanswered = 0  # requests in a row that went unanswered (refused, timed out, cut off)
        self.why: httpx.TransportError | None = None  # what happened to the last of them
        self.client = httpx.Client(timeout=TIMEOUT_S, headers={"User-Agent": "fleettickets"})

    def close(self) -> None:
        self.client.close()

    # -- per provider ---------------------------------------------------------------------------
    def request(self, query: str, limit: int, box: Box | None, near: tuple[float, float] | None) -> tuple[str, dict]:
        raise NotImplementedError

    def read(self, response: httpx.Response) -> Outcome | None:
        """The outcome of a response, None to retry it; raise GeocoderError to stop the run and
        Junk for coordinates that are no position."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def lookup(
        self, query: str, *, limit: int, box: Box | None = None, near: tuple[float, float] | None = None
    ) -> Outcome:
        """Every candidate for `query`, in Kenya, at most `limit`, restricted to `box` (lng/lat) if
        given and biased towards `near` (lng, lat) where the provider offers it."""
        path, params = self.request(query, limit, box, near)
        problem = ""
        answered = False
        for attempt in range(RETRIES + 1):
            if attempt:
                self.limiter.sleep(self.limiter.interval * 2**attempt)  # back off: 2, 4, 8, 16 intervals
            self.limiter.wait()
            self.requests += 1
            try:
                response = self.client.get(self.base + path, params=params)
            except httpx.TransportError as e:
                problem = f"{type(e).__name__}"
                self.unanswered += 1
                self.why = e
                continue
            answered = self.reached = True
            self.unreachable = self.unanswered = 0
            try:
                outcome = self.read(response)
            except Junk as e:
                return Outcome("error", detail=f"junk coordinates in the answer ({e})")
            if outcome is not None:
                return outcome
            problem = f"HTTP {response.status_code}"
        self.unreachable = 0 if answered else self.unreachable + 1
        return Outcome("error", detail=f"gave up after {RETRIES + 1} attempts ({problem})")

    def hopeless(self, finished: bool) -> GeocoderError | None:
        """The error that ends a run against a provider that answers nothing: after
        UNREACHABLE_STOP places in a row, or at the end of a run in which no request got an answer."""
        down = self.unreachable >= UNREACHABLE_STOP or (finished and not self.reached and self.unanswered > 0)
        if not down:
            return None
        host, count = httpx.URL(self.base).host, f"{self.unanswered} request(s) in a row"
        if isinstance(self.why, httpx.ConnectError):
            return GeocoderError(
                f"{self.name} could not be reached at {host}: {count} failed to connect "
                "(check GEOCODER_BASE_URL and the network); what was resolved is kept"
            )
        what = f"timed out after {TIMEOUT_S:g} s" if isinstance(self.why, httpx.TimeoutException) else "were cut off"
        return GeocoderError(
            f"{self.name} did not answer at {host}: {count} {what} (check the provider's status page and "
            "the network); what was resolved is kept"
        )

    def stop(self, response: httpx.Response, why: str) -> GeocoderError:
        return GeocoderError(f"{self.name} refused the request (HTTP {response.status_code}): {why}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _candidate(lng: object, lat: object, display_name: object, kind: str) -> Candidate:
    x, y = coordinate(lng, 180), coordinate(lat, 90)
    if x is None or y is None:
        raise Junk(f"lat {str(lat)[:24]!r}, lng {str(lng)[:24]!r}")
    return Candidate(x, y, str(display_name or ""), kind)


def _liq_kind(result: dict) -> str:
    return "/".join(str(result[k]) for k in ("class", "type") if result.get(k))


def _oc_kind(result: dict) -> str:
    components = result.get("components")
    return str(components.get("_type") or "") if isinstance(components, dict) else ""


class LocationIQ(Provider):
    name = "locationiq"
    default_base = "https://us1.locationiq.com"

    def request(self, query: str, limit: int, box: Box | None, near: tuple[float, float] | None) -> tuple[str, dict]:
        params = {"key": self.key, "q": query, "format": "json", "limit": str(limit), "countrycodes": "ke"}
        if box:  # Nominatim's viewbox; bounded=1 restricts the results to it (near: the box says it)
            params |= {"viewbox": ",".join(f"{v:.5f}" for v in box), "bounded": "1"}
        return "/v1/search", params

    def read(self, response: httpx.Response) -> Outcome | None:
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, list):
            if not body:
                return Outcome("not_found")
            if not all(isinstance(item, dict) for item in body):
                return Outcome("error", detail="unreadable result")
            return Outcome(
                "ok", tuple(_candidate(r.get("lon"), r.get("lat"), r.get("display_name"), _liq_kind(r)) for r in body)
            )
        if status == 404:
            return Outcome("not_found")  # {"error": "Unable to geocode"}: an answer, not a failure
        message = body.get("error", "") if isinstance(body, dict) else ""
        if status == 401:
            raise self.stop(response, "invalid API key (GEOCODER_API_KEY)")
        if status == 403:
            raise self.stop(response, f"the key is not enabled for this API ({message or 'forbidden'})")
        if status == 429 and "Day" in message:
            raise self.stop(response, "the daily request quota is used up; try again tomorrow")
        if status == 429 or status >= 500:
            return None
        return Outcome("error", detail=f"HTTP {status} {message}".strip())


class OpenCage(Provider):
    name = "opencage"
    default_base = "https://api.opencagedata.com"

    def request(self, query: str, limit: int, box: Box | None, near: tuple[float, float] | None) -> tuple[str, dict]:
        params = {"q": query, "key": self.key, "countrycode": "ke", "limit": str(limit), "no_annotations": "1"}
        if box:  # bounds restricts; proximity (lat,lng) ranks the nearest first
            params["bounds"] = ",".join(f"{v:.5f}" for v in box)
        if near:
            params["proximity"] = f"{near[1]:.5f},{near[0]:.5f}"
        return "/geocode/v1/json", params

    def read(self, response: httpx.Response) -> Outcome | None:
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, dict) and isinstance(body.get("results"), list):
            results = body["results"]
            if not results:
                return Outcome("not_found")
            if not all(isinstance(r, dict) and isinstance(r.get("geometry"), dict) for r in results):
                return Outcome("error", detail="unreadable result")
            return Outcome(
                "ok",
                tuple(
                    _candidate(r["geometry"].get("lng"), r["geometry"].get("lat"), r.get("formatted"), _oc_kind(r))
                    for r in results
                ),
            )
        if status == 401:
            raise self.stop(response, "invalid API key (GEOCODER_API_KEY)")
        if status == 402:
            raise self.stop(response, "the request quota is used up; try again when it resets")
        if status == 403:
            raise self.stop(response, "the key is disabled or blocked")
        if status == 429 or status >= 500:
            return None
        return Outcome("error", detail=f"HTTP {status}")


PROVIDERS: dict[str, type[Provider]] = {p.name: p for p in (LocationIQ, OpenCage)}


def provider_for(settings: Settings) -> Provider:
    return PROVIDERS[settings.geocoder_provider](settings)
