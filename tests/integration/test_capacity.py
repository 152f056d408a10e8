"""A template's ``maxInstances`` caps how many of its instances hold a place at once: 50 instances created
concurrently against a cap of 20 on the real control plane (kwok runs the pods) and the real operator.
Never more than 20 instances have pods (sampled all along), the rest wait Pending/CapacityReached with
the message the hub shows, and room that frees goes to the waiting ones in creation order."""

from __future__ import annotations

import copy
import re
from typing import Any

import anyio
import pytest

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import Invalid
from jupyternetes_operator.kube.resources import PODS
from jupyternetes_operator.reconcile import capacity
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.operator import wait_for_list

from .operator_harness import instance, running_operator, template_valid
from .test_spawner import without_home

CAP, SPAWNS, DELETED = 20, 50, 10


def capped() -> dict[str, Any]:
    template = copy.deepcopy(without_home())
    template["metadata"] = {"name": "capped"}
    template["spec"]["maxInstances"] = CAP
    return template


def owners_with_pods(pods: Any) -> set[str]:
    """The instances that have a pod (being deleted or not)."""
    return {ref["name"] for p in pods["items"] for ref in p["metadata"].get("ownerReferences") or ()
            if ref.get("kind") == api.INSTANCE_KIND}


def by_creation(instances: list[dict[str, Any]]) -> list[str]:
    return [i["metadata"]["name"] for i in sorted(
        instances, key=lambda i: (i["metadata"]["creationTimestamp"], i["metadata"]["name"]))]


async def test_fifty_spawns_against_a_cap_of_twenty(control_plane: ControlPlane, kube: Client,
                                                    namespace: str) -> None:
    await kube.create(api.TEMPLATES, capped(), namespace)
    most = 0
    samples = 0

    async def sample() -> None:
        nonlocal most, samples
        while True:
            most = max(most, len(owners_with_pods(await kube.list(PODS, namespace))))
            samples += 1
            await anyio.sleep(0.05)

    def running(items: list[dict[str, Any]]) -> list[str]:
        return sorted(i["metadata"]["name"] for i in items if api.phase(i) == api.RUNNING)

    def waiting(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if api.phase(i) == api.PENDING
                and api.condition(i, api.READY).get("reason") == "CapacityReached"]

    async with running_operator(control_plane.kubeconfig, (namespace,)), anyio.create_task_group() as tg:
        await template_valid(kube, "capped", namespace)
        tg.start_soon(sample)
        async with anyio.create_task_group() as spawns:
            for n in range(SPAWNS):
                spawns.start_soon(kube.create, api.INSTANCES, instance(f"user-{n:02d}", template="capped"),
                                  namespace)

        settled = await wait_for_list(
            kube, api.INSTANCES, namespace,
            lambda found: len(running(found["items"])) == CAP and len(waiting(found["items"])) == SPAWNS - CAP,
            120, f"{CAP} Running and {SPAWNS - CAP} waiting for room")
        items = settled["items"]
        admitted = running(items)
        late = by_creation(waiting(items))  # the order room goes in
        message = re.compile(rf"\d+ of {CAP} servers of template {namespace}/capped are running or starting; "
                             r"waiting for room( \(\d+ waiting before this one\))?")
        for one in waiting(items):
            assert message.fullmatch(api.condition(one, api.READY)["message"]), api.condition(one, api.READY)
            assert one["status"].get("children") is None  # nothing created for it
        assert sorted(owners_with_pods(await kube.list(PODS, namespace))) == admitted
        await anyio.sleep(2)  # nothing more is admitted while there is no room
        assert sorted(owners_with_pods(await kube.list(PODS, namespace))) == admitted

        for name in admitted[:DELETED]:  # as the spawner's stop does
            await kube.delete(api.INSTANCES, name, namespace, propagation_policy="Foreground")
        # Woken by the deletions: within 25 s, before a waiting instance's own look again (capacity.WAIT).
        assert capacity.WAIT > 25
        expected = sorted(admitted[DELETED:] + late[:DELETED])
        after = await wait_for_list(kube, api.INSTANCES, namespace,
                                    lambda found: running(found["items"]) == expected
                                    and len(found["items"]) == SPAWNS - DELETED,
                                    25, f"the first {DELETED} waiting, in creation order, admitted")
        assert by_creation(waiting(after["items"])) == late[DELETED:]
        await anyio.sleep(1)
        tg.cancel_scope.cancel()
    assert samples > 20
    assert most == CAP, f"at most {most} instances had pods at once"


async def test_the_api_server_refuses_a_limit_below_one(kube: Client, namespace: str) -> None:
    template = capped()
    template["spec"]["maxInstances"] = 0
    with pytest.raises(Invalid, match=r"spec\.maxInstances"):
        await kube.create(api.TEMPLATES, template, namespace)
