"""The CRDs: samples accepted, malformed objects rejected by the API server itself,
printer columns and ``kubectl explain`` descriptions in place."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Object
from jupyternetes_operator.kube.errors import Invalid
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import INSTANCE, TEMPLATE

CRDS = Path(__file__).parents[2] / "crds"




def edited(base: Object, change: Callable[[Object], Any]) -> Object:
    obj = copy.deepcopy(base)
    change(obj)
    return obj


def _var(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, **extra}


def _set(path: str, value: Any) -> Callable[[Object], None]:
    def apply(obj: Object) -> None:
        *parents, last = path.split(".")
        node = obj
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return apply


BAD_TEMPLATES: list[tuple[str, Callable[[Object], Any], str]] = [
    ("endpoint names no pod", _set("spec.endpoint.pod", "server"), "endpoint.pod must name one of spec.pods"),
    ("duplicate variable", lambda t: t["spec"]["variables"].append(_var("image")), "Duplicate value"),
    ("duplicate pod name", lambda t: t["spec"]["pods"].append(copy.deepcopy(t["spec"]["pods"][0])),
     "Duplicate value"),
    ("unsafe variable name", lambda t: t["spec"]["variables"].append(_var("my-var")),
     "should match '^[A-Za-z_][A-Za-z0-9_]*$'"),
    ("dotted variable name is reserved", lambda t: t["spec"]["variables"].append(_var("instance.name")),
     "should match '^[A-Za-z_][A-Za-z0-9_]*$'"),
    ("default outside enum", _set("spec.variables.1.default", "docker.io/evil:latest"),
     "default must be one of enum"),
    ("required with default", _set("spec.variables.0.default", "bob"), "a required variable cannot have a default"),
    ("port out of range", _set("spec.endpoint.port", 70000), "port must be a number from 1 to 65535"),
    ("port name too long", _set("spec.endpoint.port", "a-very-long-port-name"), "port must be a number"),
    ("logical name not a DNS label", _set("spec.pods.0.name", "Notebook"), "spec.pods[0].name"),
    ("too many variables", _set("spec.variables", [_var(f"v{i}") for i in range(65)]),
     "must have at most 64 items"),
    ("when on undeclared variable",
     _set("spec.pods.0.when", [{"variable": "gpu", "operator": "In", "values": ["yes"]}]),
     "every when[].variable in spec.pods must be declared in spec.variables"),
    ("when with unknown operator",
     _set("spec.pvcs.0.when", [{"variable": "image", "operator": "Equals", "values": ["x"]}]),
     'Unsupported value: "Equals"'),
    ("bad instance namespace", _set("spec.instanceNamespaces", ["Team_A"]),
     "each entry must be a namespace name or \"*\""),
    ("no pods", _set("spec.pods", []), "should have at least 1 items"),
    ("resource kind not a Kind", _set("spec.resources", [{"name": "svc", "apiVersion": "v1", "kind": "service"}]),
     "spec.resources[0].kind"),
    ("oversized default", _set("spec.variables.2.default", "x" * 4097), "Too long"),
    ("missing endpoint", lambda t: t["spec"].pop("endpoint"), "spec.endpoint: Required value"),
]

BAD_INSTANCES: list[tuple[str, Callable[[Object], Any], str]] = [
    ("name not a DNS label", _set("metadata.name", "jupyter.alice"), "metadata.name must be a DNS label"),
    ("name too long", _set("metadata.name", "j" * 64), "metadata.name must be a DNS label"),
    ("missing template", lambda i: i["spec"].pop("template"),
     "spec.template is required (unless spec.release is true)"),
    ("unsafe variable key", _set("spec.variables", {"bad-key": "x"}), "variable names must match"),
    ("oversized value", _set("spec.variables", {"username": "a" * 4097}), "Too long"),
    ("too many variables", _set("spec.variables", {f"v{i}": "x" for i in range(65)}),
     "must have at most 64 items"),
    ("template name with capitals", _set("spec.template.name", "JupyterLab"), "spec.template.name"),
    ("template namespace not a label", _set("spec.template.namespace", "a.b"), "spec.template.namespace"),
]


async def test_samples_are_accepted(kube: Client, namespace: str) -> None:
    template = await kube.create(TEMPLATES, TEMPLATE, namespace)
    instance = await kube.create(INSTANCES, INSTANCE, namespace)
    assert template["spec"]["endpoint"] == {"pod": "notebook", "port": "http"}
    assert instance["spec"]["variables"] == {"username": "alice"}


@pytest.mark.parametrize(("case", "change", "message"), BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES])
async def test_bad_template_is_rejected(kube: Client, namespace: str, case: str,
                                        change: Callable[[Object], Any], message: str) -> None:
    with pytest.raises(Invalid) as info:
        await kube.create(TEMPLATES, edited(TEMPLATE, change), namespace, dry_run=True)
    assert message in info.value.message, case


@pytest.mark.parametrize(("case", "change", "message"), BAD_INSTANCES, ids=[c[0] for c in BAD_INSTANCES])
async def test_bad_instance_is_rejected(kube: Client, namespace: str, case: str,
                                        change: Callable[[Object], Any], message: str) -> None:
    with pytest.raises(Invalid) as info:
        await kube.create(INSTANCES, edited(INSTANCE, change), namespace, dry_run=True)
    assert message in info.value.message, case


async def test_status_phase_is_an_enum(kube: Client, namespace: str) -> None:
    await kube.create(INSTANCES, INSTANCE, namespace)
    with pytest.raises(Invalid, match='Unsupported value: "Done"'):
        await kube.patch(INSTANCES, "jupyter-alice", {"status": {"phase": "Done"}}, namespace,
                         subresource="status")


async def test_kubectl_shows_printer_columns(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    await kube.create(TEMPLATES, TEMPLATE, namespace)
    await kube.create(INSTANCES, INSTANCE, namespace)
    await kube.patch(TEMPLATES, "jupyterlab", {"status": {
        "instances": 1, "outdatedInstances": 1,
        "conditions": [{"type": "Valid", "status": "True", "reason": "Accepted", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}},
        namespace, subresource="status")
    await kube.patch(INSTANCES, "jupyter-alice", {"status": {
        "phase": "Running", "endpoint": {"address": "10.244.0.9", "port": 8888, "url": "http://10.244.0.9:8888"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "ServerReady", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"},
                       {"type": "UpToDate", "status": "False", "reason": "TemplateChanged", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}},
        namespace, subresource="status")

    table = control_plane.kubectl("get", "jnt,jni", "-n", namespace).stdout.splitlines()
    header_t = table[0].split()
    assert header_t == ["NAME", "VALID", "REASON", "INSTANCES", "OUTDATED", "AGE"]
    assert table[1].split()[:5] == ["jupyternotebooktemplate.jupyternetes.io/jupyterlab", "True", "Accepted", "1",
                                    "1"]
    header_i = table[3].split()
    assert header_i == ["NAME", "TEMPLATE", "PHASE", "READY", "URL", "AGE"]
    assert table[4].split()[:5] == ["jupyternotebookinstance.jupyternetes.io/jupyter-alice", "jupyterlab",
                                    "Running", "True", "http://10.244.0.9:8888"]
    wide = control_plane.kubectl("get", "jni", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "TEMPLATE", "PHASE", "READY", "URL", "REASON", "UP-TO-DATE", "AGE"]
    assert wide[1].split()[5:7] == ["ServerReady", "False"]
    # The category lists both kinds.
    by_category = control_plane.kubectl("get", "jupyternetes", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(by_category) == ["jupyternotebookinstance.jupyternetes.io/jupyter-alice",
                                   "jupyternotebooktemplate.jupyternetes.io/jupyterlab"]


@pytest.mark.parametrize(("field", "words"), [
    ("jni.spec.variables", "substituted into string fields only"),
    ("jni.status.endpoint.url", "base URL"),
    ("jnt.spec.variables.pattern", "RE2 syntax"),
    ("jnt.spec.pvcs.retain", "Keep the claim when the instance is deleted"),
    ("jnt.spec.pods.when.operator", "NotIn"),
])
def test_kubectl_explain_teaches(control_plane: ControlPlane, field: str, words: str) -> None:
    text = " ".join(control_plane.kubectl("explain", field).stdout.split())
    assert words in text


def test_every_schema_field_has_a_description() -> None:
    missing: list[str] = []

    def walk(schema: dict[str, Any], path: str) -> None:
        for name, prop in (schema.get("properties") or {}).items():
            is_object_meta = name == "metadata" and "." not in path  # documented by Kubernetes itself
            if not prop.get("description") and not is_object_meta:
                missing.append(f"{path}.{name}")
            walk(prop, f"{path}.{name}")
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{path}[]")

    for file in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(file.read_text())
        for version in crd["spec"]["versions"]:
            walk(version["schema"]["openAPIV3Schema"], crd["spec"]["names"]["kind"])
    assert missing == []
