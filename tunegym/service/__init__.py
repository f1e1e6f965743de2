"""The warm-start service: past runs of similar datasets for any tuner, over HTTP or locally.

``tunegym serve`` runs the FastAPI app (extra ``service``); `Client` talks to it; the Optuna
helper `tunegym.integrations.optuna.warm_start` uses either. See ``docs/SERVICE.md``::

    from tunegym.service import Client
    client = Client("http://127.0.0.1:8000")
    answer = client.warm_start({"openml_did": 31}, {"parameters": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True}]}, k=4)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunegym.service._schemas import (
    API_VERSION,
    BoxOut,
    ConfigurationOut,
    DatasetDescription,
    ErrorOut,
    HealthOut,
    NeighborOut,
    Parameter,
    ProvenanceOut,
    RangeOut,
    ReportedRun,
    RunsOut,
    RunsRequest,
    SearchSpaceOut,
    SearchSpaceRequest,
    SearchSpaceSpec,
    SourceSpaceOut,
    WarmStartOut,
    WarmStartRequest,
)

if TYPE_CHECKING:
    from tunegym.service._app import create_app
    from tunegym.service._client import Client, ServiceRequestError
    from tunegym.service._core import WarmStartService
    from tunegym.service._describe import describe
    from tunegym.service._errors import (
        IdempotencyKeyReusedError,
        NotFoundError,
        ServiceError,
        StoreUnavailableError,
        WritesDisabledError,
    )
    from tunegym.service._index import WarmStartIndex

__all__ = [
    "API_VERSION",
    "BoxOut",
    "Client",
    "ConfigurationOut",
    "DatasetDescription",
    "ErrorOut",
    "HealthOut",
    "IdempotencyKeyReusedError",
    "NeighborOut",
    "NotFoundError",
    "Parameter",
    "ProvenanceOut",
    "RangeOut",
    "ReportedRun",
    "RunsOut",
    "RunsRequest",
    "SearchSpaceOut",
    "SearchSpaceRequest",
    "SearchSpaceSpec",
    "ServiceError",
    "ServiceRequestError",
    "SourceSpaceOut",
    "StoreUnavailableError",
    "WarmStartIndex",
    "WarmStartOut",
    "WarmStartRequest",
    "WarmStartService",
    "WritesDisabledError",
    "create_app",
    "describe",
]

# Deferred so that the client needs neither FastAPI nor the index's pandas work at import time.
_LAZY = {
    "create_app": "tunegym.service._app",
    "Client": "tunegym.service._client",
    "ServiceRequestError": "tunegym.service._client",
    "IdempotencyKeyReusedError": "tunegym.service._errors",
    "NotFoundError": "tunegym.service._errors",
    "ServiceError": "tunegym.service._errors",
    "StoreUnavailableError": "tunegym.service._errors",
    "WarmStartService": "tunegym.service._core",
    "WritesDisabledError": "tunegym.service._errors",
    "WarmStartIndex": "tunegym.service._index",
    "describe": "tunegym.service._describe",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        if name == "create_app":
            _require("fastapi", "The warm-start HTTP service")
        if name in ("Client", "ServiceRequestError"):
            _require("httpx", "The warm-start service client")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunegym.service' has no attribute {name!r}")


def _require(package: str, purpose: str) -> None:
    from tunegym.errors import MissingExtraError

    try:
        importlib.import_module(package)
    except ImportError as exc:
        raise MissingExtraError(package, "service", purpose) from exc
