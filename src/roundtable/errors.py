"""The domain error family, each mapped once to an HTTP status, an MCP error code and a CLI exit code.

Adapters never invent their own errors for domain failures: they translate these, using the
class attributes below, so every interface reports the same failure the same way.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RoundtableError(Exception):
    """Base of every error a caller can cause and recover from."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    title: ClassVar[str] = "Error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = data

    def to_dict(self) -> dict[str, Any]:
        """The wire form shared by HTTP problem details, MCP error results and the CLI."""
        return {
            "code": self.code,
            "message": self.message,
            **({"data": self.data} if self.data else {}),
        }


class InvalidInput(RoundtableError):
    code = "invalid_input"
    http_status = 422
    exit_code = 2
    title = "Invalid input"


class TooLarge(RoundtableError):
    """A request body over the size limit."""

    code = "too_large"
    http_status = 413
    exit_code = 2
    title = "Request too large"


class NotFound(RoundtableError):
    code = "not_found"
    http_status = 404
    exit_code = 3
    title = "Not found"


class ConflictError(RoundtableError):
    """An optimistic-concurrency check failed; `data` carries the current state."""

    code = "conflict"
    http_status = 409
    exit_code = 4
    title = "Conflict"


class LeaseExpiredError(RoundtableError):
    """The session's lease ran out, or the session has ended: start a new one."""

    code = "lease_expired"
    http_status = 410
    exit_code = 5
    title = "Session lease expired"


class PermissionDenied(RoundtableError):
    code = "permission_denied"
    http_status = 403
    exit_code = 6
    title = "Permission denied"


class Unauthenticated(RoundtableError):
    code = "unauthenticated"
    http_status = 401
    exit_code = 6
    title = "Authentication required"


class RateLimited(RoundtableError):
    """Too many writes, or too many active sessions; `retry_after` says when to try again."""

    code = "rate_limited"
    http_status = 429
    exit_code = 7
    title = "Too many requests"

    def __init__(self, message: str, retry_after: float, **data: Any) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), **data)
        self.retry_after = retry_after


ERRORS: dict[str, type[RoundtableError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        TooLarge,
        NotFound,
        ConflictError,
        LeaseExpiredError,
        PermissionDenied,
        Unauthenticated,
        RateLimited,
    )
}


def from_dict(payload: dict[str, Any]) -> RoundtableError:
    """Rebuild a domain error from its wire form (used by the HTTP client)."""
    cls = ERRORS.get(str(payload.get("code")), RoundtableError)
    data = dict(payload.get("data") or {})
    message = str(payload.get("message") or payload.get("detail") or "error")
    if cls is RateLimited:
        return RateLimited(message, float(data.pop("retry_after", 1.0)), **data)
    return cls(message, **data)
