"""The only code that calls Prolific's API: token auth, retries with backoff on 429 and 5xx
(Retry-After respected), and one plain sentence per failure, so every command reports what
went wrong and what to do instead of a traceback."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.util.retry import Retry

#: Statuses retried on calls that are safe to repeat; a non-idempotent call (creating a
#: study, paying bonuses, sending messages) is retried on 429 only, which Prolific answers
#: before doing anything.
RETRIED = (429, 500, 502, 503, 504)
RATE_LIMITED = (429,)


class ProlificError(RuntimeError):
    """A failed Prolific call, as one sentence a researcher can act on."""

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail

    @property
    def maybe_applied(self) -> bool:
        """True when Prolific may have done it anyway (lost answer, server fault)."""
        return self.status is None or self.status >= 500


class NoToken(ProlificError):
    pass


class NotFound(ProlificError):
    pass


class Refused(ProlificError):
    """Prolific answered 400/422: wrong state, insufficient balance, invalid field."""


class Throttled(ProlificError):
    pass


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    max_attempts: int = 6
    backoff_seconds: float = 0.5
    timeout_seconds: float = 30
    pool_size: int = 8

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(url=str(config["PROLIFIC_API_URL"]).rstrip("/"),
                   token=str(config["PROLIFIC_API_TOKEN"]),
                   max_attempts=int(config["PROLIFIC_MAX_ATTEMPTS"]),
                   backoff_seconds=int(config["PROLIFIC_BACKOFF_MS"]) / 1000,
                   timeout_seconds=float(config["PROLIFIC_TIMEOUT_SECONDS"]),
                   pool_size=int(config["PROLIFIC_CONCURRENCY"]))


def error_detail(body: Any) -> str:
    """The human part of Prolific's error shape ``{"error": {"title", "detail", ...}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:300] if body else ""
    detail = error.get("detail")
    if isinstance(detail, dict):
        detail = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                           for k, v in detail.items())
    elif isinstance(detail, list):
        detail = " ".join(map(str, detail))
    return str(detail or error.get("title") or "")


def sentence(status: int, detail: str, what: str) -> ProlificError:
    """One plain sentence for Prolific's answer ``status`` to ``what``."""
    if status == 401:
        return NoToken("Prolific refused the API token (401): check PROLIFIC_API_TOKEN "
                       "(Prolific → API tokens).", status, detail)
    if status == 404:
        return NotFound(f"Prolific found no such thing for {what} (404): check the id.",
                        status, detail)
    if status == 429:
        return Throttled(f"Prolific is throttling us (429) on {what} even after retries: "
                         "wait a minute and run the command again (it is safe).", status, detail)
    if status >= 500:
        return ProlificError(f"Prolific had a server error ({status}) on {what}; run the "
                             "command again later.", status, detail)
    if "balance" in detail.lower() or "fund" in detail.lower():
        return Refused(f"Your Prolific balance does not cover {what}: top up the workspace "
                       f"on app.prolific.com, then run the command again. ({detail})",
                       status, detail)
    return Refused(f"Prolific refused {what} ({status}): {detail}", status, detail)


class ProlificClient:
    """A thread-safe client of one Prolific API (live or the simulator)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http = urllib3.PoolManager(maxsize=max(settings.pool_size, 1), block=True)

    @property
    def url(self) -> str:
        return self.settings.url

    def require_token(self) -> None:
        if not self.settings.token:
            raise NoToken("PROLIFIC_API_TOKEN is not set: create a token on Prolific (API "
                          "tokens) and export it, or rehearse against the simulator "
                          "(`flask simulator run` prints what to export).")

    def _retry(self, safe: bool) -> Retry:
        return Retry(
            total=self.settings.max_attempts - 1,
            connect=self.settings.max_attempts - 1,
            read=self.settings.max_attempts - 1 if safe else 0,
            other=0,
            status_forcelist=RETRIED if safe else RATE_LIMITED,
            allowed_methods=None,  # we decide per call which are safe to repeat
            backoff_factor=self.settings.backoff_seconds,
            backoff_max=30,
            respect_retry_after_header=True,
            raise_on_status=False,
        )

    def request(self, method: str, path: str, body: Any = None, *, what: str,
                safe: bool = True, with_headers: bool = False) -> Any:
        """Call ``path`` (relative to the API URL) and return the decoded JSON answer (and
        the response headers, with ``with_headers``)."""
        self.require_token()
        headers = {"Authorization": f"Token {self.settings.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        try:
            response = self._http.request(
                method, f"{self.url}/{path.lstrip('/')}", body=data, headers=headers,
                retries=self._retry(safe), redirect=False,
                timeout=urllib3.Timeout(total=self.settings.timeout_seconds))
        except urllib3.exceptions.HTTPError as exc:
            host = urlsplit(self.url).netloc
            raise ProlificError(f"Cannot reach Prolific at {host} for {what} ({exc}); check "
                                "PROLIFIC_API_URL and the network, then run the command again."
                                ) from exc
        try:
            decoded = json.loads(response.data) if response.data else None
        except ValueError:
            decoded = response.data.decode(errors="replace")[:300]
        if response.status >= 400:
            raise sentence(response.status, error_detail(decoded), what)
        return (decoded, dict(response.headers)) if with_headers else decoded

    def get(self, path: str, *, what: str) -> Any:
        return self.request("GET", path, what=what)

    def post(self, path: str, body: Any = None, *, what: str, safe: bool = True) -> Any:
        return self.request("POST", path, {} if body is None else body, what=what, safe=safe)

    def pages(self, path: str, *, what: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (``results`` and ``_links.next.href``)."""
        items: list[dict[str, Any]] = []
        next_path: str | None = path
        while next_path:
            page = self.get(next_path, what=what)
            items.extend(page.get("results", []))
            href = ((page.get("_links") or {}).get("next") or {}).get("href")
            next_path = href[len(self.url):] if href and href.startswith(self.url) else None
        return items
