from __future__ import annotations

import copy
from typing import Any

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.reconcile.outcome import observe
from jupyternetes_operator.reconcile.plan import Holder
from jupyternetes_operator.reconcile.prepare import (
    claims_only,
    holder_state,
    is_prepare,
    preparation,
    prepared_again,
)

from .test_plan import sample

REQUEST = "alice-prep"


def claim(phase: str | None, holder: str = REQUEST, cls: str = "standard") -> dict[str, Any]:
    """The sample's home claim as the cache would show it."""
    manifest = copy.deepcopy(claims_only(sample()).children[0].manifest)
    manifest["metadata"].update(uid="claim-uid", labels={**manifest["metadata"]["labels"], api.LABEL_INSTANCE: holder})
    manifest["spec"]["storageClassName"] = cls
    if phase is not None:
        manifest["status"] = {"phase": phase}
    return manifest


def outcome_of(obj: dict[str, Any] | None, immediate: set[str] | None = None,
               created: dict[str, Any] | None = None, adopted: tuple[str, ...] = ()) -> Any:
    rendered = claims_only(sample())
    observed = ((rendered.children[0], obj),)
    seen = observe(rendered, observed, created or {})
    return preparation(REQUEST, observed, created or {}, adopted, {"standard"} if immediate is None else immediate,
                       seen)


def test_a_prepare_request_renders_its_retained_claims_alone() -> None:
    full = sample()
    assert {c.kind for c in full.children} == {"Pod", "PersistentVolumeClaim"}
    only = claims_only(full)
    assert [(c.kind, c.name, c.retain) for c in only.children] == [("PersistentVolumeClaim", "home-alice", True)]
    assert is_prepare({"spec": {"prepare": True}})
    assert not is_prepare({"spec": {"release": True}})
    assert not is_prepare({"spec": {"prepare": False}})
    assert not is_prepare({})


@pytest.mark.parametrize(("instance", "state"), [
    (None, Holder.ABSENT),
    ({"metadata": {}, "spec": {}}, Holder.LIVE),
    ({"metadata": {"deletionTimestamp": "now"}, "spec": {}}, Holder.TERMINATING),
    ({"metadata": {}, "spec": {"prepare": True}}, Holder.PREPARING),
    ({"metadata": {}, "spec": {"prepare": True}, "status": {"phase": api.PROVISIONING}}, Holder.PREPARING),
    ({"metadata": {}, "spec": {"prepare": True}, "status": {"phase": api.PREPARED}}, Holder.ABSENT),
    ({"metadata": {}, "spec": {"prepare": True}, "status": {"phase": api.FAILED}}, Holder.ABSENT),
    ({"metadata": {"deletionTimestamp": "now"}, "spec": {"prepare": True}}, Holder.TERMINATING),
])
def test_what_a_holder_means_to_another_instance(instance: dict[str, Any] | None, state: Holder) -> None:
    """A prepare request that is done holds nothing; one still preparing makes a server wait."""
    assert holder_state(instance) is state


def test_prepared_once_its_claim_is_bound() -> None:
    outcome = outcome_of(claim("Bound"))
    assert outcome.phase == api.PREPARED
    assert outcome.ready.ok is False
    assert outcome.ready.reason == api.PREPARED
    assert "home-alice (Bound)" in outcome.children_ready.message
    assert [r["uid"] for r in outcome.children] == ["claim-uid"]  # recorded, as a server's are (claimtrust)


@pytest.mark.parametrize("obj", [None, "pending"])
def test_preparing_while_a_claim_of_an_immediate_class_is_missing_or_unbound(obj: str | None) -> None:
    outcome = outcome_of(None if obj is None else claim("Pending"))
    assert outcome.phase == api.PROVISIONING
    assert outcome.ready.reason == "Preparing"
    assert ("not created yet" if obj is None else "waiting to bind") in outcome.ready.message


def test_a_claim_just_created_counts_as_created() -> None:
    outcome = outcome_of(None, created={"home-alice": claim(None)})
    assert outcome.phase == api.PROVISIONING
    assert "waiting to bind" in outcome.ready.message


def test_a_claim_that_binds_at_its_first_pod_is_prepared_unbound() -> None:
    outcome = outcome_of(claim("Pending", cls="local"), immediate={"standard"})
    assert outcome.phase == api.PREPARED
    assert "binds at its first pod" in outcome.ready.message


def test_a_claim_a_server_holds_already_is_handed_over() -> None:
    outcome = outcome_of(claim("Pending", holder="jupyter-alice"))
    assert outcome.phase == api.PREPARED
    assert "held by jupyter-alice" in outcome.ready.message


def test_a_claim_adopted_this_pass_is_the_requests_own() -> None:
    """Left by a server that is gone and unbound: relabelled for the request, it is waited for."""
    outcome = outcome_of(claim("Pending", holder="jupyter-alice"), adopted=("home-alice",))
    assert outcome.phase == api.PROVISIONING
    assert "waiting to bind" in outcome.ready.message


def test_a_lost_claim_is_waited_for() -> None:
    """Lost can be transient (status.py): the request waits, as a server's pod does."""
    outcome = outcome_of(claim("Lost"))
    assert outcome.phase == api.PROVISIONING
    assert "waiting to bind" in outcome.ready.message


def test_done_is_final() -> None:
    done = outcome_of(claim("Bound"))
    status = {"phase": done.phase, "conditions": [done.children_ready.as_status(api.CHILDREN_READY)]}
    again = prepared_again(status)
    assert (again.phase, again.ready.reason, again.ready.message) == (api.PREPARED, api.PREPARED,
                                                                     done.ready.message)
