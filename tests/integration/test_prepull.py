"""Image pre-pull on the real control plane: the operator (``prepull=True``) keeps one DaemonSet in its
namespace whose init containers are the images of the valid templates, updates it when a template
changes, deletes it when none needs an image, and writes each template's ``status.prePull``; kwok's
Nodes run its pods (the DaemonSet controller and the scheduler are real)."""

from __future__ import annotations

import copy
import re
from typing import Any

from jupyternetes_operator.api import TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.reconcile.prepull import DAEMONSET, DAEMONSETS
from jupyternetes_operator.settings import LeaderElectionSettings
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, running_operator, template_valid, wait_for

MINIMAL = "quay.io/jupyter/minimal-notebook:2025-10-20"
SCIPY = "quay.io/jupyter/scipy-notebook:2025-10-20"
R = "quay.io/jupyter/r-notebook:2025-10-20"


def init_images(ds: dict[str, Any] | None) -> list[str] | None:
    if ds is None:
        return None
    return [c["image"] for c in ds["spec"]["template"]["spec"]["initContainers"]]


def pre_pull(template: dict[str, Any] | None) -> dict[str, Any]:
    return dict(((template or {}).get("status") or {}).get("prePull") or {})


def sidecar_template(name: str) -> dict[str, Any]:
    """A literal image in a second container, and an image from a variable without an enum."""
    doc = copy.deepcopy(TEMPLATE)
    doc["metadata"] = {"name": name}
    doc["spec"]["variables"].append({"name": "tag", "default": "1.36"})
    containers = doc["spec"]["pods"][0]["spec"]["containers"]
    containers[0]["image"] = "docker.io/library/busybox:{{ tag }}"
    containers.append({"name": "sidecar", "image": "docker.io/library/nginx:1.27", "securityContext": containers[0][
        "securityContext"]})
    return doc


async def test_images_pulled_updated_and_removed(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    lab = copy.deepcopy(TEMPLATE)
    bad = copy.deepcopy(TEMPLATE)
    bad["metadata"] = {"name": "hostnet"}
    bad["spec"]["variables"][1]["enum"].append(R)  # an invalid template's images are never pulled
    bad["spec"]["pods"][0]["spec"]["hostNetwork"] = True
    settings = {"prepull": True, "leader_election": LeaderElectionSettings(enabled=False, lease_namespace=namespace)}
    async with running_operator(control_plane.kubeconfig, (namespace,), **settings):
        for doc in (lab, sidecar_template("sidecar"), bad):
            await kube.create(TEMPLATES, doc, namespace)
        await template_valid(kube, "hostnet", namespace, "False")

        # contents: the enum values of the image variable, a literal image; not what has no enum
        expected = ["docker.io/library/nginx:1.27", MINIMAL, SCIPY]
        ds = await wait_for(kube, DAEMONSETS, DAEMONSET, namespace, lambda o: init_images(o) == expected,
                            what=f"the puller with {expected}")
        spec = ds["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert {c["command"][0] for c in spec["initContainers"]} == {"true"}
        assert spec["securityContext"]["runAsUser"] == 65534

        lab_status = await wait_for(kube, TEMPLATES, "jupyterlab", namespace,
                                    lambda o: pre_pull(o).get("state") == "Pulled", what="jupyterlab Pulled")
        assert pre_pull(lab_status)["images"] == [MINIMAL, SCIPY]
        assert pre_pull(lab_status)["skipped"] == []
        assert re.fullmatch(r"pulled on ([1-9]\d*) of \1 nodes", pre_pull(lab_status)["message"]), lab_status
        sidecar = await wait_for(kube, TEMPLATES, "sidecar", namespace,
                                 lambda o: pre_pull(o).get("state") == "Pulled", what="sidecar Pulled")
        assert pre_pull(sidecar)["images"] == ["docker.io/library/nginx:1.27"]
        assert pre_pull(sidecar)["skipped"] == ["spec.pods[0].spec.containers[0].image: tag has no enum"]
        hostnet = await kube.get(TEMPLATES, "hostnet", namespace)
        assert pre_pull(hostnet)["state"] == "NotPulled"

        # update on edit: the enum changes, the DaemonSet follows
        current = await kube.get(TEMPLATES, "jupyterlab", namespace)
        current["spec"]["variables"][1]["enum"] = [MINIMAL, R]
        await kube.replace(TEMPLATES, current, namespace)
        expected = ["docker.io/library/nginx:1.27", MINIMAL, R]
        updated = await wait_for(kube, DAEMONSETS, DAEMONSET, namespace, lambda o: init_images(o) == expected,
                                 what=f"the puller with {expected}")
        assert updated["metadata"]["uid"] == ds["metadata"]["uid"]  # changed in place, never dropped meanwhile
        lab_status = await wait_for(kube, TEMPLATES, "jupyterlab", namespace,
                                    lambda o: pre_pull(o).get("images") == [MINIMAL, R]
                                    and pre_pull(o).get("state") == "Pulled", what="jupyterlab's new images Pulled")

        # removal: no template needs an image, no DaemonSet
        await kube.delete(TEMPLATES, "sidecar", namespace)
        await wait_for(kube, DAEMONSETS, DAEMONSET, namespace, lambda o: init_images(o) == [MINIMAL, R],
                       what="the sidecar's image dropped")
        await kube.delete(TEMPLATES, "jupyterlab", namespace)
        await wait_for(kube, DAEMONSETS, DAEMONSET, namespace, lambda o: o is None or o["metadata"].get(
            "deletionTimestamp"), what="the puller deleted")


async def test_off_by_default(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    settings = {"leader_election": LeaderElectionSettings(enabled=False, lease_namespace=namespace)}
    async with running_operator(control_plane.kubeconfig, (namespace,), **settings):
        await kube.create(TEMPLATES, copy.deepcopy(TEMPLATE), namespace)
        template = await template_valid(kube, "jupyterlab", namespace)
    assert "prePull" not in template["status"]
    assert await kube.get_or_none(DAEMONSETS, DAEMONSET, namespace) is None
