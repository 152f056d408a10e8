"""deploy/ against the real API server: every kustomization builds and passes a server-side
dry run (schemas, RBAC objects, admission), and the operator's pod is admitted under the
"restricted" Pod Security profile its namespace enforces."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.testing import ControlPlane

DEPLOY = Path(__file__).parents[2] / "deploy"
KUSTOMIZATIONS = [DEPLOY, DEPLOY / "overlays" / "all-namespaces", DEPLOY / "overlays" / "example"]


def build(control_plane: ControlPlane, path: Path) -> list[dict[str, Any]]:
    out = control_plane.kubectl("kustomize", str(path)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module")
def namespaces(control_plane: ControlPlane) -> Iterator[None]:
    """The Namespaces the kustomizations create, created for real first: a server-side dry run
    of a Namespace persists nothing, so objects in it would meet "namespace not found"."""
    made = {d["metadata"]["name"]: d for path in KUSTOMIZATIONS for d in build(control_plane, path)
            if d["kind"] == "Namespace"}
    existing = set(control_plane.kubectl("get", "namespaces", "-o", "name").stdout.split())
    created = [name for name in made if f"namespace/{name}" not in existing]
    control_plane.apply([made[name] for name in created])
    yield
    for name in created:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.usefixtures("namespaces")
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY.parent)))
def test_server_side_dry_run(control_plane: ControlPlane, path: Path) -> None:
    proc = control_plane.kubectl("apply", "--dry-run=server", "-k", str(path), check=False)
    assert proc.returncode == 0, proc.stderr
    # No admission warnings either (PodSecurity warns on Deployments whose pods would violate).
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("Warning:")
                and "last-applied-configuration" not in line]
    assert not warnings, warnings
    kinds = {line.split("/", 1)[0] for line in proc.stdout.split()
             if "/" in line and not line.startswith("(")}
    assert {"deployment.apps", "serviceaccount", "service", "rolebinding.rbac.authorization.k8s.io",
            "customresourcedefinition.apiextensions.k8s.io"} <= kinds, proc.stdout


def _operator_pod(control_plane: ControlPlane) -> dict[str, Any]:
    (deployment,) = [d for d in build(control_plane, DEPLOY) if d["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "operator-pss-check", "namespace": deployment["metadata"]["namespace"],
                         "labels": template["metadata"]["labels"]},
            "spec": template["spec"]}


@pytest.mark.usefixtures("namespaces")
def test_operator_pod_is_admitted_under_restricted(control_plane: ControlPlane) -> None:
    pod = _operator_pod(control_plane)
    labels = json.loads(control_plane.kubectl("get", "namespace", pod["metadata"]["namespace"], "-o",
                                              "jsonpath={.metadata.labels}").stdout)
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The ServiceAccount must exist for admission; the dry run of the whole install did not create it.
    control_plane.kubectl("create", "serviceaccount", pod["spec"]["serviceAccountName"], "-n",
                          pod["metadata"]["namespace"], check=False)
    admitted = control_plane.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert admitted.returncode == 0, admitted.stderr
    # The same pod without its container securityContext is refused: the check above is real.
    weakened = copy.deepcopy(pod)
    del weakened["spec"]["containers"][0]["securityContext"]
    refused = control_plane.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(weakened),
                                    check=False)
    assert refused.returncode != 0
    assert "violates PodSecurity" in refused.stderr, refused.stderr
    assert "restricted" in refused.stderr, refused.stderr
