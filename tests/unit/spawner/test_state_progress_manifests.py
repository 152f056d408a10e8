from __future__ import annotations

from typing import Any

from jupyternetes_operator import api
from jupyternetes_operator.spawner import manifests
from jupyternetes_operator.spawner.progress import Tracker, endpoint_url, failure, observed
from jupyternetes_operator.spawner.state import ServerState, exit_status


def test_state_round_trip_and_unstarted() -> None:
    state = ServerState("jupyter-alice", "hub")
    assert ServerState.from_dict(state.to_dict()) == state
    assert ServerState.from_dict({}) == ServerState()
    assert not ServerState().started
    assert ServerState.from_dict(None).to_dict() == {}
    assert ServerState.from_dict({"instance": 3, "namespace": "x"}) == ServerState()


def test_a_start_in_progress_round_trips_until_its_instance_exists() -> None:
    body = {"metadata": {"name": "jupyter-alice", "annotations": {api.ANNOTATION_ENV_SECRET: "0123456789abcdef"}}}
    pending = ServerState("jupyter-alice", "hub", pending=body)
    assert pending.started
    assert pending.nonce == "0123456789abcdef"
    assert ServerState.from_dict(pending.to_dict()) == pending
    assert pending.created() == ServerState("jupyter-alice", "hub")
    assert pending.created().to_dict() == {"instance": "jupyter-alice", "namespace": "hub"}
    # a pending manifest for another name is not trusted
    other = {"instance": "jupyter-alice", "namespace": "hub", "pending": {"metadata": {"name": "jupyter-bob"}}}
    assert ServerState.from_dict(other) == ServerState("jupyter-alice", "hub")


def instance(phase: str, reason: str = "", message: str = "", url: str | None = None,
             generation: int = 1, observed_generation: int | None = 1) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": "False",
                                                             "reason": reason, "message": message}]}
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    if url:
        status["endpoint"] = {"url": url}
    return {"metadata": {"name": "jupyter-alice", "generation": generation}, "status": status}


def test_status_reading() -> None:
    assert endpoint_url(instance("Running", url="http://10.0.0.1:8888")) == "http://10.0.0.1:8888"
    assert endpoint_url(instance("Provisioning", url="http://x")) is None
    assert observed(instance("Pending"))
    assert not observed(instance("Pending", observed_generation=None))
    assert not observed(instance("Pending", generation=2))
    assert not observed(None)
    assert failure(instance("Running")) is None


def test_failures_name_their_reason_and_a_hint() -> None:
    assert failure(instance("Failed", "TemplateInvalid", "template t: UnknownReference: x")) == (
        "TemplateInvalid: template t: UnknownReference: x (the template is invalid; `kubectl describe jnt` "
        "shows why)")
    assert "cannot be pulled" in str(failure(instance("Failed", "ImagePullBackOff", "container notebook: back-off")))
    assert "no node can run" in str(failure(instance("Failed", "Unschedulable", "0/2 nodes are available")))


def test_progress_only_grows_and_repeats_nothing() -> None:
    tracker = Tracker()
    assert tracker.on_instance(instance("Pending", "TemplateNotValidated", "being validated")) == {
        "progress": 20, "message": "Instance jupyter-alice is Pending: TemplateNotValidated: being validated"}
    assert tracker.on_instance(instance("Pending", "TemplateNotValidated", "being validated")) is None
    assert tracker.on_instance(instance("Pending", "TemplateNotFound", "no template t")) == {
        "message": "Instance jupyter-alice is Pending: TemplateNotFound: no template t"}
    assert tracker.on_event({"reason": "Created", "note": "created Pod p", "type": "Normal"}) == {
        "progress": 40, "message": "Created: created Pod p"}
    assert tracker.on_instance(instance("Provisioning", "Unschedulable", "0/2 nodes are available")) == {
        "progress": 50, "message": "Instance jupyter-alice is Provisioning: Unschedulable: 0/2 nodes are available"}
    assert tracker.on_event({"reason": "Created", "note": "created PVC", "type": "Normal"}) == {
        "message": "Created: created PVC"}
    assert tracker.on_event({"reason": "Unschedulable", "note": "0/2 nodes", "type": "Warning"}) == {
        "message": "Warning Unschedulable: 0/2 nodes (no node can run the server (resources, node selectors or "
                   "taints))"}
    assert tracker.on_instance(instance("Running", url="http://a:1")) == {
        "progress": 100, "message": "Server ready at http://a:1"}


def test_failed_phase_message() -> None:
    item = Tracker().on_instance(instance("Failed", "InvalidVariable", "username: bad"))
    assert item == {"message": "Server failed: InvalidVariable: username: bad"}


def test_instance_manifest_keeps_secrets_out_of_the_spec() -> None:
    labels = manifests.hub_labels("Alice", "lab")
    body = manifests.instance("jupyter-alice", "hub", "jupyterlab", "hub", {"username": "x-41lice"}, labels, {})
    assert body["spec"] == {"template": {"name": "jupyterlab"}, "variables": {"username": "x-41lice"}}
    assert body["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "jupyterhub", "app.kubernetes.io/component": "singleuser-server",
        "hub.jupyter.org/username": "x--41lice", "hub.jupyter.org/servername": "lab"}
    other = manifests.instance("n", "hub", "t", "shared", {}, {}, {"a": "b"})
    assert other["spec"]["template"] == {"name": "t", "namespace": "shared"}
    assert other["metadata"]["annotations"] == {"a": "b"}


def test_env_secret_is_named_by_the_starts_nonce_and_names_its_instance() -> None:
    secret = manifests.env_secret("jupyter-alice", "0123456789abcdef", "k3y", "hub", {"JUPYTERHUB_API_TOKEN": "t"},
                                  {"a": "b"})
    assert secret["metadata"]["name"] == api.env_secret_name("jupyter-alice", "0123456789abcdef")
    assert secret["metadata"]["annotations"] == {api.ANNOTATION_ENV_FOR: "jupyter-alice", api.ANNOTATION_ENV_KEY: "k3y"}
    assert secret["stringData"] == {"JUPYTERHUB_API_TOKEN": "t"}
    assert "ownerReferences" not in secret["metadata"]  # written beside the instance; the operator owns it


def test_only_a_secret_with_the_key_proves_an_instance_that_declares_its_digest() -> None:
    instance = {"metadata": {"annotations": {api.ANNOTATION_ENV_DIGEST: api.env_key_digest("k3y")}}}
    secret = manifests.env_secret("jupyter-alice", "0123456789abcdef", "k3y", "hub", {}, {})
    assert api.env_secret_proven(instance, secret)
    for key in ("k3y ", "K3Y", api.env_key_digest("k3y"), "", None):  # a planter sees the digest only
        planted = manifests.env_secret("jupyter-alice", "0123456789abcdef", "k3y", "hub", {}, {})
        if key is None:
            del planted["metadata"]["annotations"][api.ANNOTATION_ENV_KEY]
        else:
            planted["metadata"]["annotations"][api.ANNOTATION_ENV_KEY] = key
        assert not api.env_secret_proven(instance, planted), key
    assert not api.env_secret_proven({"metadata": {"annotations": {api.ANNOTATION_ENV_DIGEST: 7}}}, secret)
    # No digest: a spawner that created the Secret before the instance (its order is the proof).
    assert api.env_secret_proven({"metadata": {"annotations": {}}}, {"metadata": {}})


def test_poll_reports_a_clean_stop_as_exit_0_and_a_failure_as_1() -> None:
    assert exit_status(None) == 0  # gone
    assert exit_status(instance("Stopped", "ServerStopped", "exited with code 0")) == 0
    assert exit_status(instance("Failed", "ContainerFailed", "exited with code 1")) == 1
    for running in ("", "Pending", "Provisioning", "Running", "Terminating"):
        assert exit_status(instance(running)) is None


def test_a_stop_while_starting_ends_the_start_with_its_reason() -> None:
    stopped = instance("Stopped", "ServerStopped", "Pod p: the server stopped by itself")
    assert failure(stopped) == ("ServerStopped: Pod p: the server stopped by itself (the server exited by itself "
                                "with code 0 before it was ready; its log says why)")
    assert Tracker().on_instance(stopped) == {"message": f"Server stopped: {failure(stopped)}"}


def test_a_wait_for_room_is_shown_to_the_user() -> None:
    waiting = instance("Pending", "CapacityReached", "20 of 20 servers of template hub/lab are running or starting; "
                       "waiting for room")
    assert Tracker().on_instance(waiting) == {"progress": 20, "message": (
        "Instance jupyter-alice is Pending: CapacityReached: 20 of 20 servers of template hub/lab are running or "
        "starting; waiting for room")}
    assert exit_status(waiting) is None
