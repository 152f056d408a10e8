"""The tenant policy: what a template may do besides Pod Security, so a hub user cannot reach
another user's objects or pick an identity, and a template cannot hand one out by accident (pure).

Two kinds of rule, each on by default and each loosened only by an explicit operator setting:

- :func:`check_variables` (static, on the template): a declared variable's placeholder may not
  appear in an *identity or reference field* — a service account, a node or placement, a
  priority or runtime class, the name of a claim, Secret or ConfigMap a pod mounts or reads,
  ``imagePullSecrets``, a PVC's ``volumeName``/``selector``/``dataSource``/``dataSourceRef``,
  a Service's or NetworkPolicy's selectors, a Service's external addresses. Built-ins
  (``{{ pvcs.home.name }}``, ``{{ instance.name }}``) are the operator's own and are fine: they
  name the instance's own children and env Secret. A variable may fill such a field only when
  its declaration says ``allowReferences: true`` *and* lists an ``enum`` (so only values the
  template's author listed can flow), unless :attr:`TenantPolicy.variable_references` says
  otherwise.
- :func:`check_child` (on every rendered child, literal values included): service accounts,
  projected token audiences, priority and runtime classes from allowlists; no ``nodeName``;
  Services of allowed types without ``externalIPs``; PVCs without ``volumeName``/``selector``
  and with only allowed data sources; no Pod rendered from ``spec.resources`` (pods belong in
  ``spec.pods``, where they are checked and one is the endpoint).

Guaranteed: every violation names the field (a path in the template) and, in its message, the
setting that would allow it. A pod that names no ``serviceAccountName`` is checked as the
``default`` account it gets. The checks read the pod as written (before server defaulting).

Not promised: that the listed fields are every field a cluster's extensions may treat as a
reference (a CRD allowlisted as a kind may have its own); ``automountServiceAccountToken`` is
not a rule of its own — the service account allowlist decides which token a pod can get.
Variable values that the kubelet would expand (``$(VAR)``) are refused by
:func:`.variables.resolve`, not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "DEFAULT_PVC_DATA_SOURCES",
    "DEFAULT_SERVICE_ACCOUNTS",
    "DEFAULT_SERVICE_TYPES",
    "SERVICE_TYPES",
    "TenantPolicy",
    "VariableReferences",
    "check_child",
    "check_variables",
    "is_reference",
]

DEFAULT_SERVICE_ACCOUNTS = frozenset({"default"})
DEFAULT_SERVICE_TYPES = frozenset({"ClusterIP"})
DEFAULT_PVC_DATA_SOURCES = frozenset({"snapshot.storage.k8s.io/VolumeSnapshot"})
"""``group/Kind`` of data sources a PVC may name literally (a core kind has no ``group/``)."""


class VariableReferences(StrEnum):
    """Which declared variables may fill identity and reference fields."""

    NEVER = "never"
    """None, whatever their declaration says."""
    DECLARED = "declared"
    """Those declared with ``allowReferences: true`` and an ``enum`` (the default)."""
    ANY = "any"
    """Every variable: the rule is off."""


SERVICE_TYPES = frozenset({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})
_GROUP_KIND = re.compile(r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Z][A-Za-z0-9]*")


@dataclass(frozen=True)
class TenantPolicy:
    """The tenant rules' settings; the defaults are the strict ones. Raises ``ValueError`` on a
    Service type that does not exist or a data source that is not ``group/Kind`` or ``Kind``."""

    variable_references: VariableReferences = VariableReferences.DECLARED
    """Which variables may fill identity and reference fields (flag ``--variable-references``)."""
    service_accounts: frozenset[str] = DEFAULT_SERVICE_ACCOUNTS
    """Service accounts a pod may run as; a pod without ``serviceAccountName`` runs as ``default``.
    Any other account may hold RBAC (the hub's own does), so it must be listed deliberately."""
    token_audiences: frozenset[str] = frozenset()
    """Audiences a projected ``serviceAccountToken`` may be requested for; none by default. A
    projected token must name its audience (write the API server's own out to allow it)."""
    priority_classes: frozenset[str] = frozenset()
    """PriorityClasses a pod may name (``system-node-critical`` preempts everything)."""
    runtime_classes: frozenset[str] = frozenset()
    """RuntimeClasses a pod may name (a runtime class picks nodes and a sandbox)."""
    node_name: bool = False
    """Whether a pod may set ``nodeName``, which bypasses the scheduler (and its taints)."""
    service_types: frozenset[str] = DEFAULT_SERVICE_TYPES
    """Service types a template may render; NodePort and LoadBalancer expose a server outside the
    cluster, ExternalName points a name anywhere. Headless services are ClusterIP ones."""
    external_ips: bool = False
    """Whether a Service may set ``externalIPs`` (it captures traffic to those addresses)."""
    pvc_binding: bool = False
    """Whether a PVC may set ``volumeName`` or ``selector`` (both pick an existing volume, a hostPath
    PV or another user's released one)."""
    pvc_data_sources: frozenset[str] = DEFAULT_PVC_DATA_SOURCES
    """``group/Kind`` of ``dataSource``/``dataSourceRef`` a PVC may name; a clone of another claim
    (``PersistentVolumeClaim``) is not allowed by default."""

    def __post_init__(self) -> None:
        if unknown := sorted(self.service_types - SERVICE_TYPES):
            raise ValueError(f"unknown Service types {unknown} (known: {sorted(SERVICE_TYPES)})")
        if bad := sorted(s for s in self.pvc_data_sources if not _GROUP_KIND.fullmatch(s)):
            raise ValueError(f"PVC data sources must be group/Kind or Kind (core group), not {bad}")


class Child(Protocol):
    """What :func:`check_child` needs of a rendered child (``render.Child`` has it)."""

    @property
    def group(self) -> str: ...
    @property
    def logical_name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def manifest(self) -> Mapping[str, Any]: ...


# ---------------------------------------------------------------- helpers


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one (templates are checked as written, malformed too)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> Sequence[Any]:
    """``value`` if it is a list (not a string), else an empty one."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    return ()


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values)) or "none"


# ---------------------------------------------------------------- variables in reference fields

REFERENCE_KEYS = frozenset({
    # identity and placement of a pod
    "serviceAccountName", "serviceAccount", "nodeName", "priorityClassName", "runtimeClassName", "schedulerName",
    # names of objects a pod mounts or reads
    "claimName", "secretName",
    # a PVC's volume
    "volumeName", "storageClassName",
    # a Service's addresses
    "externalName", "externalIPs", "loadBalancerIP",
})
"""A string at a key of this name is a reference, wherever it is in a body."""
REFERENCE_TREES = frozenset({
    # placement
    "nodeSelector", "affinity", "tolerations", "topologySpreadConstraints",
    # objects a pod reads
    "imagePullSecrets", "secretRef", "configMapRef", "secretKeyRef", "configMapKeyRef", "nodePublishSecretRef",
    "serviceAccountToken", "clusterTrustBundle",
    # a PVC's source and binding
    "dataSource", "dataSourceRef", "selector",
    # which pods a Service or NetworkPolicy reaches
    "podSelector", "namespaceSelector",
})
"""Every string under a key of this name is a reference."""
NAMED_SOURCES = frozenset({"secret", "configMap", "persistentVolumeClaim"})
"""Volume and projected sources whose ``name`` is a reference."""
FREE_FORM = frozenset({"data", "binaryData", "stringData"})
"""Top-level body fields that hold data, not references (a ConfigMap's)."""
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]*)\]")


def _keys(path: str) -> list[str]:
    """The mapping keys of a path as ``render`` writes it (list indexes dropped)."""
    return [m[1] or m[2] for m in _SEGMENT.finditer("." + path) if not (m[2] or "").isdigit()]


def is_reference(body_path: str) -> bool:
    """Whether ``body_path`` (a path inside a child's body, e.g. ``spec.volumes[0].secret.secretName``)
    is an identity or reference field."""
    keys = _keys(body_path)
    if not keys or keys[0] in FREE_FORM:
        return False
    if keys[-1] in REFERENCE_KEYS or any(key in REFERENCE_TREES for key in keys):
        return True
    return len(keys) >= 2 and keys[-1] == "name" and keys[-2] in NAMED_SOURCES


@dataclass(frozen=True)
class _Declared:
    index: int
    allow: bool
    enum: bool
    user_settable: bool


def _declarations(spec: Mapping[str, Any]) -> dict[str, _Declared]:
    found: dict[str, _Declared] = {}
    for index, raw in enumerate(as_list(spec.get("variables"))):
        item = as_map(raw)
        name = item.get("name")
        if isinstance(name, str) and name not in found:
            found[name] = _Declared(index, item.get("allowReferences") is True, bool(as_list(item.get("enum"))),
                                    item.get("userSettable") is True)
    return found


def check_variables(
    template: Mapping[str, Any],
    templated: Iterator[tuple[str, str, str]],
    placeholders: re.Pattern[str],
    mode: VariableReferences,
) -> Iterator[tuple[str, str]]:
    """``(field, message)`` for every declared variable in an identity or reference field.

    ``templated`` yields ``(entry path, path in the body, text)`` for every templated string of
    every child entry (``spec.pods[0]``, ``spec.serviceAccountName``, ``"{{ sa }}"``);
    ``placeholders`` finds ``{{ ref }}`` with the reference as group 1.
    """
    if mode == VariableReferences.ANY:
        return
    declared = _declarations(as_map(template.get("spec")))
    for name, declaration in declared.items():
        if declaration.allow and not declaration.enum:
            field = f"spec.variables[{declaration.index}].allowReferences"
            yield field, (f"variable {name!r} allows references but lists no enum: only values the template "
                          "lists may fill a reference field")
    yield from _retained_claim_names(as_map(template.get("spec")), declared, placeholders, mode)
    for entry_path, body_path, text in templated:
        if not is_reference(body_path):
            continue
        for match in placeholders.finditer(text):
            found = declared.get(match[1])
            if found is None or (mode == VariableReferences.DECLARED and found.allow and found.enum):
                continue
            how = ("declare it with allowReferences: true and an enum, or run the operator with "
                   "--variable-references=any" if mode == VariableReferences.DECLARED
                   else "the operator runs with --variable-references=never; --variable-references=declared "
                        "allows variables declared with allowReferences: true and an enum")
            yield f"{entry_path}.{body_path}", (
                f"variable {{{{ {match[1]} }}}} fills an identity or reference field, so an instance could "
                f"choose another user's object or an identity; use a built-in such as pvcs.<n>.name, or {how}")


def _retained_claim_names(spec: Mapping[str, Any], declared: Mapping[str, _Declared], placeholders: re.Pattern[str],
                         mode: VariableReferences) -> Iterator[tuple[str, str]]:
    """A retained claim outlives its server and is adopted by the next instance that renders its name:
    a name a user can choose (a ``userSettable`` variable) could name another user's home."""
    for index, raw in enumerate(as_list(spec.get("pvcs"))):
        entry = as_map(raw)
        name = as_map(entry.get("metadata")).get("name")
        if entry.get("retain") is not True or not isinstance(name, str):
            continue
        for match in placeholders.finditer(name):
            found = declared.get(match[1])
            if found is None or not found.user_settable or (
                    mode == VariableReferences.DECLARED and found.allow and found.enum):
                continue
            yield f"spec.pvcs[{index}].metadata.name", (
                f"user-settable variable {{{{ {match[1]} }}}} names a retained claim, so a user could name (and "
                "adopt) another user's home; use a variable the spawner sets, such as username, or declare it "
                "with allowReferences: true and an enum")


# ---------------------------------------------------------------- rendered children


def check_child(child: Child, policy: TenantPolicy) -> Iterator[tuple[str, str]]:
    """``(field, message)`` for every tenant rule ``child`` breaks, paths from ``spec.<group>[<logical>]``."""
    prefix = f"spec.{child.group}[{child.logical_name}]"
    manifest = child.manifest
    if child.kind == "Pod":
        if child.group != "pods":
            yield f"{prefix}.kind", ("a Pod may only be rendered from spec.pods, where it is checked and "
                                     "watched as part of the server; move it there (no setting allows it)")
            return
        yield from ((f"{prefix}.{field}", message) for field, message in _pod(as_map(manifest.get("spec")), policy))
    elif child.kind == "Service" and manifest.get("apiVersion") == "v1":
        yield from ((f"{prefix}.{field}", message) for field, message in _service(as_map(manifest.get("spec")), policy))
    elif child.kind == "PersistentVolumeClaim" and manifest.get("apiVersion") == "v1":
        yield from ((f"{prefix}.{field}", message) for field, message in _claim(as_map(manifest.get("spec")), policy))


def _pod(spec: Mapping[str, Any], policy: TenantPolicy) -> Iterator[tuple[str, str]]:
    for key in ("serviceAccountName", "serviceAccount"):
        account = spec.get(key) or ("default" if key == "serviceAccountName" else None)  # "" is unset
        if account is not None and account not in policy.service_accounts:
            implied = "" if spec.get(key) else " (a pod without serviceAccountName runs as 'default')"
            yield f"spec.{key}", (f"service account {account!r}{implied} is not allowed (allowed: "
                                  f"{_listed(policy.service_accounts)}; --allowed-service-accounts)")
    if spec.get("nodeName") and not policy.node_name:
        yield "spec.nodeName", "nodeName bypasses the scheduler and is not allowed (--allow-node-name)"
    for key, allowed, flag in (("priorityClassName", policy.priority_classes, "--allowed-priority-classes"),
                               ("runtimeClassName", policy.runtime_classes, "--allowed-runtime-classes")):
        value = spec.get(key)
        if value is not None and value not in allowed:
            yield f"spec.{key}", f"{key} {value!r} is not allowed (allowed: {_listed(allowed)}; {flag})"
    for index, volume in enumerate(as_list(spec.get("volumes"))):
        sources = as_list(as_map(as_map(volume).get("projected")).get("sources"))
        for at, source in enumerate(sources):
            token = as_map(source).get("serviceAccountToken")
            if token is None:
                continue
            audience = as_map(token).get("audience")
            if audience not in policy.token_audiences:
                what = f"audience {audience!r}" if audience else "no audience (the API server's own)"
                yield (f"spec.volumes[{index}].projected.sources[{at}].serviceAccountToken.audience",
                       f"a projected service account token for {what} is not allowed (allowed audiences: "
                       f"{_listed(policy.token_audiences)}; --allowed-token-audiences)")


def _service(spec: Mapping[str, Any], policy: TenantPolicy) -> Iterator[tuple[str, str]]:
    kind = spec.get("type", "ClusterIP")
    if kind not in policy.service_types:
        yield "spec.type", (f"Service type {kind!r} is not allowed (allowed: {_listed(policy.service_types)}; "
                            "--allowed-service-types)")
    if as_list(spec.get("externalIPs")) and not policy.external_ips:
        yield "spec.externalIPs", "a Service with externalIPs captures traffic to them (--allow-external-ips)"


def _claim(spec: Mapping[str, Any], policy: TenantPolicy) -> Iterator[tuple[str, str]]:
    if not policy.pvc_binding:
        for key in ("volumeName", "selector"):
            if spec.get(key):
                yield f"spec.{key}", (f"a claim with {key} binds an existing volume of someone's choosing, "
                                      "not a fresh one (--allow-pvc-binding)")
    for key in ("dataSource", "dataSourceRef"):
        source = spec.get(key)
        if source is None:
            continue
        group, kind = as_map(source).get("apiGroup") or "", as_map(source).get("kind")
        named = f"{group}/{kind}" if group else str(kind)
        if named not in policy.pvc_data_sources:
            yield f"spec.{key}", (f"a claim populated from {named} is not allowed (allowed: "
                                  f"{_listed(policy.pvc_data_sources)}; --allowed-pvc-data-sources)")
