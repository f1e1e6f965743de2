"""The FastAPI app: versioned routes over `WarmStartService`, keys, limits, clear errors.

Every error is JSON with one ``detail``: 4xx for what the client sent, a 503 naming the
problem and the fix when the meta-store fails (full, read-only, locked, unreachable), and a
500 without internals for anything else.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Header, Request, Response, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.params import Depends as DependsParam
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.exc import DBAPIError

from tunegym.errors import MetaStoreWriteError
from tunegym.service._core import ServiceError, WarmStartService
from tunegym.service._reports import KEY_HEADER, KEY_PATTERN
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

__all__ = ["DEFAULT_MAX_BODY_BYTES", "REPLAYED_HEADER", "create_app"]

DEFAULT_MAX_BODY_BYTES: Final = 1 << 20  # 1 MiB: 1000 runs of 100 epochs fit
REPLAYED_HEADER: Final = "Idempotent-Replayed"
"""Set to ``true`` on the answer to a repeated report: it was stored by an earlier request."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The request cannot be answered (message says why)."},
    401: {"model": ErrorOut, "description": "Missing or wrong API key."},
    413: {"description": "The body is larger than the service accepts (max_body_bytes)."},
    500: {"model": ErrorOut, "description": "A fault of the service (its log has the details)."},
}
_STORE_ERROR: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorOut,
        "description": "The meta-store failed (full, read-only, busy, unreachable): the "
        "message names the problem and what to do; send the request again once it is fixed.",
    }
}


# The two ways to send a key, as FastAPI security schemes (so /openapi.json documents them).
_KEY_HEADER = Security(APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey"))
_BEARER = Security(HTTPBearer(auto_error=False, scheme_name="Bearer"))


_LOOKUP_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown dataset."},
    503: {"model": ErrorOut, "description": "OpenML lookup failed (--openml-lookup only)."},
}


class _KeyCheck:
    """The API-key check of some routes: ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.

    It is each such route's dependency, so ``/openapi.json`` documents both security schemes;
    `_KeyFirstRoute` also runs it on the headers before the body is read (see there).

    Args:
        expected: the key; ``None``: every request is refused with ``disabled``.
        what: what the key allows, for the message ("Reporting runs").
        disabled: the message when there is no key.
    """

    def __init__(self, expected: str | None, what: str, disabled: str = "") -> None:
        self.expected = expected
        self.what = what
        self.disabled = disabled

    def __call__(
        self, key: str | None = _KEY_HEADER, token: HTTPAuthorizationCredentials | None = _BEARER
    ) -> None:
        self.verify(key if key is not None else (token.credentials if token is not None else None))

    def verify_headers(self, request: Request) -> None:
        """`verify` the key a request carries, read as `APIKeyHeader` and `HTTPBearer` do."""
        key = request.headers.get("X-API-Key")
        if key is None:
            scheme, credentials = get_authorization_scheme_param(
                request.headers.get("Authorization")
            )
            key = credentials if scheme.lower() == "bearer" and credentials else None
        self.verify(key)

    def verify(self, given: str | None) -> None:
        """Raise a 401 `ServiceError` unless ``given`` is the expected key."""
        if self.expected is None:
            raise ServiceError.with_status(status.HTTP_401_UNAUTHORIZED, self.disabled)
        # Constant-time comparison of UTF-8 bytes: the time taken says nothing about the key.
        if given is None or not secrets.compare_digest(
            given.encode("utf-8", "surrogateescape"), self.expected.encode("utf-8")
        ):
            raise ServiceError.with_status(
                status.HTTP_401_UNAUTHORIZED,
                f"{self.what} needs an API key: send it as 'X-API-Key: KEY' or "
                "'Authorization: Bearer KEY'.",
            )


class _KeyFirstRoute(APIRoute):
    """A route that checks its `_KeyCheck` dependencies before FastAPI reads the body.

    FastAPI reads, parses and validates a JSON body before it runs a route's dependencies:
    without this, a caller without the key got a 422 for an empty or malformed body (and
    learnt from it what a valid one looks like) where it should get the 401.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = [d.dependency for d in self.dependencies if isinstance(d.dependency, _KeyCheck)]
        if not checks:
            return handler

        async def key_first(request: Request) -> Response:
            for check in checks:
                check.verify_headers(request)
            return await handler(request)

        return key_first


def _docs_behind(app: FastAPI, dependencies: Sequence[DependsParam]) -> None:
    """``/openapi.json``, ``/docs`` and ``/redoc``, each requiring the read key.

    A browser sends no key of its own: the docs pages open where something adds the header
    (a reverse proxy, a header extension); clients that generate code fetch the document with
    the key like any read.
    """

    @app.get("/openapi.json", include_in_schema=False, dependencies=list(dependencies))
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=list(dependencies))
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=app.title)

    @app.get("/redoc", include_in_schema=False, dependencies=list(dependencies))
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}/openapi.json", title=app.title)


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
        read_key: a key the read routes require too, and ``/openapi.json``, ``/docs`` and
            ``/redoc``; ``None``: reads and docs are open.
        max_body_bytes: larger request bodies get a 413.

    A route with a key answers a request without it (or with a wrong one) 401, before its
    body is read: an empty, malformed or valid body alike. With the key, a bad body is a 422.

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
    open_docs = read_key is None
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
        # With a read key, the document and the docs pages are routes behind it (below).
        openapi_url="/openapi.json" if open_docs else None,
        docs_url="/docs" if open_docs else None,
        redoc_url="/redoc" if open_docs else None,
    )
    # Keys are checked before the body is read: whatever the body, no key is a 401.
    app.router.route_class = _KeyFirstRoute
    # Open reads carry no key check, so the OpenAPI document does not claim they need one.
    reads = [] if read_key is None else [Depends(_KeyCheck(read_key, "Reading from this service"))]
    write = Depends(
        _KeyCheck(
            api_key,
            "Reporting runs",
            disabled="Reporting runs is disabled: start the service with --api-key KEY (or "
            "TUNEGYM_API_KEY) and send that key.",
        )
    )

    if not open_docs:
        _docs_behind(app, reads)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(MetaStoreWriteError)
    @app.exception_handler(DBAPIError)
    async def _store_error(request: Request, exc: Exception) -> JSONResponse:
        # A store failure the service did not expect where it happened: still the store's.
        error = served.store_failed(exc, f"{request.method} {request.url.path} failed", "try again")
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        # JSON like every other error; Starlette then re-raises, so the server logs the trace.
        return JSONResponse(
            {
                "detail": f"The service failed on this request ({type(exc).__name__}); its "
                "log has the details. Report it if it persists."
            },
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.get("/v1/health", dependencies=reads, tags=["service"])
    def health() -> HealthOut:
        """Whether the service and its meta-store answer, and how much they hold.

        ``status`` is ``degraded`` (still a 200: reads are served from memory) when the store
        cannot be read or written; ``store_error`` says why and what to do.
        """
        return served.health()

    @app.post(
        "/v1/warmstart",
        response_model_exclude_none=True,
        dependencies=reads,
        tags=["warm start"],
        responses=_LOOKUP_ERRORS,
    )
    def warmstart(request: WarmStartRequest) -> WarmStartOut:
        """Up to ``k`` configurations of similar datasets, mapped into your search space.

        They come from one stored space (``source_space``): meta-dataset v1's learning rate ×
        batch size, or v2's LCBench space when your parameters name more of its hyperparameters.
        Runs that tuners reported are used only with ``include_reported``.
        """
        return served.warm_start(request)

    @app.post(
        "/v1/search-space",
        response_model_exclude_none=True,
        dependencies=reads,
        tags=["warm start"],
        responses=_LOOKUP_ERRORS,
    )
    def search_space(request: SearchSpaceRequest) -> SearchSpaceOut:
        """Your search space with its mapped parameters narrowed to the neighbours' box."""
        return served.search_space(request)

    @app.post(
        "/v1/runs",
        response_model=RunsOut,
        response_model_exclude_none=True,
        dependencies=[write],
        tags=["runs"],
        status_code=status.HTTP_201_CREATED,
        responses={
            201: {
                "headers": {
                    REPLAYED_HEADER: {
                        "description": "'true' when the report was stored by an earlier "
                        "request of its Idempotency-Key (or identical content): nothing was "
                        "stored now.",
                        "schema": {"type": "string"},
                    }
                }
            },
            409: {"model": ErrorOut, "description": "The service is read-only."},
            422: {
                "description": "A bad body or key, or an Idempotency-Key sent before with "
                "another report."
            },
            **_STORE_ERROR,
        },
    )
    def runs(
        request: RunsRequest,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias=KEY_HEADER,
                pattern=KEY_PATTERN,
                description="One key (a UUID) per report, sent again with its retries: the "
                "report is stored once, and a retry is answered what the first request was. "
                "Without one, a report identical to a stored one is not stored again.",
            ),
        ] = None,
    ) -> JSONResponse:
        """Report finished runs: stored in the meta-store, once per report.

        They are kept apart from the curated runs: served to requests with
        ``include_reported`` only.
        """
        reported = served.report(request, idempotency_key)
        return JSONResponse(
            reported.runs.model_dump(mode="json", exclude_none=True),
            status_code=reported.status_code,
            headers={REPLAYED_HEADER: "true"} if reported.replayed else None,
        )

    app.state.service = served
    return app
