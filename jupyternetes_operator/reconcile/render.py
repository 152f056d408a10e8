"""Render a JupyterNotebookTemplate for a JupyterNotebookInstance into child manifests (pure).

Guaranteed:

- Plain data in, plain data out: inputs may be read-only (``Mapping``/``Sequence``,
  tuples for lists) and are never mutated; outputs are fresh ``dict``/``list`` trees
  that share nothing with the inputs. No I/O, no clock: the same inputs always give
  the same output.
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
- Child names are computed first, in dependency order: ``metadata.name`` is a name
  template, else the name is :func:`api.child_name` of the instance and logical name.
  ``<list>.<n>.name`` resolves to that deterministic name **even when child ``<n>`` is
  excluded by its ``when``** (a reference never changes with conditions, so a pod may
  name a claim that another instance, or a later render, creates). Every name is a DNS
  label of at most 63 characters or the render fails.
- Children come out in creation order: PVCs, then other resources, then pods, each in
  template order. Every child is in the instance's namespace, carries the operator's
  labels (which win over the template's) and a controller ownerReference to the
  instance — except a ``retain: true`` PVC, which is labelled retained and has no owner,
  so it outlives the instance.
- The endpoint container gets the instance's environment Secret
  (:func:`api.env_secret_of`: named by a nonce the spawner put on the instance) as a required
  ``envFrom`` source; an instance that declares none gets none (a Secret named after an
  instance could have been planted by anyone who can create Secrets there).
- Bounded: before any child name or body is built, the size of the result is estimated from
  the template's profile (cached per template generation) and the lengths of the values (see
  :mod:`.bounds`); over :data:`.bounds.MAX_RENDER_BYTES` the render fails with reason
  ``RenderTooLarge`` — an :class:`InstanceError` for an instance's values, a
  :class:`TemplateError` when validating with sample values. Excluded entries count with their
  name template only (their names are computed all the same).
- :func:`validate` renders **every** entry, whatever its ``when``, for a probe instance
  (:func:`probe_instance`), so policy and a dry run see every child a spawn could create. Its
  ``InvalidEndpoint`` check still uses the entries the sample values include (the endpoint pod
  must exist for them), and its ``DuplicateName`` check skips two entries whose ``when``
  conditions can never hold together (enums respected; patterns are not considered, so such a
  pair may be reported although no value could include both).

Not checked here: kinds against the allowlist and pods against Pod Security Standards
(:mod:`.policy`), and the rest of the Kubernetes schema (a server-side dry run does).
Ports and ``when`` values are literal: they are not templated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from .. import api
from .bounds import MAX_RENDER_BYTES, EntryProfile, Profile, ProfileCache, estimate, human, profile, string_size
from .variables import InstanceError, RenderError, TemplateError, check_declarations, resolve

__all__ = [
    "GROUPS",
    "Child",
    "Endpoint",
    "InstanceError",
    "RenderError",
    "Rendered",
    "TemplateError",
    "Validation",
    "estimate_size",
    "probe_instance",
    "references",
    "render",
    "validate",
    "validate_template",
]

GROUPS = ("pvcs", "resources", "pods")
"""The child lists of a template, in creation order."""

MAX_DEPTH = 64
"""How deep a template's ``spec`` may nest (``spec`` is level 1). A real pod spec needs about 15
levels; the API server stores thousands in the free-form parts, which no renderer, JSON encoder
or API call downstream could handle."""

PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z0-9_.\-]+)[ \t]*\}\}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHILD_REF = re.compile(r"(pods|pvcs|resources)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.name")
_INSTANCE_BUILTINS = ("instance.name", "instance.namespace")
_BUILTINS = frozenset({*_INSTANCE_BUILTINS, "template.name"})
_ENTRY_KEYS = frozenset({"name", "when", "metadata", "apiVersion", "kind"})
_KINDS = {"pods": ("v1", "Pod"), "pvcs": ("v1", "PersistentVolumeClaim")}
_OPERATORS = ("In", "NotIn")

PROBE_PREFIX = "jnt-probe-"
"""How the probe instance's name starts (see :func:`probe_instance`)."""

_PROFILES = ProfileCache()
"""Entry profiles per template generation, for the size bound (see :mod:`.bounds`)."""


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
        for d in (declarations if _is_list(declarations) else ())
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


@dataclass(frozen=True)
class Child:
    """One object to create for an instance."""

    group: str
    """``pods``, ``pvcs`` or ``resources``: the template list it comes from."""
    logical_name: str
    api_version: str
    kind: str
    name: str
    manifest: dict[str, Any]
    """The complete object to create (apiVersion, kind, metadata, and spec or other fields)."""
    retain: bool
    """A retained PVC: no ownerReference, outlives the instance, adopted by the next one."""


@dataclass(frozen=True)
class Endpoint:
    """Where the notebook server listens."""

    pod: str
    """The rendered name of the endpoint pod."""
    container: str | None
    """The endpoint container's name; None means the pod's first container."""
    port: int | str
    """A port number, or the name of one of the endpoint container's ports."""


@dataclass(frozen=True)
class Rendered:
    children: tuple[Child, ...]
    """In creation order: PVCs, resources, pods."""
    variables: dict[str, str]
    """Every declared variable's resolved value."""
    endpoint: Endpoint
    template_generation: int


# ---------------------------------------------------------------- paths and walking


def _key_path(path: str, key: str) -> str:
    """``path.key``, or ``path[key]`` for keys that are not identifiers (label keys, say)."""
    if _VARIABLE.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def _is_list(value: Any) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string leaf of ``value`` with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, _key_path(path, str(key)))
    elif _is_list(value):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _substitute(text: str, path: str, lookup: Callable[[str, str], str]) -> str:
    """One pass of placeholder substitution: replacements are never re-scanned."""
    if "{{" not in text:
        return text
    return PLACEHOLDER.sub(lambda match: lookup(match[1], path), text)


def _render_value(value: Any, path: str, lookup: Callable[[str, str], str]) -> Any:
    """A fresh plain copy of ``value`` with placeholders in its string leaves substituted."""
    if isinstance(value, str):
        return _substitute(value, path, lookup)
    if isinstance(value, Mapping):
        return {str(key): _render_value(item, _key_path(path, str(key)), lookup) for key, item in value.items()}
    if _is_list(value):
        return [_render_value(item, f"{path}[{index}]", lookup) for index, item in enumerate(value)]
    return value


# ---------------------------------------------------------------- template structure


def _spec(template: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        raise TemplateError("InvalidTemplate", "spec must be an object", "spec")
    return spec


def _entries(spec: Mapping[str, Any], group: str) -> list[Mapping[str, Any]]:
    """``spec.<group>``, checked to be a list of objects with distinct logical names."""
    raw = spec.get(group)
    if raw is None:
        return []
    if not _is_list(raw):
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


def _metadata(entry: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    metadata = entry.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TemplateError("InvalidTemplate", f"{path}.metadata must be an object", f"{path}.metadata")
    return metadata


def _templated_fields(group: str, entry: Mapping[str, Any]) -> list[str]:
    """The entry's top-level fields that become the object's body (besides metadata)."""
    if group == "resources":
        return [str(key) for key in entry if key not in _ENTRY_KEYS]
    return ["spec"] if "spec" in entry else []


def _templated_strings(group: str, index: int, entry: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every templated string of an entry, name template included."""
    path = f"spec.{group}[{index}]"
    metadata = entry.get("metadata")
    if isinstance(metadata, Mapping):
        for key in ("name", "labels", "annotations"):
            if key in metadata:
                yield from _strings(metadata[key], f"{path}.metadata.{key}")
    for key in _templated_fields(group, entry):
        yield from _strings(entry[key], _key_path(path, key))


def _declared_names(spec: Mapping[str, Any]) -> set[str]:
    declarations = spec.get("variables") or ()
    if not _is_list(declarations):
        return set()
    return {d["name"] for d in declarations if isinstance(d, Mapping) and isinstance(d.get("name"), str)}


def references(template: Mapping[str, Any]) -> set[str]:
    """Every reference (the text inside ``{{ }}``) the template's children use."""
    spec = template.get("spec")
    found: set[str] = set()
    if not isinstance(spec, Mapping):
        return found
    for group in GROUPS:
        raw = spec.get(group)
        if not _is_list(raw):
            continue
        for index, entry in enumerate(raw):
            if isinstance(entry, Mapping):
                for _, text in _templated_strings(group, index, entry):
                    found.update(match[1] for match in PLACEHOLDER.finditer(text))
    return found


def _known(ref: str, declared: set[str], logical: Mapping[str, set[str]]) -> bool:
    if ref in _BUILTINS or ref in declared:
        return True
    match = _CHILD_REF.fullmatch(ref)
    return match is not None and match[2] in logical.get(match[1], set())


def _unknown_reference(ref: str, path: str) -> TemplateError:
    return TemplateError(
        "UnknownReference",
        f"{path}: {{{{ {ref} }}}} is neither a declared variable nor a built-in "
        "(instance.name, instance.namespace, template.name, pods.<n>.name, pvcs.<n>.name, resources.<n>.name)",
        path,
    )


# ---------------------------------------------------------------- names


def _cycle_error(cycle: Sequence[str], paths: Mapping[str, str]) -> TemplateError:
    """The error for a cycle of name references, told the same way wherever it was entered."""
    start = cycle.index(min(cycle))
    ordered = [*cycle[start:], *cycle[:start], cycle[start]]
    where = paths[ordered[0]]
    return TemplateError("ReferenceCycle", f"{where}: name templates form a cycle: {' -> '.join(ordered)}", where)


def _valid_name(name: str) -> bool:
    return len(name) <= api.MAX_NAME and api.DNS_LABEL.fullmatch(name) is not None


class _Names:
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
        match = _CHILD_REF.fullmatch(ref)
        assert match is not None
        group, logical = match[1], match[2]
        index = self._index[(group, logical)]
        entry = self._groups[group][index]
        path = f"spec.{group}[{index}].metadata.name"
        if ref in self._stack:
            raise _cycle_error(self._stack[self._stack.index(ref):], self._name_path)
        template = _metadata(entry, f"spec.{group}[{index}]").get("name")
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
            if inner in self._declared or inner in _INSTANCE_BUILTINS:
                depends = True
                return self._values[inner]
            if inner == "template.name":
                return self._values[inner]
            child = _CHILD_REF.fullmatch(inner)
            if child is None or child[2] not in self._logical[child[1]]:
                raise _unknown_reference(inner, where)
            name, inner_depends = self._name(inner)
            depends = depends or inner_depends
            return name

        try:
            name = _substitute(template, path, lookup)
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


# ---------------------------------------------------------------- conditions


def _conditions(entry: Mapping[str, Any], path: str) -> list[tuple[str, str, tuple[str, ...], str]]:
    """``when`` as (variable, operator, values, path) tuples, structurally checked."""
    when = entry.get("when")
    if when is None:
        return []
    if not _is_list(when):
        raise TemplateError("InvalidCondition", f"{path}.when must be a list", f"{path}.when")
    conditions = []
    for index, condition in enumerate(when):
        where = f"{path}.when[{index}]"
        if not isinstance(condition, Mapping):
            raise TemplateError("InvalidCondition", f"{where} must be an object", where)
        variable, operator, values = condition.get("variable"), condition.get("operator"), condition.get("values")
        if not isinstance(variable, str):
            raise TemplateError("InvalidCondition", f"{where}.variable must be a string", f"{where}.variable")
        if operator not in _OPERATORS:
            raise TemplateError(
                "InvalidCondition", f"{where}.operator must be In or NotIn, got {operator!r}", f"{where}.operator")
        if not _is_list(values) or not all(isinstance(v, str) for v in values):
            raise TemplateError("InvalidCondition", f"{where}.values must be a list of strings", f"{where}.values")
        conditions.append((variable, str(operator), tuple(values), where))
    return conditions


def _included(entry: Mapping[str, Any], path: str, variables: Mapping[str, str]) -> bool:
    """Whether every ``when`` condition of the entry holds."""
    included = True
    for variable, operator, values, where in _conditions(entry, path):
        if variable not in variables:
            raise TemplateError(
                "UnknownVariable", f"{where}.variable: {variable!r} is not a declared variable", f"{where}.variable")
        holds = (variables[variable] in values) == (operator == "In")
        included = included and holds
    return included


# ---------------------------------------------------------------- children


def _operator_labels(instance_name: str, template_name: str, logical: str) -> dict[str, str]:
    return {
        api.LABEL_INSTANCE: instance_name,
        api.LABEL_TEMPLATE: api.label_value(template_name),
        api.LABEL_LOGICAL_NAME: logical,
        api.LABEL_MANAGED_BY: api.MANAGED_BY,
        "app.kubernetes.io/name": "jupyter-notebook",
        "app.kubernetes.io/instance": instance_name,
        "app.kubernetes.io/component": logical,
    }


def _string_map(value: Any, path: str, lookup: Callable[[str, str], str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TemplateError("InvalidTemplate", f"{path} must be a map of strings", path)
    rendered: dict[str, str] = _render_value(value, path, lookup)
    return rendered


@dataclass(frozen=True)
class _Context:
    instance_name: str
    namespace: str
    uid: str
    template_name: str
    lookup: Callable[[str, str], str]
    names: Mapping[str, str]


def _child(group: str, index: int, entry: Mapping[str, Any], ctx: _Context) -> Child:
    path = f"spec.{group}[{index}]"
    logical: str = entry["name"]
    if group == "resources":
        api_version, kind = entry.get("apiVersion"), entry.get("kind")
        if not isinstance(api_version, str) or not api_version:
            raise TemplateError(
                "InvalidTemplate", f"{path}.apiVersion must be a non-empty string", f"{path}.apiVersion")
        if not isinstance(kind, str) or not kind:
            raise TemplateError("InvalidTemplate", f"{path}.kind must be a non-empty string", f"{path}.kind")
    else:
        api_version, kind = _KINDS[group]
    retain = group == "pvcs" and entry.get("retain") is True
    name = ctx.names[f"{group}.{logical}.name"]
    metadata = _metadata(entry, path)
    labels = _string_map(metadata.get("labels"), f"{path}.metadata.labels", ctx.lookup)
    labels.update(_operator_labels(ctx.instance_name, ctx.template_name, logical))
    if retain:
        labels[api.LABEL_RETAINED] = "true"
    annotations = _string_map(metadata.get("annotations"), f"{path}.metadata.annotations", ctx.lookup)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ctx.namespace,
        "labels": labels,
        "annotations": annotations,
    }
    if not retain:
        meta["ownerReferences"] = [{
            "apiVersion": api.API_VERSION,
            "kind": api.INSTANCE_KIND,
            "name": ctx.instance_name,
            "uid": ctx.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }]
    manifest: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    for key in _templated_fields(group, entry):
        manifest[key] = _render_value(entry[key], _key_path(path, key), ctx.lookup)
    if group != "resources":
        spec = manifest.setdefault("spec", {})
        if not isinstance(spec, dict):
            raise TemplateError("InvalidTemplate", f"{path}.spec must be an object", f"{path}.spec")
    return Child(group, logical, api_version, kind, name, manifest, retain)


def _wire_endpoint(
    spec: Mapping[str, Any], pods: Mapping[str, int], manifests: Mapping[str, dict[str, Any]], env_secret: str | None,
) -> Endpoint:
    """Check ``spec.endpoint`` and add the env Secret (if any) to the endpoint container of ``manifests``."""
    endpoint = spec.get("endpoint")
    if not isinstance(endpoint, Mapping):
        raise TemplateError("InvalidEndpoint", "spec.endpoint must be an object", "spec.endpoint")
    logical = endpoint.get("pod")
    if not isinstance(logical, str) or logical not in pods:
        raise TemplateError(
            "InvalidEndpoint", f"spec.endpoint.pod: {logical!r} is not the name of an entry in spec.pods",
            "spec.endpoint.pod")
    port = endpoint.get("port")
    if isinstance(port, bool) or not isinstance(port, int | str) or port in ("", 0):
        raise TemplateError(
            "InvalidEndpoint", f"spec.endpoint.port must be a port number or name, got {port!r}", "spec.endpoint.port")
    container_name = endpoint.get("container")
    if container_name is not None and not isinstance(container_name, str):
        raise TemplateError("InvalidEndpoint", "spec.endpoint.container must be a string", "spec.endpoint.container")
    manifest = manifests.get(logical)
    if manifest is None:
        raise TemplateError(
            "InvalidEndpoint",
            f"spec.endpoint.pod: the endpoint pod {logical!r} is excluded by its when conditions for these variables",
            "spec.endpoint.pod",
        )
    pod_path = f"spec.pods[{pods[logical]}].spec.containers"
    containers = manifest["spec"].get("containers")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise TemplateError("InvalidEndpoint", f"{pod_path} must be a non-empty list of containers", pod_path)
    if container_name is None:
        container = containers[0]
    else:
        found = [c for c in containers if c.get("name") == container_name]
        if not found:
            raise TemplateError(
                "InvalidEndpoint",
                f"spec.endpoint.container: pod {logical!r} has no container named {container_name!r}",
                "spec.endpoint.container",
            )
        container = found[0]
    if isinstance(port, str):
        ports = container.get("ports") or []
        if not any(isinstance(p, dict) and p.get("name") == port for p in ports):
            raise TemplateError(
                "InvalidEndpoint",
                f"spec.endpoint.port: the endpoint container {container.get('name')!r} has no port named {port!r}",
                "spec.endpoint.port",
            )
    env_from = container.get("envFrom", [])
    if not isinstance(env_from, list):
        raise TemplateError("InvalidEndpoint", f"{pod_path}: the endpoint container's envFrom must be a list", pod_path)
    if env_secret is not None:  # not optional: the operator owns it before the pod exists, so it is there
        container["envFrom"] = [*env_from, {"secretRef": {"name": env_secret, "optional": False}}]
    return Endpoint(pod=manifest["metadata"]["name"], container=container_name, port=port)


# ---------------------------------------------------------------- render


def render(template: Mapping[str, Any], instance: Mapping[str, Any], *, check_values: bool = True) -> Rendered:
    """The children, resolved variables and endpoint of ``instance`` rendered from ``template``.

    Raises :class:`TemplateError` when the template is at fault and
    :class:`InstanceError` when the instance's variables or name are (``RenderTooLarge``
    included: the size is checked before anything is built). With ``check_values=False``
    (validation with sample values) required variables get a sample and patterns and enums
    are not enforced (see :func:`.variables.resolve`), and ``RenderTooLarge`` is a
    :class:`TemplateError`.
    """
    return _render(template, instance, check_values=check_values, every_entry=False)


def _render(template: Mapping[str, Any], instance: Mapping[str, Any], *, check_values: bool,
            every_entry: bool) -> Rendered:
    """:func:`render`; with ``every_entry`` every entry becomes a child whatever its ``when`` (the
    endpoint must still be among the entries the values include)."""
    spec = _spec(template)
    template_meta = template.get("metadata") or {}
    template_name = str(template_meta.get("name", ""))
    generation = template_meta.get("generation", 0)
    instance_meta = instance.get("metadata") or {}
    instance_name = str(instance_meta.get("name", ""))
    namespace = str(instance_meta.get("namespace", ""))
    uid = str(instance_meta.get("uid", ""))
    instance_spec = instance.get("spec") or {}
    values = instance_spec.get("variables") or {}

    variables = resolve(spec.get("variables") or (), values, check_values=check_values)
    groups = {group: _entries(spec, group) for group in GROUPS}
    base = _base(template, instance, variables)
    _check_size(template, groups, base, variables, values, check_values=check_values, every_entry=every_entry)
    names = _Names(groups, base, set(variables), instance_name).all()
    known = {**base, **names}

    def lookup(ref: str, path: str) -> str:
        try:
            return known[ref]
        except KeyError:
            raise _unknown_reference(ref, path) from None

    ctx = _Context(instance_name, namespace, uid, template_name, lookup, names)
    children: list[Child] = []
    pod_manifests: dict[str, dict[str, Any]] = {}
    conditions: dict[tuple[str, str], list[tuple[str, str, tuple[str, ...], str]]] = {}
    for group in GROUPS:
        for index, entry in enumerate(groups[group]):
            path = f"spec.{group}[{index}]"
            included = _included(entry, path, variables)
            if not included and not every_entry:
                continue
            child = _child(group, index, entry, ctx)
            children.append(child)
            conditions[(group, child.logical_name)] = _conditions(entry, path)
            if group == "pods" and included:
                pod_manifests[child.logical_name] = child.manifest
    together = None
    if every_entry:
        enums = _enums(spec)

        def together(a: Child, b: Child) -> bool:
            return _compatible(conditions[(a.group, a.logical_name)], conditions[(b.group, b.logical_name)], enums)

    _check_distinct(children, groups, together)
    pods = {entry["name"]: index for index, entry in enumerate(groups["pods"])}
    endpoint = _wire_endpoint(spec, pods, pod_manifests, api.env_secret_of(instance))
    return Rendered(
        children=tuple(children),
        variables=variables,
        endpoint=endpoint,
        template_generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else 0,
    )


def _check_distinct(children: Sequence[Child], groups: Mapping[str, list[Mapping[str, Any]]],
                    together: Callable[[Child, Child], bool] | None = None) -> None:
    """Two children of one kind must not render to one name (the second would never exist), unless
    ``together`` says the two are never rendered for the same instance."""
    seen: dict[tuple[str, str, str], list[Child]] = {}
    for child in children:
        key = (child.api_version, child.kind, child.name)
        earlier = next((c for c in seen.get(key, ()) if together is None or together(c, child)), None)
        if earlier is not None:
            index = next(i for i, e in enumerate(groups[child.group]) if e["name"] == child.logical_name)
            field = f"spec.{child.group}[{index}].metadata.name"
            raise TemplateError(
                "DuplicateName",
                f"{field}: {child.group} {child.logical_name!r} and {earlier.group} {earlier.logical_name!r} "
                f"both render to {child.kind} {child.name!r}",
                field,
            )
        seen.setdefault(key, []).append(child)


def _enums(spec: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    declarations = spec.get("variables") or ()
    return {d["name"]: frozenset(d["enum"]) for d in declarations if _is_list(declarations)
            and isinstance(d, Mapping) and isinstance(d.get("name"), str) and _is_list(d.get("enum"))}


def _compatible(a: Sequence[tuple[str, str, tuple[str, ...], str]], b: Sequence[tuple[str, str, tuple[str, ...], str]],
                enums: Mapping[str, frozenset[str]]) -> bool:
    """Whether some values satisfy the ``when`` conditions ``a`` and ``b`` at once. A variable with
    an enum takes one of its values; any other takes any string (its pattern is not considered)."""
    allowed: dict[str, frozenset[str]] = {}
    excluded: dict[str, set[str]] = {}
    for variable, operator, values, _ in (*a, *b):
        if operator == "In":
            allowed[variable] = allowed[variable] & frozenset(values) if variable in allowed else frozenset(values)
        else:
            excluded.setdefault(variable, set()).update(values)
    for variable in allowed.keys() | excluded.keys():
        choices = allowed.get(variable)
        if variable in enums:
            choices = enums[variable] if choices is None else choices & enums[variable]
        if choices is not None and not choices - excluded.get(variable, set()):
            return False  # no value left for this variable (a free string always avoids a finite NotIn)
    return True


# ---------------------------------------------------------------- size


def _entry_profiles(groups: Mapping[str, list[Mapping[str, Any]]]) -> tuple[EntryProfile, ...]:
    profiles = []
    for group in GROUPS:
        for index, entry in enumerate(groups[group]):
            metadata = entry.get("metadata")
            name = metadata.get("name") if isinstance(metadata, Mapping) else None
            profiles.append(EntryProfile(
                group, index, str(entry.get("name", "")),
                profile(entry, (text for _, text in _templated_strings(group, index, entry)), PLACEHOLDER),
                profile(name, (name,), PLACEHOLDER) if isinstance(name, str) else Profile(0, {}),
            ))
    return tuple(profiles)


def estimate_size(template: Mapping[str, Any], instance: Mapping[str, Any], *, every_entry: bool = False) -> int:
    """The bound :func:`render` checks, in bytes: the JSON of the children it would build for
    ``instance`` (every entry's with ``every_entry``, as :func:`validate` renders), plus
    :data:`.bounds.CHILD_OVERHEAD` per child, computed without building them. Values are not
    checked (as with ``check_values=False``)."""
    spec = _spec(template)
    variables = resolve(spec.get("variables") or (), (instance.get("spec") or {}).get("variables") or {},
                        check_values=False)
    groups = {group: _entries(spec, group) for group in GROUPS}
    return _measure(template, groups, _base(template, instance, variables), variables, every_entry)[0]


def _base(template: Mapping[str, Any], instance: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, str]:
    """The values of the variables and of the instance and template built-ins."""
    instance_meta = instance.get("metadata") or {}
    return {
        **variables,
        "instance.name": str(instance_meta.get("name", "")),
        "instance.namespace": str(instance_meta.get("namespace", "")),
        "template.name": str((template.get("metadata") or {}).get("name", "")),
    }


def _measure(template: Mapping[str, Any], groups: Mapping[str, list[Mapping[str, Any]]], base: Mapping[str, str],
             variables: Mapping[str, str], every_entry: bool) -> tuple[int, str, int, int, int]:
    """(estimated bytes, the reference adding most, the bytes it adds, its uses, its value's bytes)."""
    profiles = _PROFILES.get(template, lambda: _entry_profiles(groups))
    sizes: dict[str, int] = {}

    def length(ref: str) -> int:
        if ref not in sizes:
            if ref in base:
                sizes[ref] = string_size(base[ref]) - 2
            else:
                sizes[ref] = api.MAX_NAME if _CHILD_REF.fullmatch(ref) else 0
        return sizes[ref]

    inclusion: dict[tuple[str, int], bool] = {}

    def included(entry: EntryProfile) -> bool:
        key = (entry.group, entry.index)
        if key not in inclusion:
            try:
                inclusion[key] = every_entry or _included(
                    groups[entry.group][entry.index], f"spec.{entry.group}[{entry.index}]", variables)
            except TemplateError:
                inclusion[key] = True  # reported by the render itself; counting the entry whole is the safe side
        return inclusion[key]

    size, by_ref = estimate(profiles, included, length)
    ref, share = max(by_ref.items(), key=lambda item: item[1], default=("", 0))
    uses = sum((p.child if included(p) else p.name).uses.get(ref, 0) for p in profiles) if ref else 0
    return size, ref, share, uses, length(ref) if ref else 0


def _check_size(template: Mapping[str, Any], groups: Mapping[str, list[Mapping[str, Any]]], base: Mapping[str, str],
                variables: Mapping[str, str], values: Mapping[str, Any], *, check_values: bool,
                every_entry: bool) -> None:
    """Raise ``RenderTooLarge`` if the render would build more than :data:`.bounds.MAX_RENDER_BYTES`."""
    size, ref, share, uses, length = _measure(template, groups, base, variables, every_entry)
    if size <= MAX_RENDER_BYTES:
        return
    blame = f"; {{{{ {ref} }}}} accounts for {human(share)} ({uses} uses of {length} bytes)" if share else ""
    what = "the children of every entry, rendered with sample values," if every_entry else "the children"
    detail = f"{what} would be about {human(size)} of JSON, over the limit of {human(MAX_RENDER_BYTES)}{blame}"
    if check_values and ref in variables and ref in values:
        field = f"spec.variables.{ref}"
        raise InstanceError("RenderTooLarge", f"{field}: {detail}", field)
    if check_values:
        raise InstanceError("RenderTooLarge", f"spec: {detail}", "spec")
    raise TemplateError("RenderTooLarge", f"spec: {detail}", "spec")


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
    declared = _declared_names(spec)

    entries = _valid_entries(spec, errors)
    logical = {group: {entry["name"] for _, entry in entries[group]} for group in GROUPS}

    for group in GROUPS:
        for index, entry in entries[group]:
            path = f"spec.{group}[{index}]"
            for where, text in _templated_strings(group, index, entry):
                for match in PLACEHOLDER.finditer(text):
                    if not _known(match[1], declared, logical):
                        errors.append(_unknown_reference(match[1], where))
            try:
                for variable, _, _, where in _conditions(entry, path):
                    if variable not in declared:
                        errors.append(TemplateError(
                            "UnknownVariable", f"{where}.variable: {variable!r} is not a declared variable",
                            f"{where}.variable"))
            except TemplateError as exc:
                errors.append(exc)

    endpoint = spec.get("endpoint")
    endpoint_pod = endpoint.get("pod") if isinstance(endpoint, Mapping) else None
    if not isinstance(endpoint_pod, str) or endpoint_pod not in logical["pods"]:
        errors.append(TemplateError(
            "InvalidEndpoint", f"spec.endpoint.pod: {endpoint_pod!r} is not the name of an entry in spec.pods",
            "spec.endpoint.pod"))

    errors.extend(_cycles(entries))

    children: tuple[Child, ...] = ()
    unrendered: InstanceError | None = None
    try:
        children = _render(template, probe_instance(template), check_values=False, every_entry=True).children
    except TemplateError as exc:
        errors.append(exc)
    except InstanceError as exc:
        unrendered = exc

    unique: dict[tuple[str, str, str], TemplateError] = {}
    for error in errors:
        unique.setdefault((error.reason, error.field, error.message), error)
    return Validation(tuple(unique.values()), () if unique else children, unrendered)


def _deeper_than(value: Any, path: str, limit: int) -> str | None:
    """The path of an object or list nested more than ``limit`` levels deep in ``value`` (itself level
    1), or None. Iterative: the point is to survive what recursion would not."""
    stack = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        if depth > limit:
            return where
        items = node.items() if isinstance(node, Mapping) else enumerate(node) if _is_list(node) else ()
        for key, item in items:
            if isinstance(item, Mapping) or _is_list(item):
                stack.append((item, _key_path(where, key) if isinstance(key, str) else f"{where}[{key}]", depth + 1))
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
        if not _is_list(raw):
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


def _cycles(entries: Mapping[str, list[tuple[int, Mapping[str, Any]]]]) -> list[TemplateError]:
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
            edges[ref] = [t for t in targets if _CHILD_REF.fullmatch(t)]
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
                    errors.append(_cycle_error(cycle, paths))
            elif state.get(target) is None:
                visit(target)
        stack.pop()
        state[ref] = 2

    for ref in edges:
        if ref not in state:
            visit(ref)
    return errors
