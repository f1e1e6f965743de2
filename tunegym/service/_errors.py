"""The service's errors: each a request it cannot answer, with its HTTP status and one message."""

from __future__ import annotations

__all__ = [
    "IdempotencyKeyReusedError",
    "NotFoundError",
    "ServiceError",
    "StoreUnavailableError",
    "WritesDisabledError",
]


class ServiceError(Exception):
    """A request the service cannot answer; ``status_code`` is its HTTP status."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @classmethod
    def with_status(cls, status_code: int, detail: str) -> ServiceError:
        """An error answered with ``status_code``."""
        error = cls(detail)
        error.status_code = status_code
        return error


class NotFoundError(ServiceError):
    """The dataset the request names is not in the store."""

    status_code = 404


class WritesDisabledError(ServiceError):
    """The service has no meta-store to write reported runs to."""

    status_code = 409


class IdempotencyKeyReusedError(ServiceError):
    """An ``Idempotency-Key`` sent again with another report than the one it first stored."""

    status_code = 422


class StoreUnavailableError(ServiceError):
    """The meta-store failed (full, read-only, locked, unreachable): try again once fixed."""

    status_code = 503
