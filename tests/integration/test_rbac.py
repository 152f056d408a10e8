"""The shipped RBAC, proven against the API server's audit log.

A dedicated control plane logs every request of the operator's ServiceAccount (audit policy,
``Metadata`` level) and runs the OwnerReferencesPermissionEnforcement admission plugin (so the
``jupyternotebookinstances/finalizers`` grant is exercised). ``deploy/`` is applied as shipped, and so is
the Helm chart (``charts/jupyternetes``, on a second plane);
the operator runs as a process authenticated with a token of its real ServiceAccount, and
provisions instances end to end: a template with every allowlisted kind (server-side dry
runs), an instance to Running, a retained PVC re-adopted and released (a release request that
patches its record of servers, then one that deletes it), and one squatted name per kind
(create → AlreadyExists → get). Then:

- every request it made was allowed (the RBAC is sufficient);
- every (group, resource, verb) the shipped Roles grant was used (the RBAC is minimal);
- the same token is forbidden what it must never do.
"""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from jupyternetes_operator import api
from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.resources import NAMESPACES, PVCS, SECRETS
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.controlplane import ControlPlaneConfig

from .helm import CHART, Helm
from .operator_harness import TEMPLATE, condition, instance, ready_instance, template_valid, wait_for

DEPLOY = Path(__file__).parents[2] / "deploy"
OPERATOR_NS, WATCHED_NS = "jupyternetes", "jupyterhub"  # as in deploy/kustomization.yaml
SA = "jupyternetes-operator"
SA_USER = f"system:serviceaccount:{OPERATOR_NS}:{SA}"
NONCE = "0123456789abcdef"
# Granted but never requested by the operator itself: the OwnerReferencesPermissionEnforcement
# admission plugin (enabled on this plane, so the end-to-end run fails without them) checks the
# first when a child's ownerReference sets blockOwnerDeletion, the second when the operator adds
# the instance as owner of its environment Secret.
CHECKED_BY_ADMISSION = {("jupyternetes.io", "jupyternotebookinstances/finalizers", "update"),
                        ("", "secrets", "delete")}  # to set the env Secret's ownerReference

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "users": [SA_USER]}, {"level": "None"}],
}

# The sample template plus one child of every other allowlisted kind.
FULL_TEMPLATE = copy.deepcopy(TEMPLATE)
FULL_TEMPLATE["spec"]["resources"] = [
    {"name": "svc", "apiVersion": "v1", "kind": "Service",
     "spec": {"selector": {"app.kubernetes.io/instance": "{{ instance.name }}"}, "ports": [{"port": 8888}]}},
    {"name": "cm", "apiVersion": "v1", "kind": "ConfigMap", "data": {"user": "{{ username }}"}},
    {"name": "netpol", "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "{{ instance.name }}"}},
              "policyTypes": ["Ingress"]}},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Audited:
    """A control plane with an audit log, and the manifests installed on it."""

    plane: ControlPlane
    audit_log: Path
    manifests: list[dict[str, Any]]


def _install_kustomize(plane: ControlPlane, helm: Helm) -> list[dict[str, Any]]:
    plane.kubectl("apply", "-k", str(DEPLOY))
    return [d for d in yaml.safe_load_all(plane.kubectl("kustomize", str(DEPLOY)).stdout) if d]


def _install_helm(plane: ControlPlane, helm: Helm) -> list[dict[str, Any]]:
    """The chart with the settings that mean deploy/ (tests/integration/test_helm_chart.py)."""
    sets = ("watch.create=true",)
    helm.run("install", "jupyternetes", str(CHART), "-n", OPERATOR_NS, "--create-namespace",
             *(a for s in sets for a in ("--set", s)), kubeconfig=plane.kubeconfig)
    return helm.template(*sets, namespace=OPERATOR_NS)


INSTALLS = {"kustomize": _install_kustomize, "helm": _install_helm}


@contextlib.contextmanager
def audited_plane(control_plane: ControlPlane, directory: Path, install: Callable[[ControlPlane], list[dict[str, Any]]],
                  *apiserver_args: str) -> Iterator[Audited]:
    """A fresh control plane logging the operator's ServiceAccount's requests, the operator installed on
    it by ``install`` (which returns the manifests) with its Deployment removed (the operator runs as a
    process under the same ServiceAccount: :func:`operator_process`), and a kubeconfig ``operator-sa``."""
    policy = directory / "policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    plane = ControlPlane(ControlPlaneConfig(nodes=1, apiserver_args=(
        f"--audit-policy-file={policy}", f"--audit-log-path={directory / 'audit.log'}",
        "--audit-log-format=json", "--audit-log-mode=blocking", *apiserver_args)), control_plane.binaries)
    plane.start()
    try:
        manifests = install(plane)
        plane.kubectl("delete", "deployment", "jupyternetes-operator", "-n", OPERATOR_NS)
        token = plane.kubectl("create", "token", SA, "-n", OPERATOR_NS, "--duration=1h").stdout.strip()
        plane.write_kubeconfig("operator-sa", token)
        yield Audited(plane, directory / "audit.log", manifests)
    finally:
        plane.stop()


@pytest.fixture(scope="module", params=sorted(INSTALLS))
def audited(request: pytest.FixtureRequest, control_plane: ControlPlane, helm: Helm,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """The operator installed as shipped, by deploy/ or by the Helm chart, on an audited plane."""
    with audited_plane(control_plane, tmp_path_factory.mktemp("audit"), partial(INSTALLS[request.param], helm=helm),
                       "--enable-admission-plugins=OwnerReferencesPermissionEnforcement") as the_plane:
        the_plane.plane.kubectl("create", "namespace", "elsewhere")
        yield the_plane


@contextlib.asynccontextmanager
async def operator_process(plane: ControlPlane, log: Path, *flags: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The operator as a process on the ``operator-sa`` token, serving WATCHED_NS; it must exit 0 on SIGTERM."""
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 (starting it is instant)
            [sys.executable, "-m", "jupyternetes_operator", "run", *flags,
             f"--kubeconfig={plane.kubeconfig_for('operator-sa')}", f"--namespaces={WATCHED_NS}",
             f"--lease-namespace={OPERATOR_NS}", "--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5",
             f"--bind-address=127.0.0.1:{_free_port()}"], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(30))
        assert code == 0, log.read_bytes()[-3000:].decode(errors="replace")  # noqa: ASYNC240 (after exit)


def audit_events(audited: Audited) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in audited.audit_log.read_text().splitlines() if line.strip()]
    return [e for e in events if e["user"]["username"] == SA_USER and e.get("objectRef")
            and e["stage"] in ("ResponseComplete", "ResponseStarted", "Panic")]


def resource_of(ref: dict[str, Any]) -> str:
    return ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")


def granted(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every rule in the Roles bound to the operator's ServiceAccount."""
    bound = {(b["metadata"].get("namespace"), b["roleRef"]["kind"], b["roleRef"]["name"]) for b in docs
             if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
             and any(s.get("kind") == "ServiceAccount" and s["name"] == SA and s.get("namespace") == OPERATOR_NS
                     for s in b["subjects"])}
    grants = set()
    for role in docs:
        if role["kind"] in ("Role", "ClusterRole") and \
                (role["metadata"].get("namespace"), role["kind"], role["metadata"]["name"]) in bound:
            for rule in role["rules"]:
                grants |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return grants


async def _provision_end_to_end(kube: Client) -> None:
    ns = WATCHED_NS
    await kube.create(TEMPLATES, FULL_TEMPLATE, ns)  # validated with server-side dry runs of each child
    await template_valid(kube, "jupyterlab", ns)
    # As the hub makes them: the environment Secret with its key, the instance naming it with the key's
    # digest (the operator makes the instance its owner with one JSON patch, and reads the key back).
    await kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": api.env_secret_name("jupyter-alice", NONCE),
        "annotations": {api.ANNOTATION_ENV_FOR: "jupyter-alice", api.ANNOTATION_ENV_KEY: "k"}},
        "stringData": {"JUPYTERHUB_API_TOKEN": "t"}}, ns)
    alice = instance("jupyter-alice", {"username": "alice"})
    alice["metadata"]["annotations"] = {api.ANNOTATION_ENV_SECRET: NONCE,
                                        api.ANNOTATION_ENV_DIGEST: api.env_key_digest("k")}
    await kube.create(INSTANCES, alice, ns)
    running = await ready_instance(kube, "jupyter-alice", ns)
    assert running["status"]["envSecret"] == api.env_secret_name("jupyter-alice", NONCE)
    assert {c["kind"] for c in running["status"]["children"]} == {
        "Pod", "PersistentVolumeClaim", "Service", "ConfigMap", "NetworkPolicy"}

    # The retained home PVC outlives its instance and is adopted (relabelled) by the next one.
    await kube.delete(INSTANCES, "jupyter-alice", ns)
    await wait_for(kube, INSTANCES, "jupyter-alice", ns, lambda o: o is None, what="instance deleted")
    await kube.create(INSTANCES, instance("jupyter-alice-2", {"username": "alice"}), ns)
    await ready_instance(kube, "jupyter-alice-2", ns)

    # Deleting both servers forever (release requests): the first release only updates the claim's
    # record of servers (patch); the second, with no server left on record, deletes the claim.
    await kube.delete(INSTANCES, "jupyter-alice-2", ns)
    await wait_for(kube, INSTANCES, "jupyter-alice-2", ns, lambda o: o is None, what="instance deleted")
    for server in ("jupyter-alice", "jupyter-alice-2"):
        await kube.create(INSTANCES, {"apiVersion": INSTANCES.api_version, "kind": "JupyterNotebookInstance",
                                      "metadata": {"name": server}, "spec": {"release": True}}, ns)
        await wait_for(kube, INSTANCES, server, ns, lambda o: (o.get("status") or {}).get("phase") == "Released",
                       what=f"{server} released")
    await wait_for(kube, PVCS, "home-alice", ns, lambda o: o is None or o["metadata"].get("deletionTimestamp"),
                   what="home-alice deleted by the last release")

    # A name already taken by someone else's object, once per kind: create → AlreadyExists → get.
    squatters = {
        "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "squat-pod-notebook"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        "pvc": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "home-squat-pvc"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        "svc": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "squat-svc-svc"},
                "spec": {"ports": [{"port": 80}]}},
        "cm": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "squat-cm-cm"}},
        "netpol": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": "squat-netpol-netpol"}, "spec": {"podSelector": {}}},
    }
    for what, obj in squatters.items():
        kube_resource = {"Pod": "pods", "PersistentVolumeClaim": "persistentvolumeclaims", "Service": "services",
                         "ConfigMap": "configmaps", "NetworkPolicy": "networkpolicies"}[obj["kind"]]
        group, _, version = obj["apiVersion"].rpartition("/")
        await kube.create(Resource(group, version, kube_resource, namespaced=True), obj, ns)
        await kube.create(INSTANCES, instance(f"squat-{what}", {"username": f"squat-{what}"}), ns)
    for what in squatters:
        await wait_for(kube, INSTANCES, f"squat-{what}", ns,
                       lambda o: condition(o, "Ready").get("reason") == "ChildConflict", what=f"{what} conflict")


async def test_shipped_rbac_is_sufficient_and_minimal(audited: Audited, tmp_path: Path) -> None:
    async with await Client.from_kubeconfig(str(audited.plane.kubeconfig)) as kube:
        with anyio.fail_after(60):
            async with operator_process(audited.plane, tmp_path / "operator.log"):
                await _provision_end_to_end(kube)
    events = audit_events(audited)
    assert events, "the audit log has no request of the operator's ServiceAccount"
    denied = sorted({(e["verb"], e["objectRef"].get("apiGroup", ""), resource_of(e["objectRef"]),
                      e["objectRef"].get("namespace")) for e in events
                     if e.get("annotations", {}).get("authorization.k8s.io/decision") != "allow"})
    assert not denied, f"the operator was refused: {denied}"
    used = {(e["objectRef"].get("apiGroup", ""), resource_of(e["objectRef"]), e["verb"]) for e in events}
    grants = granted(audited.manifests)
    assert ("", "pods", "create") in grants
    unused = grants - used - CHECKED_BY_ADMISSION
    assert not unused, f"granted but never used by the operator: {sorted(unused)}"
    # Nothing outside the watched namespace and the Lease's but the StorageClass of the new claim.
    assert {e["objectRef"].get("namespace") for e in events} <= {WATCHED_NS, OPERATOR_NS, None}
    cluster_wide = {(e["verb"], e["objectRef"]["resource"], e["objectRef"].get("name")) for e in events
                    if e["objectRef"].get("namespace") is None}
    assert cluster_wide == {("get", "storageclasses", "kwok-volume")}, cluster_wide


FORBIDDEN = [
    ("create a Role", ["create", "role", "x", "--verb=get", "--resource=pods", "-n", WATCHED_NS]),
    ("create a RoleBinding", ["create", "rolebinding", "x", "--clusterrole=admin",
                              f"--serviceaccount={OPERATOR_NS}:{SA}", "-n", WATCHED_NS]),
    ("create a ClusterRoleBinding", ["create", "clusterrolebinding", "x", "--clusterrole=cluster-admin",
                                     f"--serviceaccount={OPERATOR_NS}:{SA}"]),
    ("read Secrets", ["get", "secrets", "-n", WATCHED_NS]),
    ("read a Secret by name", ["get", "secret", "anything", "-n", WATCHED_NS]),
    ("read Secrets in its own namespace", ["get", "secrets", "-n", OPERATOR_NS]),
    ("read another Secret in its own namespace", ["get", "secret", "something-else", "-n", OPERATOR_NS]),
    ("create a Secret", ["create", "secret", "generic", "x", "--from-literal=a=b", "-n", WATCHED_NS]),
    ("list pods in another namespace", ["get", "pods", "-n", "elsewhere"]),
    ("list pods cluster-wide", ["get", "pods", "-A"]),
    ("create a ConfigMap in another namespace", ["create", "configmap", "x", "-n", "elsewhere"]),
    ("create a pod in its own namespace", ["run", "x", "--image=busybox", "-n", OPERATOR_NS]),
    ("delete pods", ["delete", "pod", "squat-pod-notebook", "-n", WATCHED_NS]),
    ("patch a pod", ["label", "pod", "squat-pod-notebook", "x=y", "-n", WATCHED_NS]),
    ("create instances", ["create", "-f", "-", "-n", WATCHED_NS]),
    ("delete instances", ["delete", "jupyternotebookinstance", "jupyter-alice-2", "-n", WATCHED_NS]),
    ("edit a template's spec", ["label", "jupyternotebooktemplate", "jupyterlab", "x=y", "-n", WATCHED_NS]),
    ("read another Lease", ["get", "lease", "someone-else", "-n", OPERATOR_NS]),
    ("read Leases elsewhere", ["get", "lease", "jupyternetes-operator", "-n", "kube-system"]),
    ("list namespaces", ["get", "namespaces"]),
    ("delete a namespace", ["delete", "namespace", "elsewhere"]),
    ("impersonate", ["get", "pods", "-n", WATCHED_NS, "--as=admin"]),
]


@pytest.mark.parametrize(("what", "args"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_the_token_is_forbidden(audited: Audited, what: str, args: list[str]) -> None:
    stdin = json.dumps(instance("forged", {"username": "forged"})) if args[:2] == ["create", "-f"] else None
    proc = audited.plane.kubectl(*args, user="operator-sa", input=stdin, check=False, timeout=30)
    assert proc.returncode != 0, f"{what}: allowed ({proc.stdout})"
    assert "forbidden" in proc.stderr.lower(), proc.stderr


async def test_the_token_is_the_operators(audited: Audited) -> None:
    """The forbidden table really ran as the ServiceAccount, not as an admin: an allowed read works."""
    async with await Client.from_kubeconfig(str(audited.plane.kubeconfig_for("operator-sa"))) as sa:
        listed = await sa.list(TEMPLATES, WATCHED_NS)
        assert listed is not None
        with pytest.raises(Exception, match=r"(?i)forbidden"):
            await sa.list(NAMESPACES)
