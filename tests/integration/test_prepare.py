"""Prepare requests (reconcile/prepare.py) on the real control plane: a user's home made, bound and
signed before their first spawn, which then adopts it; never a pod, a Secret or a record of servers;
never a live server's home or a planted one; and a spawn that meets a home still being prepared waits."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

from jupyternetes_operator import api, homes
from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE, TEMPLATES
from jupyternetes_operator.kube.client import MERGE_PATCH, Client
from jupyternetes_operator.kube.resources import EVENTS, PODS, PVCS, SECRETS
from jupyternetes_operator.reconcile.claimtrust import ANNOTATION_SIGNATURE
from jupyternetes_operator.spawner.names import safe_username
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.operator import wait_for_list

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
from .test_claims import planted_claim, release_request, released
from .test_spawner import hub_token
from .test_volume_binding import PVS, classes, template_on, volume_for

__all__ = ["classes"]  # the fixture, used by name


def prepare_request(name: str, user: str) -> dict[str, Any]:
    request = instance(name, {"username": user})
    request["spec"]["prepare"] = True
    return request


async def prepared(kube: Client, name: str, namespace: str, timeout: float = 30) -> Any:
    return await wait_for(kube, INSTANCES, name, namespace,
                          lambda o: o is not None and (o.get("status") or {}).get("phase") == api.PREPARED,
                          timeout, f"{name} Prepared")


async def event(kube: Client, namespace: str, name: str, reason: str) -> None:
    """Wait for an Event about ``name`` with ``reason`` (Events are sent off the reconcile's path)."""
    await wait_for_list(kube, EVENTS, namespace, lambda events: any(
        e["regarding"].get("name") == name and e["reason"] == reason for e in events["items"]),
        what=f"a {reason} Event about {name}")


async def test_a_home_prepared_before_the_first_spawn_is_adopted_by_it(control_plane: ControlPlane, kube: Client,
                                                                       namespace: str) -> None:
    """The request makes home-alice, Bound and signed, and nothing else, recording no server on it;
    alice's first spawn adopts that very claim (same uid) and runs on it; deleting her server forever
    deletes it, and the request, done, never makes it again."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, prepare_request("alice-prep", "alice"), namespace)
        done = await prepared(kube, "alice-prep", namespace)
        assert condition(done, "Ready")["reason"] == api.PREPARED
        assert "prepared PersistentVolumeClaim home-alice (Bound)" in condition(done, "Ready")["message"]
        home = await kube.get(PVCS, "home-alice", namespace)
        assert home["status"]["phase"] == "Bound"
        assert home["metadata"]["annotations"].get(ANNOTATION_SIGNATURE)
        assert home["metadata"]["labels"][LABEL_INSTANCE] == "alice-prep"
        assert api.claim_servers(home) == ()
        assert [c["kind"] for c in done["status"]["children"]] == ["PersistentVolumeClaim"]
        assert (await kube.list(PODS, namespace))["items"] == []
        assert not [s for s in (await kube.list(SECRETS, namespace))["items"]
                    if s["metadata"]["name"].startswith("alice-prep")]
        await event(kube, namespace, "alice-prep", "Prepared")

        await kube.create(INSTANCES, instance("jupyter-alice", {"username": "alice"}), namespace)
        await ready_instance(kube, "jupyter-alice", namespace)
        adopted = await kube.get(PVCS, "home-alice", namespace)
        assert adopted["metadata"]["uid"] == home["metadata"]["uid"]
        assert adopted["metadata"]["labels"][LABEL_INSTANCE] == "jupyter-alice"
        assert api.claim_servers(adopted) == ("jupyter-alice",)
        await event(kube, namespace, "jupyter-alice", "Adopted")
        assert (await kube.get(INSTANCES, "alice-prep", namespace))["status"]["phase"] == api.PREPARED

        await kube.delete(INSTANCES, "jupyter-alice", namespace)
        await wait_for(kube, INSTANCES, "jupyter-alice", namespace, lambda o: o is None, what="jupyter-alice gone")
        await kube.create(INSTANCES, release_request("jupyter-alice"), namespace)
        assert await released(kube, "jupyter-alice", namespace) == "deleted home-alice"
        await wait_for(kube, PVCS, "home-alice", namespace, lambda o: o is None, what="home-alice deleted")
        # The request is done: touched, it reconciles, and does not make the deleted home again.
        await kube.patch(INSTANCES, "alice-prep", {"metadata": {"annotations": {"touch": "1"}}}, namespace,
                         content_type=MERGE_PATCH)
        await wait_for(kube, INSTANCES, "alice-prep", namespace,
                       lambda o: (o["metadata"].get("annotations") or {}).get("touch") == "1", what="touched")
        await kube.create(INSTANCES, instance("jupyter-zed", {"username": "zed"}), namespace)
        await ready_instance(kube, "jupyter-zed", namespace)  # the operator has got past the touch by now
        assert await kube.get_or_none(PVCS, "home-alice", namespace) is None


async def test_a_spawn_waits_for_a_home_still_being_prepared(control_plane: ControlPlane, kube: Client,
                                                             namespace: str, classes: dict[str, str]) -> None:
    """home-bob is of a class no provisioner serves: the request waits for it to bind, and bob's spawn,
    meanwhile, waits Pending (no pod, the claim neither adopted nor failed as unsigned); once a volume
    binds it the request is done and the spawn adopts and runs."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, template_on(classes["Immediate"]), namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, prepare_request("bob-prep", "bob"), namespace)
        preparing = await instance_reason(kube, "bob-prep", namespace, "Preparing")
        assert preparing["status"]["phase"] == api.PROVISIONING
        assert "home-bob: waiting to bind" in condition(preparing, "Ready")["message"]

        await kube.create(INSTANCES, instance("jupyter-bob", {"username": "bob"}), namespace)
        waiting = await instance_reason(kube, "jupyter-bob", namespace, "ClaimInUse")
        assert waiting["status"]["phase"] == api.PENDING
        assert "being prepared by prepare request bob-prep" in condition(waiting, "Ready")["message"]
        assert await kube.get_or_none(PODS, "jupyter-bob-notebook", namespace) is None
        assert (await kube.get(PVCS, "home-bob", namespace))["metadata"]["labels"][LABEL_INSTANCE] == "bob-prep"

        await kube.create(PVS, volume_for(namespace, classes["Immediate"], "home-bob"))
        await prepared(kube, "bob-prep", namespace, timeout=60)
        await ready_instance(kube, "jupyter-bob", namespace, timeout=60)
        home = await kube.get(PVCS, "home-bob", namespace)
        assert home["metadata"]["labels"][LABEL_INSTANCE] == "jupyter-bob"
        assert api.claim_servers(home) == ("jupyter-bob",)
        await kube.delete(INSTANCES, "jupyter-bob", namespace)
        await kube.delete(PVS, f"{namespace}-home-bob")


async def test_a_prepare_request_never_takes_a_live_servers_home(control_plane: ControlPlane, kube: Client,
                                                                  namespace: str) -> None:
    """Carol's server runs on home-carol: a request for carol is done at once (the home is there),
    and leaves the claim, its record and the server as they were."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-carol", {"username": "carol"}), namespace)
        await ready_instance(kube, "jupyter-carol", namespace)
        before = await kube.get(PVCS, "home-carol", namespace)

        await kube.create(INSTANCES, prepare_request("carol-prep", "carol"), namespace)
        done = await prepared(kube, "carol-prep", namespace)
        assert "home-carol (held by jupyter-carol)" in condition(done, "Ready")["message"]
        after = await kube.get(PVCS, "home-carol", namespace)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["metadata"]["labels"][LABEL_INSTANCE] == "jupyter-carol"
        assert (await kube.get(INSTANCES, "jupyter-carol", namespace))["status"]["phase"] == api.RUNNING
        assert await kube.get_or_none(PODS, "carol-prep-notebook", namespace) is None


async def test_a_home_left_by_a_stopped_server_is_prepared_again_without_a_record(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """Dan's server stopped, leaving home-dan: a request for dan takes it over (no new claim, no
    record of itself), and dan's next server adopts it from the request; the record names his two
    servers only."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-dan", {"username": "dan"}), namespace)
        await ready_instance(kube, "jupyter-dan", namespace)
        home = await kube.get(PVCS, "home-dan", namespace)
        await kube.delete(INSTANCES, "jupyter-dan", namespace)
        await wait_for(kube, INSTANCES, "jupyter-dan", namespace, lambda o: o is None, what="jupyter-dan gone")

        await kube.create(INSTANCES, prepare_request("dan-prep", "dan"), namespace)
        done = await prepared(kube, "dan-prep", namespace)
        assert "home-dan (Bound)" in condition(done, "Ready")["message"]
        taken = await kube.get(PVCS, "home-dan", namespace)
        assert taken["metadata"]["uid"] == home["metadata"]["uid"]
        assert taken["metadata"]["labels"][LABEL_INSTANCE] == "dan-prep"
        assert api.claim_servers(taken) == ("jupyter-dan",)

        await kube.create(INSTANCES, instance("jupyter-dan--lab", {"username": "dan"}), namespace)
        await ready_instance(kube, "jupyter-dan--lab", namespace)
        after = await kube.get(PVCS, "home-dan", namespace)
        assert after["metadata"]["uid"] == home["metadata"]["uid"]
        assert after["metadata"]["labels"][LABEL_INSTANCE] == "jupyter-dan--lab"
        assert api.claim_servers(after) == ("jupyter-dan", "jupyter-dan--lab")


async def test_a_prepare_request_never_vouches_for_a_planted_home(control_plane: ControlPlane, kube: Client,
                                                                   namespace: str) -> None:
    """A claim someone made under mallory's home name, labelled for the request itself: the request
    fails ClaimUntrusted and does not sign it; the spawn that follows fails the same way."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(PVCS, planted_claim("home-mallory", "mallory-prep"), namespace)
        await kube.create(INSTANCES, prepare_request("mallory-prep", "mallory"), namespace)
        failed = await instance_reason(kube, "mallory-prep", namespace, "ClaimUntrusted")
        assert failed["status"]["phase"] == api.FAILED
        assert ANNOTATION_SIGNATURE not in (await kube.get(PVCS, "home-mallory", namespace))["metadata"].get(
            "annotations", {})
        await kube.create(INSTANCES, instance("jupyter-mallory", {"username": "mallory"}), namespace)
        await instance_reason(kube, "jupyter-mallory", namespace, "ClaimUntrusted")
        assert await kube.get_or_none(PODS, "jupyter-mallory-notebook", namespace) is None


async def test_the_prepare_command_makes_the_homes_the_spawner_names(control_plane: ControlPlane, kube: Client,
                                                                     namespace: str) -> None:
    """``jupyternetes-operator prepare --wait``, run with the hub's shipped Role: each hub user's home
    made and Bound under the name the spawner's username gives it (escaped: ``erin.smith`` is
    ``erin-2esmith``), the requests deleted once Prepared; a rerun is recognised, and a name taken by
    another instance is reported (exit 1)."""
    hub = control_plane.write_kubeconfig(f"hub-{namespace}", await hub_token(kube, namespace))
    options = homes.Options(("frank", "erin.smith"), namespace, "jupyterlab", wait=60, kubeconfig=str(hub))
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        err = io.StringIO()
        assert await homes.run(options, err) == 0, err.getvalue()
        assert "2 of 2 homes prepared" in err.getvalue()
        for user in options.users:
            home = await kube.get(PVCS, f"home-{safe_username(user)}", namespace)
            assert home["status"]["phase"] == "Bound"
            assert home["metadata"]["annotations"].get(ANNOTATION_SIGNATURE)
            await wait_for(kube, INSTANCES, homes.request_name(user), namespace, lambda o: o is None,
                           what="the request deleted")
        assert safe_username("erin.smith") == "erin-2esmith"

        await kube.create(INSTANCES, instance(homes.request_name("grace"), {"username": "grace"}), namespace)
        rerun = dataclasses.replace(options, users=("frank", "grace"), wait=None)
        await kube.create(INSTANCES, homes.request("frank", namespace, "jupyterlab", None), namespace)
        err = io.StringIO()
        assert await homes.run(rerun, err) == 1
        assert f"{homes.request_name('grace')}: the name is taken by another instance" in err.getvalue()
        assert "1 of 2 prepare requests" in err.getvalue()
        assert "prepare" not in (await kube.get(INSTANCES, homes.request_name("grace"), namespace))["spec"]


async def test_the_api_server_refuses_a_request_both_to_prepare_and_release(control_plane: ControlPlane,
                                                                           kube: Client, namespace: str) -> None:
    both = prepare_request("x", "x")
    both["spec"]["release"] = True
    proc = control_plane.kubectl("create", "-n", namespace, "-f", "-", check=False, input=json.dumps(both))
    assert proc.returncode != 0
    assert "spec.prepare and spec.release cannot both be true" in proc.stderr
    await kube.create(INSTANCES, prepare_request("y", "y"), namespace)
    flip = control_plane.kubectl("patch", "-n", namespace, "jupyternotebookinstance", "y", "--type=merge",
                                 "-p", '{"spec": {"prepare": false}}', check=False)
    assert flip.returncode != 0
    assert "spec.prepare is immutable" in flip.stderr
