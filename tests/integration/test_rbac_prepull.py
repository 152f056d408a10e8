"""The image puller's RBAC (``deploy/components/prepull``), proven against the API server's audit log as
``test_rbac.py`` proves the base install's: ``deploy/`` with the component applied as shipped, the
operator as a process on its real ServiceAccount's token with ``--prepull=true``, a template's images
pulled, changed and no longer needed (create, patch, delete of the DaemonSet). Then every request was
allowed, every right the component grants was used, and the token is refused what it must not do."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.api import TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import Forbidden
from jupyternetes_operator.reconcile.prepull import DAEMONSET, DAEMONSETS, daemonset
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, template_valid, wait_for
from .test_rbac import OPERATOR_NS, WATCHED_NS, Audited, audit_events, audited_plane, operator_process, resource_of

DEPLOY = Path(__file__).parents[2] / "deploy"
COMPONENT = DEPLOY / "components" / "prepull"
SCIPY = "quay.io/jupyter/scipy-notebook:2025-10-20"
R = "quay.io/jupyter/r-notebook:2025-10-20"


@pytest.fixture(scope="module")
def audited(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """deploy/ and the component applied as shipped, on an audited plane."""
    directory = tmp_path_factory.mktemp("audit-prepull")
    overlay = directory / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({  # kustomize takes relative paths only
        "resources": [os.path.relpath(DEPLOY, overlay)], "components": [os.path.relpath(COMPONENT, overlay)]}))

    def install(plane: ControlPlane) -> list[dict[str, Any]]:
        plane.kubectl("apply", "-k", str(overlay))
        return []

    with audited_plane(control_plane, directory, install) as the_plane:
        yield the_plane


def init_images(ds: dict[str, Any] | None) -> list[str] | None:
    return None if ds is None else [c["image"] for c in ds["spec"]["template"]["spec"]["initContainers"]]


def component_grants() -> set[tuple[str, str, str]]:
    docs = [d for d in yaml.safe_load_all((COMPONENT / "rbac.yaml").read_text()) if d]
    (role,) = [d for d in docs if d["kind"] == "Role"]
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


async def test_the_pullers_rights_are_enough_and_all_used(audited: Audited, tmp_path: Path) -> None:
    template = copy.deepcopy(TEMPLATE)
    async with await Client.from_kubeconfig(str(audited.plane.kubeconfig)) as kube, \
            operator_process(audited.plane, tmp_path / "operator.log", "--prepull=true"):
        await kube.create(TEMPLATES, template, WATCHED_NS)
        await template_valid(kube, "jupyterlab", WATCHED_NS)
        images = sorted(template["spec"]["variables"][1]["enum"])
        await wait_for(kube, DAEMONSETS, DAEMONSET, OPERATOR_NS, lambda o: init_images(o) == images,
                       what="the puller created")
        await wait_for(kube, TEMPLATES, "jupyterlab", WATCHED_NS, lambda o: (
            (o.get("status") or {}).get("prePull") or {}).get("state") == "Pulled", what="pulled")
        current = await kube.get(TEMPLATES, "jupyterlab", WATCHED_NS)
        current["spec"]["variables"][1]["enum"] = [SCIPY, R]
        current["spec"]["variables"][1]["default"] = SCIPY
        await kube.replace(TEMPLATES, current, WATCHED_NS)
        await wait_for(kube, DAEMONSETS, DAEMONSET, OPERATOR_NS, lambda o: init_images(o) == [R, SCIPY],
                       what="the puller patched")
        await kube.delete(TEMPLATES, "jupyterlab", WATCHED_NS)
        await wait_for(kube, DAEMONSETS, DAEMONSET, OPERATOR_NS, lambda o: o is None, what="the puller deleted")

    events = audit_events(audited)
    denied = [(e["verb"], resource_of(e["objectRef"]), e["objectRef"].get("namespace"))
              for e in events if e.get("responseStatus", {}).get("code") == 403]
    assert denied == []
    used = {(e["objectRef"].get("apiGroup", ""), resource_of(e["objectRef"]), e["verb"]) for e in events
            if e["objectRef"].get("namespace") == OPERATOR_NS}
    assert component_grants() <= used, component_grants() - used

    async with await Client.from_kubeconfig(str(audited.plane.kubeconfig_for("operator-sa"))) as operator:
        other = daemonset(["busybox:1.36"], OPERATOR_NS)
        other["metadata"]["name"] = "not-the-puller"
        with pytest.raises(Forbidden):  # patch and delete are pinned to the puller's name
            await operator.patch(DAEMONSETS, "not-the-puller", {"metadata": {"labels": {"x": "y"}}}, OPERATOR_NS)
        with pytest.raises(Forbidden):
            await operator.delete(DAEMONSETS, "not-the-puller", OPERATOR_NS)
        with pytest.raises(Forbidden):  # only in its own namespace
            await operator.create(DAEMONSETS, {**other, "metadata": {"name": "x"}}, WATCHED_NS)
        with pytest.raises(Forbidden):  # it never reads a DaemonSet but through its watch
            await operator.get(DAEMONSETS, DAEMONSET, OPERATOR_NS)
