"""The operator end to end on the real control plane: spawn, delete, re-adopt, template
edits, restarts."""

from __future__ import annotations

import copy
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE, LABEL_RETAINED, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import EVENTS, NAMESPACES, NODES, PODS, PVCS
from jupyternetes_operator.machinery.store import ObjectKey, thaw
from jupyternetes_operator.manager import Operator
from jupyternetes_operator.reconcile.instances import FIRST_STATUS_GRACE
from jupyternetes_operator.reconcile.status import PackedStatus
from jupyternetes_operator.reconcile.tenant import TenantPolicy
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.operator import poll, wait_for_list

from .operator_harness import (
    TEMPLATE,
    condition,
    instance,
    instance_reason,
    ready_instance,
    running_operator,
    template_valid,
    wait_for,
)


async def test_spawn_delete_and_readopt_the_home_claim(control_plane: ControlPlane, kube: Client,
                                                       namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-alice", {"username": "alice"}), namespace)
        ready = await ready_instance(kube, "jupyter-alice", namespace)

        pod = await kube.get(PODS, "jupyter-alice-notebook", namespace)
        claim = await kube.get(PVCS, "home-alice", namespace)
        status = ready["status"]
        assert status["endpoint"] == {"address": pod["status"]["podIP"], "port": 8888,
                                      "url": f"http://{pod['status']['podIP']}:8888"}
        assert claim["status"]["phase"] == "Bound"
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "TemplateResolved": "True", "ChildrenReady": "True", "Ready": "True", "UpToDate": "True"}
        assert status["observedGeneration"] == ready["metadata"]["generation"]
        assert status["templateGeneration"] == 1
        assert sorted((c["kind"], c["name"], c["state"]) for c in status["children"]) == [
            ("PersistentVolumeClaim", "home-alice", "Ready"), ("Pod", "jupyter-alice-notebook", "Ready")]
        # The pod is owned by the instance; the retained claim is not.
        assert pod["metadata"]["ownerReferences"][0]["uid"] == ready["metadata"]["uid"]
        assert "ownerReferences" not in claim["metadata"]
        assert claim["metadata"]["labels"][LABEL_RETAINED] == "true"
        # An instance that names no environment Secret gets none (tests/integration/test_env_secret.py).
        assert "envFrom" not in pod["spec"]["containers"][0]
        # Turning Running is announced only after a status that said otherwise (Provisioning while
        # the claim bound); a server running at its first status write has its Created Event and
        # its status. Events are sent after the status write answered: wait for what is asserted.
        def alice_reasons(events: dict[str, Any]) -> set[str]:
            return {e["reason"] for e in events["items"] if e["regarding"]["name"] == "jupyter-alice"}

        await wait_for_list(kube, EVENTS, namespace, lambda events: "Created" in alice_reasons(events) and (
            "Provisioning" in alice_reasons(events)) == ("Ready" in alice_reasons(events)),
            what="the Created Event of jupyter-alice, and Ready exactly when Provisioning was announced")

        await kube.delete(INSTANCES, "jupyter-alice", namespace)
        await wait_for(kube, PODS, "jupyter-alice-notebook", namespace, lambda p: p is None,
                       what="the pod to be garbage-collected")
        await anyio.sleep(1)  # give the garbage collector every chance to (wrongly) take the claim
        kept = await kube.get(PVCS, "home-alice", namespace)
        assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
        assert "deletionTimestamp" not in kept["metadata"]

        # Alice's next server (a differently named instance) re-adopts her home.
        await kube.create(INSTANCES, instance("jupyter-alice-2", {"username": "alice"}), namespace)
        again = await ready_instance(kube, "jupyter-alice-2", namespace)
        adopted = await kube.get(PVCS, "home-alice", namespace)
        assert adopted["metadata"]["uid"] == claim["metadata"]["uid"]
        assert adopted["metadata"]["labels"][LABEL_INSTANCE] == "jupyter-alice-2"
        assert again["status"]["phase"] == "Running"
        async def spawns() -> float | None:
            return operator.metrics.registry.get_sample_value("jupyternetes_spawn_duration_seconds_count")

        await poll(spawns, lambda count: count == 2, 30, "two spawns in jupyternetes_spawn_duration_seconds")


async def test_template_edit_reaches_new_spawns_not_running_ones(control_plane: ControlPlane, kube: Client,
                                                                namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await kube.create(INSTANCES, instance("first"), namespace)
        await ready_instance(kube, "first", namespace)
        before = await kube.get(PODS, "first-notebook", namespace)

        edited = copy.deepcopy(TEMPLATE["spec"]["pods"])
        edited[0]["spec"]["containers"][0]["env"] = [{"name": "EDITION", "value": "two"}]
        await kube.patch(TEMPLATES, "jupyterlab", {"spec": {"pods": edited}}, namespace)
        await template_valid(kube, "jupyterlab", namespace)

        await kube.create(INSTANCES, instance("second"), namespace)
        second = await ready_instance(kube, "second", namespace)
        new_pod = await kube.get(PODS, "second-notebook", namespace)
        assert {"name": "EDITION", "value": "two"} in new_pod["spec"]["containers"][0]["env"]
        assert second["status"]["templateGeneration"] == 2

        after = await kube.get(PODS, "first-notebook", namespace)
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert "env" not in after["spec"]["containers"][0]
        first = await kube.get(INSTANCES, "first", namespace)
        assert first["status"]["templateGeneration"] == 1
        assert first["status"]["phase"] == "Running"

        # Rollout status: who runs the old version, on the instance, the template and /metrics.
        first = await wait_for(kube, INSTANCES, "first", namespace,
                               lambda o: condition(o, "UpToDate").get("status") == "False", what="first outdated")
        assert condition(first, "UpToDate")["reason"] == "TemplateChanged"
        assert "runs template generation 1; the template is at generation 2" in condition(first, "UpToDate")["message"]
        second = await kube.get(INSTANCES, "second", namespace)
        assert condition(second, "UpToDate")["status"] == "True"
        await wait_for(kube, TEMPLATES, "jupyterlab", namespace,
                       lambda o: (o["status"].get("instances"), o["status"].get("outdatedInstances")) == (2, 1),
                       what="2 instances, 1 outdated")
        with anyio.fail_after(20):  # the gauge is refreshed every 5 s
            while operator.metrics.registry.get_sample_value("jupyternetes_outdated_instances") != 1:  # noqa: ASYNC110
                await anyio.sleep(0.2)
        await kube.delete(INSTANCES, "first", namespace)
        await wait_for(kube, TEMPLATES, "jupyterlab", namespace,
                       lambda o: (o["status"].get("instances"), o["status"].get("outdatedInstances")) == (1, 0),
                       what="1 instance, none outdated")


async def test_restart_mid_provisioning_creates_no_duplicates(control_plane: ControlPlane, kube: Client,
                                                              namespace: str) -> None:
    await kube.create(TEMPLATES, TEMPLATE, namespace)
    names = [f"user{i}" for i in range(20)]
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await template_valid(kube, "jupyterlab", namespace)
        for name in names:
            await kube.create(INSTANCES, instance(name), namespace)
        await anyio.sleep(0.3)  # stop the operator while it is part-way through
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        for name in names:
            await ready_instance(kube, name, namespace)
    pods = (await kube.list(PODS, namespace))["items"]
    claims = (await kube.list(PVCS, namespace))["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(f"{n}-notebook" for n in names)
    assert sorted(c["metadata"]["name"] for c in claims) == sorted(f"home-{n}" for n in names)


async def test_pod_deleted_under_a_running_server_fails_the_instance(control_plane: ControlPlane, kube: Client,
                                                                     namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await kube.create(INSTANCES, instance("victim"), namespace)
        await ready_instance(kube, "victim", namespace)
        await kube.delete(PODS, "victim-notebook", namespace, grace_period_seconds=0)
        failed = await wait_for(kube, INSTANCES, "victim", namespace,
                                lambda o: (o.get("status") or {}).get("phase") == "Failed", what="victim Failed")
        ready = condition(failed, "Ready")
        assert ready["status"] == "False"
        assert ready["reason"] in ("PodDeleted", "ChildDeleted")
        assert failed["status"].get("endpoint") is None


async def test_a_cache_behind_our_own_writes_does_not_fail_a_server(control_plane: ControlPlane, kube: Client,
                                                                    namespace: str) -> None:
    """The pod cache loses sight of a running server's pod (as a busy API server's watch can lag behind
    our own create): the instance must stay Running (a live read shows the pod), not turn ChildDeleted."""
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await kube.create(INSTANCES, instance("lagging"), namespace)
        running = await ready_instance(kube, "lagging", namespace)
        pods = next(i for i in operator.informers if i.name == f"pods/{namespace}")
        hidden = ObjectKey(namespace, "lagging-notebook")
        real_get = pods.store.get
        pods.store.get = lambda key: None if key == hidden else real_get(key)  # type: ignore[method-assign]
        await kube.patch(INSTANCES, "lagging", {"metadata": {"annotations": {"touched": "1"}}}, namespace)
        await anyio.sleep(1.5)  # reconciled meanwhile (the annotation is an update event)
        after = await kube.get(INSTANCES, "lagging", namespace)
        assert after["status"]["phase"] == "Running", after["status"]
        assert after["status"]["endpoint"] == running["status"]["endpoint"]
        assert len((await kube.list(PODS, namespace, label_selector=f"{LABEL_INSTANCE}=lagging"))["items"]) == 1

        # A pod really deleted is still told apart: the live read finds it gone (ChildDeleted) or, read
        # a moment earlier, terminating (PodDeleted); either way the server is failed, never kept Running.
        await kube.delete(PODS, "lagging-notebook", namespace, grace_period_seconds=0)
        failed = await wait_for(kube, INSTANCES, "lagging", namespace,
                                lambda o: (o.get("status") or {}).get("phase") == "Failed", what="lagging Failed")
        assert condition(failed, "Ready")["reason"] in ("ChildDeleted", "PodDeleted")


async def test_templates_shared_across_namespaces(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """A shared template namespace serves every watched namespace; another namespace's template
    serves ours only if it opts in; the template counts the instances that use it."""
    shared, team = f"{namespace}-shared", f"{namespace}-team"
    for name in (shared, team):
        await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        await kube.create(TEMPLATES, TEMPLATE, shared)
        opted_in = copy.deepcopy(TEMPLATE)
        opted_in["metadata"] = {"name": "team-lab"}
        opted_in["spec"]["instanceNamespaces"] = [namespace]
        await kube.create(TEMPLATES, opted_in, team)
        async with running_operator(control_plane.kubeconfig, (namespace, team), template_namespace=shared):
            await kube.create(INSTANCES, instance("from-shared"), namespace)  # no namespace: falls back to shared
            await kube.create(INSTANCES, instance("from-team", template="team-lab", template_namespace=team),
                              namespace)
            await ready_instance(kube, "from-shared", namespace)
            await ready_instance(kube, "from-team", namespace)
            counted = await wait_for(kube, TEMPLATES, "jupyterlab", shared,
                                     lambda t: (t.get("status") or {}).get("instances") == 1,
                                     what="the shared template to count its instance")
            assert counted["status"]["instances"] == 1
    finally:
        for name in (shared, team):
            await kube.delete(NAMESPACES, name)


async def test_image_pull_back_off_fails_the_instance_with_the_kubelets_reason(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """The test plays the kubelet of a Node kwok does not manage and reports an image pull back-off."""
    node = f"manual-{namespace}"
    await kube.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    pinned = copy.deepcopy(TEMPLATE)
    pinned["spec"]["pods"][0]["spec"]["nodeName"] = node  # bypasses the scheduler: only "our kubelet" runs it
    try:
        async with running_operator(control_plane.kubeconfig, (namespace,), tenant=TenantPolicy(node_name=True)):
            await kube.create(TEMPLATES, pinned, namespace)
            await kube.create(INSTANCES, instance("unlucky"), namespace)
            await wait_for(kube, PODS, "unlucky-notebook", namespace, lambda p: p is not None)
            await kube.patch(PODS, "unlucky-notebook", {"status": {"phase": "Pending", "containerStatuses": [{
                "name": "notebook", "image": "quay.io/jupyter/minimal-notebook:2025-10-20", "imageID": "",
                "ready": False, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                                      "message": 'Back-off pulling image "quay.io/jupyter/minimal-notebook"'}}}]}},
                namespace, subresource="status")
            failed = await wait_for(kube, INSTANCES, "unlucky", namespace,
                                    lambda o: (o.get("status") or {}).get("phase") == "Failed", what="unlucky Failed")
            ready = condition(failed, "Ready")
            assert ready["reason"] == "ImagePullBackOff"
            assert "Back-off pulling image" in ready["message"]
            def warned(events: Any) -> bool:  # Events are sent in the background, after the status write
                return any(e["reason"] == "ImagePullBackOff" and e["type"] == "Warning"
                           and e["regarding"]["name"] == "unlucky" for e in events["items"])

            await wait_for_list(kube, EVENTS, namespace, warned, what="an ImagePullBackOff Warning Event")
    finally:
        await kube.delete(NODES, node)


async def instances_idle(operator: Operator) -> None:
    """Until the instance queue is empty and no instance reconcile runs (three looks in a row)."""
    registry = operator.metrics.registry
    quiet = 0
    with anyio.fail_after(30):
        while quiet < 3:
            depth = registry.get_sample_value("workqueue_depth", {"name": "jupyternotebookinstance"})
            active = registry.get_sample_value("controller_runtime_active_workers",
                                               {"controller": "jupyternotebookinstance"})
            quiet = quiet + 1 if depth == 0 and active == 0 else 0
            await anyio.sleep(0.1)


async def test_a_broken_or_deleted_template_never_fails_a_running_server(control_plane: ControlPlane, kube: Client,
                                                                        namespace: str) -> None:
    """A typo in a template, its deletion, or an operator restarted with other policy settings must not
    turn running servers Failed or Pending: JupyterHub's poll would report them gone and stop them. A
    provisioned instance goes on being observed from the children it was rendered with."""
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await kube.create(INSTANCES, instance("steady"), namespace)
        running = await ready_instance(kube, "steady", namespace)

        broken = copy.deepcopy(TEMPLATE["spec"]["pods"])
        broken[0]["spec"]["containers"][0]["image"] = "{{ nosuch }}"
        await kube.patch(TEMPLATES, "jupyterlab", {"spec": {"pods": broken}}, namespace)
        await template_valid(kube, "jupyterlab", namespace, status="False")  # wakes every instance naming it
        await kube.create(INSTANCES, instance("after-typo"), namespace)
        await instance_reason(kube, "after-typo", namespace, "TemplateInvalid")
        await instances_idle(operator)
        steady = await kube.get(INSTANCES, "steady", namespace)
        assert steady["status"]["phase"] == "Running", steady["status"]
        assert steady["status"]["endpoint"] == running["status"]["endpoint"]

        await kube.delete(TEMPLATES, "jupyterlab", namespace)
        await instances_idle(operator)
        assert (await kube.get(INSTANCES, "steady", namespace))["status"]["phase"] == "Running"
        # Its children are still observed: a pod deleted under it is reported.
        await kube.delete(PODS, "steady-notebook", namespace, grace_period_seconds=0)
        await instance_reason(kube, "steady", namespace, "ChildDeleted")

    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await kube.create(INSTANCES, instance("calm"), namespace)
        calm = await ready_instance(kube, "calm", namespace)
        policy = (await kube.get(TEMPLATES, "jupyterlab", namespace))["status"]["policy"]
    # Restarted with other policy settings: the template is validated again with the same verdict.
    async with running_operator(control_plane.kubeconfig, (namespace,),
                                tenant=TenantPolicy(node_name=True)) as operator:
        await wait_for(kube, TEMPLATES, "jupyterlab", namespace,
                       lambda t: (t.get("status") or {}).get("policy") not in (None, policy),
                       what="the template validated under the new settings")
        await kube.create(INSTANCES, instance("fresh"), namespace)
        await ready_instance(kube, "fresh", namespace)
        await instances_idle(operator)
        now = await kube.get(INSTANCES, "calm", namespace)
        assert now["status"]["phase"] == "Running"
        assert now["status"]["conditions"] == calm["status"]["conditions"]


async def test_a_status_write_does_not_wake_its_instance_again(control_plane: ControlPlane, kube: Client,
                                                               namespace: str) -> None:
    """Each of 20 instances naming a missing template is reconciled once and gets one status write
    (Pending/TemplateNotFound); the update event that write brings back is the operator's own and
    wakes nothing, so there are 20 reconciles, not 40, also when the event comes back before the
    write's answer, as from a loaded API server (24-36 of 20 before Echoes.expect, with 2 processes
    spinning beside the test)."""
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(kube.create, INSTANCES, instance(f"jupyter-u{n}", {"username": f"u{n}"}, "missing"),
                              namespace)
        for n in range(20):
            await instance_reason(kube, f"jupyter-u{n}", namespace, "TemplateNotFound")
        await anyio.sleep(2)  # the status writes' own events have come back
        reconciles = instance_reconciles(operator)
    assert 20 <= reconciles <= 22  # a watch restart's relist may still wake one


async def test_running_servers_leave_nothing_in_the_reconcilers_memory(control_plane: ControlPlane, kube: Client,
                                                                      namespace: str) -> None:
    """Once ten spawns run and their status writes have come back, the instance reconciler remembers
    none of them: what it keeps per instance lasts while a spawn does, or until its cache shows a
    write. Before, a server whose last reconcile wrote Running kept that status (~2 KB) for good:
    the write's echo wakes nothing, and only a later reconcile forgot it (here none follows, as
    the spawns waited for their template and no first-status timer is left)."""
    name = TEMPLATE["metadata"]["name"]  # the sample: each server's home claim is signed too
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        async with anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon(kube.create, INSTANCES, instance(f"jupyter-m{n}", {"username": f"m{n}"}, name),
                              namespace)
        for n in range(10):  # written at once: the spawns then run with no first-status timer after them
            await instance_reason(kube, f"jupyter-m{n}", namespace, "TemplateNotFound")
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        for n in range(10):
            await ready_instance(kube, f"jupyter-m{n}", namespace)
        remembered = operator.instance_reconciler.remembered()
        with anyio.move_on_after(10):  # the last status writes' events may be on their way
            while any(remembered.values()):
                await anyio.sleep(0.1)
                remembered = operator.instance_reconciler.remembered()
        # What the cache keeps of each instance: its status packed (~0.2 KB, not 2.3), meaning the same.
        for n in range(10):
            cached = operator.instances.get(ObjectKey(namespace, f"jupyter-m{n}"))
            assert cached is not None
            assert isinstance(cached["status"], PackedStatus)
            assert thaw(cached["status"]) == (await kube.get(INSTANCES, f"jupyter-m{n}", namespace))["status"]
    assert remembered == dict.fromkeys(remembered, 0)


def instance_reconciles(operator: Operator) -> float:
    from prometheus_client import generate_latest

    from jupyternetes_operator.testing.operator import metric_sum

    text = generate_latest(operator.metrics.registry).decode()
    return metric_sum(text, "controller_runtime_reconcile_total", 'controller="jupyternotebookinstance"')


async def spawn_running(kube: Client, template: dict[str, Any], names: list[str], namespace: str) -> None:
    """Create ``template``, then an instance of it per name at once (``username``: the name after
    ``jupyter-``), and wait until each runs."""
    await kube.create(TEMPLATES, template, namespace)
    await template_valid(kube, template["metadata"]["name"], namespace)
    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(kube.create, INSTANCES, instance(name, {"username": name[8:]}, template["metadata"]["name"]),
                          namespace)
    for name in names:
        await ready_instance(kube, name, namespace)


def pod_only_template(name: str) -> dict[str, Any]:
    """The sample without its home claim (an emptyDir instead): its spawns run in well under a second."""
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["name"] = name
    del template["spec"]["pvcs"]
    template["spec"]["pods"][0]["spec"]["volumes"] = [{"name": "home", "emptyDir": {}}]
    return template


async def test_a_server_running_before_its_first_status_timer_is_not_woken_by_it(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """Ten spawns run within the first-status grace (2 s): the timer each set when it was first seen
    is dropped once its reconcile writes Running, so nothing reconciles them after that (before,
    each timer woke its Running server once more: a full render, policy check and plan)."""
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await spawn_running(kube, pod_only_template("quick"), [f"jupyter-quick{n}" for n in range(10)], namespace)
        await instances_idle(operator)
        running = instance_reconciles(operator)
        await anyio.sleep(FIRST_STATUS_GRACE + 1)  # every timer set at a first sight is due by now
        await instances_idle(operator)
        after = instance_reconciles(operator)
        remembered = operator.instance_reconciler.remembered()
    assert after - running <= 1, f"{after - running:g} reconciles of running servers"  # a relist may wake one
    assert remembered == dict.fromkeys(remembered, 0)  # no pass after Running is needed to forget them


async def test_a_server_running_at_its_first_status_gets_one_event_a_waited_one_two(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """Ten pod-only spawns: each gets its Created Event; Ready is announced exactly for those whose
    first status said Provisioning (a spawn not yet running after the first-status grace). On this
    cluster pods run well within the grace, so spawns write one Event, not two (the old rule's Ready
    Event without a Provisioning one fails the pairing)."""
    template = pod_only_template("podonly")
    names = [f"jupyter-fast{n}" for n in range(10)]

    def reasons(events: dict[str, Any]) -> dict[str, list[str]]:
        by_name: dict[str, list[str]] = {name: [] for name in names}
        for e in events["items"]:
            by_name.get(e["regarding"]["name"], []).append(e["reason"])
        return by_name

    def settled(events: dict[str, Any]) -> bool:
        return all("Created" in r and ("Provisioning" in r) == ("Ready" in r) for r in reasons(events).values())

    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await spawn_running(kube, template, names, namespace)
        await wait_for_list(kube, EVENTS, namespace, settled, what="each spawn's Created Event")
        await anyio.sleep(3)  # longer than a Normal Event is ever held: a Ready Event would be here
        events = await kube.list(EVENTS, namespace)
    assert settled(events), reasons(events)
    by_name = reasons(events)
    assert all(r.count("Created") == 1 and r.count("Ready") <= 1 for r in by_name.values()), by_name
