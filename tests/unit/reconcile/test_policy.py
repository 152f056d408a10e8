from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.reconcile.policy import (
    DEFAULT_ALLOWED_KINDS,
    Level,
    Violation,
    check_kind,
    check_pod,
)


def compliant() -> dict[str, Any]:
    """A pod that meets the restricted level."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"},
                                "sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]},
            "containers": [{
                "name": "c",
                "image": "i",
                "ports": [{"containerPort": 8888, "hostPort": 0}],
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                "readinessProbe": {"httpGet": {"path": "/", "port": 8888, "host": ""}},
            }],
            "initContainers": [{
                "name": "init",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"},
                                    "seLinuxOptions": {"type": "container_init_t"}},
            }],
            "volumes": [
                {"name": "a", "emptyDir": {}}, {"name": "b", "persistentVolumeClaim": {"claimName": "x"}},
                {"name": "c", "configMap": {"name": "x"}}, {"name": "d", "secret": {"secretName": "x"}},
                {"name": "e", "projected": {"sources": []}}, {"name": "f", "downwardAPI": {"items": []}},
                {"name": "g", "csi": {"driver": "d"}}, {"name": "h", "ephemeral": {}}, {"name": "i"},
            ],
        },
    }


def fields(violations: list[Violation]) -> set[str]:
    return {v.field for v in violations}


def test_compliant_pod_passes_every_level() -> None:
    for level in Level:
        assert check_pod(compliant(), level) == []
    assert check_pod(freeze(compliant()), Level.RESTRICTED) == []


def test_minimal_pod_is_baseline_but_not_restricted() -> None:
    pod = {"spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert check_pod(pod, Level.BASELINE) == []
    assert fields(check_pod(pod, Level.RESTRICTED)) == {
        "spec.containers[0].securityContext.allowPrivilegeEscalation",
        "spec.containers[0].securityContext.runAsNonRoot",
        "spec.containers[0].securityContext.seccompProfile.type",
        "spec.containers[0].securityContext.capabilities.drop",
    }


def test_privileged_level_allows_everything() -> None:
    pod = compliant()
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    assert check_pod(pod, Level.PRIVILEGED) == []
    assert Level("restricted") is Level.RESTRICTED
    assert str(Level.BASELINE) == "baseline"


def mutate(path: str, value: Any) -> dict[str, Any]:
    """The compliant pod with one field (dotted path, [n] for list items) set to ``value``."""
    pod = compliant()
    node: Any = pod
    parts = path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        key: Any = int(part) if part.isdigit() else part
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return pod


BASELINE_CASES = [
    ("spec.securityContext.windowsOptions.hostProcess", True, None),
    ("spec.containers[0].securityContext.windowsOptions.hostProcess", True, None),
    ("spec.hostNetwork", True, None),
    ("spec.hostPID", True, None),
    ("spec.hostIPC", True, None),
    ("spec.containers[0].securityContext.privileged", True, None),
    ("spec.initContainers[0].securityContext.privileged", True, None),
    ("spec.containers[0].securityContext.capabilities.add", ["NET_BIND_SERVICE", "SYS_ADMIN"],
     "spec.containers[0].securityContext.capabilities.add[1]"),
    ("spec.volumes[9]", {"name": "host", "hostPath": {"path": "/"}}, "spec.volumes[9].hostPath"),
    ("spec.containers[0].ports[0].hostPort", 8080, None),
    ("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"},
     "metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]"),
    ("spec.securityContext.appArmorProfile", {"type": "Unconfined"}, "spec.securityContext.appArmorProfile.type"),
    ("spec.containers[0].securityContext.appArmorProfile", {"type": "Unconfined"},
     "spec.containers[0].securityContext.appArmorProfile.type"),
    ("spec.securityContext.seLinuxOptions", {"type": "spc_t"}, "spec.securityContext.seLinuxOptions.type"),
    ("spec.containers[0].securityContext.seLinuxOptions", {"user": "root"},
     "spec.containers[0].securityContext.seLinuxOptions.user"),
    ("spec.initContainers[0].securityContext.seLinuxOptions.role", "sysadm_r", None),
    ("spec.containers[0].securityContext.procMount", "Unmasked", None),
    ("spec.securityContext.seccompProfile", {"type": "Unconfined"}, "spec.securityContext.seccompProfile.type"),
    ("spec.initContainers[0].securityContext.seccompProfile", {"type": "Unconfined"},
     "spec.initContainers[0].securityContext.seccompProfile.type"),
    ("spec.securityContext.sysctls[1]", {"name": "kernel.msgmax", "value": "1"},
     "spec.securityContext.sysctls[1].name"),
    ("spec.containers[0].readinessProbe.httpGet.host", "169.254.169.254", None),
    ("spec.containers[0].lifecycle", {"preStop": {"tcpSocket": {"port": 1, "host": "10.0.0.1"}}},
     "spec.containers[0].lifecycle.preStop.tcpSocket.host"),
    ("spec.ephemeralContainers", [{"name": "debug", "securityContext": {
        "privileged": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
     "spec.ephemeralContainers[0].securityContext.privileged"),
]


@pytest.mark.parametrize(("path", "value", "field"), BASELINE_CASES, ids=[c[0] for c in BASELINE_CASES])
def test_baseline_violations(path: str, value: Any, field: str | None) -> None:
    pod = mutate(path, value)
    expected = field or path
    for level in (Level.BASELINE, Level.RESTRICTED):
        violations = check_pod(pod, level)
        assert expected in fields(violations), violations
        assert len([v for v in violations if v.field == expected]) == 1
    assert all(v.message for v in check_pod(pod, Level.BASELINE))


@pytest.mark.parametrize(
    ("path", "value"),
    [("spec.securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "p.json"}),
     ("spec.containers[0].securityContext.appArmorProfile", {"type": "RuntimeDefault"}),
     ("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/c": "localhost/prof"}),
     ("spec.containers[0].securityContext.seLinuxOptions", {"type": "container_kvm_t", "level": "s0:c1"}),
     ("spec.containers[0].securityContext.procMount", "Default"),
     ("spec.securityContext.sysctls[1]", {"name": "net.ipv4.tcp_keepalive_time", "value": "60"}),
     ("spec.hostNetwork", False),
     ("spec.containers[0].securityContext.privileged", False)],
)
def test_allowed_values_pass_restricted(path: str, value: Any) -> None:
    assert check_pod(mutate(path, value), Level.RESTRICTED) == []


RESTRICTED_CASES = [
    ("spec.volumes[9]", {"name": "n", "nfs": {"server": "s", "path": "/"}}, "spec.volumes[9].nfs"),
    ("spec.volumes[9]", {"name": "g", "gitRepo": {"repository": "r"}}, "spec.volumes[9].gitRepo"),
    ("spec.containers[0].securityContext.allowPrivilegeEscalation", True, None),
    ("spec.initContainers[0].securityContext", {"capabilities": {"drop": ["ALL"]}},
     "spec.initContainers[0].securityContext.allowPrivilegeEscalation"),
    ("spec.securityContext.runAsNonRoot", False, None),
    ("spec.containers[0].securityContext.runAsNonRoot", False, None),
    ("spec.securityContext.runAsUser", 0, None),
    ("spec.initContainers[0].securityContext.runAsUser", 0, None),
    ("spec.containers[0].securityContext.capabilities.drop", ["NET_RAW"], None),
    ("spec.containers[0].securityContext.capabilities.add", ["CHOWN"],
     "spec.containers[0].securityContext.capabilities.add[0]"),
]


@pytest.mark.parametrize(("path", "value", "field"), RESTRICTED_CASES, ids=[c[0] for c in RESTRICTED_CASES])
def test_restricted_violations(path: str, value: Any, field: str | None) -> None:
    pod = mutate(path, value)
    assert check_pod(pod, Level.BASELINE) == []
    assert (field or path) in fields(check_pod(pod, Level.RESTRICTED))


def test_run_as_non_root_on_every_container_instead_of_the_pod() -> None:
    pod = compliant()
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    assert fields(check_pod(pod, Level.RESTRICTED)) == {
        "spec.containers[0].securityContext.runAsNonRoot",
        "spec.initContainers[0].securityContext.runAsNonRoot",
    }
    for container in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        container["securityContext"]["runAsNonRoot"] = True
    assert check_pod(pod, Level.RESTRICTED) == []


def test_seccomp_on_every_container_instead_of_the_pod() -> None:
    pod = compliant()
    del pod["spec"]["securityContext"]["seccompProfile"]
    assert fields(check_pod(pod, Level.RESTRICTED)) == {"spec.containers[0].securityContext.seccompProfile.type"}
    pod["spec"]["containers"][0]["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    assert check_pod(pod, Level.RESTRICTED) == []


def test_pod_level_unconfined_seccomp_is_not_rescued_by_containers() -> None:
    pod = mutate("spec.securityContext.seccompProfile", {"type": "Unconfined"})
    assert "spec.securityContext.seccompProfile.type" in fields(check_pod(pod, Level.RESTRICTED))
    # ...and containers that rely on the pod level are then unconfined too.
    assert "spec.containers[0].securityContext.seccompProfile.type" in fields(check_pod(pod, Level.RESTRICTED))


def test_privileged_pod_fails_baseline_with_a_message() -> None:
    pod = mutate("spec.containers[0].securityContext.privileged", True)
    (violation,) = check_pod(pod, Level.BASELINE)
    assert violation.field == "spec.containers[0].securityContext.privileged"
    assert "'c'" in violation.message
    assert "privileged" in violation.message


def test_many_violations_are_all_reported_once_per_field() -> None:
    pod = {
        "spec": {
            "hostPID": True,
            "securityContext": {"runAsUser": 0},
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "a", "securityContext": {"privileged": True, "capabilities": {"add": ["ALL"]}}},
                           {"name": "b"}],
        },
    }
    violations = check_pod(pod, Level.RESTRICTED)
    assert len(violations) == len(fields(violations))
    assert {"spec.hostPID", "spec.volumes[0].hostPath", "spec.securityContext.runAsUser",
            "spec.containers[0].securityContext.privileged", "spec.containers[0].securityContext.capabilities.add[0]",
            "spec.containers[1].securityContext.runAsNonRoot"} <= fields(violations)


def test_check_pod_does_not_mutate() -> None:
    pod = mutate("spec.hostIPC", True)
    before = copy.deepcopy(pod)
    check_pod(pod, Level.RESTRICTED)
    assert pod == before


@dataclass(frozen=True)
class FakeChild:
    group: str
    logical_name: str
    api_version: str
    kind: str


def test_check_kind() -> None:
    assert check_kind(FakeChild("pods", "nb", "v1", "Pod"), DEFAULT_ALLOWED_KINDS) is None
    assert check_kind(FakeChild("resources", "np", "networking.k8s.io/v1", "NetworkPolicy"),
                      DEFAULT_ALLOWED_KINDS) is None
    violation = check_kind(FakeChild("resources", "admin", "rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
                           DEFAULT_ALLOWED_KINDS)
    assert violation is not None
    assert violation.field == "spec.resources[admin].kind"
    assert "ClusterRoleBinding" in violation.message
    # The pair matters, not the kind alone.
    assert check_kind(FakeChild("resources", "s", "v2", "Service"), DEFAULT_ALLOWED_KINDS) is not None
    assert check_kind(FakeChild("resources", "s", "v1", "Secret"), DEFAULT_ALLOWED_KINDS) is not None
    assert check_kind(FakeChild("resources", "s", "v1", "Secret"), frozenset({("v1", "Secret")})) is None
