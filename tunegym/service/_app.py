"""The FastAPI app: versioned routes over `WarmStartService`, keys, limits, clear 4xx errors."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Final

from fastapi import Depends, FastAPI, Request, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tunegym.service._core import ServiceError, WarmStartService
from tunegym.service._schemas import (
    ErrorOut,
    HealthOut,
    RunsOut,
    RunsRequest,
    SearchSpaceOut,
    SearchSpaceRequest,
    WarmStartOut,
    WarmStartRequest,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BODY_BYTES: Final = 1 << 20  # 1 MiB: 1000 runs of 100 epochs fit

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The request cannot be answered (message says why)."},
    401: {"model": ErrorOut, "description": "Missing or wrong API key."},
    413: {"description": "The body is larger than the service accepts (max_body_bytes)."},
}


# The two ways to send a key, as FastAPI security schemes (so /openapi.json documents them).
_KEY_HEADER = Security(APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey"))
_BEARER = Security(HTTPBearer(auto_error=False, scheme_name="Bearer"))


_LOOKUP_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown dataset."},
    503: {"model": ErrorOut, "description": "OpenML lookup failed (--openml-lookup only)."},
}


def _key_check(expected: str | None, what: str) -> Callable[..., None]:
    """A dependency accepting ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``."""

    def check(
        key: str | None = _KEY_HEADER, token: HTTPAuthorizationCredentials | None = _BEARER
    ) -> None:
        if expected is None:
            return
        given = key if key is not None else (token.credentials if token is not None else None)
        # Constant-time comparison of UTF-8 bytes: the time taken says nothing about the key.
        if given is None or not secrets.compare_digest(
            given.encode("utf-8", "surrogateescape"), expected.encode("utf-8")
        ):
            raise ServiceError.with_status(
                status.HTTP_401_UNAUTHORIZED,
                f"{what} needs an API key: send it as 'X-API-Key: KEY' or "
                "'Authorization: Bearer KEY'.",
            )

    return check


def create_app(
    service: WarmStartService | None = None,
    *,
    api_key: str | None = None,
    read_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The warm-start HTTP service (run it with ``tunegym serve`` or any ASGI server).

    Args:
        service: what answers (default: `WarmStartService.open()` on the shipped snapshot,
            read-only).
        api_key: the key ``POST /v1/runs`` requires; ``None``: reporting runs is refused.
        read_key: a key the read routes require too; ``None``: reads are open.
        max_body_bytes: larger request bodies get a 413.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app())
        >>> client.get("/v1/health").json()["datasets"]
        144
    """
    from tunegym import __version__

    if max_body_bytes < 1024:
        raise ValueError(f"max_body_bytes must be at least 1024, got {max_body_bytes}.")
    served = service if service is not None else WarmStartService.open()
    app = FastAPI(
        title="tunegym warm-start service",
        version=__version__,
        description=(
            "Configurations, search boxes and past runs from the runs of similar datasets, "
            "for any tuner. Reads are open unless the service has a read key; reporting runs "
            "needs the API key (X-API-Key or Authorization: Bearer)."
        ),
        responses=_ERRORS,
        max_body_size=max_body_bytes,  # FastAPI answers a larger body with a 413
    )
    # Open reads carry no key check, so the OpenAPI document does not claim they need one.
    reads = [] if read_key is None else [Depends(_key_check(read_key, "Reading from this service"))]
    write = Depends(_key_check(api_key, "Reporting runs"))

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.get("/v1/health", dependencies=reads, tags=["service"])
    def health() -> HealthOut:
        """Whether the service and its meta-store answer, and how much they hold."""
        return served.health()

    @app.post(
        "/v1/warmstart",
        response_model_exclude_none=True,
        dependencies=reads,
        tags=["warm start"],
        responses=_LOOKUP_ERRORS,
    )
    def warmstart(request: WarmStartRequest) -> WarmStartOut:
        """Up to ``k`` configurations of similar datasets, mapped into your search space."""
        return served.warm_start(request)

    @app.post(
        "/v1/search-space",
        response_model_exclude_none=True,
        dependencies=reads,
        tags=["warm start"],
        responses=_LOOKUP_ERRORS,
    )
    def search_space(request: SearchSpaceRequest) -> SearchSpaceOut:
        """Your search space with learning rate and batch size narrowed to the neighbours' box."""
        return served.search_space(request)

    @app.post(
        "/v1/runs",
        response_model_exclude_none=True,
        dependencies=[write],
        tags=["runs"],
        status_code=status.HTTP_201_CREATED,
        responses={409: {"model": ErrorOut, "description": "The service is read-only."}},
    )
    def runs(request: RunsRequest) -> RunsOut:
        """Report finished runs: stored in the meta-store and served from now on."""
        if api_key is None:
            raise ServiceError.with_status(
                status.HTTP_401_UNAUTHORIZED,
                "Reporting runs is disabled: start the service with --api-key KEY (or "
                "TUNEGYM_API_KEY) and send that key.",
            )
        return served.report_runs(request)

    app.state.service = served
    return app
