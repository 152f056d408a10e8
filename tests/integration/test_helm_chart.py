"""The Helm chart with the real Helm (built from Go modules, pinned) and the real control plane:
``helm lint --strict``; the same objects as ``kubectl kustomize deploy/...`` for the same
settings; the schema refusing bad values; install, upgrade and uninstall. The chart's RBAC is
proven by the audit-log test (tests/integration/test_rbac.py runs it for the chart too), where
the operator, authenticated as the chart-made ServiceAccount, provisions the sample end to end."""

from __future__ import annotations

import difflib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.api import TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.binaries import ensure_binaries
from jupyternetes_operator.testing.operator import TEMPLATE

from .helm import CHART, DEPLOY, Helm, kustomize, normalized

MONITORING = ("monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true",
              "monitoring.grafanaDashboard.enabled=true")
OPERATOR_NAMESPACE = ("v1", "Namespace", "", "jupyternetes")
Z2JH_VALUES = DEPLOY / "z2jh" / "jupyternetes-values.yaml"


@pytest.mark.parametrize("sets", [(), ("watch.allNamespaces=true", *MONITORING),
                                  ("watch.namespaces={team-a,team-b}", "templateNamespace=shared",
                                   "podDisruptionBudget.enabled=true", "replicaCount=2")],
                         ids=["defaults", "all-namespaces+monitoring", "several-namespaces"])
def test_lint_strict(helm: Helm, sets: tuple[str, ...]) -> None:
    args = [a for s in sets for a in ("--set", s)]
    proc = helm.run("lint", "--strict", str(CHART), *args)
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout, proc.stdout


# Each kustomization and the chart settings that mean the same install. The release namespace is
# Helm's (created with --create-namespace), so kustomize's Namespace "jupyternetes" has no match.
SAME = {
    "deploy": (DEPLOY, ("watch.create=true",)),
    "all-namespaces": (DEPLOY / "overlays" / "all-namespaces", ("watch.allNamespaces=true",)),
    "example": (DEPLOY / "overlays" / "example",
                ("watch.create=true", "watch.namespaces={team-a,team-b}", "hub.rbac.create=false",
                 "replicaCount=2", "logLevel=debug", "podSecurityLevel=restricted",
                 "podDisruptionBudget.enabled=true", "prePull.enabled=true")),
}


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    return "".join(difflib.unified_diff(yaml.safe_dump(expected).splitlines(True),
                                        yaml.safe_dump(actual).splitlines(True), "kustomize", "helm"))


@pytest.mark.parametrize("case", sorted(SAME))
def test_helm_template_gives_kustomizes_objects(helm: Helm, case: str) -> None:
    path, sets = SAME[case]
    expected = normalized(kustomize(ensure_binaries().kubectl, path))
    assert expected.pop(OPERATOR_NAMESPACE)
    actual = normalized(helm.template(*sets))
    assert sorted(actual) == sorted(expected)
    for key, obj in expected.items():
        assert actual[key] == obj, f"{key}:\n{_diff(obj, actual[key])}"


def test_monitoring_toggles_give_deploy_monitoring(helm: Helm) -> None:
    expected = normalized(kustomize(ensure_binaries().kubectl, DEPLOY / "monitoring"))
    actual = normalized(helm.template(*MONITORING))
    assert set(expected) <= set(actual)
    for key, obj in expected.items():
        assert actual[key] == obj, f"{key}:\n{_diff(obj, actual[key])}"
    # Off by default: a cluster without the Prometheus Operator's CRDs can install the chart.
    kinds = {o["kind"] for o in helm.template()}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    assert "jupyternetes-grafana-dashboard" not in {o["metadata"]["name"] for o in helm.template()}


def test_z2jh_values_bind_z2jh_hub_without_pod_rights(helm: Helm) -> None:
    """deploy/z2jh/jupyternetes-values.yaml: the hub Role bound to z2jh's ``hub`` ServiceAccount."""
    values = Z2JH_VALUES
    proc = helm.run("lint", "--strict", str(CHART), f"--values={values}")
    assert "0 chart(s) failed" in proc.stdout, proc.stdout
    objects = helm.template(values=[values])
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "jupyternetes-hub"]
    assert binding["metadata"]["namespace"] == "jhub"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": "jhub"}]
    (role,) = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "jupyternetes-hub"]
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    assert not {(g, r, v) for g, r, v in granted if r in ("pods", "persistentvolumeclaims", "services")}
    assert not {v for g, r, v in granted if r == "secrets"} - {"create"}
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config["data"]["JUPYTERNETES_NAMESPACES"] == "jhub"
    assert config["data"]["JUPYTERNETES_ADOPT_UNSIGNED_CLAIMS"] == "true"


def test_hub_role_for_an_existing_service_account(helm: Helm) -> None:
    """As for zero-to-jupyterhub: bind its ``hub`` ServiceAccount, make none."""
    objects = helm.template("hub.serviceAccount.create=false", "hub.serviceAccount.name=hub",
                            "hub.serviceAccount.namespace=jhub", "watch.namespaces={jhub}")
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    assert accounts == {"jupyternetes-operator"}
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "jupyternetes-hub"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": "jhub"}]
    (role,) = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "jupyternetes-hub"]
    assert not [r for r in role["rules"] if {"pods", "persistentvolumeclaims"} & set(r["resources"])]
    assert not [o for o in helm.template("hub.rbac.create=false") if o["metadata"]["name"] == "jupyternetes-hub"]


@pytest.mark.parametrize(("sets", "message"), [
    (("logLevel=loud",), "/logLevel"),
    (("watch.namespaces=null",), "missing property 'namespaces'"),
    (("watch.namespaces[0]=Not_A_Namespace",), "/watch/namespaces/0"),
    (("replicas=2",), "additional properties 'replicas' not allowed"),
    (("env.LOG_LEVEL=debug",), "'LOG_LEVEL' does not match pattern"),
    (("podSecurityLevel=none",), "/podSecurityLevel"),
])
def test_the_schema_refuses_bad_values(helm: Helm, sets: tuple[str, ...], message: str) -> None:
    args = [a for s in sets for a in ("--set", s)]
    proc = helm.run("template", "x", str(CHART), *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


@pytest.fixture
def release_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"jnop-{secrets.token_hex(3)}"
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _get(control_plane: ControlPlane, *args: str) -> Any:
    proc = control_plane.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


async def test_install_upgrade_uninstall(helm: Helm, control_plane: ControlPlane, kube: Client, namespace: str,
                                         release_namespace: str) -> None:
    kubeconfig = control_plane.kubeconfig
    ns, watched = release_namespace, namespace
    installed = helm.run("install", "jupyternetes", str(CHART), "-n", ns, "--create-namespace",
                         "--set", f"watch.namespaces={{{watched}}}", "--wait", "--timeout=120s",
                         kubeconfig=kubeconfig)
    assert f"watching: {watched}." in installed.stdout, installed.stdout  # NOTES.txt
    deployment = _get(control_plane, "deployment", "jupyternetes-operator", "-n", ns)
    assert deployment["status"]["readyReplicas"] == 1  # kwok's fake kubelets run the pod
    config = _get(control_plane, "configmap", "jupyternetes-operator-config", "-n", ns)["data"]
    assert config["JUPYTERNETES_NAMESPACES"] == watched
    assert config["JUPYTERNETES_LOG_LEVEL"] == "info"
    for kind, name in (("role", "jupyternetes-operator"), ("rolebinding", "jupyternetes-operator"),
                       ("role", "jupyternetes-hub"), ("serviceaccount", "jupyternetes-hub")):
        assert _get(control_plane, kind, name, "-n", watched), (kind, name)
    assert _get(control_plane, "clusterrole", "jupyternetes-operator-storageclasses")
    checksum = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    upgraded = helm.run("upgrade", "jupyternetes", str(CHART), "-n", ns, "--reuse-values", "--set", "logLevel=debug",
                        "--wait", "--timeout=120s", kubeconfig=kubeconfig)
    assert "REVISION: 2" in upgraded.stdout, upgraded.stdout
    config = _get(control_plane, "configmap", "jupyternetes-operator-config", "-n", ns)["data"]
    assert config["JUPYTERNETES_LOG_LEVEL"] == "debug"
    assert config["JUPYTERNETES_NAMESPACES"] == watched  # --reuse-values kept it
    rolled = _get(control_plane, "deployment", "jupyternetes-operator", "-n", ns)
    assert rolled["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != checksum  # a new rollout
    assert rolled["metadata"]["generation"] > deployment["metadata"]["generation"]

    # Users' objects outlive the release: Helm never deletes what crds/ installed.
    await kube.create(TEMPLATES, TEMPLATE, watched)
    helm.run("uninstall", "jupyternetes", "-n", ns, "--wait", "--timeout=120s", kubeconfig=kubeconfig)
    assert _get(control_plane, "deployment", "jupyternetes-operator", "-n", ns) is None
    assert _get(control_plane, "role", "jupyternetes-operator", "-n", watched) is None
    assert _get(control_plane, "rolebinding", "jupyternetes-hub", "-n", watched) is None
    assert _get(control_plane, "clusterrole", "jupyternetes-operator-storageclasses") is None
    assert _get(control_plane, "crd", "jupyternotebooktemplates.jupyternetes.io")
    assert await kube.get(TEMPLATES, TEMPLATE["metadata"]["name"], watched)
    listed = helm.run("list", "-n", ns, "-q", kubeconfig=kubeconfig)
    assert listed.stdout.strip() == ""


def test_chart_dir_is_only_the_chart() -> None:
    """Nothing in the chart that Helm would package by accident."""
    names = {p.relative_to(CHART).parts[0] for p in CHART.iterdir()}
    assert names == {"Chart.yaml", "README.md", "values.yaml", "values.schema.json", "crds", "files",
                     "templates", ".helmignore"}, names
    assert Path(CHART / "templates" / "NOTES.txt").is_file()
