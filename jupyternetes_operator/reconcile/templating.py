"""What a template's children are made of, and how placeholders in them are found and substituted (pure).

Guaranteed:

- Templating is substitution of ``{{ name }}`` placeholders inside string values,
  *after* parsing, in one pass: a substituted value is never scanned again, so a
  value holding ``{{``, quotes, newlines or YAML stays a literal string and can never
  add keys, items or structure. Mapping keys are never templated; non-string scalars
  are copied as they are. Only text of the form ``{{ ref }}`` (``ref`` made of
  letters, digits, ``_``, ``.`` and ``-``, optional spaces or tabs inside the braces)
  is a placeholder; anything else, for example ``{{ a | b }}``, is copied verbatim.
- A placeholder names a declared variable, or a built-in: ``instance.name``,
  ``instance.namespace``, ``template.name``, ``pods.<n>.name``, ``pvcs.<n>.name``,
  ``resources.<n>.name`` (``<n>`` a logical name of that list). Anything else is a
  :class:`TemplateError` ``UnknownReference`` whose field is the string's path.
- The templated strings of an entry are its ``metadata`` name, labels and annotations and
  its body: ``spec`` for pods and PVCs, every field but ``name``, ``when``, ``metadata``,
  ``apiVersion`` and ``kind`` for other resources. Ports and ``when`` values are literal.
- Inputs are never mutated; :func:`render_value` returns a fresh plain tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from .. import api
from .variables import TemplateError

GROUPS = ("pvcs", "resources", "pods")
"""The child lists of a template, in creation order."""

PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z0-9_.\-]+)[ \t]*\}\}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CHILD_REF = re.compile(r"(pods|pvcs|resources)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.name")
INSTANCE_BUILTINS = ("instance.name", "instance.namespace")
BUILTINS = frozenset({*INSTANCE_BUILTINS, "template.name"})
_ENTRY_KEYS = frozenset({"name", "when", "metadata", "apiVersion", "kind"})

# ---------------------------------------------------------------- paths and walking


def key_path(path: str, key: str) -> str:
    """``path.key``, or ``path[key]`` for keys that are not identifiers (label keys, say)."""
    if _VARIABLE.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def is_list(value: Any) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def string_leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string leaf of ``value`` with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from string_leaves(item, key_path(path, str(key)))
    elif is_list(value):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{path}[{index}]")


def substitute(text: str, path: str, lookup: Callable[[str, str], str]) -> str:
    """One pass of placeholder substitution: replacements are never re-scanned."""
    if "{{" not in text:
        return text
    return PLACEHOLDER.sub(lambda match: lookup(match[1], path), text)


def render_value(value: Any, path: str, lookup: Callable[[str, str], str]) -> Any:
    """A fresh plain copy of ``value`` with placeholders in its string leaves substituted."""
    if isinstance(value, str):
        return substitute(value, path, lookup)
    if isinstance(value, Mapping):
        return {str(key): render_value(item, key_path(path, str(key)), lookup) for key, item in value.items()}
    if is_list(value):
        return [render_value(item, f"{path}[{index}]", lookup) for index, item in enumerate(value)]
    return value


# ---------------------------------------------------------------- template structure


def template_spec(template: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        raise TemplateError("InvalidTemplate", "spec must be an object", "spec")
    return spec


def group_entries(spec: Mapping[str, Any], group: str) -> list[Mapping[str, Any]]:
    """``spec.<group>``, checked to be a list of objects with distinct logical names."""
    raw = spec.get(group)
    if raw is None:
        return []
    if not is_list(raw):
        raise TemplateError("InvalidTemplate", f"spec.{group} must be a list", f"spec.{group}")
    entries: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        path = f"spec.{group}[{index}]"
        if not isinstance(entry, Mapping):
            raise TemplateError("InvalidTemplate", f"{path} must be an object", path)
        logical = entry.get("name")
        if not isinstance(logical, str) or not api.DNS_LABEL.fullmatch(logical):
            raise TemplateError(
                "InvalidTemplate", f"{path}.name must be a logical name (a DNS label), got {logical!r}", f"{path}.name")
        if logical in seen:
            raise TemplateError("DuplicateName", f"{path}.name: {group} {logical!r} is listed twice", f"{path}.name")
        seen.add(logical)
        entries.append(entry)
    return entries


def entry_metadata(entry: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    metadata = entry.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TemplateError("InvalidTemplate", f"{path}.metadata must be an object", f"{path}.metadata")
    return metadata


def templated_fields(group: str, entry: Mapping[str, Any]) -> list[str]:
    """The entry's top-level fields that become the object's body (besides metadata)."""
    if group == "resources":
        return [str(key) for key in entry if key not in _ENTRY_KEYS]
    return ["spec"] if "spec" in entry else []


def templated_strings(group: str, index: int, entry: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every templated string of an entry, name template included."""
    path = f"spec.{group}[{index}]"
    metadata = entry.get("metadata")
    if isinstance(metadata, Mapping):
        for key in ("name", "labels", "annotations"):
            if key in metadata:
                yield from string_leaves(metadata[key], f"{path}.metadata.{key}")
    for key in templated_fields(group, entry):
        yield from string_leaves(entry[key], key_path(path, key))


def declared_names(spec: Mapping[str, Any]) -> set[str]:
    declarations = spec.get("variables") or ()
    if not is_list(declarations):
        return set()
    return {d["name"] for d in declarations if isinstance(d, Mapping) and isinstance(d.get("name"), str)}


def is_known(ref: str, declared: set[str], logical: Mapping[str, set[str]]) -> bool:
    if ref in BUILTINS or ref in declared:
        return True
    match = CHILD_REF.fullmatch(ref)
    return match is not None and match[2] in logical.get(match[1], set())


def unknown_reference(ref: str, path: str) -> TemplateError:
    return TemplateError(
        "UnknownReference",
        f"{path}: {{{{ {ref} }}}} is neither a declared variable nor a built-in "
        "(instance.name, instance.namespace, template.name, pods.<n>.name, pvcs.<n>.name, resources.<n>.name)",
        path,
    )
