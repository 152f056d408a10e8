"""The REST client against the real API server: paging, server-side apply, the patch
flavours, delete preconditions and propagation, optimistic concurrency, dry run, the
status subresource, typed errors with their causes, request metrics and throttling."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

import anyio
import pytest

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import JSON_PATCH, Client, Object
from jupyternetes_operator.kube.errors import AlreadyExists, Conflict, Invalid, NotFound
from jupyternetes_operator.kube.resources import CONFIG_MAPS
from jupyternetes_operator.machinery.clock import MonotonicClock
from jupyternetes_operator.machinery.ratelimit import BucketThrottle
from jupyternetes_operator.metrics import Metrics
from jupyternetes_operator.testing import ControlPlane

LABEL = "test.jupyternetes.io/client"


def config_map(name: str, data: dict[str, str] | None = None, **metadata: Any) -> Object:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata},
            "data": data if data is not None else {"k": "v"}}


def instance(name: str, template: str = "jupyterlab") -> Object:
    return {"apiVersion": INSTANCES.api_version, "kind": "JupyterNotebookInstance",
            "metadata": {"name": name}, "spec": {"template": {"name": template}}}


def connect(control_plane: ControlPlane, **options: Any) -> Awaitable[Client]:
    """A second admin client with its own options (metrics, throttle, field manager)."""
    return Client.from_kubeconfig(str(control_plane.kubeconfig), **options)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """A sample's value; a series never touched counts as 0."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def managers(obj: Object) -> dict[str, str]:
    """managedFields as {manager: operation}."""
    return {e["manager"]: e["operation"] for e in obj["metadata"].get("managedFields") or ()}


def owned_fields(obj: Object, manager: str) -> set[str]:
    """The top-level-and-one-below field names a manager owns, e.g. {"f:data.f:k"}."""
    out: set[str] = set()
    for entry in obj["metadata"].get("managedFields") or ():
        if entry["manager"] != manager:
            continue
        for top, below in entry.get("fieldsV1", {}).items():
            if isinstance(below, dict) and below:
                out.update(f"{top}.{key}" for key in below if key != ".")
            else:
                out.add(top)
    return out


async def gone(kube: Client, name: str, namespace: str, timeout: float = 30) -> None:
    with anyio.fail_after(timeout):
        while await kube.get_or_none(CONFIG_MAPS, name, namespace) is not None:  # noqa: ASYNC110 (polls the server)
            await anyio.sleep(0.1)


# -- LIST paging --


async def test_list_pages_through_everything_in_three_requests(
        kube: Client, namespace: str, control_plane: ControlPlane) -> None:
    names = {f"cm-{i:02d}" for i in range(25)}
    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(kube.create, CONFIG_MAPS, config_map(name, labels={LABEL: "paged"}), namespace)

    metrics = Metrics()
    async with await connect(control_plane, metrics=metrics.client) as client:
        result = await client.list(CONFIG_MAPS, namespace, label_selector=f"{LABEL}=paged", limit=10)

    listed = [o["metadata"]["name"] for o in result["items"]]
    assert len(listed) == 25  # no page repeated
    assert set(listed) == names
    assert result["metadata"]["resourceVersion"]
    assert not result["metadata"].get("continue")
    # 10 + 10 + 5: three LIST requests, all 200.
    assert sample(metrics, "rest_client_request_duration_seconds_count", verb="LIST") == 3
    assert sample(metrics, "rest_client_requests_total", code="200", method="GET") == 3
    assert sample(metrics, "rest_client_request_duration_seconds_count", verb="GET") == 0


async def test_list_page_returns_a_continue_token(kube: Client, namespace: str) -> None:
    for i in range(5):
        await kube.create(CONFIG_MAPS, config_map(f"cm-{i}", labels={LABEL: "page"}), namespace)
    params: dict[str, str | int | bool] = {"labelSelector": f"{LABEL}=page", "limit": 3}
    first = await kube.list_page(CONFIG_MAPS, namespace, params=params)
    token = first["metadata"].get("continue")
    assert token
    assert len(first["items"]) == 3
    second = await kube.list_page(CONFIG_MAPS, namespace, params={**params, "continue": token})
    assert len(second["items"]) == 2
    assert not second["metadata"].get("continue")
    names = [o["metadata"]["name"] for o in first["items"] + second["items"]]
    assert sorted(names) == [f"cm-{i}" for i in range(5)]


# -- server-side apply --


async def test_server_side_apply_owns_fields_and_conflicts_with_another_manager(
        namespace: str, control_plane: ControlPlane) -> None:
    async with (await connect(control_plane, field_manager="alpha") as alpha,
                await connect(control_plane, field_manager="beta") as beta):
        created = await alpha.apply(CONFIG_MAPS, config_map("ssa", {"k": "1", "a": "x", "drop": "y"}), namespace)
        assert created["data"] == {"k": "1", "a": "x", "drop": "y"}
        assert managers(created) == {"alpha": "Apply"}

        # Same manager again: a field left out is a field given up, so it is removed.
        updated = await alpha.apply(CONFIG_MAPS, config_map("ssa", {"k": "2", "a": "x"}), namespace)
        assert updated["data"] == {"k": "2", "a": "x"}
        assert updated["metadata"]["uid"] == created["metadata"]["uid"]
        assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
        assert owned_fields(updated, "alpha") >= {"f:data.f:k", "f:data.f:a"}

        # Another manager setting k to something else conflicts ...
        with pytest.raises(Conflict) as caught:
            await beta.apply(CONFIG_MAPS, config_map("ssa", {"k": "3"}), namespace)
        assert caught.value.status == 409
        assert caught.value.reason == "Conflict"
        assert [(c.field, c.reason) for c in caught.value.causes] == [(".data.k", "FieldManagerConflict")]
        assert "alpha" in caught.value.causes[0].message
        assert (await alpha.get(CONFIG_MAPS, "ssa", namespace))["data"] == {"k": "2", "a": "x"}

        # ... until it forces: then it owns k, and alpha keeps only a.
        forced = await beta.apply(CONFIG_MAPS, config_map("ssa", {"k": "3"}), namespace, force=True)
        assert forced["data"] == {"k": "3", "a": "x"}
        assert managers(forced) == {"alpha": "Apply", "beta": "Apply"}
        assert "f:data.f:k" in owned_fields(forced, "beta")
        assert "f:data.f:k" not in owned_fields(forced, "alpha")
        assert "f:data.f:a" in owned_fields(forced, "alpha")


# -- patches --


async def test_json_patch_add_and_replace(kube: Client, namespace: str) -> None:
    await kube.create(CONFIG_MAPS, config_map("jp", {"k": "v"}), namespace)
    patched = await kube.patch(CONFIG_MAPS, "jp", [
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "add", "path": "/data/new", "value": "n"},
        {"op": "add", "path": "/metadata/labels", "value": {LABEL: "jp"}},
    ], namespace, content_type=JSON_PATCH)
    assert patched["data"] == {"k": "w", "new": "n"}
    assert patched["metadata"]["labels"] == {LABEL: "jp"}
    assert (await kube.get(CONFIG_MAPS, "jp", namespace))["data"] == {"k": "w", "new": "n"}


async def test_json_patch_failed_test_op_is_invalid_and_changes_nothing(kube: Client, namespace: str) -> None:
    before = await kube.create(CONFIG_MAPS, config_map("jp", {"k": "v"}), namespace)
    with pytest.raises(Invalid) as caught:
        await kube.patch(CONFIG_MAPS, "jp", [
            {"op": "test", "path": "/data/k", "value": "not-v"},
            {"op": "replace", "path": "/data/k", "value": "w"},
        ], namespace, content_type=JSON_PATCH)
    assert caught.value.status == 422
    # The server names no field: its answer is a bare Status with reason Invalid.
    assert caught.value.reason == "Invalid"
    assert caught.value.causes == ()
    after = await kube.get(CONFIG_MAPS, "jp", namespace)
    assert after["data"] == {"k": "v"}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_merge_patch_sets_and_removes_keys(kube: Client, namespace: str) -> None:
    await kube.create(CONFIG_MAPS, config_map("mp", {"k": "v", "a": "1"}), namespace)
    patched = await kube.patch(CONFIG_MAPS, "mp", {"data": {"k": "w", "a": None, "b": "2"}}, namespace)
    assert patched["data"] == {"k": "w", "b": "2"}
    assert (await kube.get(CONFIG_MAPS, "mp", namespace))["data"] == {"k": "w", "b": "2"}


async def test_patch_dry_run_changes_nothing(kube: Client, namespace: str) -> None:
    await kube.create(CONFIG_MAPS, config_map("dry", {"k": "v"}), namespace)
    answer = await kube.patch(CONFIG_MAPS, "dry", {"data": {"k": "w"}}, namespace, dry_run=True)
    assert answer["data"] == {"k": "w"}
    assert (await kube.get(CONFIG_MAPS, "dry", namespace))["data"] == {"k": "v"}


# -- delete --


async def test_delete_with_a_uid_precondition(kube: Client, namespace: str) -> None:
    created = await kube.create(CONFIG_MAPS, config_map("del"), namespace)
    with pytest.raises(Conflict) as caught:
        await kube.delete(CONFIG_MAPS, "del", namespace, uid="00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 409
    assert "UID" in caught.value.message
    assert await kube.get_or_none(CONFIG_MAPS, "del", namespace) is not None

    with pytest.raises(Conflict):
        await kube.delete(CONFIG_MAPS, "del", namespace, uid=created["metadata"]["uid"], resource_version="1")
    await kube.delete(CONFIG_MAPS, "del", namespace, uid=created["metadata"]["uid"],
                      resource_version=created["metadata"]["resourceVersion"])
    assert await kube.get_or_none(CONFIG_MAPS, "del", namespace) is None


async def test_delete_dry_run_keeps_the_object(kube: Client, namespace: str) -> None:
    await kube.create(CONFIG_MAPS, config_map("keep"), namespace)
    await kube.delete(CONFIG_MAPS, "keep", namespace, dry_run=True)
    assert await kube.get_or_none(CONFIG_MAPS, "keep", namespace) is not None


async def _parent_and_child(kube: Client, namespace: str) -> tuple[Object, Object]:
    parent = await kube.create(CONFIG_MAPS, config_map("parent"), namespace)
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"],
             "blockOwnerDeletion": True}
    child = await kube.create(CONFIG_MAPS, config_map("child", ownerReferences=[owner]), namespace)
    return parent, child


async def test_delete_foreground_deletes_dependents_first(kube: Client, namespace: str) -> None:
    await _parent_and_child(kube, namespace)
    answer = await kube.delete(CONFIG_MAPS, "parent", namespace, propagation_policy="Foreground")
    # The parent is kept (with a finalizer) until the garbage collector has removed the child.
    assert answer["metadata"]["name"] == "parent"
    assert answer["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in answer["metadata"]["finalizers"]
    await gone(kube, "child", namespace)
    await gone(kube, "parent", namespace)


async def test_delete_orphan_keeps_dependents(kube: Client, namespace: str) -> None:
    await _parent_and_child(kube, namespace)
    answer = await kube.delete(CONFIG_MAPS, "parent", namespace, propagation_policy="Orphan")
    assert "orphan" in answer["metadata"]["finalizers"]
    await gone(kube, "parent", namespace)
    child = await kube.get(CONFIG_MAPS, "child", namespace)
    assert not child["metadata"].get("ownerReferences")


# -- optimistic concurrency, create, get --


async def test_replace_with_a_stale_resource_version_conflicts(kube: Client, namespace: str) -> None:
    stale = await kube.create(CONFIG_MAPS, config_map("rep", {"k": "v"}), namespace)
    await kube.patch(CONFIG_MAPS, "rep", {"data": {"k": "changed"}}, namespace)
    with pytest.raises(Conflict) as caught:
        await kube.replace(CONFIG_MAPS, {**stale, "data": {"k": "mine"}}, namespace)
    assert caught.value.status == 409
    assert (await kube.get(CONFIG_MAPS, "rep", namespace))["data"] == {"k": "changed"}

    fresh = await kube.get(CONFIG_MAPS, "rep", namespace)
    replaced = await kube.replace(CONFIG_MAPS, {**fresh, "data": {"k": "mine"}}, namespace)
    assert replaced["data"] == {"k": "mine"}


async def test_create_dry_run_get_and_already_exists(kube: Client, namespace: str) -> None:
    answer = await kube.create(CONFIG_MAPS, config_map("c"), namespace, dry_run=True)
    assert answer["metadata"]["name"] == "c"
    assert await kube.get_or_none(CONFIG_MAPS, "c", namespace) is None
    with pytest.raises(NotFound) as missing:
        await kube.get(CONFIG_MAPS, "c", namespace)
    assert missing.value.status == 404
    assert missing.value.reason == "NotFound"

    await kube.create(CONFIG_MAPS, config_map("c"), namespace)
    with pytest.raises(AlreadyExists) as taken:
        await kube.create(CONFIG_MAPS, config_map("c"), namespace)
    assert taken.value.status == 409
    assert not isinstance(taken.value, Conflict)
    got = await kube.get_or_none(CONFIG_MAPS, "c", namespace)
    assert got is not None
    assert got["data"] == {"k": "v"}


# -- the status subresource --


async def test_status_subresource_changes_status_only(kube: Client, namespace: str) -> None:
    created = await kube.create(INSTANCES, instance("alice"), namespace)
    generation = created["metadata"]["generation"]

    patched = await kube.patch(INSTANCES, "alice", {"status": {"phase": "Pending", "observedGeneration": generation},
                                                    "spec": {"template": {"name": "ignored"}}},
                               namespace, subresource="status")
    assert patched["status"] == {"phase": "Pending", "observedGeneration": generation}
    assert patched["spec"]["template"]["name"] == "jupyterlab"
    assert patched["metadata"]["generation"] == generation

    # And the other way round: the main resource ignores status.
    main = await kube.patch(INSTANCES, "alice", {"status": {"phase": "Failed"},
                                                 "spec": {"template": {"name": "other"}}}, namespace)
    assert main["spec"]["template"]["name"] == "other"
    assert main["status"]["phase"] == "Pending"
    assert main["metadata"]["generation"] == generation + 1

    stored = await kube.get(INSTANCES, "alice", namespace)
    assert stored["status"]["phase"] == "Pending"
    assert stored["spec"]["template"]["name"] == "other"


# -- typed errors --


async def test_invalid_carries_field_causes(kube: Client, namespace: str) -> None:
    with pytest.raises(Invalid) as caught:
        await kube.create(CONFIG_MAPS, config_map("Not_A_Name"), namespace)
    assert caught.value.status == 422
    assert caught.value.reason == "Invalid"
    assert [(c.field, c.reason) for c in caught.value.causes] == [("metadata.name", "FieldValueInvalid")]

    with pytest.raises(Invalid) as schema:
        await kube.create(INSTANCES, {**instance("bob"), "spec": {"template": {}}}, namespace)
    assert ("spec.template.name", "FieldValueRequired") in [(c.field, c.reason) for c in schema.value.causes]


# -- metrics and throttling --


async def test_request_metrics_count_exactly_what_was_done(namespace: str, control_plane: ControlPlane) -> None:
    metrics = Metrics()
    async with await connect(control_plane, metrics=metrics.client) as client:
        for i in range(3):
            await client.create(CONFIG_MAPS, config_map(f"m-{i}"), namespace)
        with pytest.raises(AlreadyExists):
            await client.create(CONFIG_MAPS, config_map("m-0"), namespace)
        for _ in range(2):
            assert await client.get_or_none(CONFIG_MAPS, "missing", namespace) is None
        await client.get(CONFIG_MAPS, "m-1", namespace)
        await client.list(CONFIG_MAPS, namespace)

    def requests(code: str, method: str) -> float:
        return sample(metrics, "rest_client_requests_total", code=code, method=method)

    assert requests("201", "POST") == 3
    assert requests("409", "POST") == 1
    assert requests("404", "GET") == 2
    assert requests("200", "GET") == 2  # one GET, one LIST
    assert sample(metrics, "rest_client_request_duration_seconds_count", verb="POST") == 4
    assert sample(metrics, "rest_client_request_duration_seconds_count", verb="GET") == 3
    assert sample(metrics, "rest_client_request_duration_seconds_count", verb="LIST") == 1
    # No throttle configured: nothing is recorded for the rate limiter.
    assert sample(metrics, "rest_client_rate_limiter_duration_seconds_count", verb="GET") == 0


async def test_throttle_spaces_requests(kube: Client, namespace: str, control_plane: ControlPlane) -> None:
    await kube.create(CONFIG_MAPS, config_map("t"), namespace)
    metrics = Metrics()
    throttle = BucketThrottle(qps=5, burst=1, clock=MonotonicClock())
    async with await connect(control_plane, metrics=metrics.client, throttle=throttle) as client:
        started = time.monotonic()
        for _ in range(6):
            await client.get(CONFIG_MAPS, "t", namespace)
        elapsed = time.monotonic() - started
    # One request from the burst, then five more at 5 per second.
    assert elapsed >= 0.95
    assert sample(metrics, "rest_client_rate_limiter_duration_seconds_count", verb="GET") == 6
    # Tokens refill while a request is in flight, so the waiting and the requests share the second.
    waited = sample(metrics, "rest_client_rate_limiter_duration_seconds_sum", verb="GET")
    in_flight = sample(metrics, "rest_client_request_duration_seconds_sum", verb="GET")
    assert waited > 0.3
    assert waited + in_flight == pytest.approx(elapsed, abs=0.05)
    assert sample(metrics, "rest_client_requests_total", code="200", method="GET") == 6
