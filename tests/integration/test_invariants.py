"""The invariant checker passes on a converged cluster and names every kind of breakage."""

from __future__ import annotations

import copy

from faults.invariants import check, retained_claims
from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, instance, ready_instance, running_operator, wait_for


async def test_checker_passes_when_converged_and_catches_each_violation(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        for name in ("ann", "bob", "cy"):
            await kube.create(INSTANCES, instance(name), namespace)
        for name in ("ann", "bob", "cy"):
            await ready_instance(kube, name, namespace)
        await kube.create(INSTANCES, instance("broken", {"username": "Not Valid"}), namespace)
        await wait_for(kube, INSTANCES, "broken", namespace,
                       lambda o: (o.get("status") or {}).get("phase") == "Failed")
        retained = retained_claims((await kube.list(PVCS, namespace))["items"])
        assert len(retained) == 3

        report = await check(kube, [namespace], retained_before=retained, informers=operator.informers)
        assert report.ok, report.problems
        assert (report.instances, report.running) == (4, 3)

    # With the operator stopped (it would heal some of this), break things the way faults would.
    ann_pod = await kube.get(PODS, "ann-notebook", namespace)
    twin = copy.deepcopy(ann_pod)
    twin["metadata"] = {k: v for k, v in ann_pod["metadata"].items()
                        if k in ("labels", "ownerReferences")} | {"name": "ann-notebook-twin"}
    twin.pop("status")
    twin["spec"].pop("nodeName")
    await kube.create(PODS, twin, namespace)  # a duplicate child
    orphan = copy.deepcopy(twin)
    orphan["metadata"] = {"name": "orphan", "labels": {**twin["metadata"]["labels"],
                                                       "jupyternetes.io/instance": "nobody"}}
    await kube.create(PODS, orphan, namespace)  # an orphan (no owner: the garbage collector leaves it)
    await kube.delete(PVCS, "home-cy", namespace)  # a lost retained claim
    await kube.patch(TEMPLATES, "jupyterlab", {"status": {"observedGeneration": 0}}, namespace,
                     subresource="status")  # a stale status

    report = await check(kube, [namespace], retained_before=retained)
    assert report.duplicates == 1
    assert report.orphans == 1
    assert report.lost_retained_claims == 1
    assert report.stale_status == 1
    assert not report.ok
    assert any("home-cy" in p for p in report.problems)
