"""The words of the status the operator writes and the spawner reads: phases, condition types, reasons.

Guaranteed: each is spelled here once, as on the wire (users' ``kubectl`` and alerts read the same
strings); :func:`condition` and :func:`phase` read them from any object, absent or without a status
(pure, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# An instance's phases (``status.phase``).
PENDING = "Pending"
PROVISIONING = "Provisioning"
RUNNING = "Running"
FAILED = "Failed"
TERMINATING = "Terminating"
RELEASED = "Released"
PREPARED = "Prepared"
"""A prepare request's end: the retained claims it renders exist, signed (and Bound, for a class that
binds at once), for the server that renders them next (terminal)."""
STOPPED = "Stopped"
"""Terminal: the server exited by itself with code 0 (its own idle cull, a shutdown from its UI); never restarted."""
PHASES = (PENDING, PROVISIONING, RUNNING, FAILED, TERMINATING, RELEASED, STOPPED, PREPARED)
"""Every phase (the CRD's ``status.phase`` enum)."""

# Condition types: an instance's three, a template's verdict.
TEMPLATE_RESOLVED = "TemplateResolved"
CHILDREN_READY = "ChildrenReady"
READY = "Ready"
UP_TO_DATE = "UpToDate"
VALID = "Valid"

# Reasons of an instance's Ready condition that the spawner explains to the user.
TEMPLATE_NOT_FOUND = "TemplateNotFound"
TEMPLATE_NOT_ALLOWED = "TemplateNotAllowed"
TEMPLATE_INVALID = "TemplateInvalid"
POLICY_VIOLATION = "PolicyViolation"
SERVER_STOPPED = "ServerStopped"
"""The reason of a :data:`STOPPED` instance's Ready condition and of the Event announcing it."""

# Reasons of the operator's Events about an instance that the spawner shows as progress
# (besides :data:`PROVISIONING` and :data:`READY`, which announce that phase and that condition).
CREATED = "Created"
ADOPTED = "Adopted"


def phase(obj: Mapping[str, Any] | None) -> str:
    """``obj``'s ``status.phase``; ``""`` before the operator has written one."""
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def status_condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any]:
    """The condition of that type in ``status.conditions``; ``{}`` when there is none."""
    for c in (status or {}).get("conditions") or ():
        if c.get("type") == type_:
            found: Mapping[str, Any] = c
            return found
    return {}


def condition(obj: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any]:
    """``obj``'s status condition of that type; ``{}`` when it has none (or no status, or ``obj`` is None)."""
    return status_condition((obj or {}).get("status"), type_)
