"""What one instance reconcile concludes, before it is written as status (pure).

Guaranteed:

- An :class:`Outcome` is a phase and the three conditions an instance's status carries
  (``TemplateResolved``, ``ChildrenReady``, ``Ready``) as ``(status, reason, message)``,
  plus what the status records besides (endpoint, children, template generation, env Secret)
  and the template's generation now, from which :func:`up_to_date` makes the fourth.
- :func:`observe` derives it from the children alone, as the cache shows them or as a create
  answered this pass: the first failed child fails the instance; all ready with the endpoint
  found is Running; all ready without it is Failed ``EndpointNotFound``; otherwise
  Provisioning, the message naming every child not ready. Each retained claim's record holds
  its uid (:func:`recorded_uids`): the one claim of that name the instance trusts by its
  creation mark (:mod:`.claimtrust`). A pod held back until its
  claims bind (:mod:`.binding`) is ``Missing`` with what it waits for. A claim a ready pod
  mounts holds nothing back, whatever its phase (recorded as it is).
- :func:`blocked_by` says when a plan may not go ahead (an untrusted claim, a name taken, a
  home in use: waiting while its holder terminates or prepares it, else Failed).
- :func:`announcement` is the Event a status write announces: one per transition (and per new
  reason of a failure or a wait), except turning Running at an instance's first status write
  (it ran within the reconciler's first-status grace): its ``Created`` Event and its status say
  so, and a burst of such spawns writes one Event each instead of two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..api import (
    FAILED,
    PENDING,
    PREPARED,
    PROVISIONING,
    READY,
    RELEASED,
    RUNNING,
    SERVER_STOPPED,
    STOPPED,
    TEMPLATE_NOT_FOUND,
    status_condition,
)
from ..machinery.events import NORMAL, WARNING
from . import status as st
from .binding import mounted_claims
from .plan import Plan
from .render import Child, Rendered
from .status import Condition


@dataclass(frozen=True)
class Outcome:
    """What one reconcile concluded, before it is written as status."""

    phase: str
    resolved: Condition
    children_ready: Condition
    ready: Condition
    endpoint: dict[str, Any] | None = None
    children: tuple[dict[str, Any], ...] = ()
    template_generation: int | None = None
    retry_after: float | None = None
    """Look again after this many seconds even if nothing changes."""
    env_secret: str | None = None
    """The environment Secret the instance owns (recorded in status so it is checked once)."""
    current_generation: int | None = None
    """The template's generation now (``template_generation`` is the one the server runs); None: the
    template cannot be rendered now."""


def up_to_date(running: int | None, current: int | None) -> Condition:
    """The ``UpToDate`` condition of a server that runs template generation ``running`` (None: not
    provisioned yet) while its template is at ``current`` (None: not renderable now)."""
    if running is None:
        return Condition(None, "NotProvisioned", "the server has not been rendered yet")
    if current is None:
        return Condition(None, "TemplateUnknown", f"the server runs template generation {running}; the "
                                                  "template's own is not known now (not renderable, or the "
                                                  "instance is ending)")
    if running == current:
        return Condition(True, "UpToDate", f"the server runs the template's generation {current}")
    return Condition(False, "TemplateChanged", f"the server runs template generation {running}; the template is "
                                               f"at generation {current}: its next start uses it")


RESOLVED = Condition(True, "Resolved")


def released(message: str) -> Outcome:
    return Outcome(RELEASED, Condition(None, "Released"), Condition(None, "Released"),
                   Condition(False, "Released", message))


def failed(reason: str, message: str, resolved: bool | None = False) -> Outcome:
    return Outcome(FAILED, RESOLVED if resolved else Condition(resolved, reason, message),
                   Condition(None, reason, message), Condition(False, reason, message))


def stopped(message: str) -> Outcome:
    """Stopped: the server exited by itself with code 0 (terminal; the hub's poll reports exit status 0)."""
    return Outcome(STOPPED, RESOLVED, Condition(False, SERVER_STOPPED, message),
                   Condition(False, SERVER_STOPPED, message))


def waiting(reason: str, message: str, resolved: bool | None = None, retry_after: float | None = None) -> Outcome:
    """Pending for ``reason``; ``resolved``: whether the template resolved (None: not known yet)."""
    return Outcome(PENDING, RESOLVED if resolved else Condition(resolved, reason, message),
                   Condition(False if resolved else None, reason, message), Condition(False, reason, message),
                   retry_after=retry_after)


def _state(child: Child, obj: Mapping[str, Any] | None, created: Mapping[str, Mapping[str, Any] | None],
           deferred: Mapping[str, str]) -> st.ChildState:
    if child.name in deferred:
        return st.ChildState(st.MISSING, deferred[child.name], "WaitingForClaim")
    if child.name in created and obj is None:
        return st.ChildState(st.PENDING, "just created", "Created")
    return st.child_state(child.kind, obj)


def observe(rendered: Rendered, observed: tuple[tuple[Child, Mapping[str, Any] | None], ...],
            created: Mapping[str, Mapping[str, Any] | None], deferred: Mapping[str, str] | None = None) -> Outcome:
    """The outcome from the children as the cache shows them, or as the API server answered
    a create this pass (so the next cache event changes nothing but what really changed);
    ``deferred`` names the children not created yet on purpose, with what they wait for."""
    children = []
    ready = True
    failure: tuple[str, str] | None = None
    stop: str | None = None
    endpoint: dict[str, Any] | None = None
    waiting: list[str] = []
    states = []
    for child, cached in observed:
        obj = cached if cached is not None else created.get(child.name)
        states.append((child, obj, _state(child, obj, created, deferred or {})))
    # A claim a ready pod mounts is in use whatever its phase says (the volume controller can show
    # a bound claim Lost for a moment): it never takes a running server back to Provisioning.
    mounted = {name for child, _, state in states if child.kind == "Pod" and state.state == st.READY
               for name in mounted_claims(child.manifest)}
    for child, obj, state in states:
        children.append({"logicalName": child.logical_name, "apiVersion": child.api_version, "kind": child.kind,
                         "name": child.name, "state": state.state, "message": state.message[:4096]})
        if child.retain and (uid := ((obj or {}).get("metadata") or {}).get("uid")):
            children[-1]["uid"] = str(uid)  # the one object its creation mark vouches for (claimtrust)
        if state.state != st.READY and not (child.kind == "PersistentVolumeClaim" and child.name in mounted):
            ready = False
            waiting.append(f"{child.kind} {child.name}: {state.message or state.state}")
        if state.state == st.FAILED and failure is None:
            failure = (state.reason or "ChildFailed", f"{child.kind} {child.name}: {state.message}")
        if state.state == st.STOPPED and stop is None:
            stop = f"{child.kind} {child.name}: {state.message}"
        if child.kind == "Pod" and child.name == rendered.endpoint.pod and obj is not None \
                and state.state == st.READY:
            endpoint = st.endpoint_of(obj, rendered.endpoint.container, rendered.endpoint.port)
    generation = rendered.template_generation
    if failure is not None:
        reason, message = failure
        return Outcome(FAILED, RESOLVED, Condition(False, reason, message), Condition(False, reason, message),
                       None, tuple(children), generation)
    if stop is not None:
        return replace(stopped(stop), children=tuple(children), template_generation=generation)
    if ready and endpoint is None:
        message = f"endpoint port {rendered.endpoint.port!r} not found on pod {rendered.endpoint.pod}"
        return Outcome(FAILED, RESOLVED, Condition(True, "ChildrenReady"),
                       Condition(False, "EndpointNotFound", message), None, tuple(children), generation)
    if ready:
        return Outcome(RUNNING, RESOLVED, Condition(True, "ChildrenReady"),
                       Condition(True, "ServerReady", f"serving at {endpoint['url'] if endpoint else ''}"),
                       endpoint, tuple(children), generation)
    message = "; ".join(waiting)
    return Outcome(PROVISIONING, RESOLVED, Condition(False, "ChildrenNotReady", message),
                   Condition(False, "Provisioning", message), None, tuple(children), generation)


def recorded_uids(status: Mapping[str, Any]) -> dict[str, str]:
    """The uids ``status`` records for the instance's retained claims, by name."""
    return {str(r.get("name")): str(r["uid"]) for r in status.get("children") or ()
            if r.get("kind") == "PersistentVolumeClaim" and r.get("uid")}


CLAIM_WAIT = 1.0
"""Seconds between looks at a retained claim whose holder instance is being deleted (nothing
about the claim changes when its holder goes, so no event would wake the waiting instance)."""


def blocked_by(the_plan: Plan, *, in_use_blocks: bool = True) -> Outcome | None:
    """The outcome when the plan may not go ahead: an untrusted claim, a conflict, a claim in use (unless
    ``in_use_blocks`` is False: a prepare request's claim held by a server is handed over)."""
    if the_plan.untrusted:
        return failed("ClaimUntrusted", "; ".join(u.message for u in the_plan.untrusted), True)
    if the_plan.conflicts:
        return failed("ChildConflict", "; ".join(c.message for c in the_plan.conflicts), True)
    if the_plan.in_use and in_use_blocks:
        message = "; ".join(u.message for u in the_plan.in_use)
        if all(u.waits for u in the_plan.in_use):
            return waiting("ClaimInUse", message, resolved=True, retry_after=CLAIM_WAIT)
        return failed("ClaimInUse", message, True)
    return None


def announcement(current: Mapping[str, Any], outcome: Outcome) -> tuple[str, str, str, str] | None:
    """``(type, reason, note, action)`` of the Event for writing ``outcome`` over the status
    ``current``, or None (see the module's contract)."""
    before = status_condition(current, READY).get("reason")
    if current.get("phase") == outcome.phase and (outcome.phase not in (FAILED, PENDING)
                                                  or before == outcome.ready.reason):
        return None
    if outcome.phase == RUNNING:
        if not current.get("phase"):
            return None
        url = (outcome.endpoint or {}).get("url", "")
        return NORMAL, READY, f"the notebook server is ready at {url}", "Ready"
    if outcome.phase == FAILED:
        return WARNING, outcome.ready.reason, outcome.ready.message, "Fail"
    if outcome.phase == STOPPED:
        return NORMAL, SERVER_STOPPED, outcome.ready.message[:1024], "Stop"
    if outcome.phase == RELEASED:
        return NORMAL, RELEASED, outcome.ready.message[:1024], "Release"
    if outcome.phase == PREPARED:
        return NORMAL, PREPARED, outcome.ready.message[:1024], "Prepare"
    if outcome.ready.reason == TEMPLATE_NOT_FOUND:  # Pending, but the hub should hear of it too
        return WARNING, TEMPLATE_NOT_FOUND, outcome.ready.message, "Resolve"
    if outcome.phase == PROVISIONING:
        return NORMAL, PROVISIONING, outcome.ready.message[:1024], "Provision"
    return None
