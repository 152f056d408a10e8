"""Prepare requests: a user's home made before their first spawn (pure).

A prepare request is an instance with ``spec.prepare: true``. It is rendered like a server, but only
its retained claims are made: no pod, no Secret, no other object, and no capacity taken. Its claims
are signed as a server's are (:mod:`.signing`: once Bound, for a class that binds at once), and it is
never recorded as a server of them (:data:`..api.ANNOTATION_SERVERS`), so delete-forever of the
user's servers decides their fate as if it had never been.

Guaranteed:

- :func:`preparation` is Prepared once every claim exists and is the request's (signed in the same
  pass) and Bound, or of a class that binds only at its first pod, or already held by a server (handed
  over); else Provisioning, naming what it waits for. Prepared is final: the request is never
  reconciled again, so deleting the claim later (delete-forever) never brings it back.
- :func:`holder_state`: a prepare request that is done (or failed) holds nothing (a server adopts its
  claim at once, if it trusts it); one still preparing makes a server that renders the claim wait,
  without trusting it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from ..api import CHILDREN_READY, FAILED, LABEL_INSTANCE, PREPARED, PROVISIONING, status_condition
from .binding import storage_class
from .outcome import RESOLVED, Outcome
from .plan import Holder
from .render import Child, Rendered
from .status import Condition

BOUND = "Bound"


def is_prepare(instance: Mapping[str, Any]) -> bool:
    """Whether ``instance`` is a prepare request."""
    return bool((instance.get("spec") or {}).get("prepare"))


def claims_only(rendered: Rendered) -> Rendered:
    """What a prepare request makes of its rendering: its retained claims alone."""
    return dataclasses.replace(rendered, children=tuple(c for c in rendered.children if c.retain))


def holder_state(instance: Mapping[str, Any] | None) -> Holder:
    """What the instance a retained claim is labelled for (None: not found) means for another instance."""
    if instance is None:
        return Holder.ABSENT
    if instance["metadata"].get("deletionTimestamp"):
        return Holder.TERMINATING
    if is_prepare(instance):
        return Holder.ABSENT if (instance.get("status") or {}).get("phase") in (PREPARED, FAILED) \
            else Holder.PREPARING
    return Holder.LIVE


def prepared(message: str) -> Outcome:
    """A prepare request that is done; ``message`` says what it prepared."""
    return Outcome(PREPARED, RESOLVED, Condition(True, PREPARED, message), Condition(False, PREPARED, message))


def prepared_again(status: Mapping[str, Any]) -> Outcome:
    """The outcome a done prepare request keeps (its status ``status``)."""
    return prepared(status_condition(status, CHILDREN_READY).get("message", ""))


def preparation(name: str, observed: tuple[tuple[Child, Mapping[str, Any] | None], ...],
                created: Mapping[str, Mapping[str, Any] | None], adopted: Collection[str],
                immediate: Collection[str], seen: Outcome) -> Outcome:
    """The outcome of prepare request ``name`` from its claims as the cache shows them, or as a create
    answered this pass (``adopted``: those this pass relabelled for it); ``immediate``: the classes that
    bind at once; ``seen``: :func:`.outcome.observe`'s outcome of them, whose records of the claims the
    status keeps (a claim never fails: Lost waits)."""
    done: list[str] = []
    waiting: list[str] = []
    for child, cached in observed:
        claim = cached if cached is not None else created.get(child.name)
        what = f"{child.kind} {child.name}"
        if claim is None:
            waiting.append(f"{what}: not created yet")
            continue
        holder = name if child.name in adopted else (claim["metadata"].get("labels") or {}).get(LABEL_INSTANCE)
        if holder != name:
            done.append(f"{what} (held by {holder})")
        elif (claim.get("status") or {}).get("phase") == BOUND:
            done.append(f"{what} (Bound)")
        elif (cls := storage_class(claim)) is None or cls not in immediate:
            done.append(f"{what} (binds at its first pod)")
        else:
            waiting.append(f"{what}: waiting to bind")
    if waiting:
        message = "; ".join(waiting)
        return Outcome(PROVISIONING, RESOLVED, Condition(False, "ChildrenNotReady", message),
                       Condition(False, "Preparing", message), children=seen.children,
                       template_generation=seen.template_generation)
    message = f"prepared {', '.join(done)}" if done else "the template retains no claim: nothing to prepare"
    return dataclasses.replace(prepared(message), children=seen.children,
                               template_generation=seen.template_generation)
