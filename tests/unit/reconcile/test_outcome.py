from __future__ import annotations

import dataclasses
from typing import Any

from jupyternetes_operator import api
from jupyternetes_operator.reconcile.outcome import (
    announcement,
    failed,
    observe,
    recorded_uids,
    stopped,
    up_to_date,
    waiting,
)
from jupyternetes_operator.reconcile.status import Condition

from .test_plan import sample

RUNNING_POD = {"status": {"phase": "Running", "podIP": "10.0.0.7",
                          "conditions": [{"type": "Ready", "status": "True"}]},
               "spec": {"containers": [{"name": "notebook", "ports": [{"name": "http", "containerPort": 8888}]}]}}


def claim(phase: str) -> dict[str, Any]:
    return {"status": {"phase": phase}}


def test_a_pod_held_back_for_its_claim_is_missing_with_the_reason() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    outcome = observe(rendered, ((pvc, claim("Pending")), (pod, None)), {},
                      {pod.name: "waiting for PersistentVolumeClaim home-alice to bind before the pod is created"})
    assert outcome.phase == api.PROVISIONING
    assert [(c["kind"], c["state"]) for c in outcome.children] == [("PersistentVolumeClaim", "Pending"),
                                                                   ("Pod", "Missing")]
    assert outcome.ready == Condition(False, "Provisioning", outcome.ready.message)
    assert f"Pod {pod.name}: waiting for PersistentVolumeClaim home-alice to bind" in outcome.ready.message


def test_all_children_ready_is_running_with_the_endpoint() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    outcome = observe(rendered, ((pvc, claim("Bound")), (pod, RUNNING_POD)), {})
    assert outcome.phase == api.RUNNING
    assert outcome.endpoint == {"address": "10.0.0.7", "port": 8888, "url": "http://10.0.0.7:8888"}
    assert outcome.ready.ok is True
    assert outcome.children_ready == Condition(True, "ChildrenReady")


def test_a_claim_its_ready_pod_mounts_never_takes_the_server_back_to_provisioning() -> None:
    """The volume controller can show a bound claim Lost (or Pending) for a moment: the server stays
    Running, and the claim's record says what its phase is."""
    rendered = sample()
    pvc, pod = rendered.children
    for phase in ("Lost", "Pending"):
        outcome = observe(rendered, ((pvc, claim(phase)), (pod, RUNNING_POD)), {})
        assert outcome.phase == api.RUNNING
        assert outcome.children[0]["state"] == "Pending"
    waiting_pod = {**RUNNING_POD, "status": {"phase": "Pending"}}
    assert observe(rendered, ((pvc, claim("Lost")), (pod, waiting_pod)), {}).phase == api.PROVISIONING


def test_each_retained_claims_record_holds_its_uid() -> None:
    """The one claim of its name the instance trusts by its creation mark (claimtrust)."""
    rendered = sample()
    pvc, pod = rendered.children
    assert pvc.retain
    bound = {**claim("Bound"), "metadata": {"uid": "c-1"}}
    outcome = observe(rendered, ((pvc, bound), (pod, {**RUNNING_POD, "metadata": {"uid": "p-1"}})), {})
    assert [c.get("uid") for c in outcome.children] == ["c-1", None]
    assert recorded_uids({"children": list(outcome.children)}) == {pvc.name: "c-1"}
    assert [c.get("uid") for c in observe(rendered, ((pvc, None), (pod, None)), {}).children] == [None, None]


def test_just_created_children_are_pending_not_missing() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    outcome = observe(rendered, ((pvc, None), (pod, None)), {pvc.name: claim("Pending"), pod.name: None})
    assert [c["state"] for c in outcome.children] == ["Pending", "Pending"]


def test_waiting_and_failed_conditions() -> None:
    not_found = waiting("TemplateNotFound", "no such template", resolved=False)
    assert (not_found.phase, not_found.resolved.ok, not_found.children_ready.ok) == (api.PENDING, False, None)
    in_use = waiting("ClaimInUse", "held", resolved=True, retry_after=5)
    assert (in_use.resolved, in_use.children_ready.ok, in_use.retry_after) == (Condition(True, "Resolved"), False, 5)
    assert waiting("TemplateNotValidated", "soon").resolved == Condition(None, "TemplateNotValidated", "soon")
    conflict = failed("ChildConflict", "taken", resolved=True)
    assert (conflict.phase, conflict.resolved.ok, conflict.ready) == (api.FAILED, True,
                                                                       Condition(False, "ChildConflict", "taken"))


def test_up_to_date_says_which_generation_runs_and_which_is_current() -> None:
    assert up_to_date(3, 3) == Condition(True, "UpToDate", "the server runs the template's generation 3")
    changed = up_to_date(2, 3)
    assert (changed.ok, changed.reason) == (False, "TemplateChanged")
    assert "runs template generation 2; the template is at generation 3" in changed.message
    assert (up_to_date(None, 3).ok, up_to_date(None, 3).reason) == (None, "NotProvisioned")
    assert (up_to_date(2, None).ok, up_to_date(2, None).reason) == (None, "TemplateUnknown")


def ended(phase: str, code: int) -> dict[str, Any]:
    how = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
    return {"status": {"phase": phase, "containerStatuses": [
        {"name": "notebook", "ready": False, "state": {"terminated": how}}]}}


def test_a_server_that_exits_0_stops_its_instance_for_good() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    outcome = observe(rendered, ((pvc, claim("Bound")), (pod, ended("Succeeded", 0))), {})
    message = f"Pod {pod.name}: the server stopped by itself: container notebook exited with code 0 (Completed)"
    assert outcome.phase == api.STOPPED
    assert outcome.ready == Condition(False, api.SERVER_STOPPED, message)
    assert outcome.children_ready == Condition(False, api.SERVER_STOPPED, message)
    assert outcome.endpoint is None
    assert [(c["kind"], c["state"]) for c in outcome.children] == [("PersistentVolumeClaim", "Ready"),
                                                                   ("Pod", "Stopped")]
    assert outcome.template_generation == rendered.template_generation


def test_a_server_that_exits_non_zero_fails_its_instance() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    outcome = observe(rendered, ((pvc, claim("Bound")), (pod, ended("Failed", 1))), {})
    assert outcome.phase == api.FAILED
    assert outcome.ready == Condition(False, "ContainerFailed",
                                      f"Pod {pod.name}: container notebook exited with code 1 (Error)")


def test_a_crash_of_one_pod_wins_over_a_clean_exit_of_another() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    other = dataclasses.replace(pod, name="jupyter-alice-helper", logical_name="helper")
    outcome = observe(rendered, ((pvc, claim("Bound")), (pod, ended("Succeeded", 0)), (other, ended("Failed", 2))),
                      {})
    assert (outcome.phase, outcome.ready.reason) == (api.FAILED, "ContainerFailed")
    assert "jupyter-alice-helper" in outcome.ready.message


def test_stopped_is_a_terminal_phase_the_crd_knows() -> None:
    assert api.STOPPED in api.PHASES
    assert stopped("gone").ready == Condition(False, api.SERVER_STOPPED, "gone")


def status(phase: str | None, reason: str = "") -> dict[str, Any]:
    """An instance's written status (the reconciler's ``current``); ``None``: never written."""
    if phase is None:
        return {}
    return {"phase": phase, "conditions": [{"type": "Ready", "status": "False", "reason": reason}]}


def test_running_at_the_first_status_is_not_announced_and_running_after_a_wait_is() -> None:
    rendered = sample()
    pvc, pod = rendered.children
    running = observe(rendered, ((pvc, claim("Bound")), (pod, RUNNING_POD)), {})
    assert announcement(status(None), running) is None  # its Created Event and its status say it
    ready = ("Normal", "Ready", "the notebook server is ready at http://10.0.0.7:8888", "Ready")
    assert announcement(status(api.PROVISIONING, "Provisioning"), running) == ready
    assert announcement(status(api.PENDING, "CapacityReached"), running) == ready
    assert announcement(status(api.FAILED, "PodFailed"), running) == ready  # back from a failure
    assert announcement(status(api.RUNNING), running) is None  # no transition


def test_every_other_transition_is_announced_once_and_a_new_reason_again() -> None:
    provisioning = observe(sample(), ((sample().children[0], claim("Pending")), (sample().children[1], None)), {})
    assert announcement(status(None), provisioning)[:2] == ("Normal", "Provisioning")  # type: ignore[index]
    assert announcement(status(api.PROVISIONING, "Provisioning"), provisioning) is None
    broken = failed("PodFailed", "exit 1", resolved=True)
    assert announcement(status(None), broken) == ("Warning", "PodFailed", "exit 1", "Fail")
    assert announcement(status(api.FAILED, "PodFailed"), broken) is None
    assert announcement(status(api.FAILED, "ChildConflict"), broken) is not None  # a new reason
    missing = waiting("TemplateNotFound", "no template t", resolved=False)
    assert announcement(status(None), missing) == ("Warning", "TemplateNotFound", "no template t", "Resolve")
    assert announcement(status(api.PENDING, "TemplateNotFound"), missing) is None
    assert announcement(status(None), waiting("CapacityReached", "full")) is None  # the status says it
    assert announcement(status(api.RUNNING), stopped("exited 0"))[:2] == (  # type: ignore[index]
        "Normal", "ServerStopped")
