"""Which template an instance uses, and whether it may (pure).

An instance names a template; without a namespace it is looked up in the
instance's own namespace, then in the operator's shared template namespace (if
configured). A template in another namespace may be used only if it lists the
instance's namespace (or "*") in ``spec.instanceNamespaces`` — templates in the
shared namespace are usable from every watched namespace, since only the
operator's administrators can write there.

:func:`template_namespaces` is that lookup order, the one rule both
:func:`resolve_template` and the wiring (which templates an instance's change
wakes, see ``wiring.py``) follow; :func:`instances_by_template` indexes instances
by the same rule: under each ``namespace/name`` they may resolve to, so what may use one
template is one index lookup (:func:`may_use`), whatever other namespaces hold a template of the
same name. (An index by name alone made every template's count, and every template verdict's
wake-up, a pass over the instances of all namespaces: with 1,000 namespaces each holding its own
``jupyterlab``, O(namespaces x instances).)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api import TEMPLATE_NOT_ALLOWED, TEMPLATE_NOT_FOUND
from ..machinery.multistore import ReadStore


@dataclass(frozen=True)
class TemplateRef:
    name: str
    namespace: str | None
    """None: the instance's namespace, then the shared one."""

    @classmethod
    def of(cls, instance: Mapping[str, Any]) -> TemplateRef:
        spec = (instance.get("spec") or {}).get("template") or {}
        return cls(str(spec.get("name", "")), spec.get("namespace"))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Resolution:
    template: Mapping[str, Any] | None
    reason: str = ""
    message: str = ""


INSTANCES_BY_TEMPLATE = "template"
"""Index of instances by the templates they may resolve to (:func:`template_key` values)."""


def template_key(namespace: str, name: str) -> str:
    """A template's value in the :data:`INSTANCES_BY_TEMPLATE` index."""
    return f"{namespace}/{name}"


def instances_by_template(instance: Mapping[str, Any], shared_namespace: str | None = None) -> list[str]:
    """Index function: the :func:`template_key` of every template ``instance`` may resolve to, in
    the namespaces :func:`template_namespaces` gives (build the index with the operator's shared
    template namespace bound, as :func:`resolve_template` is called with it)."""
    ref = TemplateRef.of(instance)
    namespace = (instance.get("metadata") or {}).get("namespace") or ""
    return [template_key(n, ref.name) for n in template_namespaces(ref, namespace, shared_namespace)]


def may_use(template: Mapping[str, Any], instances: ReadStore) -> list[Any]:
    """The cached instances that may resolve to ``template`` (an over-approximation: one may resolve
    to a template of the same name nearer to it, or be refused by ``instanceNamespaces``;
    :func:`resolving` decides)."""
    meta = template["metadata"]
    return instances.by_index(INSTANCES_BY_TEMPLATE, template_key(meta["namespace"], meta["name"]))


def template_namespaces(ref: TemplateRef, instance_namespace: str, shared_namespace: str | None) -> list[str]:
    """Where ``ref`` is looked up, in order: its own namespace if it gives one, else the instance's
    namespace, then the shared template namespace (each once, none empty)."""
    if ref.namespace:
        return [ref.namespace]
    return [n for n in dict.fromkeys((instance_namespace, shared_namespace)) if n]


def resolve_template(ref: TemplateRef, instance_namespace: str, templates: ReadStore,
                     shared_namespace: str | None) -> Resolution:
    candidates = template_namespaces(ref, instance_namespace, shared_namespace)
    for namespace in candidates:
        template = templates.get_by_name(namespace, ref.name)
        if template is None:
            continue
        allowed = (template.get("spec") or {}).get("instanceNamespaces") or ()
        if namespace in (instance_namespace, shared_namespace) or "*" in allowed or instance_namespace in allowed:
            return Resolution(template)
        return Resolution(None, TEMPLATE_NOT_ALLOWED,
                          f"template {namespace}/{ref.name} does not list namespace {instance_namespace!r} in "
                          "spec.instanceNamespaces")
    where = " or ".join(repr(n) for n in candidates)
    return Resolution(None, TEMPLATE_NOT_FOUND, f"template {ref.name!r} not found in namespace {where}")


@dataclass(frozen=True)
class Usage:
    """The instances that resolve to a template, and how many of them run an older generation of it."""

    instances: int
    outdated: int


def resolving(template: Mapping[str, Any], naming: Iterable[Mapping[str, Any]], templates: ReadStore,
              shared_namespace: str | None) -> list[Mapping[str, Any]]:
    """Those of ``naming`` (instances that may resolve to ``template``: :func:`may_use`) that resolve to it, as
    :func:`resolve_template` decides (``instanceNamespaces`` included). An instance's resolution
    depends only on its namespace and the one its reference gives, so each such pair is resolved
    once: a pass over 10,000 instances costs a few lookups, not 10,000 resolutions."""
    meta = template["metadata"]
    resolves: dict[tuple[str | None, str], bool] = {}
    found = []
    for instance in naming:
        pair = (((instance.get("spec") or {}).get("template") or {}).get("namespace"),
                instance["metadata"]["namespace"])
        if pair not in resolves:
            resolved = resolve_template(TemplateRef(meta["name"], pair[0]), pair[1], templates,
                                        shared_namespace).template
            resolves[pair] = resolved is not None and resolved["metadata"]["namespace"] == meta["namespace"]
        if resolves[pair]:
            found.append(instance)
    return found


def usage_of(template: Mapping[str, Any], naming: Iterable[Mapping[str, Any]], templates: ReadStore,
             shared_namespace: str | None) -> Usage:
    """Of ``naming`` (instances that may resolve to ``template``: :func:`may_use`): how many resolve to ``template``
    (:func:`resolving`), and how many of those record a template generation
    (``status.templateGeneration``) older than its own."""
    generation = template["metadata"].get("generation")
    using = resolving(template, naming, templates, shared_namespace)
    running = Counter((i.get("status") or {}).get("templateGeneration") for i in using)
    return Usage(len(using), sum(n for g, n in running.items() if g is not None and g != generation))
