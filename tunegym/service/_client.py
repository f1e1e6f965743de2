"""`Client`: the warm-start service's three calls over HTTP, with timeouts and retries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from tunegym.service._schemas import (
    DatasetDescription,
    HealthOut,
    ReportedRun,
    RunsOut,
    RunsRequest,
    SearchSpaceOut,
    SearchSpaceRequest,
    SearchSpaceSpec,
    WarmStartOut,
    WarmStartRequest,
)

__all__ = ["Client", "ServiceRequestError"]

M = TypeVar("M", bound=BaseModel)
_RETRY_STATUS: Final = frozenset({429, 502, 503, 504})
# A report carries its idempotency key: any 5xx may be retried, the server stores it once.
_REPORT_RETRY_STATUS: Final = _RETRY_STATUS | {500}

DatasetLike = DatasetDescription | Mapping[str, Any]
SpaceLike = SearchSpaceSpec | Mapping[str, Any]


class ServiceRequestError(RuntimeError):
    """The service answered with an error (``status_code``, ``detail``) or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class Client:
    """Talks to a ``tunegym serve`` instance.

    Reads (``health``, ``warm_start``, ``search_space``) are retried on connection errors,
    timeouts and 429/502/503/504 with exponential back-off. ``report_runs`` sends an
    ``Idempotency-Key`` (a new UUID per report) and is retried with the same key on connection
    errors, timeouts, 429 and 5xx: the service stores the report once and answers a retry what
    it answered the first request.

    Args:
        url: the service's base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``X-API-Key`` (needed to report runs, or to read from a service with
            a read key).
        timeout: seconds per request.
        retries: further attempts after the first.
        backoff: seconds before the first retry (doubled each time).
        transport: an ``httpx`` transport (tests pass the app's ASGI transport).

    Example:
        >>> client = Client("http://127.0.0.1:8000")  # doctest: +SKIP
        >>> client.health().datasets  # doctest: +SKIP
        144
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}.")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError(
                f"Need timeout > 0, retries >= 0, backoff >= 0; got {timeout}, {retries}, {backoff}."
            )
        headers = {"X-API-Key": api_key} if api_key else {}
        self.url = url.rstrip("/")
        self.retries, self.backoff = retries, backoff
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ----------------------------------------------------------------------------

    def health(self) -> HealthOut:
        """``GET /v1/health``."""
        return self._call("GET", "/v1/health", None, HealthOut, idempotent=True)

    def warm_start(
        self,
        dataset: DatasetLike,
        search_space: SpaceLike,
        *,
        k: int = 8,
        neighbors: int = 5,
        include_self: bool = True,
        include_curves: bool = False,
        include_reported: bool = False,
    ) -> WarmStartOut:
        """``POST /v1/warmstart``: up to ``k`` configurations mapped into ``search_space``
        (from curated runs, and with ``include_reported`` from runs tuners reported too)."""
        request = WarmStartRequest(
            dataset=_model(DatasetDescription, dataset),
            search_space=_model(SearchSpaceSpec, search_space),
            k=k,
            neighbors=neighbors,
            include_self=include_self,
            include_curves=include_curves,
            include_reported=include_reported,
        )
        return self._call("POST", "/v1/warmstart", request, WarmStartOut, idempotent=True)

    def search_space(
        self,
        dataset: DatasetLike,
        search_space: SpaceLike,
        *,
        neighbors: int = 5,
        top: int = 3,
        include_self: bool = True,
        include_reported: bool = False,
    ) -> SearchSpaceOut:
        """``POST /v1/search-space``: ``search_space`` narrowed to the neighbours' box."""
        request = SearchSpaceRequest(
            dataset=_model(DatasetDescription, dataset),
            search_space=_model(SearchSpaceSpec, search_space),
            neighbors=neighbors,
            top=top,
            include_self=include_self,
            include_reported=include_reported,
        )
        return self._call("POST", "/v1/search-space", request, SearchSpaceOut, idempotent=True)

    def report_runs(
        self,
        dataset: DatasetLike,
        runs: Sequence[ReportedRun | Mapping[str, Any]],
        *,
        search_space: SpaceLike | None = None,
        tuner: str = "external",
        metric: str = "val_accuracy",
        idempotency_key: str | None = None,
    ) -> RunsOut:
        """``POST /v1/runs`` (needs the API key): store finished runs, once.

        Args:
            idempotency_key: the report's key (default: a new UUID); pass the same one to send
                a report again that may have been stored (after this client gave up, or from
                another process): the service stores it once.
        """
        request = RunsRequest.model_validate(
            {
                "dataset": _model(DatasetDescription, dataset),
                "search_space": None
                if search_space is None
                else _model(SearchSpaceSpec, search_space),
                "tuner": tuner,
                "metric": metric,
                "runs": [_model(ReportedRun, r) for r in runs],
            }
        )
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        return self._call(
            "POST", "/v1/runs", request, RunsOut, idempotent=True,
            headers={"Idempotency-Key": key}, retry_status=_REPORT_RETRY_STATUS,
        )  # fmt: skip

    # --- transport --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        answer: type[M],
        *,
        idempotent: bool,
        headers: Mapping[str, str] | None = None,
        retry_status: frozenset[int] = _RETRY_STATUS,
    ) -> M:
        content = None if body is None else _json(body)
        sent = dict(headers or {})
        if content is not None:
            sent["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, content=content, headers=sent)
            except httpx.ConnectError as exc:  # never reached the server: safe to retry
                if last:
                    raise ServiceRequestError(f"Cannot reach {self.url}{path}: {exc}") from exc
            except httpx.TransportError as exc:  # timeouts, dropped connections
                if last or not idempotent:
                    raise ServiceRequestError(f"{method} {self.url}{path} failed: {exc}") from exc
            else:
                retry = response.status_code in retry_status and idempotent and not last
                if not retry:
                    return _answer(response, answer, f"{method} {path}")
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt


def _json(body: BaseModel) -> str:
    """The request body; ``include_reported`` only when set, so that a default request is what
    a service of before that field accepts."""
    exclude = None if getattr(body, "include_reported", True) else {"include_reported"}
    return body.model_dump_json(exclude_none=True, exclude=exclude)


def _model(kind: type[M], value: M | Mapping[str, Any]) -> M:
    return value if isinstance(value, kind) else kind.model_validate(value)


def _answer(response: httpx.Response, kind: type[M], what: str) -> M:
    if response.is_success:
        try:
            return kind.model_validate_json(response.content)
        except ValidationError as exc:  # a proxy's page, or a service of another version
            raise ServiceRequestError(
                f"{what} answered {response.status_code} with a body that is not a "
                f"{kind.__name__}: {response.text[:200]!r}",
                response.status_code,
            ) from exc
    try:
        body = response.json()
    except ValueError:  # not JSON: a proxy's or the body limit's plain text
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is None:
        detail = response.text[:500] or response.reason_phrase
    message = detail if isinstance(detail, str) else _validation_message(detail)
    raise ServiceRequestError(
        f"{what} answered {response.status_code}: {message}", response.status_code, detail
    )


def _validation_message(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}"
            for e in detail
            if isinstance(e, dict)
        )
    return str(detail)
