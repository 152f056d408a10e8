"""Child names: computed in dependency order, checked as DNS labels, cycles told once (pure).

Guaranteed:

- ``metadata.name`` is a name template, else the name is :func:`api.child_name` of the
  instance and logical name. ``<list>.<n>.name`` resolves to that deterministic name **even
  when child ``<n>`` is excluded by its ``when``** (a reference never changes with conditions,
  so a pod may name a claim that another instance, or a later render, creates).
- Every name is a DNS label of at most 63 characters or the render fails: an
  :class:`InstanceError` when the name depends on the instance's input, else a
  :class:`TemplateError`.
- A cycle of name references is a ``ReferenceCycle`` told the same way wherever it was
  entered; :func:`name_cycles` reports each distinct cycle once (validation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import api
from .templating import (
    CHILD_REF,
    GROUPS,
    INSTANCE_BUILTINS,
    PLACEHOLDER,
    entry_metadata,
    substitute,
    unknown_reference,
)
from .variables import InstanceError, TemplateError

# ---------------------------------------------------------------- names


def cycle_error(cycle: Sequence[str], paths: Mapping[str, str]) -> TemplateError:
    """The error for a cycle of name references, told the same way wherever it was entered."""
    start = cycle.index(min(cycle))
    ordered = [*cycle[start:], *cycle[:start], cycle[start]]
    where = paths[ordered[0]]
    return TemplateError("ReferenceCycle", f"{where}: name templates form a cycle: {' -> '.join(ordered)}", where)


def _valid_name(name: str) -> bool:
    return len(name) <= api.MAX_NAME and api.DNS_LABEL.fullmatch(name) is not None


class ChildNames:
    """Child names computed on demand, in dependency order, with cycle detection."""

    def __init__(
        self,
        groups: Mapping[str, list[Mapping[str, Any]]],
        values: Mapping[str, str],
        declared: set[str],
        instance_name: str,
    ) -> None:
        self._groups = groups
        self._values = values
        self._declared = declared
        self._instance_name = instance_name
        self._index = {
            (group, entry["name"]): index for group, entries in groups.items() for index, entry in enumerate(entries)
        }
        self._logical = {group: {entry["name"] for entry in entries} for group, entries in groups.items()}
        self._name_path = {
            f"{group}.{logical}.name": f"spec.{group}[{index}].metadata.name"
            for (group, logical), index in self._index.items()
        }
        self._done: dict[str, tuple[str, bool]] = {}  # ref -> (name, depends on the instance's input)
        self._stack: list[str] = []

    def all(self) -> dict[str, str]:
        for group in GROUPS:
            for entry in self._groups[group]:
                self._name(f"{group}.{entry['name']}.name")
        return {ref: name for ref, (name, _) in self._done.items()}

    def _name(self, ref: str) -> tuple[str, bool]:
        if ref in self._done:
            return self._done[ref]
        match = CHILD_REF.fullmatch(ref)
        assert match is not None
        group, logical = match[1], match[2]
        index = self._index[(group, logical)]
        entry = self._groups[group][index]
        path = f"spec.{group}[{index}].metadata.name"
        if ref in self._stack:
            raise cycle_error(self._stack[self._stack.index(ref):], self._name_path)
        template = entry_metadata(entry, f"spec.{group}[{index}]").get("name")
        if template is None:
            name = api.child_name(self._instance_name, logical)
            result = self._check(name, True, group, logical, "metadata.name",
                                 f"the default name derived from instance name {self._instance_name!r}")
            self._done[ref] = result
            return result
        if not isinstance(template, str):
            raise TemplateError("InvalidName", f"{path} must be a string", path)
        self._stack.append(ref)
        depends = False

        def lookup(inner: str, where: str) -> str:
            nonlocal depends
            if inner in self._declared or inner in INSTANCE_BUILTINS:
                depends = True
                return self._values[inner]
            if inner == "template.name":
                return self._values[inner]
            child = CHILD_REF.fullmatch(inner)
            if child is None or child[2] not in self._logical[child[1]]:
                raise unknown_reference(inner, where)
            name, inner_depends = self._name(inner)
            depends = depends or inner_depends
            return name

        try:
            name = substitute(template, path, lookup)
        finally:
            self._stack.pop()
        result = self._check(name, depends, group, logical, path, f"name template {template!r}")
        self._done[ref] = result
        return result

    @staticmethod
    def _check(name: str, depends: bool, group: str, logical: str, field: str, source: str) -> tuple[str, bool]:
        if _valid_name(name):
            return name, depends
        message = (f"{field}: {group} {logical!r} renders to the name {name[:100]!r}, which is not a DNS label "
                   f"(at most {api.MAX_NAME} lower-case letters, digits and '-'); from {source}")
        if depends:
            raise InstanceError("InvalidName", message, field)
        raise TemplateError("InvalidName", message, field)


def name_cycles(entries: Mapping[str, list[tuple[int, Mapping[str, Any]]]]) -> list[TemplateError]:
    """One ``ReferenceCycle`` error per distinct cycle among name templates."""
    edges: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for group in GROUPS:
        for index, entry in entries[group]:
            ref = f"{group}.{entry['name']}.name"
            paths[ref] = f"spec.{group}[{index}].metadata.name"
            metadata = entry.get("metadata")
            template = metadata.get("name") if isinstance(metadata, Mapping) else None
            targets = [m[1] for m in PLACEHOLDER.finditer(template)] if isinstance(template, str) else []
            edges[ref] = [t for t in targets if CHILD_REF.fullmatch(t)]
    errors: list[TemplateError] = []
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(ref: str) -> None:
        state[ref] = 1
        stack.append(ref)
        for target in edges.get(ref, ()):
            if target not in edges:
                continue  # an unknown reference, reported elsewhere
            if state.get(target) == 1:
                cycle = stack[stack.index(target):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    errors.append(cycle_error(cycle, paths))
            elif state.get(target) is None:
                visit(target)
        stack.pop()
        state[ref] = 2

    for ref in edges:
        if ref not in state:
            visit(ref)
    return errors
