"""What templates and rendered children may be: allowlisted kinds, pods within a Pod Security
level, and the tenant rules of :mod:`.tenant` — all answered by :class:`Policy` (pure).

:meth:`Policy.check` looks at rendered children (both reconcilers call it: a template's
sample render and every instance's render); :meth:`Policy.check_template` looks at the
template alone (which declared variables reach identity and reference fields). A Pod
rendered from ``spec.resources`` is Pod-Security checked like any pod and, besides, refused
by the tenant rules: pods belong in ``spec.pods``.

:func:`check_pod` implements the field rules of the Kubernetes Pod Security Standards
(https://kubernetes.io/docs/concepts/security/pod-security-standards/) as the
``pod-security-admission`` library checks them for the latest policy version, so a
template is refused by the operator, with a field path, before the API server's
admission would refuse its pods one at a time.

Guaranteed: a pod the API server's Pod Security admission would reject at the same
level yields at least one :class:`Violation`; the checks look at
``containers``, ``initContainers`` and ``ephemeralContainers`` alike; ``PRIVILEGED``
allows everything.

Deliberately stricter than admission (never looser):

- Pods with ``hostUsers: false`` (user namespaces) get no relaxation of
  ``runAsNonRoot``/``runAsUser``/``procMount``: that relaxation depends on every node
  supporting user namespaces, which a template cannot promise.
- The pod is checked as written, before the API server's defaulting (a volume with no
  source counts as the ``emptyDir`` it defaults to).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol

from .templating import GROUPS, PLACEHOLDER, templated_strings
from .tenant import TenantPolicy, check_child, check_variables
from .tenant import as_list as _list
from .tenant import as_map as _map

__all__ = ["DEFAULT_ALLOWED_KINDS", "Level", "Policy", "TenantPolicy", "Violation", "check_kind", "check_pod"]

DEFAULT_ALLOWED_KINDS: frozenset[tuple[str, str]] = frozenset({
    ("v1", "Pod"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
})
"""(apiVersion, kind) pairs a template may render unless the operator is configured otherwise."""


class Level(StrEnum):
    """A Pod Security Standards level (the values are the ``pod-security.kubernetes.io`` label values)."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


@dataclass(frozen=True)
class Violation:
    field: str
    """Path of the offending field, e.g. ``spec.containers[0].securityContext.privileged``."""
    message: str


class Kinded(Protocol):
    """What :func:`check_kind` needs of a rendered child (``render.Child`` has it)."""

    @property
    def group(self) -> str: ...
    @property
    def logical_name(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def kind(self) -> str: ...


def check_kind(child: Kinded, allowed: frozenset[tuple[str, str]]) -> Violation | None:
    """A violation if ``child``'s (apiVersion, kind) is not in ``allowed``."""
    if (child.api_version, child.kind) in allowed:
        return None
    allowed_text = ", ".join(f"{kind} ({version})" for version, kind in sorted(allowed, key=lambda vk: (vk[1], vk[0])))
    return Violation(
        f"spec.{child.group}[{child.logical_name}].kind",
        f"{child.group} {child.logical_name!r}: kind {child.kind} ({child.api_version}) is not allowed; "
        f"allowed kinds: {allowed_text}",
    )


# ---------------------------------------------------------------- the rules' data

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
})
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


# ---------------------------------------------------------------- helpers


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every container of every kind, with its path."""
    for kind in CONTAINER_LISTS:
        for index, container in enumerate(_list(spec.get(kind))):
            yield f"spec.{kind}[{index}]", _map(container)


def _name(container: Mapping[str, Any]) -> str:
    return repr(container.get("name", "?"))


# ---------------------------------------------------------------- baseline


def _baseline(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[Violation]:
    yield from _baseline_pod(spec)
    yield from _apparmor_annotations(metadata)
    for path, container in _containers(spec):
        yield from _baseline_container(path, container)


def _baseline_pod(spec: Mapping[str, Any]) -> Iterator[Violation]:
    pod_sc = _map(spec.get("securityContext"))

    if _map(pod_sc.get("windowsOptions")).get("hostProcess") is True:
        yield Violation("spec.securityContext.windowsOptions.hostProcess", "hostProcess pods are forbidden")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield Violation(f"spec.{key}", f"{key}=true shares a host namespace and is forbidden")

    for index, volume in enumerate(_list(spec.get("volumes"))):
        if _map(volume).get("hostPath") is not None:
            yield Violation(f"spec.volumes[{index}].hostPath",
                            f"volume {_name(_map(volume))} is a hostPath volume, which is forbidden")

    yield from _selinux(_map(pod_sc.get("seLinuxOptions")), "spec.securityContext.seLinuxOptions", "the pod")
    yield from _profiles(pod_sc, "spec.securityContext", "the pod")

    for index, sysctl in enumerate(_list(pod_sc.get("sysctls"))):
        name = _map(sysctl).get("name")
        if name not in SAFE_SYSCTLS:
            yield Violation(f"spec.securityContext.sysctls[{index}].name", f"sysctl {name!r} is not a safe sysctl")


def _apparmor_annotations(metadata: Mapping[str, Any]) -> Iterator[Violation]:
    annotations = _map(metadata.get("annotations"))
    for key, value in annotations.items():
        if str(key).startswith(APPARMOR_ANNOTATION_PREFIX) and not (
            value in ("", "runtime/default") or (isinstance(value, str) and value.startswith("localhost/"))
        ):
            yield Violation(f"metadata.annotations[{key}]",
                            f"AppArmor profile {value!r} is forbidden (allowed: runtime/default, localhost/*)")


def _baseline_container(path: str, container: Mapping[str, Any]) -> Iterator[Violation]:
    sc = _map(container.get("securityContext"))
    sc_path = f"{path}.securityContext"
    who = f"container {_name(container)}"
    if _map(sc.get("windowsOptions")).get("hostProcess") is True:
        yield Violation(f"{sc_path}.windowsOptions.hostProcess", f"{who}: hostProcess containers are forbidden")
    if sc.get("privileged") is True:
        yield Violation(f"{sc_path}.privileged", f"{who}: privileged containers are forbidden")
    for index, capability in enumerate(_list(_map(sc.get("capabilities")).get("add"))):
        if capability not in BASELINE_CAPABILITIES:
            yield Violation(f"{sc_path}.capabilities.add[{index}]",
                            f"{who}: adding capability {capability!r} is forbidden")
    for index, port in enumerate(_list(container.get("ports"))):
        host_port = _map(port).get("hostPort")
        if host_port not in (None, 0):
            yield Violation(f"{path}.ports[{index}].hostPort", f"{who}: hostPort {host_port!r} is forbidden")
    yield from _selinux(_map(sc.get("seLinuxOptions")), f"{sc_path}.seLinuxOptions", who)
    proc_mount = sc.get("procMount")
    if proc_mount is not None and proc_mount != "Default":
        yield Violation(f"{sc_path}.procMount", f"{who}: procMount {proc_mount!r} is forbidden (only Default)")
    yield from _profiles(sc, sc_path, who)
    yield from _probe_hosts(container, path, who)


def _selinux(options: Mapping[str, Any], path: str, who: str) -> Iterator[Violation]:
    selinux_type = options.get("type")
    if selinux_type is not None and selinux_type not in SELINUX_TYPES:
        yield Violation(f"{path}.type", f"{who}: SELinux type {selinux_type!r} is forbidden")
    for key in ("user", "role"):
        if options.get(key):
            yield Violation(f"{path}.{key}", f"{who}: a custom SELinux {key} is forbidden")


def _profiles(sc: Mapping[str, Any], path: str, who: str) -> Iterator[Violation]:
    """Baseline: seccomp and AppArmor profiles, when set, must be RuntimeDefault or Localhost."""
    for key, label, allowed in (("seccompProfile", "seccomp", SECCOMP_TYPES),
                                ("appArmorProfile", "AppArmor", APPARMOR_TYPES)):
        profile = sc.get(key)
        if profile is not None and _map(profile).get("type") not in allowed:
            yield Violation(f"{path}.{key}.type", f"{who}: {label} profile {_map(profile).get('type')!r} is "
                                                  "forbidden (allowed: RuntimeDefault, Localhost)")


def _probe_hosts(container: Mapping[str, Any], path: str, who: str) -> Iterator[Violation]:
    handlers = [(f"{path}.{probe}", _map(container.get(probe)))
                for probe in ("livenessProbe", "readinessProbe", "startupProbe")]
    lifecycle = _map(container.get("lifecycle"))
    handlers += [(f"{path}.lifecycle.{hook}", _map(lifecycle.get(hook))) for hook in ("postStart", "preStop")]
    for handler_path, handler in handlers:
        for action in ("httpGet", "tcpSocket"):
            host = _map(handler.get(action)).get("host")
            if host:
                yield Violation(f"{handler_path}.{action}.host",
                                f"{who}: a probe or lifecycle handler may not target host {host!r}")


# ---------------------------------------------------------------- restricted


def _restricted(spec: Mapping[str, Any]) -> Iterator[Violation]:
    pod_sc = _map(spec.get("securityContext"))

    for index, volume in enumerate(_list(spec.get("volumes"))):
        sources = [str(key) for key in _map(volume) if key != "name"]
        for source in sources:
            if source not in RESTRICTED_VOLUME_TYPES and source != "hostPath":  # hostPath: reported by baseline
                yield Violation(f"spec.volumes[{index}].{source}",
                                f"volume {_name(_map(volume))} has the restricted type {source!r}")

    pod_non_root = pod_sc.get("runAsNonRoot")
    if pod_non_root is False:
        yield Violation("spec.securityContext.runAsNonRoot", "the pod must not set runAsNonRoot=false")
    if pod_sc.get("runAsUser") == 0:
        yield Violation("spec.securityContext.runAsUser", "the pod must not run as user 0 (root)")
    pod_seccomp = _map(pod_sc.get("seccompProfile")).get("type") in SECCOMP_TYPES
    for path, container in _containers(spec):
        yield from _restricted_container(path, container, pod_non_root=pod_non_root, pod_seccomp=pod_seccomp)


def _restricted_container(path: str, container: Mapping[str, Any], *, pod_non_root: Any,
                          pod_seccomp: bool) -> Iterator[Violation]:
    sc = _map(container.get("securityContext"))
    sc_path = f"{path}.securityContext"
    who = f"container {_name(container)}"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield Violation(f"{sc_path}.allowPrivilegeEscalation", f"{who} must set allowPrivilegeEscalation=false")
    non_root = sc.get("runAsNonRoot")
    if non_root is False:
        yield Violation(f"{sc_path}.runAsNonRoot", f"{who} must not set runAsNonRoot=false")
    elif non_root is None and pod_non_root is not True:
        yield Violation(f"{sc_path}.runAsNonRoot", f"the pod or {who} must set runAsNonRoot=true")
    if sc.get("runAsUser") == 0:
        yield Violation(f"{sc_path}.runAsUser", f"{who} must not run as user 0 (root)")
    if sc.get("seccompProfile") is None and not pod_seccomp:
        yield Violation(f"{sc_path}.seccompProfile.type",
                        f"the pod or {who} must set seccompProfile.type to RuntimeDefault or Localhost")
    capabilities = _map(sc.get("capabilities"))
    if "ALL" not in _list(capabilities.get("drop")):
        yield Violation(f"{sc_path}.capabilities.drop", f'{who} must set capabilities.drop=["ALL"]')
    for index, capability in enumerate(_list(capabilities.get("add"))):
        if capability != "NET_BIND_SERVICE":
            yield Violation(f"{sc_path}.capabilities.add[{index}]",
                            f"{who} may add only NET_BIND_SERVICE, not {capability!r}")


def check_pod(pod_manifest: Mapping[str, Any], level: Level) -> list[Violation]:
    """Every way ``pod_manifest`` (a whole Pod: metadata and spec) breaks ``level``.

    One violation per offending field (the first reason found for it), in a
    deterministic order: baseline rules first, then the restricted ones.
    """
    if level == Level.PRIVILEGED:
        return []
    metadata = _map(pod_manifest.get("metadata"))
    spec = _map(pod_manifest.get("spec"))
    found = list(_baseline(metadata, spec))
    if level == Level.RESTRICTED:
        found.extend(_restricted(spec))
    unique: dict[str, Violation] = {}
    for violation in found:
        unique.setdefault(violation.field, violation)
    return list(unique.values())


class Checkable(Kinded, Protocol):
    @property
    def manifest(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Policy:
    """What every template and rendered child must satisfy: the allowlist of kinds, a Pod Security
    level and the tenant rules (:mod:`.tenant`)."""

    level: Level = Level.BASELINE
    allowed_kinds: frozenset[tuple[str, str]] = DEFAULT_ALLOWED_KINDS
    tenant: TenantPolicy = field(default_factory=TenantPolicy)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short digest of these settings: a template's verdict records it, so a verdict reached under
        other settings (an upgrade, a loosened or tightened flag) is reached again under these."""
        def plain(value: Any) -> Any:
            if isinstance(value, frozenset | set):
                return sorted(plain(v) for v in value)
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value
        settings = {"level": str(self.level), "kinds": plain(self.allowed_kinds),
                    **{f.name: plain(getattr(self.tenant, f.name)) for f in fields(self.tenant)}}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def check(self, children: Iterable[Checkable]) -> list[tuple[str, Violation]]:
        """``(reason, violation)`` for every problem: ``KindNotAllowed``, ``PodSecurityViolation`` or
        ``TenantPolicyViolation``, with field paths from the template's ``spec.<group>[<logical name>]``."""
        found: list[tuple[str, Violation]] = []
        for child in children:
            if (violation := check_kind(child, self.allowed_kinds)) is not None:
                found.append(("KindNotAllowed", violation))
                continue
            if child.kind == "Pod":
                prefix = f"spec.{child.group}[{child.logical_name}]"
                found += [("PodSecurityViolation",
                           Violation(f"{prefix}.{v.field}", f"{v.message} (level {self.level})"))
                          for v in check_pod(child.manifest, self.level)]
            found += [("TenantPolicyViolation", Violation(field, message))
                      for field, message in check_child(child, self.tenant)]
        return found

    def check_template(self, template: Mapping[str, Any]) -> list[tuple[str, Violation]]:
        """``(reason, violation)`` for every problem the template shows before any rendering:
        ``VariableInReferenceField``, where a declared variable fills an identity or reference field
        (``spec.pods[0].spec.serviceAccountName``). Tolerates malformed templates (other checks
        report those)."""
        return [("VariableInReferenceField", Violation(field, message))
                for field, message in check_variables(template, _templated(template), PLACEHOLDER,
                                                       self.tenant.variable_references)]


def _templated(template: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(entry path, path inside the child's body, text)`` for every templated string of the
    template's children, metadata left out."""
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        return
    for group in GROUPS:
        entries = _list(spec.get(group))
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                continue
            prefix = f"spec.{group}[{index}]"
            for path, text in templated_strings(group, index, entry):
                body = path[len(prefix):].lstrip(".")
                if not body.startswith("metadata."):
                    yield prefix, body, text
