"""The one place where an API server answer becomes a Python exception.

Every non-2xx response is turned into an :class:`ApiError` subclass by
:func:`error_from_response`, chosen from the HTTP status and the ``reason`` of the
server's ``Status`` body. Callers branch on the class or on the predicates below,
never on numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Cause:
    """One field-level cause of an ``Invalid`` answer (``details.causes[]``)."""

    field: str
    reason: str
    message: str


class ApiError(Exception):
    """A non-2xx answer from the API server, carrying its ``Status`` object."""

    def __init__(
        self,
        status: int,
        reason: str = "",
        message: str = "",
        *,
        causes: tuple[Cause, ...] = (),
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes
        self.retry_after = retry_after
        self.body: Mapping[str, Any] = body or {}


class BadRequest(ApiError):
    """400: the request itself was malformed."""


class Unauthorized(ApiError):
    """401: no or wrong credentials."""


class Forbidden(ApiError):
    """403: authenticated, but RBAC (or an admission plugin) said no."""


class NotFound(ApiError):
    """404: the object (or the resource type) does not exist."""


class Conflict(ApiError):
    """409 ``Conflict``: a resourceVersion precondition failed; re-read and retry."""


class AlreadyExists(ApiError):
    """409 ``AlreadyExists``: create of a name that is taken."""


class Gone(ApiError):
    """410 (or a watch ``Expired`` status): the requested resourceVersion is compacted away."""


class Invalid(ApiError):
    """422: schema, CEL or admission validation rejected the object; see ``causes``."""


class TooManyRequests(ApiError):
    """429: throttled by API Priority and Fairness; honour ``retry_after``."""


class ServerError(ApiError):
    """5xx: the server failed; usually worth retrying with backoff."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_status(status_obj: Mapping[str, Any], http_status: int | None = None,
                      retry_after: float | None = None) -> ApiError:
    """Build the typed error for a ``Status`` object (from a response or a watch ERROR event)."""
    code = int(status_obj.get("code") or http_status or 500)
    reason = str(status_obj.get("reason") or "")
    message = str(status_obj.get("message") or "")
    details = status_obj.get("details") or {}
    causes = tuple(
        Cause(str(c.get("field", "")), str(c.get("reason", "")), str(c.get("message", "")))
        for c in details.get("causes") or ()
    )
    if retry_after is None and details.get("retryAfterSeconds") is not None:
        retry_after = float(details["retryAfterSeconds"])
    cls: type[ApiError]
    if code == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif reason in ("Expired", "Gone"):
        cls = Gone
    elif code >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(code, ApiError)
    return cls(code, reason, message, causes=causes, retry_after=retry_after, body=status_obj)


def error_from_response(http_status: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """Build the typed error for a non-2xx HTTP response."""
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if not isinstance(parsed, dict) or parsed.get("kind") != "Status":
        parsed = {"code": http_status, "message": body.decode("utf-8", "replace")[:1000]}
    retry_after: float | None = None
    header = headers.get("Retry-After")
    if header is not None:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    return error_from_status(parsed, http_status, retry_after)


def is_retryable(exc: BaseException) -> bool:
    """Worth retrying unchanged after a backoff: throttling, server errors, lost races."""
    return isinstance(exc, TooManyRequests | ServerError | Conflict)
