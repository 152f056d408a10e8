from __future__ import annotations

from typing import Any

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.api import ANNOTATION_SERVERS, LABEL_INSTANCE, LABEL_RETAINED, claim_servers
from jupyternetes_operator.kube.owners import controller_uid
from jupyternetes_operator.machinery.frozen import Packed
from jupyternetes_operator.machinery.store import freeze, thaw
from jupyternetes_operator.reconcile.binding import storage_class
from jupyternetes_operator.reconcile.claimtrust import ANNOTATION_CREATED_FOR, ANNOTATION_SIGNATURE, ClaimSigner
from jupyternetes_operator.reconcile.status import (
    FAILED,
    MISSING,
    PENDING,
    READY,
    STOPPED,
    STUCK_REASONS,
    ChildState,
    Condition,
    child_state,
    claim_view,
    endpoint_of,
    instance_view,
    merge_conditions,
    pod_state,
    pod_view,
    same_status,
)

T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-01T00:05:00Z"


def pod(
    phase: str = "Running",
    *,
    ip: str | None = "10.0.0.7",
    ready: bool = True,
    scheduled: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    spec_containers: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    **status: Any,
) -> dict[str, Any]:
    conditions = [scheduled or {"type": "PodScheduled", "status": "True"},
                  {"type": "Ready", "status": "True" if ready else "False"}]
    st: dict[str, Any] = {"phase": phase, "conditions": conditions, **status}
    if ip is not None:
        st["podIP"] = ip
    if containers is not None:
        st["containerStatuses"] = containers
    if init_containers is not None:
        st["initContainerStatuses"] = init_containers
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns"}
    if deleting:
        metadata["deletionTimestamp"] = T0
    spec = {"containers": spec_containers if spec_containers is not None else
            [{"name": "notebook", "image": "img", "ports": [{"name": "http", "containerPort": 8888}]}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": st}


def waiting(name: str, reason: str, message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message is not None:
        state["message"] = message
    return {"name": name, "ready": False, "state": {"waiting": state}}


# ---------------------------------------------------------------- pod_state


def test_running_pod_with_ip_and_ready_condition_is_ready() -> None:
    assert pod_state(pod()) == ChildState(READY)


def test_ready_pod_read_from_the_cache_is_ready() -> None:
    assert pod_state(freeze(pod())) == ChildState(READY)


@pytest.mark.parametrize(
    ("the_pod", "message"),
    [
        (pod(ready=False), "pod is Running, containers not ready"),
        (pod(ip=None), "pod is Running"),
        (pod("Pending", ip=None, ready=False), "pod is Pending, containers not ready"),
    ],
    ids=["not-ready", "no-ip", "pending-phase"],
)
def test_running_pod_missing_a_readiness_ingredient_is_pending(the_pod: dict[str, Any], message: str) -> None:
    assert pod_state(the_pod) == ChildState(PENDING, message, "PodNotReady")


def test_pod_without_status_is_pending() -> None:
    assert pod_state({"metadata": {"name": "p"}}) == ChildState(PENDING, "pod is Pending, containers not ready",
                                                                   "PodNotReady")


def test_failed_phase_is_failed_with_the_kubelets_reason_and_message() -> None:
    the_pod = pod("Failed", ready=False, reason="Evicted", message="The node was low on resource: memory.")
    assert pod_state(the_pod) == ChildState(FAILED, "The node was low on resource: memory.", "Evicted")


def terminated(name: str, code: int, reason: str) -> dict[str, Any]:
    return {"name": name, "ready": False, "state": {"terminated": {"exitCode": code, "reason": reason,
                                                                   "message": "the log's tail"}}}


def test_failed_phase_without_details_is_a_failed_container() -> None:
    assert pod_state(pod("Failed", ready=False)) == ChildState(FAILED, "the pod failed", "ContainerFailed")


def test_failed_phase_names_the_exit_code_of_each_ended_container() -> None:
    the_pod = pod("Failed", ready=False, containers=[terminated("notebook", 1, "Error"), terminated("side", 0, "")])
    assert pod_state(the_pod) == ChildState(
        FAILED, "container notebook exited with code 1 (Error); container side exited with code 0", "ContainerFailed")


def test_a_clean_exit_is_stopped_not_failed() -> None:
    the_pod = pod("Succeeded", ip=None, ready=False, containers=[terminated("notebook", 0, "Completed")])
    assert pod_state(the_pod) == ChildState(
        STOPPED, "the server stopped by itself: container notebook exited with code 0 (Completed)", "ServerStopped")


def test_a_clean_exit_without_details_is_stopped() -> None:
    assert pod_state(pod("Succeeded", ready=False)) == ChildState(
        STOPPED, "the server stopped by itself: its containers exited with code 0", "ServerStopped")


def test_deletion_wins_over_a_clean_exit() -> None:
    assert pod_state(pod("Succeeded", deleting=True)).state == FAILED


def test_pod_being_deleted_is_failed_even_while_ready() -> None:
    assert pod_state(pod(deleting=True)) == ChildState(FAILED, "the pod is being deleted", "PodDeleted")


def test_deletion_wins_over_a_terminal_phase() -> None:
    assert pod_state(pod("Failed", deleting=True, reason="Evicted")).reason == "PodDeleted"


KUBELET_STUCK = ["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
                 "CreateContainerConfigError", "CreateContainerError", "RunContainerError"]


def test_stuck_reasons_are_the_kubelets_unrecoverable_ones() -> None:
    assert sorted(STUCK_REASONS) == sorted(KUBELET_STUCK)


@pytest.mark.parametrize("reason", KUBELET_STUCK)
def test_stuck_waiting_reason_of_a_container_fails_the_pod(reason: str) -> None:
    the_pod = pod("Pending", ready=False, containers=[
        {"name": "sidecar", "ready": True, "state": {"running": {}}},
        waiting("notebook", reason, "Back-off pulling image \"nope\""),
    ])
    assert pod_state(the_pod) == ChildState(FAILED, 'container notebook: Back-off pulling image "nope"', reason)


def test_stuck_init_container_fails_the_pod() -> None:
    the_pod = pod("Pending", ready=False, init_containers=[waiting("setup", "CrashLoopBackOff")],
                  containers=[waiting("notebook", "PodInitializing")])
    assert pod_state(the_pod) == ChildState(FAILED, "container setup: CrashLoopBackOff", "CrashLoopBackOff")


def test_stuck_reason_without_message_reports_the_reason() -> None:
    the_pod = pod("Pending", ready=False, containers=[waiting("notebook", "CreateContainerConfigError")])
    assert pod_state(the_pod).message == "container notebook: CreateContainerConfigError"


def test_crash_loop_in_a_running_pod_fails_it() -> None:
    the_pod = pod("Running", ready=False, containers=[waiting("notebook", "CrashLoopBackOff", "back-off 5m0s")])
    assert pod_state(the_pod) == ChildState(FAILED, "container notebook: back-off 5m0s", "CrashLoopBackOff")


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing"])
def test_transient_waiting_reason_stays_pending(reason: str) -> None:
    the_pod = pod("Pending", ip=None, ready=False, containers=[waiting("notebook", reason)])
    assert pod_state(the_pod) == ChildState(PENDING, "pod is Pending, containers not ready", "PodNotReady")


def test_unscheduled_pod_is_pending_with_the_schedulers_message() -> None:
    message = "0/3 nodes are available: 3 Insufficient memory."
    the_pod = pod("Pending", ip=None, ready=False,
                  scheduled={"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message})
    assert pod_state(the_pod) == ChildState(PENDING, message, "Unschedulable")


def test_unscheduled_pod_without_details_has_a_default_message_and_reason() -> None:
    the_pod = pod("Pending", ip=None, ready=False, scheduled={"type": "PodScheduled", "status": "False"})
    assert pod_state(the_pod) == ChildState(PENDING, "waiting to be scheduled", "Unschedulable")


def test_a_bound_pods_stale_unscheduled_condition_does_not_hold_it_back() -> None:
    """Seen in a fault run: the scheduler lost a bind's answer to an API server restart, retried, was told
    the pod is already assigned, and wrote PodScheduled=False on the pod, which ran anyway."""
    stale = {"type": "PodScheduled", "status": "False", "reason": "SchedulerError",
             "message": 'running Bind plugin "DefaultBinder": pod p is already assigned to node "kwok-node-1"'}
    running = pod("Running", scheduled=stale)
    running["spec"]["nodeName"] = "kwok-node-1"
    assert pod_state(running) == ChildState(READY)
    starting = pod("Pending", ip=None, ready=False, scheduled=stale)
    starting["spec"]["nodeName"] = "kwok-node-1"
    assert pod_state(starting) == ChildState(PENDING, "pod is Pending, containers not ready", "PodNotReady")


# ---------------------------------------------------------------- child_state


def test_absent_child_is_missing() -> None:
    assert child_state("Pod", None) == ChildState(MISSING, "not created yet")
    assert child_state("PersistentVolumeClaim", None).state == MISSING


def test_child_state_of_a_pod_is_its_pod_state() -> None:
    assert child_state("Pod", pod()) == ChildState(READY)
    assert child_state("Pod", pod(deleting=True)).state == FAILED


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Bound", ChildState(READY)),
        ("Lost", ChildState(PENDING, "the claim lost its volume", "ClaimLost")),  # can be transient
        ("Pending", ChildState(PENDING, "waiting for the claim to bind", "ClaimPending")),
        (None, ChildState(PENDING, "waiting for the claim to bind", "ClaimPending")),
    ],
)
def test_pvc_state_follows_its_phase(phase: str | None, expected: ChildState) -> None:
    claim: dict[str, Any] = {"metadata": {"name": "home"}}
    if phase is not None:
        claim["status"] = {"phase": phase}
    assert child_state("PersistentVolumeClaim", claim) == expected


@pytest.mark.parametrize("kind", ["Service", "ConfigMap", "Secret"])
def test_other_present_children_are_ready(kind: str) -> None:
    assert child_state(kind, {"metadata": {"name": "x"}}) == ChildState(READY)


# ---------------------------------------------------------------- endpoint_of


def test_numeric_port_gives_the_url() -> None:
    assert endpoint_of(pod(), None, 8000) == {"address": "10.0.0.7", "port": 8000, "url": "http://10.0.0.7:8000"}


def test_named_port_is_looked_up_in_the_chosen_container() -> None:
    the_pod = pod(spec_containers=[
        {"name": "proxy", "ports": [{"name": "http", "containerPort": 80}]},
        {"name": "notebook", "ports": [{"name": "metrics", "containerPort": 9090},
                                       {"name": "http", "containerPort": 8888}]},
    ])
    assert endpoint_of(the_pod, "notebook", "http") == {"address": "10.0.0.7", "port": 8888,
                                                        "url": "http://10.0.0.7:8888"}
    assert endpoint_of(the_pod, "proxy", "http") == {"address": "10.0.0.7", "port": 80, "url": "http://10.0.0.7:80"}


def test_named_port_without_a_container_is_found_in_any_container() -> None:
    the_pod = pod(spec_containers=[
        {"name": "proxy", "ports": [{"name": "admin", "containerPort": 81}]},
        {"name": "notebook", "ports": [{"name": "http", "containerPort": 8888}]},
    ])
    endpoint = endpoint_of(the_pod, None, "http")
    assert endpoint is not None
    assert endpoint["port"] == 8888


def test_named_port_without_a_container_prefers_the_first_container() -> None:
    the_pod = pod(spec_containers=[
        {"name": "first", "ports": [{"name": "http", "containerPort": 8000}]},
        {"name": "second", "ports": [{"name": "http", "containerPort": 9000}]},
    ])
    endpoint = endpoint_of(the_pod, None, "http")
    assert endpoint is not None
    assert endpoint["port"] == 8000


def test_named_port_of_another_container_is_not_used_when_a_container_is_chosen() -> None:
    the_pod = pod(spec_containers=[
        {"name": "proxy", "ports": [{"name": "http", "containerPort": 80}]},
        {"name": "notebook", "ports": []},
    ])
    assert endpoint_of(the_pod, "notebook", "http") is None


def test_named_port_in_a_frozen_pod() -> None:
    endpoint = endpoint_of(freeze(pod()), "notebook", "http")
    assert endpoint == {"address": "10.0.0.7", "port": 8888, "url": "http://10.0.0.7:8888"}


@pytest.mark.parametrize(("container", "port"), [("notebook", "nope"), (None, "nope"), ("missing", "http")])
def test_unknown_port_name_gives_none(container: str | None, port: str) -> None:
    assert endpoint_of(pod(), container, port) is None


def test_no_pod_ip_gives_none() -> None:
    assert endpoint_of(pod(ip=None), None, 8888) is None
    assert endpoint_of(pod(ip=""), None, 8888) is None


def test_ipv6_address_is_bracketed_in_the_url_only() -> None:
    assert endpoint_of(pod(ip="fd00::1:7"), "notebook", "http") == {
        "address": "fd00::1:7", "port": 8888, "url": "http://[fd00::1:7]:8888",
    }


# ---------------------------------------------------------------- conditions


def condition(type_: str, ok: bool | None, reason: str, message: str = "") -> dict[str, Any]:
    return Condition(ok, reason, message).as_status(type_)


@pytest.mark.parametrize(("ok", "status"), [(True, "True"), (False, "False"), (None, "Unknown")])
def test_condition_status_is_tri_state(ok: bool | None, status: str) -> None:
    assert condition("Ready", ok, "ServerReady", "serving") == {
        "type": "Ready", "status": status, "reason": "ServerReady", "message": "serving",
    }


def test_condition_message_defaults_to_empty_and_is_capped() -> None:
    assert condition("Ready", True, "R")["message"] == ""
    assert condition("Ready", False, "R", "x" * 40000)["message"] == "x" * 32768


def test_new_conditions_get_the_current_time_and_generation() -> None:
    new = [condition("Ready", False, "Provisioning", "waiting")]
    assert merge_conditions([], new, 4, T0) == [{
        "type": "Ready", "status": "False", "reason": "Provisioning", "message": "waiting",
        "observedGeneration": 4, "lastTransitionTime": T0,
    }]


def test_unchanged_status_keeps_its_transition_time_but_takes_new_reason_and_generation() -> None:
    previous = merge_conditions([], [condition("Ready", False, "Provisioning", "pulling")], 1, T0)
    merged = merge_conditions(previous, [condition("Ready", False, "Provisioning", "starting")], 2, T1)
    assert merged == [{
        "type": "Ready", "status": "False", "reason": "Provisioning", "message": "starting",
        "observedGeneration": 2, "lastTransitionTime": T0,
    }]


def test_changed_status_moves_the_transition_time() -> None:
    previous = merge_conditions([], [condition("Ready", False, "Provisioning")], 1, T0)
    merged = merge_conditions(previous, [condition("Ready", True, "ServerReady")], 1, T1)
    assert merged[0]["status"] == "True"
    assert merged[0]["lastTransitionTime"] == T1


def test_each_condition_is_stamped_by_its_own_type() -> None:
    previous = merge_conditions([], [condition("TemplateResolved", True, "Resolved"),
                                     condition("Ready", False, "Provisioning")], 1, T0)
    merged = merge_conditions(freeze({"c": previous})["c"],
                              [condition("TemplateResolved", True, "Resolved"), condition("Ready", True, "ServerReady"),
                               condition("ChildrenReady", True, "ChildrenReady")], 1, T1)
    assert [(c["type"], c["lastTransitionTime"]) for c in merged] == [
        ("TemplateResolved", T0), ("Ready", T1), ("ChildrenReady", T1),
    ]


def test_previous_condition_without_a_time_gets_now() -> None:
    previous = [{"type": "Ready", "status": "True", "reason": "ServerReady", "message": ""}]
    assert merge_conditions(previous, [condition("Ready", True, "ServerReady")], 1, T1)[0]["lastTransitionTime"] == T1


def test_conditions_no_longer_reported_are_dropped() -> None:
    previous = merge_conditions([], [condition("Old", True, "X"), condition("Ready", True, "R")], 1, T0)
    assert [c["type"] for c in merge_conditions(previous, [condition("Ready", True, "R")], 1, T1)] == ["Ready"]


def test_merge_does_not_modify_its_inputs() -> None:
    previous = [{"type": "Ready", "status": "False", "reason": "P", "message": "", "lastTransitionTime": T0,
                 "observedGeneration": 1}]
    new = [condition("Ready", True, "R")]
    merge_conditions(previous, new, 2, T1)
    assert previous[0]["lastTransitionTime"] == T0
    assert previous[0]["observedGeneration"] == 1
    assert new == [condition("Ready", True, "R")]


# ---------------------------------------------------------------- same_status


def status(time: str, *, reason: str = "ServerReady", generation: int = 1, phase: str = "Running") -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True", "reason": reason, "message": "",
                        "observedGeneration": generation, "lastTransitionTime": time}],
        "endpoint": {"address": "10.0.0.7", "port": 8888, "url": "http://10.0.0.7:8888"},
    }


def test_statuses_differing_only_in_transition_time_are_the_same() -> None:
    assert same_status(status(T0), status(T1))
    assert same_status(freeze(status(T0)), status(T1))


@pytest.mark.parametrize(
    "other",
    [
        status(T0, reason="Other"),
        status(T0, generation=2),
        status(T0, phase="Failed"),
        {**status(T0), "endpoint": {"address": "10.0.0.8", "port": 8888, "url": "http://10.0.0.8:8888"}},
        {**status(T0), "conditions": []},
        {k: v for k, v in status(T0).items() if k != "endpoint"},
        {**status(T0), "conditions": [{**status(T0)["conditions"][0], "observedGeneration": 2}]},
    ],
    ids=["reason", "generation", "phase", "endpoint", "conditions", "missing-key", "condition-generation"],
)
def test_any_other_difference_makes_statuses_differ(other: dict[str, Any]) -> None:
    assert not same_status(status(T0), other)
    assert not same_status(other, status(T0))


def test_same_status_does_not_modify_its_inputs() -> None:
    current = status(T0)
    same_status(current, status(T1))
    assert current == status(T0)


# ---------------------------------------------------------------- instance_view (the cached form)

def test_the_cached_view_of_an_instance_packs_its_status_and_means_the_same() -> None:
    status = {"observedGeneration": 1, "phase": "Running", "templateGeneration": 3, "envSecret": "env-alice",
              "conditions": [{"type": api.READY, "status": "True", "reason": "ServerReady",
                              "message": "serving at http://10.0.0.7:8888", "lastTransitionTime": T0}],
              "children": [{"kind": "Pod", "name": "jupyter-alice-notebook", "state": READY}],
              "endpoint": {"address": "10.0.0.7", "port": 8888, "url": "http://10.0.0.7:8888"}}
    instance = {"metadata": {"name": "jupyter-alice", "namespace": "ns", "managedFields": [{"manager": "m"}]},
                "spec": {"template": {"name": "jupyterlab"}}, "status": status}
    viewed = freeze(instance_view(instance))
    assert isinstance(viewed["status"], Packed)
    assert len(viewed["status"]._packed) < 150  # deflated against the preset: what differs from it, not 0.9 KB
    assert "managedFields" not in viewed["metadata"]
    assert viewed["spec"] == instance["spec"]
    assert thaw(viewed["status"]) == status  # what a reconcile reads (previous)
    assert viewed["status"] == status  # what the echo filter compares
    assert api.phase(viewed) == "Running"
    assert viewed["status"]["templateGeneration"] == 3
    assert api.condition(viewed, api.READY)["message"] == "serving at http://10.0.0.7:8888"
    assert "managedFields" in instance["metadata"]  # the argument is left alone
    assert type(instance["status"]) is dict


def test_an_instance_without_a_status_is_viewed_without_one() -> None:
    assert "status" not in instance_view({"metadata": {"name": "a"}, "spec": {}})
    assert instance_view({"metadata": {"name": "a"}, "status": {}})["status"] == {}


# ---------------------------------------------------------------- pod_view (the cached form)

VIEWED = [
    pod(), pod("Pending", ip=None, ready=False), pod(ready=False), pod("Failed", reason="Evicted", message="gone"),
    pod(deleting=True), pod(containers=[waiting("notebook", "ImagePullBackOff", "no such image")]),
    pod(init_containers=[waiting("init", "CrashLoopBackOff")]),
    pod("Succeeded", ip=None, ready=False, containers=[terminated("notebook", 0, "Completed")]),
    pod("Failed", ip=None, ready=False, containers=[terminated("notebook", 3, "Error")]),
    pod("Pending", ip=None, scheduled={"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                       "message": "0/2 nodes are available"}),
]


@pytest.mark.parametrize("the_pod", VIEWED)
def test_the_cached_view_of_a_pod_means_the_same(the_pod: dict[str, Any]) -> None:
    viewed = pod_view(the_pod)
    assert pod_state(viewed) == pod_state(the_pod)
    assert pod_state(freeze(viewed)) == pod_state(the_pod)
    for port in (8888, "http", "nope"):
        assert endpoint_of(viewed, None, port) == endpoint_of(the_pod, None, port)
        assert endpoint_of(viewed, "notebook", port) == endpoint_of(the_pod, "notebook", port)


def test_the_cached_view_keeps_identity_and_ownership_and_drops_the_rest() -> None:
    full = pod()
    full["metadata"].update(uid="u", resourceVersion="7", labels={"a": "b", LABEL_INSTANCE: "alice"},
                            annotations={"big": "x" * 1000}, managedFields=[{"manager": "m"}],
                            ownerReferences=[{"uid": "o", "controller": True, "blockOwnerDeletion": True}])
    full["spec"].update(volumes=[{"name": "v"}], securityContext={"runAsUser": 1000}, nodeName="n1")
    full["spec"]["containers"][0]["env"] = [{"name": "E", "value": "v"}]
    viewed = pod_view(full)
    assert viewed["metadata"] == {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                                  "labels": {LABEL_INSTANCE: "alice"},
                                  "ownerReferences": [{"uid": "o", "controller": True}]}
    assert controller_uid(viewed) == "o"
    assert viewed["spec"] == {"nodeName": "n1", "containers": [{"name": "notebook", "ports": [
        {"name": "http", "containerPort": 8888}]}]}


def test_the_cached_view_keeps_only_the_conditions_pod_state_reads() -> None:
    full = pod()
    full["status"]["conditions"] += [{"type": "Initialized", "status": "True"},
                                     {"type": "ContainersReady", "status": "True", "lastProbeTime": None}]
    viewed = pod_view(full)
    assert [c["type"] for c in viewed["status"]["conditions"]] == ["PodScheduled", "Ready"]
    assert "containerStatuses" not in viewed["status"]
    assert "initContainerStatuses" not in viewed["status"]


# ---------------------------------------------------------------- claim_view (the cached form)

SIGNER = ClaimSigner(b"k" * 32)


def claim(phase: str | None = "Bound", **annotations: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "home-alice", "namespace": "ns", "uid": "c1", "resourceVersion": "9",
                     "labels": {LABEL_RETAINED: "true", LABEL_INSTANCE: "alice", "app": "jupyterhub"},
                     "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                                     "volume.kubernetes.io/storage-provisioner": "kwok", **annotations},
                     "managedFields": [{"manager": "m"}]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                 "storageClassName": "standard", "volumeName": "pv-1", "volumeMode": "Filesystem"},
        "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}
    if phase is not None:
        obj["status"]["phase"] = phase
    return obj


SIGNED = claim(**{ANNOTATION_SIGNATURE: SIGNER.signature(claim())})
CLAIMS = [SIGNED, claim(), claim("Pending"), claim("Lost"), claim(None),
          claim(**{ANNOTATION_SIGNATURE: "forged", ANNOTATION_SERVERS: "alice,alice-gpu"}),
          claim("Pending", **{ANNOTATION_CREATED_FOR: SIGNER.creation_mark("ns", "home-alice", "i1")})]


@pytest.mark.parametrize("the_claim", CLAIMS)
def test_the_cached_view_of_a_claim_means_the_same(the_claim: dict[str, Any]) -> None:
    for viewed in (claim_view(the_claim), freeze(claim_view(the_claim))):
        assert child_state("PersistentVolumeClaim", viewed) == child_state("PersistentVolumeClaim", the_claim)
        assert storage_class(viewed) == storage_class(the_claim) == "standard"
        assert claim_servers(viewed) == claim_servers(the_claim)
        assert SIGNER.signed(viewed) == SIGNER.signed(the_claim)
        for instance_uid in ("i1", "i2"):
            for created in (None, the_claim["metadata"]["uid"], "another-uid"):
                assert SIGNER.trusted(viewed, instance_uid, created=created) == \
                    SIGNER.trusted(the_claim, instance_uid, created=created)
        assert viewed["metadata"]["labels"] == {LABEL_RETAINED: "true", LABEL_INSTANCE: "alice"}


def test_the_claims_viewed_differ_in_what_the_view_must_keep() -> None:
    # Else the test above could not tell a view that lost the signature or the creation mark.
    assert SIGNER.signed(claim_view(SIGNED))
    assert SIGNER.trusted(claim_view(CLAIMS[-1]), "i1", created=CLAIMS[-1]["metadata"]["uid"])
    assert not SIGNER.trusted(claim_view(CLAIMS[-1]), "i1", created="another-uid")
    assert not SIGNER.trusted(claim_view(CLAIMS[-1]), "i2", created=None)


def test_the_cached_view_of_a_claim_drops_the_volume_controllers_part() -> None:
    viewed = claim_view(claim(**{ANNOTATION_SERVERS: "alice"}))
    assert viewed["metadata"] == {"name": "home-alice", "namespace": "ns", "uid": "c1", "resourceVersion": "9",
                                  "labels": {LABEL_RETAINED: "true", LABEL_INSTANCE: "alice"},
                                  "annotations": {ANNOTATION_SERVERS: "alice"}}
    assert viewed["spec"] == {"storageClassName": "standard"}
    assert viewed["status"] == {"phase": "Bound"}


def test_the_cached_view_keeps_how_a_container_ended_but_not_its_output() -> None:
    viewed = pod_view(pod("Failed", containers=[terminated("notebook", 3, "Error")]))
    assert viewed["status"]["containerStatuses"] == [
        {"name": "notebook", "ready": False, "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]
