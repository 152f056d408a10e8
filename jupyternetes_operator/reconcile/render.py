"""Render a JupyterNotebookTemplate for a JupyterNotebookInstance into child manifests (pure).

Guaranteed:

- Plain data in, plain data out: inputs may be read-only (``Mapping``/``Sequence``,
  tuples for lists) and are never mutated; outputs are fresh ``dict``/``list`` trees
  that share nothing with the inputs. No I/O, no clock: the same inputs always give
  the same output.
- Placeholders are substituted once, after parsing, and never add structure (see
  :mod:`.templating`); child names are computed first, in dependency order, and are DNS
  labels (see :mod:`.names`); an entry whose ``when`` does not hold is left out (see
  :mod:`.when`); the size is bounded before anything is built (see :mod:`.measure`).
- Children come out in creation order: PVCs, then other resources, then pods, each in
  template order. Every child is in the instance's namespace, carries the operator's
  labels (which win over the template's) and a controller ownerReference to the
  instance — except a ``retain: true`` PVC, which is labelled retained and has no owner,
  so it outlives the instance.
- The endpoint container gets the instance's environment Secret
  (:func:`api.env_secret_of`: named by a nonce the spawner put on the instance) as a required
  ``envFrom`` source; an instance that declares none gets none (a Secret named after an
  instance could have been planted by anyone who can create Secrets there).
- Two children of one kind never render to one name (``DuplicateName``).

Validation of a template on its own, with a probe render of every entry, is :mod:`.validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import api
from .measure import base_values, check_size
from .names import ChildNames
from .templating import (
    GROUPS,
    entry_metadata,
    group_entries,
    key_path,
    render_value,
    template_spec,
    templated_fields,
    unknown_reference,
)
from .variables import InstanceError, RenderError, TemplateError, resolve
from .when import compatible, is_included, variable_enums, when_conditions

__all__ = [
    "Child",
    "Endpoint",
    "InstanceError",
    "RenderError",
    "Rendered",
    "TemplateError",
    "render",
]

_KINDS = {"pods": ("v1", "Pod"), "pvcs": ("v1", "PersistentVolumeClaim")}

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
    rendered: dict[str, str] = render_value(value, path, lookup)
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
    metadata = entry_metadata(entry, path)
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
        meta["ownerReferences"] = [api.instance_owner(ctx.instance_name, ctx.uid, controller=True)]
    manifest: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    for key in templated_fields(group, entry):
        manifest[key] = render_value(entry[key], key_path(path, key), ctx.lookup)
    if group != "resources":
        spec = manifest.setdefault("spec", {})
        if not isinstance(spec, dict):
            raise TemplateError("InvalidTemplate", f"{path}.spec must be an object", f"{path}.spec")
    return Child(group, logical, api_version, kind, name, manifest, retain)


def _wire_endpoint(
    spec: Mapping[str, Any], pods: Mapping[str, int], manifests: Mapping[str, dict[str, Any]], env_secret: str | None,
) -> Endpoint:
    """Check ``spec.endpoint`` and add the env Secret (if any) to the endpoint container of ``manifests``."""
    logical, port, container_name = _endpoint_fields(spec, pods)
    manifest = manifests.get(logical)
    if manifest is None:
        raise TemplateError(
            "InvalidEndpoint",
            f"spec.endpoint.pod: the endpoint pod {logical!r} is excluded by its when conditions for these variables",
            "spec.endpoint.pod",
        )
    pod_path = f"spec.pods[{pods[logical]}].spec.containers"
    container = _endpoint_container(manifest, logical, container_name, pod_path)
    if isinstance(port, str):
        ports = container.get("ports")
        if not isinstance(ports, list) or not any(isinstance(p, dict) and p.get("name") == port for p in ports):
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


def _endpoint_fields(spec: Mapping[str, Any], pods: Mapping[str, int]) -> tuple[str, int | str, str | None]:
    """``spec.endpoint``'s pod (a logical name in ``pods``), port and container, checked."""
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
    return logical, port, container_name


def _endpoint_container(manifest: Mapping[str, Any], logical: str, container_name: str | None,
                        pod_path: str) -> dict[str, Any]:
    """The endpoint container of the rendered pod ``manifest``: the named one, else the first."""
    containers = manifest["spec"].get("containers")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise TemplateError("InvalidEndpoint", f"{pod_path} must be a non-empty list of containers", pod_path)
    if container_name is None:
        container: dict[str, Any] = containers[0]
        return container
    found = [c for c in containers if c.get("name") == container_name]
    if not found:
        raise TemplateError(
            "InvalidEndpoint",
            f"spec.endpoint.container: pod {logical!r} has no container named {container_name!r}",
            "spec.endpoint.container",
        )
    container = found[0]
    return container


# ---------------------------------------------------------------- render


def render(template: Mapping[str, Any], instance: Mapping[str, Any], *, check_values: bool = True,
           every_entry: bool = False) -> Rendered:
    """The children, resolved variables and endpoint of ``instance`` rendered from ``template``.

    Raises :class:`TemplateError` when the template is at fault and
    :class:`InstanceError` when the instance's variables or name are (``RenderTooLarge``
    included: the size is checked before anything is built). With ``check_values=False``
    (validation with sample values) required variables get a sample and patterns and enums
    are not enforced (see :func:`.variables.resolve`), and ``RenderTooLarge`` is a
    :class:`TemplateError`. With ``every_entry`` (validation's probe) every entry becomes a
    child whatever its ``when`` (the endpoint must still be among the entries the values
    include).
    """
    spec = template_spec(template)
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
    groups = {group: group_entries(spec, group) for group in GROUPS}
    base = base_values(template, instance, variables)
    check_size(template, groups, base, variables, values, check_values=check_values, every_entry=every_entry)
    names = ChildNames(groups, base, set(variables), instance_name).all()
    known = {**base, **names}

    def lookup(ref: str, path: str) -> str:
        try:
            return known[ref]
        except KeyError:
            raise unknown_reference(ref, path) from None

    ctx = _Context(instance_name, namespace, uid, template_name, lookup, names)
    children: list[Child] = []
    pod_manifests: dict[str, dict[str, Any]] = {}
    conditions: dict[tuple[str, str], list[tuple[str, str, tuple[str, ...], str]]] = {}
    for group in GROUPS:
        for index, entry in enumerate(groups[group]):
            path = f"spec.{group}[{index}]"
            included = is_included(entry, path, variables)
            if not included and not every_entry:
                continue
            child = _child(group, index, entry, ctx)
            children.append(child)
            conditions[(group, child.logical_name)] = when_conditions(entry, path)
            if group == "pods" and included:
                pod_manifests[child.logical_name] = child.manifest
    together = None
    if every_entry:
        enums = variable_enums(spec)

        def together(a: Child, b: Child) -> bool:
            return compatible(conditions[(a.group, a.logical_name)], conditions[(b.group, b.logical_name)], enums)

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
