"""Validate a JupyterNotebookTemplate on its own, and render every entry once for a probe (pure).

Guaranteed:

- Every static problem is reported (declarations and patterns, logical names, references,
  ``when`` variables, the endpoint pod, name-template cycles), each with its field, and
  duplicates once.
- :func:`validate` renders **every** entry, whatever its ``when``, for a probe instance
  (:func:`probe_instance`), so policy and a dry run see every child a spawn could create. Its
  ``InvalidEndpoint`` check still uses the entries the sample values include (the endpoint pod
  must exist for them), and its ``DuplicateName`` check skips two entries whose ``when``
  conditions can never hold together (enums respected; patterns are not considered, so such a
  pair may be reported although no value could include both).
- A spec nested deeper than :data:`MAX_DEPTH` is refused before anything walks it recursively.

Not checked here: kinds against the allowlist and pods against Pod Security Standards
(:mod:`.policy`), and the rest of the Kubernetes schema (a server-side dry run does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .. import api
from .names import name_cycles
from .render import Child, render
from .templating import (
    GROUPS,
    PLACEHOLDER,
    declared_names,
    is_known,
    is_list,
    key_path,
    templated_strings,
    unknown_reference,
)
from .variables import InstanceError, TemplateError, check_declarations
from .when import when_conditions

__all__ = ["MAX_DEPTH", "PROBE_PREFIX", "Validation", "probe_instance", "validate", "validate_template"]

MAX_DEPTH = 64
"""How deep a template's ``spec`` may nest (``spec`` is level 1). A real pod spec needs about 15
levels; the API server stores thousands in the free-form parts, which no renderer, JSON encoder
or API call downstream could handle."""

PROBE_PREFIX = "jnt-probe-"
"""How the probe instance's name starts (see :func:`probe_instance`)."""

def probe_instance(template: Mapping[str, Any]) -> dict[str, Any]:
    """The synthetic instance :func:`validate` renders ``template`` for, in the template's namespace.

    Its name is ``jnt-probe-<8 hex>`` and each required variable without a default or enum gets
    ``sample<6 hex>``, the hex digits taken from a hash of the template's uid: names a hub user or
    an admin does not pick by accident, unlike the ``validation-probe`` and ``sample`` of old (a hub
    user named ``sample`` had a ``home-sample`` claim). Meeting a real object does not matter anyway:
    a dry-run create answered ``AlreadyExists`` has passed validation and admission (see
    :mod:`.templates`).
    """
    metadata = template.get("metadata") or {}
    seed = str(metadata.get("uid") or f"{metadata.get('namespace', '')}/{metadata.get('name', '')}")
    digest = hashlib.sha256(seed.encode()).hexdigest()
    spec = template.get("spec")
    declarations = spec.get("variables") if isinstance(spec, Mapping) else None
    variables = {
        d["name"]: f"sample{digest[:6]}"
        for d in (declarations if is_list(declarations) else ())
        if isinstance(d, Mapping) and isinstance(d.get("name"), str) and d.get("required") is True
        and d.get("default") is None and d.get("enum") is None
    }
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.INSTANCE_KIND,
        "metadata": {"name": f"{PROBE_PREFIX}{digest[:8]}", "namespace": str(metadata.get("namespace") or "default"),
                     "uid": "00000000-0000-0000-0000-000000000000"},
        "spec": {"variables": variables},
    }


# ---------------------------------------------------------------- validation


@dataclass(frozen=True)
class Validation:
    """What :func:`validate` found."""

    errors: tuple[TemplateError, ...]
    """Every problem with the template on its own; empty: valid so far (policy and dry run next)."""
    children: tuple[Child, ...]
    """Every entry, whatever its ``when``, rendered for :func:`probe_instance` with sample values.
    Empty when there are errors or when the sample values cannot be rendered (``unrendered``)."""
    unrendered: InstanceError | None = None
    """Why the sample values render nothing (not the template's fault: a pattern they miss, say)."""


def validate_template(template: Mapping[str, Any]) -> list[TemplateError]:
    """Every problem found with ``template`` on its own, each with its field (:func:`validate`'s errors)."""
    return list(validate(template).errors)


def validate(template: Mapping[str, Any]) -> Validation:
    """Every problem found with ``template`` on its own, and its children rendered for a probe.

    Static checks first (declarations and patterns, logical names, references,
    ``when`` variables, the endpoint pod, name-template cycles), all reported; then one
    render of every entry with sample values for :func:`probe_instance`, whose first
    :class:`TemplateError` is added if it is a new one (``RenderTooLarge`` among them). An
    :class:`InstanceError` from that render is not the template's fault (the samples may not
    fit): it is kept as ``unrendered`` and no children are returned. A spec nested deeper than
    :data:`MAX_DEPTH` gets ``TooDeeplyNested`` alone, before anything walks it recursively.
    This is the one render validation needs: the template reconciler checks policy and dry-runs
    the children it returns.
    """
    errors: list[TemplateError] = []
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        return Validation((TemplateError("InvalidTemplate", "spec must be an object", "spec"),), ())
    if (deep := _deeper_than(spec, "spec", MAX_DEPTH)) is not None:
        return Validation((TemplateError("TooDeeplyNested", f"{deep[:200]}: nested more than {MAX_DEPTH} levels deep",
                                         deep[:200]),), ())
    errors.extend(check_declarations(spec.get("variables") or ()))
    declared = declared_names(spec)

    entries = _valid_entries(spec, errors)
    logical = {group: {entry["name"] for _, entry in entries[group]} for group in GROUPS}

    for group in GROUPS:
        for index, entry in entries[group]:
            errors.extend(_entry_problems(group, index, entry, declared, logical))

    endpoint = spec.get("endpoint")
    endpoint_pod = endpoint.get("pod") if isinstance(endpoint, Mapping) else None
    if not isinstance(endpoint_pod, str) or endpoint_pod not in logical["pods"]:
        errors.append(TemplateError(
            "InvalidEndpoint", f"spec.endpoint.pod: {endpoint_pod!r} is not the name of an entry in spec.pods",
            "spec.endpoint.pod"))

    errors.extend(name_cycles(entries))

    children: tuple[Child, ...] = ()
    unrendered: InstanceError | None = None
    try:
        children = render(template, probe_instance(template), check_values=False, every_entry=True).children
    except TemplateError as exc:
        errors.append(exc)
    except InstanceError as exc:
        unrendered = exc

    unique: dict[tuple[str, str, str], TemplateError] = {}
    for error in errors:
        unique.setdefault((error.reason, error.field, error.message), error)
    return Validation(tuple(unique.values()), () if unique else children, unrendered)


def _entry_problems(group: str, index: int, entry: Mapping[str, Any], declared: set[str],
                    logical: Mapping[str, set[str]]) -> Iterator[TemplateError]:
    """An entry's unknown references, and its ``when`` problems (the first structural one, or
    every condition on an undeclared variable)."""
    for where, text in templated_strings(group, index, entry):
        for match in PLACEHOLDER.finditer(text):
            if not is_known(match[1], declared, logical):
                yield unknown_reference(match[1], where)
    try:
        conditions = when_conditions(entry, f"spec.{group}[{index}]")
    except TemplateError as exc:
        yield exc
        return
    for variable, _, _, where in conditions:
        if variable not in declared:
            yield TemplateError(
                "UnknownVariable", f"{where}.variable: {variable!r} is not a declared variable", f"{where}.variable")


def _deeper_than(value: Any, path: str, limit: int) -> str | None:
    """The path of an object or list nested more than ``limit`` levels deep in ``value`` (itself level
    1), or None. Iterative: the point is to survive what recursion would not."""
    stack = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        if depth > limit:
            return where
        items = node.items() if isinstance(node, Mapping) else enumerate(node) if is_list(node) else ()
        for key, item in items:
            if isinstance(item, Mapping) or is_list(item):
                stack.append((item, key_path(where, key) if isinstance(key, str) else f"{where}[{key}]", depth + 1))
    return None


def _valid_entries(
    spec: Mapping[str, Any], errors: list[TemplateError],
) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
    """Each list's well-formed entries with their indexes; problems with the others go to ``errors``."""
    logical: dict[str, set[str]] = {}
    entries: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for group in GROUPS:
        raw = spec.get(group)
        logical[group] = set()
        entries[group] = []
        if raw is None:
            continue
        if not is_list(raw):
            errors.append(TemplateError("InvalidTemplate", f"spec.{group} must be a list", f"spec.{group}"))
            continue
        for index, entry in enumerate(raw):
            path = f"spec.{group}[{index}]"
            if not isinstance(entry, Mapping):
                errors.append(TemplateError("InvalidTemplate", f"{path} must be an object", path))
                continue
            name = entry.get("name")
            if not isinstance(name, str) or not api.DNS_LABEL.fullmatch(name):
                errors.append(TemplateError(
                    "InvalidTemplate", f"{path}.name must be a logical name (a DNS label), got {name!r}",
                    f"{path}.name"))
                continue
            if name in logical[group]:
                errors.append(TemplateError(
                    "DuplicateName", f"{path}.name: {group} {name!r} is listed twice", f"{path}.name"))
                continue
            logical[group].add(name)
            entries[group].append((index, entry))
    return entries
