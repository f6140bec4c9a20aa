"""LocationIQ and OpenCage behind one small interface (response formats: CONTRACT section 5).

Every request passes the run's RateLimiter; 429, 5xx, timeouts and connection errors are
retried with growing waits, a bounded number of times, then reported as an 'error' outcome
(never cached as final). A bad key, a disabled account or an exhausted quota stops the run at
once with GeocoderError. The API key travels in the query string, so no URL is ever put into
a message: errors are built from status codes only.
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

RETRIES = 4
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | not_found | error
    lng: float | None = None
    lat: float | None = None
    display_name: str | None = None
    detail: str | None = None


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
        self.client = httpx.Client(timeout=TIMEOUT_S, headers={"User-Agent": "fleettickets"})

    def close(self) -> None:
        self.client.close()

    # -- per provider ---------------------------------------------------------------------------
    def request(self, query: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def read(self, response: httpx.Response) -> Outcome | None:
        """The outcome of a response, None to retry it; raise GeocoderError to stop the run."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def lookup(self, query: str) -> Outcome:
        path, params = self.request(query)
        problem = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                self.limiter.sleep(self.limiter.interval * 2**attempt)  # back off: 2, 4, 8, 16 intervals
            self.limiter.wait()
            self.requests += 1
            try:
                response = self.client.get(self.base + path, params=params)
            except httpx.TransportError as e:
                problem = f"{type(e).__name__}"
                continue
            outcome = self.read(response)
            if outcome is not None:
                return outcome
            problem = f"HTTP {response.status_code}"
        return Outcome("error", detail=f"gave up after {RETRIES + 1} attempts ({problem})")

    def stop(self, response: httpx.Response, why: str) -> GeocoderError:
        return GeocoderError(f"{self.name} refused the request (HTTP {response.status_code}): {why}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class LocationIQ(Provider):
    name = "locationiq"
    default_base = "https://us1.locationiq.com"

    def request(self, query: str) -> tuple[str, dict[str, str]]:
        return "/v1/search", {"key": self.key, "q": query, "format": "json", "limit": "1", "countrycodes": "ke"}

    def read(self, response: httpx.Response) -> Outcome | None:
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, list):
            if not body:
                return Outcome("not_found")
            first = body[0]
            try:
                return Outcome("ok", float(first["lon"]), float(first["lat"]), first.get("display_name"))
            except (KeyError, TypeError, ValueError):
                return Outcome("error", detail="unreadable result")
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

    def request(self, query: str) -> tuple[str, dict[str, str]]:
        return "/geocode/v1/json", {
            "q": query,
            "key": self.key,
            "countrycode": "ke",
            "limit": "1",
            "no_annotations": "1",
        }

    def read(self, response: httpx.Response) -> Outcome | None:
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, dict) and isinstance(body.get("results"), list):
            if not body["results"]:
                return Outcome("not_found")
            first = body["results"][0]
            try:
                geometry = first["geometry"]
                return Outcome("ok", float(geometry["lng"]), float(geometry["lat"]), first.get("formatted"))
            except (KeyError, TypeError, ValueError):
                return Outcome("error", detail="unreadable result")
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
