"""The zero-to-jupyterhub path against the real control plane and the real operator: the example
template (deploy/z2jh/template) validates and renders pods with the labels z2jh's NetworkPolicies
select and restartPolicy OnFailure; its user-scheduler option renders the scheduler and the
tolerations; and a home claim KubeSpawner made (claim-<user>) is adopted by name, the same object
bound to the same volume, and kept when the server goes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.controlplane import STORAGE_CLASS

from .helm import kustomize
from .operator_harness import instance, instance_reason, ready_instance, running_operator, template_valid, wait_for

Z2JH = Path(__file__).parents[2] / "deploy" / "z2jh"
NAME = "z2jh-jupyterlab"
# What z2jh's NetworkPolicies select (release "jhub", as in the example).
# docs/migrating-from-kubespawner.md: mark KubeSpawner's claims for adoption (a test checks the page says so).
MIGRATION_LABELS = ("jupyternetes.io/retained=true", "app.kubernetes.io/managed-by=jupyternetes")
NETPOL_LABELS = {"component": "singleuser-server", "app": "jupyterhub", "release": "jhub",
                 "hub.jupyter.org/network-access-hub": "true"}


def _template(control_plane: ControlPlane, folder: str) -> dict[str, Any]:
    (template,) = kustomize(control_plane.binaries.kubectl, Z2JH / folder)
    return template


async def test_the_example_template_renders_z2jh_labels(control_plane: ControlPlane, kube: Client,
                                                        namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, _template(control_plane, "template"), namespace)
        await template_valid(kube, NAME, namespace)
        await kube.create(INSTANCES, instance("jupyter-alice", {"username": "alice"}, template=NAME), namespace)
        running = await ready_instance(kube, "jupyter-alice", namespace)
        pods = {c["kind"]: c["name"] for c in running["status"]["children"]}
        pod = await kube.get(PODS, pods["Pod"], namespace)
        assert NETPOL_LABELS.items() <= pod["metadata"]["labels"].items(), pod["metadata"]["labels"]
        assert pod["metadata"]["labels"]["hub.jupyter.org/username"] == "alice"
        assert pod["spec"]["restartPolicy"] == "OnFailure"
        assert "schedulerName" not in pod["spec"] or pod["spec"]["schedulerName"] == "default-scheduler"
        assert pods["PersistentVolumeClaim"] == "claim-alice"


async def test_the_user_scheduler_option(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, _template(control_plane, "user-scheduler"), namespace)
        await template_valid(kube, NAME, namespace)  # the tenant policy takes literal values
        await kube.create(INSTANCES, instance("jupyter-bob", {"username": "bob"}, template=NAME), namespace)
        pod = await wait_for(kube, PODS, "jupyter-bob-notebook", namespace, lambda o: o is not None,
                             what="the pod rendered")
        assert pod["spec"]["schedulerName"] == "jhub-user-scheduler"
        assert {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user",
                "effect": "NoSchedule"} in pod["spec"]["tolerations"]
        assert NETPOL_LABELS.items() <= pod["metadata"]["labels"].items()
        # No user-scheduler runs here: the pod waits for it, unscheduled.
        assert not pod["spec"].get("nodeName")


def _kubespawner_claim(name: str, user: str) -> dict[str, Any]:
    """A home claim as KubeSpawner under z2jh made it: its own labels and annotations, none of ours."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name,
                         "labels": {"app": "jupyterhub", "component": "singleuser-storage", "release": "jhub",
                                    "app.kubernetes.io/managed-by": "kubespawner",
                                    "hub.jupyter.org/username": user},
                         "annotations": {"hub.jupyter.org/username": user}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                     "resources": {"requests": {"storage": "10Gi"}}}}


async def test_a_kubespawner_claim_is_adopted_by_name(control_plane: ControlPlane, kube: Client,
                                                      namespace: str) -> None:
    await kube.create(PVCS, _kubespawner_claim("claim-carol", "carol"), namespace)
    bound = await wait_for(kube, PVCS, "claim-carol", namespace,
                           lambda o: (o.get("status") or {}).get("phase") == "Bound", what="claim-carol bound")
    volume, uid = bound["spec"]["volumeName"], bound["metadata"]["uid"]
    # The migration setting (deploy/z2jh/jupyternetes-values.yaml): adopt unsigned claims, then sign them.
    async with running_operator(control_plane.kubeconfig, (namespace,), adopt_unsigned_claims=True):
        await kube.create(TEMPLATES, _template(control_plane, "template"), namespace)
        await template_valid(kube, NAME, namespace)
        # Not yet marked for adoption: refused, and left exactly as it was.
        await kube.create(INSTANCES, instance("jupyter-carol", {"username": "carol"}, template=NAME), namespace)
        await instance_reason(kube, "jupyter-carol", namespace, "ChildConflict")
        untouched = await kube.get(PVCS, "claim-carol", namespace)
        assert untouched["metadata"]["resourceVersion"] == bound["metadata"]["resourceVersion"]
        await kube.delete(INSTANCES, "jupyter-carol", namespace)
        await wait_for(kube, INSTANCES, "jupyter-carol", namespace, lambda o: o is None, what="instance gone")
        # The migration page's command, as written there.
        control_plane.kubectl("label", "pvc", "-n", namespace, "-l", "component=singleuser-storage",
                              *MIGRATION_LABELS, "--overwrite")
        await kube.create(INSTANCES, instance("jupyter-carol", {"username": "carol"}, template=NAME), namespace)
        await ready_instance(kube, "jupyter-carol", namespace)
        pod = await kube.get(PODS, "jupyter-carol-notebook", namespace)
        (home,) = [v for v in pod["spec"]["volumes"] if v["name"] == "home"]
        assert home["persistentVolumeClaim"]["claimName"] == "claim-carol"
        claim = await kube.get(PVCS, "claim-carol", namespace)
        assert claim["metadata"]["uid"] == uid  # the same object, not a new claim
        assert claim["spec"]["volumeName"] == volume  # on the same volume: the data is where it was
        assert claim["metadata"]["labels"]["component"] == "singleuser-storage"  # KubeSpawner's labels stay
        # The server goes (a stop); its home stays.
        await kube.delete(INSTANCES, "jupyter-carol", namespace)
        await wait_for(kube, INSTANCES, "jupyter-carol", namespace, lambda o: o is None, what="instance gone")
        await wait_for(kube, PODS, "jupyter-carol-notebook", namespace, lambda o: o is None, what="pod gone")
    # After the migration, without the setting: the claim was signed at its adoption, so it is trusted.
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(INSTANCES, instance("jupyter-carol-2", {"username": "carol"}, template=NAME), namespace)
        await ready_instance(kube, "jupyter-carol-2", namespace)
        claim = await kube.get(PVCS, "claim-carol", namespace)
        assert claim["metadata"]["uid"] == uid
        assert claim["spec"]["volumeName"] == volume


def test_the_templates_are_kustomizations(control_plane: ControlPlane) -> None:
    """Both folders build with kubectl (the README's apply commands)."""
    for folder in ("template", "user-scheduler"):
        proc = subprocess.run([str(control_plane.binaries.kubectl), "kustomize", str(Z2JH / folder)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
