"""The all-namespaces mode leaves excluded namespaces alone (kube-system, kube-public,
kube-node-lease and the operator's own by default): nothing from them enters the caches, so a
template or instance there gets no status and renders no pod. The shared template namespace
still serves its templates when it is excluded."""

from __future__ import annotations

import contextlib
import copy
import secrets
from collections.abc import AsyncIterator

import anyio

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import NotFound
from jupyternetes_operator.kube.resources import NAMESPACES, PODS, PVCS
from jupyternetes_operator.machinery.reflector import ResourceListerWatcher
from jupyternetes_operator.manager import Operator
from jupyternetes_operator.settings import SYSTEM_NAMESPACES
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.namespaces import ensure_namespace

from .operator_harness import TEMPLATE, instance, ready_instance, running_operator, template_valid

SETTLE = 2.0
"""Seconds the operator gets, after the watched instance is Running, to (wrongly) act on the excluded
one: both were created before the operator started, so it saw them in the same initial LIST."""


@contextlib.asynccontextmanager
async def removed_after(kube: Client, namespace: str, *objects: tuple[Resource, str]) -> AsyncIterator[None]:
    """Delete ``objects`` in ``namespace`` afterwards (for namespaces a test must not delete)."""
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            for resource, name in objects:
                with contextlib.suppress(NotFound):
                    await kube.delete(resource, name, namespace)


def cached_namespaces(operator: Operator) -> set[str]:
    return {obj["metadata"]["namespace"] for informer in operator.informers for obj in informer.store.list()}


def field_selectors(operator: Operator) -> dict[str, str | None]:
    selectors: dict[str, str | None] = {}
    for informer in operator.informers:
        lister_watcher = informer.reflector.lister_watcher
        assert isinstance(lister_watcher, ResourceListerWatcher)
        selectors[informer.name] = lister_watcher.field_selector
    return selectors


async def untouched(kube: Client, name: str, namespace: str, pod: str, claim: str) -> None:
    obj = await kube.get(INSTANCES, name, namespace)
    assert "status" not in obj, obj["status"]
    assert await kube.get_or_none(PODS, pod, namespace) is None
    assert await kube.get_or_none(PVCS, claim, namespace) is None


async def test_kube_public_is_left_alone_by_default(control_plane: ControlPlane, kube: Client,
                                                   namespace: str) -> None:
    excluded = "kube-public"
    user = f"ex-{secrets.token_hex(3)}"  # kube-public outlives the test: a fresh name every run
    template = copy.deepcopy(TEMPLATE)
    template["metadata"] = {"name": f"lab-{user}"}
    async with removed_after(kube, excluded, (INSTANCES, user), (PODS, f"{user}-notebook"),
                             (PVCS, f"home-{user}"), (TEMPLATES, f"lab-{user}")):
        # The real API server answers a metadata.namespace field selector on a custom resource.
        await kube.create(TEMPLATES, template, excluded)
        await kube.create(INSTANCES, instance(user, template=f"lab-{user}"), excluded)
        await kube.create(TEMPLATES, template, namespace)
        await kube.create(INSTANCES, instance("watched", template=f"lab-{user}"), namespace)
        listed = await kube.list(INSTANCES, field_selector=f"metadata.namespace!={excluded}")
        names = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]}
        assert (namespace, "watched") in names
        assert (excluded, user) not in names

        async with running_operator(control_plane.kubeconfig, ()) as operator:
            # The operator's own namespace (the harness puts its Lease and claim key in "default") is excluded too.
            assert operator.settings.unwatched_namespaces == SYSTEM_NAMESPACES | {"default"}
            for name, selector in field_selectors(operator).items():
                assert f"metadata.namespace!={excluded}" in (selector or ""), name
            await ready_instance(kube, "watched", namespace)
            await template_valid(kube, f"lab-{user}", namespace)
            await anyio.sleep(SETTLE)
            await untouched(kube, user, excluded, f"{user}-notebook", f"home-{user}")
            assert "status" not in await kube.get(TEMPLATES, f"lab-{user}", excluded)
            cached = cached_namespaces(operator)
            assert namespace in cached
            assert not cached & SYSTEM_NAMESPACES, cached


async def test_an_excluded_template_namespace_still_serves_its_templates(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """An admin may keep the shared templates beside the operator (an excluded namespace): they are
    watched and serve other namespaces; instances placed there are still left alone."""
    shared = f"{namespace}-ops"
    await ensure_namespace(kube, shared)
    try:
        await kube.create(TEMPLATES, TEMPLATE, shared)
        await kube.create(INSTANCES, instance("in-ops"), shared)
        async with running_operator(control_plane.kubeconfig, (), template_namespace=shared,
                                    excluded_namespaces=SYSTEM_NAMESPACES | {shared}) as operator:
            await kube.create(INSTANCES, instance("from-shared"), namespace)  # falls back to the shared one
            await ready_instance(kube, "from-shared", namespace)
            await template_valid(kube, "jupyterlab", shared)
            await anyio.sleep(SETTLE)
            await untouched(kube, "in-ops", shared, "in-ops-notebook", "home-in-ops")
            selectors = field_selectors(operator)
            assert f"metadata.namespace!={shared}" not in (selectors["jupyternotebooktemplates"] or "")
            assert f"metadata.namespace!={shared}" in (selectors["jupyternotebookinstances"] or "")
            held = {(i.name, obj["metadata"]["namespace"]) for i in operator.informers for obj in i.store.list()}
            assert ("jupyternotebooktemplates", shared) in held
            assert {name for name, ns in held if ns == shared} == {"jupyternotebooktemplates"}
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(NotFound):
            await kube.delete(NAMESPACES, shared)
