"""What wakes what, in the domain's terms: the map functions the manager declares its watches with.

Each function maps one object (never a tombstone) to the keys of the objects whose
reconcile it may change; ``machinery.wiring`` registers them on informers.

- :func:`templates_named_by`: an instance → the templates it may resolve to, in the
  namespaces :func:`~.resolve.template_namespaces` gives (the rule
  :func:`~.resolve.resolve_template` follows), so the template counts it.
- :func:`instances_naming`: a template → every cached instance that may resolve to it (naming
  its name, in the namespaces that rule gives: an over-approximation the instance reconciler
  settles), one index lookup.
- :func:`verdict_changed`: the template updates those instances care about: a new
  generation, a new verdict, or a verdict reached under other policy settings (the
  instance reconciler waits for one reached under its own), not the instance count
  every spawn changes.
- :func:`instance_of_claim`: a retained PVC (no owner) → the instance its label names.
- :func:`waiting_for_room`: a deleted instance → the cached instances that may resolve to a template
  it may resolve to and wait for room (:mod:`.capacity`); a pass over those instances, in memory,
  per deletion.

Pure: no I/O; :func:`instances_naming` reads the given cache only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api import LABEL_INSTANCE, READY, VALID, condition
from ..machinery.multistore import ReadStore
from ..machinery.store import ObjectKey, key_of
from .capacity import REASON as CAPACITY_REACHED
from .resolve import INSTANCES_BY_TEMPLATE, TemplateRef, instances_by_template, may_use, template_namespaces


def templates_named_by(instance: Mapping[str, Any], *, shared_namespace: str | None) -> list[ObjectKey]:
    """The keys of every template ``instance`` may resolve to (none if it names none)."""
    ref = TemplateRef.of(instance)
    if not ref.name:
        return []
    namespace = (instance.get("metadata") or {}).get("namespace") or ""
    return [ObjectKey(n, ref.name) for n in template_namespaces(ref, namespace, shared_namespace)]


def instances_naming(template: Mapping[str, Any], *, instances: ReadStore) -> list[ObjectKey]:
    """The keys of the cached instances that may resolve to ``template`` (:func:`~.resolve.may_use`)."""
    return [key_of(i) for i in may_use(template, instances)]


def verdict_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a template update may change how its instances resolve: its generation, its
    ``Valid`` condition's status or observed generation, or the policy settings (``status.policy``)
    that verdict was reached under."""
    return _verdict(old) != _verdict(new)


def _verdict(template: Mapping[str, Any]) -> tuple[Any, ...]:
    valid = condition(template, VALID)
    return (template["metadata"].get("generation"), valid.get("status"), valid.get("observedGeneration"),
            (template.get("status") or {}).get("policy"))


def instance_of_claim(claim: Mapping[str, Any]) -> list[ObjectKey]:
    """The key of the instance a claim's instance label names, in the claim's namespace."""
    meta = claim.get("metadata") or {}
    name = (meta.get("labels") or {}).get(LABEL_INSTANCE)
    return [ObjectKey(meta.get("namespace") or "", name)] if name else []


def waiting_for_room(instance: Mapping[str, Any], *, instances: ReadStore,
                     shared_namespace: str | None = None) -> list[ObjectKey]:
    """The keys of the cached instances that wait for room in a template ``instance`` may resolve to
    (``shared_namespace``: the one the index was built with)."""
    keys = dict.fromkeys(key_of(i) for value in instances_by_template(instance, shared_namespace)
                         for i in instances.by_index(INSTANCES_BY_TEMPLATE, value)
                         if condition(i, READY).get("reason") == CAPACITY_REACHED)
    return list(keys)
