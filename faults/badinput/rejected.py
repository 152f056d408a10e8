"""Objects the API server itself must refuse (``422 Invalid``) by the CRD schemas and CEL rules:
the operator never sees them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Object, Resource
from jupyternetes_operator.kube.errors import ApiError, Invalid
from jupyternetes_operator.testing.operator import INSTANCE, instance

from .builders import add_resource, create, declare, pod_metadata, template_with


@dataclass(frozen=True)
class Rejection:
    """An object the API server itself must refuse (422), with a fragment of its message."""

    name: str
    resource: Resource
    build: Callable[[str], Object]
    message: str


def _instance_with(**spec: Any) -> Callable[[str], Object]:
    return lambda name: {**instance(name), "spec": {**copy.deepcopy(INSTANCE["spec"]), **spec}}


def _renamed(make: Callable[[str], Object], name: str) -> Callable[[str], Object]:
    return lambda _: {**make(name), "metadata": {"name": name}}


_DNS = "lowercase RFC 1123"
REJECTED: tuple[Rejection, ...] = (
    Rejection("instance-unicode-name", INSTANCES, _renamed(instance, "jupyter-\u00e5lice"), _DNS),
    Rejection("instance-emoji-name", INSTANCES, _renamed(instance, "\U0001f600"), _DNS),
    Rejection("instance-upper-case-name", INSTANCES, _renamed(instance, "Alice"), _DNS),
    Rejection("instance-name-too-long", INSTANCES, _renamed(instance, "j" * 64), "metadata.name must be a DNS label"),
    Rejection("variable-key-with-nul", INSTANCES, _instance_with(variables={"user\x00name": "a"}),
              "variable names must match"),
    Rejection("variable-key-unicode", INSTANCES, _instance_with(variables={"us\u00e9r": "a"}),
              "variable names must match"),
    Rejection("variable-key-dotted-builtin", INSTANCES, _instance_with(variables={"instance.name": "a"}),
              "variable names must match"),
    Rejection("variable-value-not-a-string", INSTANCES, _instance_with(variables={"username": 5}),
              "must be of type string"),
    Rejection("variables-as-a-list", INSTANCES, _instance_with(variables=["username"]), "must be of type object"),
    Rejection("variable-value-over-4096", INSTANCES, _instance_with(variables={"username": "a" * 4097}), "Too long"),
    Rejection("65-variables", INSTANCES, _instance_with(variables={f"v{i}": "x" for i in range(65)}),
              "must have at most 64 items"),
    Rejection("instance-without-template-or-release", INSTANCES,
              lambda name: {**instance(name), "spec": {"variables": {"username": "a"}}},
              "spec.template is required (unless spec.release is true)"),
    Rejection("template-path-traversal", INSTANCES, _instance_with(template={"name": "../../kube-system/x"}),
              "spec.template.name"),
    Rejection("template-namespace-not-a-label", INSTANCES, _instance_with(template={"name": "t", "namespace": "a.b"}),
              "spec.template.namespace"),
    Rejection("template-unicode-name", TEMPLATES, _renamed(template_with(), "jupyter\u00e5"), _DNS),
    Rejection("template-name-over-253", TEMPLATES, _renamed(template_with(), "t" * 254), "metadata.name"),
    Rejection("template-spec-null", TEMPLATES, lambda n: {**template_with()(n), "spec": None}, "spec: Required"),
    Rejection("template-pods-as-a-string", TEMPLATES, template_with(lambda s: s.update(pods="notebook")),
              "must be of type array"),
    Rejection("template-nine-pods", TEMPLATES, template_with(lambda s: s["pods"].extend(
        {**copy.deepcopy(s["pods"][0]), "name": f"p{i}"} for i in range(8))), "must have at most 8 items"),
    Rejection("template-65-labels", TEMPLATES,
              template_with(pod_metadata("labels", **{f"k{i}": "v" for i in range(65)})), "must have at most 64 items"),
    Rejection("template-annotation-over-4096", TEMPLATES, template_with(pod_metadata("annotations", a="v" * 4097)),
              "Too long"),
    Rejection("template-endpoint-names-no-pod", TEMPLATES, template_with(lambda s: s["endpoint"].update(pod="x")),
              "endpoint.pod must name one of spec.pods"),
    Rejection("template-endpoint-port-0", TEMPLATES, template_with(lambda s: s["endpoint"].update(port=0)),
              "port must be a number from 1 to 65535"),
    Rejection("template-endpoint-port-bool", TEMPLATES, template_with(lambda s: s["endpoint"].update(port=True)),
              "must be of type integer,string"),
    Rejection("template-required-with-default", TEMPLATES,
              template_with(lambda s: s["variables"][0].update(default="root")),
              "a required variable cannot have a default"),
    Rejection("template-variable-named-like-a-builtin", TEMPLATES, template_with(declare("instance.name")),
              "should match"),
    Rejection("template-references-without-enum", TEMPLATES,
              template_with(declare("account", allowReferences=True)),
              "a variable that allows references must list its values in enum"),
    Rejection("template-when-on-undeclared-variable", TEMPLATES, template_with(lambda s: s["pods"][0].update(
        when=[{"variable": "gpu", "operator": "In", "values": ["yes"]}])), "must be declared in spec.variables"),
    Rejection("template-config-map-data-not-a-string", TEMPLATES, template_with(add_resource(
        {"name": "c", "apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}})), "must be of type string"),
    Rejection("template-kind-not-a-kind", TEMPLATES, template_with(add_resource(
        {"name": "c", "apiVersion": "v1", "kind": "configmap"})), "spec.resources[0].kind"),
)
"""Objects the API server refuses by the CRD schemas and CEL rules: the operator never sees them."""


async def refuse(kube: Client, namespace: str, index: int, rejection: Rejection) -> str | None:
    """Create ``rejection``'s object; a problem unless the API server refuses it as expected."""
    name = f"rejected-{index}"
    try:
        await create(kube, rejection.resource, rejection.build(name), namespace)
    except Invalid as exc:
        if rejection.message not in exc.message:
            return f"{rejection.name}: refused, but with {exc.message[:300]!r}"
        return None
    except ApiError as exc:
        return f"{rejection.name}: {exc.status} instead of 422: {exc.message[:300]}"
    return f"{rejection.name}: accepted by the API server"
