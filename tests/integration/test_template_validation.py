"""Template validation on the real control plane: it never blocks on a name, it vets every child
whatever its ``when``, it always ends in ``Valid`` True or False, and renders are bounded."""

from __future__ import annotations

import copy
import time
from typing import Any

import anyio
import pytest

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import AlreadyExists, ApiError, Forbidden, Invalid
from jupyternetes_operator.kube.resources import CONFIG_MAPS, EVENTS, NAMESPACES, PODS, PVCS
from jupyternetes_operator.reconcile.bounds import MAX_RENDER_BYTES
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
)

QUICK = 15
"""Seconds within which a template must have its ``Valid`` condition (the controller's backoff
would take longer than that to give up, so an endless retry fails the wait)."""


def template(name: str, **changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(TEMPLATE)
    obj["metadata"] = {"name": name}
    obj["spec"].update(copy.deepcopy(changes))
    return obj


def config_map(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "apiVersion": "v1", "kind": "ConfigMap", **extra}


async def valid(kube: Client, name: str, namespace: str, status: str) -> dict[str, Any]:
    obj = await template_valid(kube, name, namespace, status, timeout=QUICK)
    return condition(obj, "Valid")


async def warned(kube: Client, name: str, namespace: str, reason: str) -> None:
    """Wait for a Warning Event about ``name`` with ``reason`` (Events are sent off the reconcile's path,
    so the status can be seen first)."""
    await wait_for_list(kube, EVENTS, namespace, lambda events: any(
        e["regarding"]["name"] == name and e["type"] == "Warning" and e["reason"] == reason
        for e in events["items"]), what=f"a {reason} Warning about {name}")


# -- the API server's order: validation and admission before the name check ---------------------

async def test_dry_run_checks_the_object_before_its_name(kube: Client, namespace: str) -> None:
    """Why a dry run's ``AlreadyExists`` may count as a pass: the object was validated and admitted
    first. An invalid object (422) or one admission refuses (403) at a taken name gets that answer."""
    await kube.create(CONFIG_MAPS, {"metadata": {"name": "taken"}, "data": {"a": "b"}}, namespace)
    with pytest.raises(AlreadyExists):
        await kube.create(CONFIG_MAPS, {"metadata": {"name": "taken"}, "data": {"c": "d"}}, namespace, dry_run=True)
    with pytest.raises(Invalid):
        await kube.create(CONFIG_MAPS, {"metadata": {"name": "taken"}, "data": {"bad key!": "d"}}, namespace,
                          dry_run=True)
    pod = {"metadata": {"name": "taken-pod"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    await kube.create(PODS, pod, namespace)
    await kube.patch(NAMESPACES, namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    # Pod Security admission answers before storage finds the name taken. It reads the namespace's
    # labels from its own cache, so until that cache shows the new label the answer is the 409.
    async def dry_run() -> ApiError | None:
        try:
            await kube.create(PODS, pod, namespace, dry_run=True)
        except ApiError as exc:
            return exc
        return None

    with anyio.fail_after(30):
        while isinstance(answer := await dry_run(), AlreadyExists):  # noqa: ASYNC110 (polls the server)
            await anyio.sleep(0.1)
    assert isinstance(answer, Forbidden), answer
    assert "violates PodSecurity" in answer.message, answer.message


# -- (a) names never block validation --------------------------------------------------------------

async def test_old_probe_names_taken_by_real_objects(control_plane: ControlPlane, kube: Client,
                                                     namespace: str) -> None:
    """A hub user named ``sample`` and an instance named ``validation-probe`` own the names the old
    probe rendered (``home-sample``, ``validation-probe-notebook``): new templates still validate."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("validation-probe", {"username": "sample"}), namespace)
        await ready_instance(kube, "validation-probe", namespace)
        assert await kube.get_or_none(PVCS, "home-sample", namespace) is not None

        started = time.monotonic()
        await kube.create(TEMPLATES, template("jupyterlab-two"), namespace)
        assert (await valid(kube, "jupyterlab-two", namespace, "True"))["reason"] == "Valid"
        assert time.monotonic() - started < QUICK


async def test_static_names_validate_after_the_first_spawn_and_on_edit(control_plane: ControlPlane, kube: Client,
                                                                       namespace: str) -> None:
    """Static child names: taken by an admin's object before the template exists, then by the first
    spawn's own children. The template validates either way, and again when it is edited."""
    await kube.create(CONFIG_MAPS, {"metadata": {"name": "site-settings"}, "data": {"by": "admin"}}, namespace)
    static = template("static", resources=[config_map("settings", metadata={"name": "site-settings"},
                                                      data={"theme": "dark"})],
                      pvcs=[{**TEMPLATE["spec"]["pvcs"][0], "metadata": {"name": "team-share"}}])
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        started = time.monotonic()
        await kube.create(TEMPLATES, static, namespace)
        assert (await valid(kube, "static", namespace, "True"))["reason"] == "Valid"
        assert time.monotonic() - started < QUICK
        await kube.delete(CONFIG_MAPS, "site-settings", namespace)
        await kube.create(INSTANCES, instance("first", template="static"), namespace)
        await ready_instance(kube, "first", namespace)
        assert await kube.get_or_none(PVCS, "team-share", namespace) is not None

        edited = copy.deepcopy(static["spec"]["resources"])
        edited[0]["data"]["theme"] = "light"
        await kube.patch(TEMPLATES, "static", {"spec": {"resources": edited}}, namespace)
        obj = await template_valid(kube, "static", namespace, timeout=QUICK)
        assert obj["metadata"]["generation"] == 2
        assert condition(obj, "Valid")["reason"] == "Valid"

        # The name check never hides a real problem: an invalid object at a taken name is still invalid.
        edited[0]["data"] = {"bad key!": "x"}
        await kube.patch(TEMPLATES, "static", {"spec": {"resources": edited}}, namespace)
        invalid = await valid(kube, "static", namespace, "False")
        assert invalid["reason"] == "DryRunFailed", invalid
        assert "spec.resources[settings]" in invalid["message"]


# -- (b) every child is vetted, whatever its when --------------------------------------------------

async def test_privileged_pod_behind_a_when_is_refused(control_plane: ControlPlane, kube: Client,
                                                       namespace: str) -> None:
    debug = copy.deepcopy(TEMPLATE["spec"]["pods"][0])
    debug.update(name="debug", when=[{"variable": "mode", "operator": "In", "values": ["debug"]}])
    debug["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    debug["spec"]["volumes"] = [{"name": "home", "hostPath": {"path": "/"}}]
    variables = [*TEMPLATE["spec"]["variables"], {"name": "mode", "default": "normal", "enum": ["normal", "debug"]}]
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, template("sneaky", variables=variables,
                                              pods=[*TEMPLATE["spec"]["pods"], debug]), namespace)
        refused = await valid(kube, "sneaky", namespace, "False")
        assert refused["reason"] == "PodSecurityViolation", refused
        assert "spec.pods[debug]" in refused["message"]
        await warned(kube, "sneaky", namespace, "PodSecurityViolation")


async def test_mutually_exclusive_entries_may_share_a_name(control_plane: ControlPlane, kube: Client,
                                                           namespace: str) -> None:
    """Two variants of one pod, chosen by a variable, render to one name: not a duplicate."""
    gpu = copy.deepcopy(TEMPLATE["spec"]["pods"][0])
    gpu.update(name="gpu", when=[{"variable": "flavour", "operator": "In", "values": ["gpu"]}])
    gpu["metadata"]["name"] = "{{ instance.name }}-server"
    cpu = copy.deepcopy(gpu)
    cpu.update(name="cpu", when=[{"variable": "flavour", "operator": "NotIn", "values": ["gpu"]}])
    variables = [*TEMPLATE["spec"]["variables"], {"name": "flavour", "default": "cpu", "enum": ["cpu", "gpu"]}]
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, template("flavours", variables=variables, pods=[cpu, gpu],
                                              endpoint={"pod": "cpu", "port": "http"}), namespace)
        assert (await valid(kube, "flavours", namespace, "True"))["reason"] == "Valid"
        await kube.create(INSTANCES, instance("dora", template="flavours"), namespace)
        await ready_instance(kube, "dora", namespace)
        assert await kube.get_or_none(PODS, "dora-server", namespace) is not None


# -- (c) bounded renders ---------------------------------------------------------------------------

def _echoing(name: str, uses: int, default: str = "") -> dict[str, Any]:
    """The sample template with a variable ``note`` echoed ``uses`` times in an argument of its pod."""
    variables = [*TEMPLATE["spec"]["variables"], {"name": "note", "default": default}]
    pods = copy.deepcopy(TEMPLATE["spec"]["pods"])
    pods[0]["spec"]["containers"][0]["args"].append("--note=" + "{{ note }}" * uses)
    return template(name, variables=variables, pods=pods)


async def test_huge_values_fail_fast_beside_healthy_instances(control_plane: ControlPlane, kube: Client,
                                                              namespace: str) -> None:
    uses = 5000  # with 4 KiB values: 20 MB per render attempt on the old code, refused by the API server
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, _echoing("echo", uses), namespace)
        await valid(kube, "echo", namespace, "True")
        started = time.monotonic()
        for i in range(4):
            await kube.create(INSTANCES, instance(f"huge{i}", {"username": f"huge{i}", "note": "x" * 4096},
                                                  template="echo"), namespace)
        await kube.create(INSTANCES, instance("fine", {"username": "fine", "note": "hello"}, template="echo"),
                          namespace)
        for i in range(4):
            failed = await instance_reason(kube, f"huge{i}", namespace, "RenderTooLarge", timeout=QUICK)
            assert failed["status"]["phase"] == "Failed"
            message = condition(failed, "Ready")["message"]
            assert message.startswith("spec.variables.note: the children would be about"), message
        assert time.monotonic() - started < QUICK
        await warned(kube, "huge0", namespace, "RenderTooLarge")
        ready = await ready_instance(kube, "fine", namespace)
        assert ready["status"]["phase"] == "Running"
        assert await kube.get_or_none(PODS, "huge0-notebook", namespace) is None


async def test_template_whose_sample_render_is_too_large(control_plane: ControlPlane, kube: Client,
                                                         namespace: str) -> None:
    """A default echoed into a ConfigMap: over 3 MiB, the API server's request limit, per child (the old
    code retried the 413 of that dry run forever)."""
    uses = MAX_RENDER_BYTES // 4096 * 2
    echo = template("big-default", variables=[*TEMPLATE["spec"]["variables"], {"name": "blob", "default": "b" * 4096}],
                    resources=[config_map("blob", data={"blob": "{{ blob }}" * uses})])
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, echo, namespace)
        too_large = await valid(kube, "big-default", namespace, "False")
        assert too_large["reason"] == "RenderTooLarge", too_large
        assert "{{ blob }}" in too_large["message"]
        await warned(kube, "big-default", namespace, "RenderTooLarge")


# -- (d) permanent answers end in Valid=False ------------------------------------------------------

async def test_admission_refusing_the_dry_run(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """The namespace enforces the restricted Pod Security level, the operator baseline: the dry run of a
    pod that keeps its capabilities is refused by admission (403). Valid=False at once, not retried."""
    await kube.patch(NAMESPACES, namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    pods = copy.deepcopy(TEMPLATE["spec"]["pods"])
    del pods[0]["spec"]["containers"][0]["securityContext"]["capabilities"]
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        await kube.create(TEMPLATES, template("capable", pods=pods), namespace)
        refused = await valid(kube, "capable", namespace, "False")
        assert refused["reason"] == "DryRunRejected", refused
        assert "403" in refused["message"]
        assert "spec.pods[notebook]" in refused["message"]
        await warned(kube, "capable", namespace, "DryRunRejected")
        errors = operator.metrics.registry.get_sample_value(
            "controller_runtime_reconcile_errors_total", {"controller": "jupyternotebooktemplate"}) or 0.0
        assert errors == 0.0
