"""Bad templates and instances each end in a clear reason, and never hurt a healthy
instance created alongside them."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Object
from jupyternetes_operator.kube.resources import NAMESPACES, PODS
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, condition, instance, ready_instance, running_operator, wait_for


def template_with(change: Callable[[Object], Any]) -> Callable[[str], Object]:
    def make(name: str) -> Object:
        obj = copy.deepcopy(TEMPLATE)
        obj["metadata"] = {"name": name}
        change(obj["spec"])
        return obj
    return make


def set_pod(**fields: Any) -> Callable[[Object], None]:
    return lambda spec: spec["pods"][0]["spec"].update(fields)


def set_container(**fields: Any) -> Callable[[Object], None]:
    return lambda spec: spec["pods"][0]["spec"]["containers"][0].update(fields)


@dataclass(frozen=True)
class Case:
    name: str
    expect: str
    variables: dict[str, str] | None = None
    template: Callable[[str], Object] | None = None
    template_reason: str | None = None
    instance_name: str | None = None
    template_namespace: str | None = None


def _add(key: str, value: Any) -> Callable[[Object], None]:
    return lambda spec: spec.setdefault(key, []).append(value)


CASES = [
    # -- the instance's input --
    Case("undeclared-variable", "UndeclaredVariable", {"username": "u1", "evil": "1"}),
    Case("missing-required", "MissingVariable", {}),
    Case("pattern-mismatch", "InvalidVariable", {"username": "Alice"}),
    Case("outside-enum", "InvalidVariable", {"username": "u2", "image": "docker.io/evil/miner:latest"}),
    Case("storage-outside-enum", "InvalidVariable", {"username": "u3", "storage": "1Ti"}),
    Case("injection-braces", "InvalidVariable", {"username": "{{ image }}"}),
    Case("injection-quotes", "InvalidVariable", {"username": 'a"b'}),
    Case("injection-newline", "InvalidVariable", {"username": "a\nb"}),
    Case("injection-yaml", "InvalidVariable", {"username": "a: b\n- c: {d: e}"}),
    Case("oversized-value", "InvalidVariable", {"username": "a" * 4000}),
    Case("missing-template", "TemplateNotFound", {"username": "u4"},
         instance_name="missing-template"),
    Case("cross-namespace-without-opt-in", "TemplateNotAllowed", {"username": "u5"},
         template_namespace="OTHER"),
    Case("name-overflow-is-fine", "ServerReady", {"username": "u6"}, instance_name="n" * 63),
    Case("bad-rendered-name", "InvalidName", {"username": "u7", "home": "Not_A_Name"},
         template_with(lambda s: (s["variables"].append({"name": "home", "default": "homedir"}),
                                  s["pvcs"][0]["metadata"].update(name="{{ home }}")))),
    # -- the template (the instance says TemplateInvalid; the template says why) --
    Case("unknown-reference", "TemplateInvalid", None, template_with(set_container(image="{{ nosuch }}")),
         "UnknownReference"),
    Case("unknown-child-reference", "TemplateInvalid", None,
         template_with(set_container(workingDir="/{{ pvcs.nosuch.name }}")), "UnknownReference"),
    Case("name-cycle", "TemplateInvalid", None, template_with(lambda s: (
        s["pvcs"][0]["metadata"].update(name="{{ pvcs.scratch.name }}-x"),
        s["pvcs"].append({"name": "scratch", "metadata": {"name": "{{ pvcs.home.name }}-y"},
                          "spec": s["pvcs"][0]["spec"]}))), "ReferenceCycle"),
    Case("invalid-pattern", "TemplateInvalid", None,
         template_with(lambda s: s["variables"][0].update(pattern="([a-z")), "InvalidPattern"),
    Case("forbidden-kind-secret", "TemplateInvalid", None, template_with(_add("resources", {
        "name": "creds", "apiVersion": "v1", "kind": "Secret", "data": {"k": "dg=="}})), "KindNotAllowed"),
    Case("forbidden-kind-deployment", "TemplateInvalid", None, template_with(_add("resources", {
        "name": "extra", "apiVersion": "apps/v1", "kind": "Deployment", "spec": {}})), "KindNotAllowed"),
    Case("forbidden-kind-role", "TemplateInvalid", None, template_with(_add("resources", {
        "name": "power", "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role"})), "KindNotAllowed"),
    Case("privileged", "TemplateInvalid", None,
         template_with(set_container(securityContext={"privileged": True})), "PodSecurityViolation"),
    Case("host-network", "TemplateInvalid", None, template_with(set_pod(hostNetwork=True)), "PodSecurityViolation"),
    Case("host-pid", "TemplateInvalid", None, template_with(set_pod(hostPID=True)), "PodSecurityViolation"),
    Case("host-path", "TemplateInvalid", None, template_with(lambda s: s["pods"][0]["spec"]["volumes"].append(
        {"name": "root", "hostPath": {"path": "/"}})), "PodSecurityViolation"),
    Case("sys-admin", "TemplateInvalid", None, template_with(set_container(
        securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})), "PodSecurityViolation"),
    Case("host-port", "TemplateInvalid", None, template_with(set_container(
        ports=[{"name": "http", "containerPort": 8888, "hostPort": 80}])), "PodSecurityViolation"),
    Case("pod-spec-typo", "TemplateInvalid", None, template_with(set_container(imagePullPolicy="Sometimes")),
         "DryRunFailed"),
    Case("pod-without-containers", "TemplateInvalid", None, template_with(set_pod(containers=[])),
         "InvalidEndpoint"),
    Case("pvc-bad-access-mode", "TemplateInvalid", None,
         template_with(lambda s: s["pvcs"][0]["spec"].update(accessModes=["ReadWriteSometimes"])), "DryRunFailed"),
    Case("service-bad-port", "TemplateInvalid", None, template_with(_add("resources", {
        "name": "svc", "apiVersion": "v1", "kind": "Service",
        "spec": {"ports": [{"port": 70000}], "selector": {"a": "b"}}})), "DryRunFailed"),
    Case("endpoint-container-missing", "TemplateInvalid", None,
         template_with(lambda s: s["endpoint"].update(container="sidecar")), "InvalidEndpoint"),
    Case("static-name-invalid", "TemplateInvalid", None,
         template_with(lambda s: s["pvcs"][0]["metadata"].update(name="Home_Dir")), "InvalidName"),
]


async def test_bad_input_table(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    assert len(CASES) >= 30
    other = f"other-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        await _run(control_plane, kube, namespace, other)
    finally:
        await kube.delete(NAMESPACES, other)


async def _run(control_plane: ControlPlane, kube: Client, namespace: str, other: str) -> None:
    good = copy.deepcopy(TEMPLATE)
    await kube.create(TEMPLATES, good, namespace)
    await kube.create(TEMPLATES, {**copy.deepcopy(TEMPLATE), "metadata": {"name": "jupyterlab"}}, other)
    # A pod that squats on the name an instance would render: never overwritten.
    await kube.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "squatted-notebook"},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, namespace)
    cases = [*CASES, Case("child-conflict", "ChildConflict", {"username": "u8"}, instance_name="squatted")]

    async with running_operator(control_plane.kubeconfig, (namespace, other)):
        for i, case in enumerate(cases):
            template = "jupyterlab"
            if case.template is not None:
                template = f"bad-{i}"
                await kube.create(TEMPLATES, case.template(template), namespace)
            name = case.instance_name or f"case-{i}"
            if case.name == "missing-template":
                template = "no-such-template"
            variables = case.variables if case.variables is not None else {"username": f"t{i}"}
            await kube.create(INSTANCES, instance(name, variables, template,
                                                  other if case.template_namespace else None), namespace)
        await kube.create(INSTANCES, instance("healthy"), namespace)

        await ready_instance(kube, "healthy", namespace)
        failures = []
        with anyio.fail_after(90):
            for i, case in enumerate(cases):
                name = case.instance_name or f"case-{i}"
                try:
                    obj = await wait_for(kube, INSTANCES, name, namespace,
                                         lambda o, c=case: condition(o, "Ready").get("reason") == c.expect,
                                         timeout=20, what=f"{case.name}: Ready reason {case.expect}")
                except AssertionError as exc:
                    failures.append(str(exc)[:600])
                    continue
                ready = condition(obj, "Ready")
                if case.expect != "ServerReady":
                    assert ready["status"] == "False", case.name
                    assert ready["message"], f"{case.name}: a reason needs a message"
                if case.template_reason is not None:
                    tmpl = await kube.get(TEMPLATES, f"bad-{i}", namespace)
                    valid = condition(tmpl, "Valid")
                    if valid.get("reason") != case.template_reason or valid.get("status") != "False":
                        failures.append(f"{case.name}: template Valid={valid}")
        assert failures == []
        # The healthy instance stayed healthy through all of it.
        healthy = await kube.get(INSTANCES, "healthy", namespace)
        assert healthy["status"]["phase"] == "Running"
        squatter = await kube.get(PODS, "squatted-notebook", namespace)
        assert squatter["spec"]["containers"][0]["image"] == "busybox"
