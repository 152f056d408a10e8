"""What the :mod:`faults.proxy` does to requests, and what it records of them: the fault
:class:`Rule` (matched on method, path and whether a request is a watch; the Lease spared unless
``leases=True``), the :class:`Action` taken, one :class:`Seen` per request, and the ``Status``
body of an injected error. Plain data: no I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

LEASES = "/apis/coordination.k8s.io/"
"""Requests under this path prefix (the leader-election Lease) are spared by default."""


class Action(StrEnum):
    """What the proxy did to a request (its value is the key in :attr:`FaultProxy.injected`)."""

    PASS = "pass"
    THROTTLE = "429"
    FAIL = "500"
    DELAY = "delay"
    STALL = "stall"
    DROP = "drop"


@dataclass
class Rule:
    """What to do to the requests that match; the first live rule that matches (and wins its
    ``share`` draw) applies. ``times`` caps how often it fires; ``hits`` counts it."""

    action: Action
    methods: frozenset[str] = frozenset()
    """Empty: any method."""
    path: str = ""
    """A regular expression searched in the URL path; empty: any path."""
    watch: bool | None = None
    """True: only watches; False: never watches; None: either."""
    share: float = 1.0
    """The chance that a matching request is hit."""
    times: int | None = None
    leases: bool = False
    """Also match the Lease (``coordination.k8s.io``), which is spared by default."""
    retry_after: int = 1
    """Seconds in the ``Retry-After`` of a 429."""
    delay: float = 0.0
    """DELAY: seconds before the request is forwarded. DROP: seconds of response relayed before the
    reset (0: half of the first chunk)."""
    hits: int = 0

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str, watch: bool) -> bool:
        return (not self.spent and (not self.methods or method in self.methods)
                and (self.watch is None or self.watch == watch)
                and (self.leases or not path.startswith(LEASES))
                and (not self.path or re.search(self.path, path) is not None))


@dataclass
class Seen:
    """One request as the proxy saw it (times are ``time.monotonic()``)."""

    at: float
    method: str
    path: str
    object: str
    """The path of the object concerned: the URL path, plus ``/<name>`` for a POST's body."""
    watch: bool
    action: Action
    status: int | None = None
    """The status sent to the client, if any was."""
    retry_after: int | None = None
    ended: float | None = None
    client_closed: bool = False
    """The client closed the connection before the response ended."""
    silenced: float | None = None
    dropped: float | None = None


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    """A ``metav1.Status`` failure as the API server writes it."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code}
    if details:
        status["details"] = details
    return orjson.dumps(status)


