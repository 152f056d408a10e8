"""Capacity: how many servers of a template may run at once (``spec.maxInstances``).

An instance *holds a place* once it is admitted: its ``status.phase`` is past ``Pending``
(Provisioning, Running, Stopped, Failed, Terminating: it may have children), or this process
admitted it and its cache does not show that yet (:class:`Admissions` remembers those, so two
workers, or a cache behind our own status writes, never admit past the cap). It keeps the place
until it is gone from the cache: a Failed or Stopped instance until the hub deletes it, a deleted
one until its children are gone (the spawner's foreground deletion waits for them).

Guaranteed: an instance not yet admitted is admitted only if ``holding + ahead < limit``, where
``ahead`` counts the instances of the template waiting before it in creation order
(``creationTimestamp``, then namespace and name), none being deleted: the cap holds, and room
goes to the oldest waiting instance first. Each decision reads the cache only (a pass over the
instances naming the template; nothing for templates without ``maxInstances``). Not promised: an
older instance that waits for something else (a claim still held) keeps its turn, so a younger one
may wait behind it; an instance the cache does not show yet is not known to wait (in a burst, the
first admitted are the first seen, in creation order among those); the message's count is the one at
the last look (refreshed when a sibling is deleted, and every :data:`WAIT` seconds); an operator
that restarts forgets what it admitted without a status yet, and counts such an instance again
once it shows children it controls (``created``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api import PENDING, phase
from ..machinery.multistore import ReadStore
from ..machinery.store import ObjectKey, key_of
from .resolve import TemplateRef, may_use, resolve_template, resolving

REASON = "CapacityReached"
WAIT = 30.0
"""Seconds between looks of a waiting instance even without a wake (a deleted sibling wakes it at once)."""


def limit_of(template: Mapping[str, Any]) -> int | None:
    """The template's ``spec.maxInstances`` (None: no limit)."""
    value = (template.get("spec") or {}).get("maxInstances")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def admitted_phase(instance: Mapping[str, Any]) -> bool:
    """Whether ``instance``'s status shows it admitted (a phase past Pending)."""
    return phase(instance) not in ("", PENDING)


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    holding: int
    """How many other instances of the template hold a place."""
    message: str = ""


def decide(instance: Mapping[str, Any], siblings: Iterable[Mapping[str, Any]], limit: int, template: str,
           held: set[ObjectKey]) -> Verdict:
    """Whether ``instance`` (not admitted yet) may be admitted now, given every cached instance of the
    same template (``siblings``, with or without ``instance``) and the keys this process admitted (pure)."""
    me = key_of(instance)
    holding = 0
    waiting: list[tuple[str, str, str]] = []
    for other in siblings:
        key = key_of(other)
        spec = other.get("spec") or {}
        if key == me or spec.get("release") or spec.get("prepare"):  # requests, not servers
            continue
        if admitted_phase(other) or key in held:
            holding += 1
        elif not other["metadata"].get("deletionTimestamp"):
            waiting.append(_order(other))
    mine = _order(instance)
    ahead = sum(1 for w in waiting if w < mine)
    if holding + ahead < limit:
        return Verdict(True, holding)
    behind = f" ({ahead} waiting before this one)" if ahead else ""
    return Verdict(False, holding, f"{holding} of {limit} servers of template {template} are running or starting; "
                                   f"waiting for room{behind}")


def _order(instance: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = instance["metadata"]
    return str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or "")


@dataclass
class Admissions:
    """The instances this process admitted that its cache does not show admitted yet (see the module
    docstring); one per instance reconciler. Checks and records without awaiting, so concurrent
    reconciles on one event loop never both take the last place."""

    templates: ReadStore
    instances: ReadStore
    shared_namespace: str | None
    held: set[ObjectKey] = field(default_factory=set)

    def room(self, instance: Mapping[str, Any], previous_phase: str,
             created: Callable[[], bool]) -> Verdict | None:
        """None if ``instance`` may go ahead (admitted now or before, or its template sets no limit);
        else why it waits. ``created``: whether it already controls children (admitted before a restart)."""
        key = key_of(instance)
        if previous_phase not in ("", PENDING) or key in self.held:
            return None
        namespace = instance["metadata"]["namespace"]
        template = resolve_template(TemplateRef.of(instance), namespace, self.templates,
                                    self.shared_namespace).template
        limit = None if template is None else limit_of(template)
        if template is None or limit is None:
            return None
        where = template["metadata"]["namespace"]
        siblings = resolving(template, may_use(template, self.instances),
                             self.templates, self.shared_namespace)
        for s in siblings:  # the cache now shows what we admitted: no longer ours to remember
            if admitted_phase(s):
                self.held.discard(key_of(s))
        verdict = decide(instance, siblings, limit, f"{where}/{template['metadata']['name']}", self.held)
        if not verdict.admitted and not created():
            return verdict
        self.held.add(key)
        return None

    def forget(self, key: ObjectKey) -> None:
        """``key``'s instance is gone."""
        self.held.discard(key)
