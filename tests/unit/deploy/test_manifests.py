"""The deploy manifests as files: no server, no kustomize (tests/integration/test_deploy.py
builds and server-side dry-runs every kustomization)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.cli import _parser

ROOT = Path(__file__).parents[3]
DEPLOY = ROOT / "deploy"


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(path: Path, kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs(path) if d["kind"] == kind]
    return found


def test_crd_copies_match_the_sources() -> None:
    for source in sorted((ROOT / "crds").glob("*.yaml")):
        copy = DEPLOY / "base" / "crds" / source.name
        assert copy.read_bytes() == source.read_bytes(), f"run: cp crds/{source.name} deploy/base/crds/"


def test_no_wildcards_and_the_cluster_role_mirrors_the_role() -> None:
    rbac = [d for p in DEPLOY.rglob("*.yaml") if "components/hub" not in str(p) for d in docs(p)
            if d.get("kind") in ("Role", "ClusterRole")]
    assert rbac
    for role in rbac:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in str(rule.get(field, "")), (role["metadata"]["name"], rule)
    role = one(DEPLOY / "rbac" / "namespaced" / "role.yaml", "Role")
    cluster_role = one(DEPLOY / "rbac" / "cluster" / "clusterrole.yaml", "ClusterRole")
    assert role["rules"] == cluster_role["rules"]


def test_deployment_meets_restricted_and_has_probes_and_limits() -> None:
    deployment = one(DEPLOY / "base" / "deployment.yaml", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    env = dict(line.split("=", 1) for line in (DEPLOY / "base" / "operator.env").read_text().split())
    assert env["JUPYTERNETES_LEADER_ELECT"] == "true"
    # Graceful: the operator's own drain deadline ends well before the kubelet's SIGKILL.
    assert float(env["JUPYTERNETES_SHUTDOWN_TIMEOUT"]) + 5 <= pod["terminationGracePeriodSeconds"]


def _run_env_vars() -> set[str]:
    """JUPYTERNETES_<FLAG> for every flag of ``jupyternetes-operator run``."""
    flags = vars(_parser().parse_args(["run"]))
    return {f"JUPYTERNETES_{dest.upper()}" for dest in flags if dest != "command"}


@pytest.mark.parametrize("path", sorted(p for p in DEPLOY.rglob("*") if p.name in ("operator.env",
                                                                                     "kustomization.yaml")),
                         ids=lambda p: str(p.relative_to(DEPLOY)))
def test_settings_name_real_flags(path: Path) -> None:
    known = _run_env_vars()
    names: list[str] = []
    if path.name == "operator.env":
        names = [line.split("=", 1)[0] for line in path.read_text().split()]
    else:
        for generator in (yaml.safe_load(path.read_text()) or {}).get("configMapGenerator") or ():
            names += [literal.split("=", 1)[0] for literal in generator.get("literals") or ()]
    assert set(names) <= known, set(names) - known
