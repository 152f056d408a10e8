"""The image puller's RBAC (``deploy/components/prepull``), proven against the API server's audit log as
``test_rbac.py`` proves the base install's: ``deploy/`` with the component applied as shipped, the
operator as a process on its real ServiceAccount's token with ``--prepull=true``, a template's images
pulled, changed and no longer needed (create, patch, delete of the DaemonSet). Then every request was
allowed, every right the component grants was used, and the token is refused what it must not do."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from jupyternetes_operator.api import TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import Forbidden
from jupyternetes_operator.reconcile.prepull import DAEMONSET, DAEMONSETS, daemonset
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.controlplane import ControlPlaneConfig

from .operator_harness import TEMPLATE, template_valid, wait_for
from .test_rbac import AUDIT_POLICY, OPERATOR_NS, SA, WATCHED_NS, _free_port, audit_events, resource_of

DEPLOY = Path(__file__).parents[2] / "deploy"
COMPONENT = DEPLOY / "components" / "prepull"
SCIPY = "quay.io/jupyter/scipy-notebook:2025-10-20"
R = "quay.io/jupyter/r-notebook:2025-10-20"


@pytest.fixture(scope="module")
def audited(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A fresh audited control plane with deploy/ and the component applied (Deployment removed: the
    operator runs here as a process, under the same ServiceAccount)."""
    directory = tmp_path_factory.mktemp("audit-prepull")
    overlay = directory / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({  # kustomize takes relative paths only
        "resources": [os.path.relpath(DEPLOY, overlay)], "components": [os.path.relpath(COMPONENT, overlay)]}))
    policy = directory / "policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    plane = ControlPlane(ControlPlaneConfig(nodes=1, apiserver_args=(
        f"--audit-policy-file={policy}", f"--audit-log-path={directory / 'audit.log'}",
        "--audit-log-format=json", "--audit-log-mode=blocking")), control_plane.binaries)
    plane.start()
    try:
        plane.kubectl("apply", "-k", str(overlay))
        plane.kubectl("delete", "deployment", "jupyternetes-operator", "-n", OPERATOR_NS)
        token = plane.kubectl("create", "token", SA, "-n", OPERATOR_NS, "--duration=1h").stdout.strip()
        plane.write_kubeconfig("operator-sa", token)
        plane.audit_log = directory / "audit.log"  # type: ignore[attr-defined]
        yield plane
    finally:
        plane.stop()


@contextlib.asynccontextmanager
async def operator_process(plane: ControlPlane, log: Path) -> AsyncIterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 (starting it is instant)
            [sys.executable, "-m", "jupyternetes_operator", "run", "--prepull=true",
             f"--kubeconfig={plane.kubeconfig_for('operator-sa')}", f"--namespaces={WATCHED_NS}",
             f"--lease-namespace={OPERATOR_NS}", "--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5",
             f"--bind-address=127.0.0.1:{_free_port()}"], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(30))
        assert code == 0, log.read_bytes()[-3000:].decode(errors="replace")  # noqa: ASYNC240 (after exit)


def init_images(ds: dict[str, Any] | None) -> list[str] | None:
    return None if ds is None else [c["image"] for c in ds["spec"]["template"]["spec"]["initContainers"]]


def component_grants() -> set[tuple[str, str, str]]:
    docs = [d for d in yaml.safe_load_all((COMPONENT / "rbac.yaml").read_text()) if d]
    (role,) = [d for d in docs if d["kind"] == "Role"]
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


async def test_the_pullers_rights_are_enough_and_all_used(audited: ControlPlane, tmp_path: Path) -> None:
    template = copy.deepcopy(TEMPLATE)
    async with await Client.from_kubeconfig(str(audited.kubeconfig)) as kube, \
            operator_process(audited, tmp_path / "operator.log"):
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

    async with await Client.from_kubeconfig(str(audited.kubeconfig_for("operator-sa"))) as operator:
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
