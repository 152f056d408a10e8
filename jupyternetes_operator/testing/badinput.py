"""Bad input and the clear answer each piece must get: a corpus of malformed and hostile objects,
fuzzed templates, and the fault run that applies them all at once beside healthy instances.

Every outcome below was checked against a real API server and operator. The answers:

- :data:`REJECTED`: refused at create by the CRD schema or a CEL rule (``422 Invalid``);
- :data:`CASES`: accepted, then the instance's ``Ready`` condition ends with the case's reason
  and a message, the bad ones with a Warning Event of that reason; where the template is at
  fault its ``Valid`` condition is False with the template's reason, and an Event says so too;
- :func:`fuzzed_templates`: mutations of the sample template, whose outcome is not known in
  advance: refused at create, or answered by a ``Valid`` condition (True or False, with a reason)
  and an instance ``Ready`` condition with a reason. Never a crash, never a wedged queue.

:func:`bad_input_at_scale` is the fault run (``python -m bench.faults``); the test suite applies
the corpus in-process too (``tests/integration/test_bad_input.py``).
"""

from __future__ import annotations

import contextlib
import copy
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from ..api import INSTANCES, TEMPLATES
from ..kube.client import Client, Object, Resource
from ..kube.errors import AlreadyExists, ApiError, Invalid
from ..kube.resources import CONFIG_MAPS, EVENTS, NAMESPACES, PODS
from .faultruns import FaultEnv, FaultRun, Scenario, create_instances, prepare, settle
from .invariants import check
from .namespaces import ensure_namespace
from .operator import INSTANCE, TEMPLATE, OperatorProcess, condition, instance, metric_sum, template_valid

SAMPLE: str = TEMPLATE["metadata"]["name"]
"""The sample template, present in both namespaces of a run; cases without a template of their own use it."""
SQUATTED = "squatted"
"""The instance whose pod name a foreign pod already has (the ``child-conflict`` case)."""
READY = "ServerReady"


# -- building bad templates ----------------------------------------------------------------------

Change = Callable[[Object], Any]
"""Edits a template's ``spec`` in place."""


def template_with(*changes: Change) -> Callable[[str], Object]:
    """A builder of the sample template named ``name``, with ``changes`` applied to its spec."""
    def make(name: str) -> Object:
        obj = copy.deepcopy(TEMPLATE)
        obj["metadata"] = {"name": name}
        for change in changes:
            change(obj["spec"])
        return obj
    return make


def set_pod(**fields: Any) -> Change:
    return lambda spec: spec["pods"][0]["spec"].update(fields)


def set_container(**fields: Any) -> Change:
    return lambda spec: spec["pods"][0]["spec"]["containers"][0].update(fields)


def pod_metadata(key: str, **values: str) -> Change:
    return lambda spec: spec["pods"][0]["metadata"].setdefault(key, {}).update(values)


def add_resource(resource: Object) -> Change:
    return lambda spec: spec.setdefault("resources", []).append(resource)


def declare(name: str, **fields: Any) -> Change:
    return lambda spec: spec["variables"].append({"name": name, **fields})


@dataclass(frozen=True)
class Nested:
    """Stands for ``{"a": {"a": ... 1}}`` ``depth`` objects deep, deeper than a JSON encoder writes;
    :func:`dumps` writes it."""

    depth: int

    def json(self) -> bytes:
        return b'{"a":' * (self.depth - 1) + b'{"a":1' + b"}" * self.depth


def dumps(obj: Any) -> bytes:
    """``orjson.dumps`` that also writes :class:`Nested` values."""
    found: dict[bytes, bytes] = {}

    def marker(value: Any) -> str:
        if not isinstance(value, Nested):
            raise TypeError(f"cannot write a {type(value).__name__}")
        text = f"nested-{secrets.token_hex(8)}"
        found[orjson.dumps(text)] = value.json()
        return text

    data = orjson.dumps(obj, default=marker, option=orjson.OPT_PASSTHROUGH_DATACLASS)
    for placeholder, nested in found.items():
        data = data.replace(placeholder, nested)
    return data


async def create(kube: Client, resource: Resource, obj: Object, namespace: str) -> None:
    """Create ``obj`` as :func:`dumps` writes it (the client's own encoder stops at 255 levels)."""
    await kube.request("POST", resource.path(namespace), body=dumps(obj), named=False)


def _service(**spec: Any) -> Object:
    """A Service resource selecting the instance's pods, ``spec`` merged in."""
    return {"name": "svc", "apiVersion": "v1", "kind": "Service",
            "spec": {"ports": [{"port": 80, "targetPort": 8888}],
                     "selector": {"app.kubernetes.io/instance": "{{ instance.name }}"}, **spec}}


def _debug_pod(spec: Object) -> None:
    """A second pod, privileged and mounting the node's root, that only a ``mode: debug`` instance renders."""
    debug = copy.deepcopy(spec["pods"][0])
    debug.update(name="debug", when=[{"variable": "mode", "operator": "In", "values": ["debug"]}])
    debug["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    debug["spec"]["volumes"] = [{"name": "home", "hostPath": {"path": "/"}}]
    spec["pods"].append(debug)


def _variants(*operators: tuple[str, list[str]]) -> Change:
    """The sample pod as variants ``notebook`` and ``gpu``, each chosen by a ``when`` on ``flavour`` with
    the operator and values given, all rendering the one name ``<instance>-server``."""
    def change(spec: Object) -> None:
        base = spec["pods"][0]
        spec["pods"] = []
        for name, (op, values) in zip(("notebook", "gpu"), operators, strict=True):
            pod = copy.deepcopy(base)
            pod.update(name=name, when=[{"variable": "flavour", "operator": op, "values": values}])
            pod["metadata"]["name"] = "{{ instance.name }}-server"
            spec["pods"].append(pod)
    return change


def _static_settings(name: str) -> Object:
    """A template named ``name`` with a ConfigMap whose name is fixed (no placeholder), unique to the
    template so no other case renders it."""
    return template_with(add_resource({
        "name": "settings", "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-settings"},
        "data": {"theme": "dark"}}))(name)


# -- the corpus ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One bad (or oddly shaped but fine) instance and, if it has one, its own template."""

    name: str
    expect: str
    """The instance's final ``Ready`` reason (``ServerReady``: it must come up despite the oddity)."""
    variables: Mapping[str, str | None] | None = None
    """The instance's variables; None: a valid ``username``."""
    template: Callable[[str], Object] | None = None
    """Builds the case's own template from its name; None: the instance uses :data:`SAMPLE`."""
    template_reason: str | None = None
    """The reason of the template's ``Valid=False``, if the template is at fault."""
    instance_name: str | None = None
    template_name: str | None = None
    """Name the case's template (or the missing one) explicitly."""
    cross_namespace: bool = False
    """Name :data:`SAMPLE` in the run's other namespace, which does not list this one."""
    absent: tuple[str, str] | None = None
    """A ConfigMap (namespace, name) the case tries to create and must not exist."""
    after: str | None = None
    """The name of another case whose instance must be Running before this case's instance is created
    (it holds a retained claim this case renders, so which of the two gets it is not left to chance)."""

    @property
    def bad(self) -> bool:
        return self.expect != READY


LONG_NAME = ".".join(["t" * 63] * 4)[:252] + "x"
"""A template name of 253 characters, dots included: the longest the API server takes."""


CASES: tuple[Case, ...] = (
    # -- the instance's input --
    Case("undeclared-variable", "UndeclaredVariable", {"username": "u1", "evil": "1"}),
    Case("missing-required", "MissingVariable", {}),
    Case("null-value-is-dropped", "MissingVariable", {"username": None}),
    Case("pattern-mismatch", "InvalidVariable", {"username": "Alice"}),
    Case("outside-enum", "InvalidVariable", {"username": "u2", "image": "docker.io/evil/miner:latest"}),
    Case("storage-outside-enum", "InvalidVariable", {"username": "u3", "storage": "1Ti"}),
    Case("injection-braces", "InvalidVariable", {"username": "{{ image }}"}),
    Case("injection-quotes", "InvalidVariable", {"username": 'a"b'}),
    Case("injection-newline", "InvalidVariable", {"username": "a\nb"}),
    Case("injection-yaml", "InvalidVariable", {"username": "a: b\n- c: {d: e}"}),
    Case("oversized-value", "InvalidVariable", {"username": "a" * 4000}),
    Case("value-at-size-limit", "InvalidVariable", {"username": "u9", "image": "q" * 4096}),
    Case("homoglyph", "InvalidVariable", {"username": "\u0430lice"}),
    Case("bidi-override", "InvalidVariable", {"username": "u\u202eevil"}),
    Case("nul-byte", "InvalidVariable", {"username": "u\x00x"}),
    Case("emoji-outside-enum", "InvalidVariable",
         {"username": "u10", "image": "quay.io/jupyter/minimal-notebook:2025-10-20\U0001f600"}),
    Case("64-undeclared-long-names", "UndeclaredVariable", {f"v{i:02d}_" + "x" * 58: "1" for i in range(64)}),
    Case("redos-value", "InvalidVariable", {"username": "u11", "tag": "a" * 4096},
         template_with(declare("tag", pattern="(a+)+b"))),
    Case("missing-template", "TemplateNotFound", {"username": "u4"}, template_name="no-such-template"),
    Case("cross-namespace-without-opt-in", "TemplateNotAllowed", {"username": "u5"}, cross_namespace=True),
    Case("name-overflow-is-fine", READY, {"username": "u6"}, instance_name="n" * 63),
    Case("longest-template-name-is-fine", READY, {"username": "u12"}, template_with(), template_name=LONG_NAME),
    Case("bad-rendered-name", "InvalidName", {"username": "u7", "home": "Not_A_Name"},
         template_with(declare("home", default="homedir"),
                       lambda s: s["pvcs"][0]["metadata"].update(name="{{ home }}"))),
    Case("child-conflict", "ChildConflict", {"username": "u8"}, instance_name=SQUATTED),
    # -- values a valid template lets through to the API server, which refuses the child --
    Case("label-injection", "ChildInvalid", {"username": "u13", "team": "a b\nc: d"},
         template_with(declare("team"), pod_metadata("labels", team="{{ team }}"))),
    Case("label-value-too-long", "ChildInvalid", {"username": "u14", "team": "t" * 64},
         template_with(declare("team"), pod_metadata("labels", team="{{ team }}"))),
    Case("subpath-traversal", "ChildInvalid", {"username": "u15", "folder": "../../etc"},
         template_with(declare("folder"), lambda s: s["pods"][0]["spec"]["containers"][0]["volumeMounts"][0].update(
             subPath="{{ folder }}"))),
    # -- the template (the instance says TemplateInvalid; the template says why) --
    Case("unknown-reference", "TemplateInvalid", None, template_with(set_container(image="{{ nosuch }}")),
         "UnknownReference"),
    Case("unknown-child-reference", "TemplateInvalid", None,
         template_with(set_container(workingDir="/{{ pvcs.nosuch.name }}")), "UnknownReference"),
    Case("name-cycle", "TemplateInvalid", None, template_with(lambda s: (
        s["pvcs"][0]["metadata"].update(name="{{ pvcs.scratch.name }}-x"),
        s["pvcs"].append({"name": "scratch", "metadata": {"name": "{{ pvcs.home.name }}-y"},
                          "spec": s["pvcs"][0]["spec"]}))), "ReferenceCycle"),
    Case("duplicate-rendered-names", "TemplateInvalid", None, template_with(lambda s: s["pvcs"].append(
        {"name": "home2", "metadata": {"name": "home-{{ username }}"}, "spec": s["pvcs"][0]["spec"]})),
         "DuplicateName"),
    Case("invalid-pattern", "TemplateInvalid", None,
         template_with(lambda s: s["variables"][0].update(pattern="([a-z")), "InvalidPattern"),
    Case("regex-bomb", "TemplateInvalid", None, template_with(declare("tag", pattern="((a{1000}){1000}){1000}")),
         "InvalidPattern"),
    Case("forbidden-kind-secret", "TemplateInvalid", None, template_with(add_resource({
        "name": "creds", "apiVersion": "v1", "kind": "Secret", "data": {"k": "dg=="}})), "KindNotAllowed"),
    Case("forbidden-kind-deployment", "TemplateInvalid", None, template_with(add_resource({
        "name": "extra", "apiVersion": "apps/v1", "kind": "Deployment", "spec": {}})), "KindNotAllowed"),
    Case("forbidden-kind-role", "TemplateInvalid", None, template_with(add_resource({
        "name": "power", "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role"})), "KindNotAllowed"),
    Case("forbidden-kind-cluster-role-binding", "TemplateInvalid", None, template_with(add_resource({
        "name": "crb", "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"})),
         "KindNotAllowed"),
    Case("forbidden-kind-namespace", "TemplateInvalid", None, template_with(add_resource({
        "name": "ns", "apiVersion": "v1", "kind": "Namespace"})), "KindNotAllowed"),
    Case("allowed-kind-other-version", "TemplateInvalid", None, template_with(add_resource({
        "name": "np", "apiVersion": "networking.k8s.io/v1beta1", "kind": "NetworkPolicy", "spec": {}})),
         "KindNotAllowed"),
    Case("privileged", "TemplateInvalid", None,
         template_with(set_container(securityContext={"privileged": True})), "PodSecurityViolation"),
    Case("privileged-init-container", "TemplateInvalid", None, template_with(set_pod(initContainers=[
        {"name": "init", "image": "busybox", "securityContext": {"privileged": True}}])), "PodSecurityViolation"),
    Case("privileged-pod-via-resources", "TemplateInvalid", None, template_with(add_resource({
        "name": "miner", "apiVersion": "v1", "kind": "Pod",
        "spec": {"containers": [{"name": "m", "image": "miner", "securityContext": {"privileged": True}}]}})),
         "PodSecurityViolation"),
    Case("host-network", "TemplateInvalid", None, template_with(set_pod(hostNetwork=True)), "PodSecurityViolation"),
    Case("host-pid", "TemplateInvalid", None, template_with(set_pod(hostPID=True)), "PodSecurityViolation"),
    Case("host-ipc", "TemplateInvalid", None, template_with(set_pod(hostIPC=True)), "PodSecurityViolation"),
    Case("host-path", "TemplateInvalid", None, template_with(lambda s: s["pods"][0]["spec"]["volumes"].append(
        {"name": "root", "hostPath": {"path": "/"}})), "PodSecurityViolation"),
    Case("sys-admin", "TemplateInvalid", None, template_with(set_container(
        securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})), "PodSecurityViolation"),
    Case("host-port", "TemplateInvalid", None, template_with(set_container(
        ports=[{"name": "http", "containerPort": 8888, "hostPort": 80}])), "PodSecurityViolation"),
    Case("unsafe-sysctl", "TemplateInvalid", None, template_with(set_pod(securityContext={
        "sysctls": [{"name": "kernel.msgmax", "value": "1"}]})), "PodSecurityViolation"),
    Case("apparmor-unconfined", "TemplateInvalid", None, template_with(pod_metadata(
        "annotations", **{"container.apparmor.security.beta.kubernetes.io/notebook": "unconfined"})),
         "PodSecurityViolation"),
    Case("selinux-custom-user", "TemplateInvalid", None,
         template_with(set_container(securityContext={"seLinuxOptions": {"user": "root"}})), "PodSecurityViolation"),
    Case("windows-host-process", "TemplateInvalid", None,
         template_with(set_pod(securityContext={"windowsOptions": {"hostProcess": True}})), "PodSecurityViolation"),
    Case("probe-to-metadata-service", "TemplateInvalid", None, template_with(set_container(
        livenessProbe={"httpGet": {"host": "169.254.169.254", "port": 80, "path": "/"}})), "PodSecurityViolation"),
    Case("long-named-privileged-template", "TemplateInvalid", None,
         template_with(set_container(securityContext={"privileged": True})), "PodSecurityViolation",
         template_name=LONG_NAME[:-1] + "y"),
    Case("service-account-of-someone-else", "TemplateInvalid", None,
         template_with(set_pod(serviceAccountName="cluster-admin")), "TenantPolicyViolation"),
    Case("pod-spec-typo", "TemplateInvalid", None, template_with(set_container(imagePullPolicy="Sometimes")),
         "DryRunFailed"),
    Case("ephemeral-containers", "TemplateInvalid", None,
         template_with(set_pod(ephemeralContainers=[{"name": "e", "image": "busybox"}])), "DryRunFailed"),
    Case("templated-annotation-key", "TemplateInvalid", None,
         template_with(pod_metadata("annotations", **{"{{ username }}": "x"})), "DryRunFailed"),
    Case("unicode-label-value", "TemplateInvalid", None, template_with(pod_metadata("labels", team="\u00e9quipe")),
         "DryRunFailed"),
    Case("pvc-bad-access-mode", "TemplateInvalid", None,
         template_with(lambda s: s["pvcs"][0]["spec"].update(accessModes=["ReadWriteSometimes"])), "DryRunFailed"),
    Case("service-bad-port", "TemplateInvalid", None, template_with(add_resource({
        "name": "svc", "apiVersion": "v1", "kind": "Service",
        "spec": {"ports": [{"port": 70000}], "selector": {"a": "b"}}})), "DryRunFailed"),
    Case("config-map-over-1mib", "TemplateInvalid", None, template_with(add_resource({
        "name": "big", "apiVersion": "v1", "kind": "ConfigMap", "data": {"blob": "x" * 1_100_000}})),
         "DryRunFailed"),
    Case("pod-without-containers", "TemplateInvalid", None, template_with(set_pod(containers=[])),
         "InvalidEndpoint"),
    Case("endpoint-container-missing", "TemplateInvalid", None,
         template_with(lambda s: s["endpoint"].update(container="sidecar")), "InvalidEndpoint"),
    Case("endpoint-excluded-by-when", "TemplateInvalid", None, template_with(lambda s: s["pods"][0].update(
        when=[{"variable": "image", "operator": "NotIn", "values": s["variables"][1]["enum"]}])), "InvalidEndpoint"),
    Case("static-name-invalid", "TemplateInvalid", None,
         template_with(lambda s: s["pvcs"][0]["metadata"].update(name="Home_Dir")), "InvalidName"),
    Case("nested-300-levels", "TemplateInvalid", None, template_with(set_pod(extra=Nested(300))), "TooDeeplyNested"),
    Case("nested-5000-levels", "TemplateInvalid", None, template_with(set_pod(extra=Nested(5000))),
         "TooDeeplyNested"),
    # -- template validation: never blocked by a name, every child vetted whatever its when, bounded renders --
    Case("privileged-pod-behind-when", "TemplateInvalid", None,
         template_with(declare("mode", default="normal", enum=["normal", "debug"]), _debug_pod),
         "PodSecurityViolation"),
    Case("huge-values-times-many-placeholders", "RenderTooLarge", {"username": "u20", "note": "x" * 4096},
         template_with(declare("note"), lambda s: s["pods"][0]["spec"]["containers"][0]["args"].append(
             "--note=" + "{{ note }}" * 5000))),
    Case("sample-render-too-large", "TemplateInvalid", None, template_with(
        declare("blob", default="b" * 4096),
        add_resource({"name": "blob", "apiVersion": "v1", "kind": "ConfigMap", "data": {"blob": "{{ blob }}" * 1024}})),
         "RenderTooLarge"),
    Case("user-named-sample", READY, {"username": "sample"}),
    Case("instance-named-validation-probe", READY, {"username": "u21"}, instance_name="validation-probe"),
    Case("static-child-name", READY, {"username": "u22"}, _static_settings),
    Case("exclusive-variants-share-a-name", READY, {"username": "u23"}, template_with(
        declare("flavour", default="cpu", enum=["cpu", "gpu"]), _variants(("NotIn", ["gpu"]), ("In", ["gpu"])))),
    Case("overlapping-variants-share-a-name", "TemplateInvalid", None, template_with(
        declare("flavour", default="cpu", enum=["cpu", "gpu"]), _variants(("In", ["cpu", "gpu"]), ("In", ["gpu"]))),
         "DuplicateName"),
    # -- the tenant policy: identities, placement and other users' objects (each allowed only by a flag) --
    Case("service-account-of-the-hub", "TemplateInvalid", None,
         template_with(set_pod(serviceAccountName="jupyterhub")), "TenantPolicyViolation"),
    Case("projected-token-for-another-audience", "TemplateInvalid", None,
         template_with(lambda s: s["pods"][0]["spec"]["volumes"].append({"name": "vault", "projected": {
             "sources": [{"serviceAccountToken": {"audience": "vault", "path": "token"}}]}})),
         "TenantPolicyViolation"),
    Case("node-name", "TemplateInvalid", None, template_with(set_pod(nodeName="kwok-node-0")), "TenantPolicyViolation"),
    Case("system-node-critical-priority", "TemplateInvalid", None,
         template_with(set_pod(priorityClassName="system-node-critical")), "TenantPolicyViolation"),
    Case("runtime-class", "TemplateInvalid", None, template_with(set_pod(runtimeClassName="unsandboxed")),
         "TenantPolicyViolation"),
    Case("pod-in-resources", "TemplateInvalid", None, template_with(add_resource({
        "name": "side", "apiVersion": "v1", "kind": "Pod",
        "spec": {"containers": [{"name": "s", "image": "busybox"}]}})), "TenantPolicyViolation"),
    Case("service-node-port", "TemplateInvalid", None, template_with(add_resource(_service(type="NodePort"))),
         "TenantPolicyViolation"),
    Case("service-load-balancer", "TemplateInvalid", None,
         template_with(add_resource(_service(type="LoadBalancer"))), "TenantPolicyViolation"),
    Case("service-external-name", "TemplateInvalid", None, template_with(add_resource({
        "name": "svc", "apiVersion": "v1", "kind": "Service",
        "spec": {"type": "ExternalName", "externalName": "hub.example.org"}})), "TenantPolicyViolation"),
    Case("service-external-ips", "TemplateInvalid", None,
         template_with(add_resource(_service(externalIPs=["10.0.0.10"]))), "TenantPolicyViolation"),
    Case("claim-pinned-to-a-volume", "TemplateInvalid", None,
         template_with(lambda s: s["pvcs"][0]["spec"].update(volumeName="hostpath-root")), "TenantPolicyViolation"),
    Case("claim-selecting-a-volume", "TemplateInvalid", None, template_with(lambda s: s["pvcs"][0]["spec"].update(
        selector={"matchLabels": {"owner": "bob"}})), "TenantPolicyViolation"),
    Case("claim-cloning-a-claim", "TemplateInvalid", None, template_with(lambda s: s["pvcs"][0]["spec"].update(
        dataSource={"kind": "PersistentVolumeClaim", "name": "home-bob"})), "TenantPolicyViolation"),
    Case("variable-service-account", "TemplateInvalid", None,
         template_with(declare("account", default="default"), set_pod(serviceAccountName="{{ account }}")),
         "VariableInReferenceField"),
    Case("variable-claim-name", "TemplateInvalid", None, template_with(
        declare("owner", default="nobody"),
        lambda s: s["pods"][0]["spec"]["volumes"][0]["persistentVolumeClaim"].update(claimName="home-{{ owner }}")),
         "VariableInReferenceField"),
    Case("variable-env-secret", "TemplateInvalid", None, template_with(
        declare("server", default="x"), set_container(envFrom=[{"secretRef": {"name": "jupyter-{{ server }}-env"}}])),
         "VariableInReferenceField"),
    Case("variable-clone-source", "TemplateInvalid", None, template_with(
        declare("source", default="nobody"), lambda s: s["pvcs"][0]["spec"].update(
            dataSource={"kind": "PersistentVolumeClaim", "name": "home-{{ source }}"})), "VariableInReferenceField"),
    Case("variable-service-selector", "TemplateInvalid", None, template_with(
        declare("target", default="nobody"),
        add_resource(_service(selector={"hub.jupyter.org/username": "{{ target }}"}))), "VariableInReferenceField"),
    Case("variable-with-enum-but-no-allow-references", "TemplateInvalid", None, template_with(
        declare("pull", default="regcred", enum=["regcred"]), set_pod(imagePullSecrets=[{"name": "{{ pull }}"}])),
         "VariableInReferenceField"),
    Case("kubelet-expansion-in-a-value", "InvalidVariable", {"username": "u18", "note": "$(JUPYTERHUB_API_TOKEN)"},
         template_with(declare("note"), set_container(args=["jupyterhub-singleuser", "--notebook-dir=/{{ note }}"]))),
    Case("reference-variable-declared-with-enum-is-fine", READY, {"username": "u19", "pull": "regcred"},
         template_with(declare("pull", default="none", enum=["none", "regcred"], allowReferences=True),
                       set_pod(imagePullSecrets=[{"name": "{{ pull }}"}]))),
    Case("user-settable-variable-names-the-home", "TemplateInvalid", None, template_with(
        declare("who", default="nobody", userSettable=True),
        lambda s: s["pvcs"][0]["metadata"].update(name="home-{{ who }}")), "VariableInReferenceField"),
    # -- a retained claim serves one server at a time: the second server of one user fails, the first keeps it --
    Case("home-held-by-a-running-server", READY, {"username": "u24"}),
    Case("home-of-another-running-server", "ClaimInUse", {"username": "u24"},
         after="home-held-by-a-running-server"),
    # -- hostile, but harmless by construction: the operator renders it and the server comes up --
    Case("child-in-another-namespace-is-pruned", READY, {"username": "u16"}, template_with(add_resource({
        "name": "cm", "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "kube-system",
                                                                            "name": "{{ instance.name }}-cm"},
        "data": {"a": "b"}})), absent=("kube-system", "case-{index}-cm")),
    Case("template-near-the-size-limit", READY, {"username": "u17"},
         template_with(set_pod(padding="x" * 1_400_000))),
)
"""Bad instances and templates, each with the answer it must get (see :class:`Case`)."""


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


# -- placing, applying and checking the corpus ------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    """A case with the names it has in a namespace: the instance, and the template it names."""

    case: Case
    instance: str
    template: str
    own_template: Object | None
    variables: dict[str, str | None]
    absent: tuple[str, str] | None


def place(cases: Sequence[Case] = CASES) -> list[Placed]:
    """Name every case's objects (``case-<i>``, ``bad-<i>``, unless the case names them); a case without
    variables gets ``username: case<i>`` (a user of its own, so no two cases share a retained claim
    unless they name one user on purpose, one of them ``after`` the other)."""
    placed = []
    for index, case in enumerate(cases):
        template = case.template_name or (f"bad-{index}" if case.template is not None else SAMPLE)
        name = case.instance_name or f"case-{index}"
        variables: dict[str, str | None] = dict(case.variables) if case.variables is not None \
            else {"username": f"case{index}"}
        absent = (case.absent[0], case.absent[1].format(index=index)) if case.absent else None
        placed.append(Placed(case, name, template, case.template(template) if case.template else None, variables,
                             absent))
    return placed


async def setup_corpus(kube: Client, namespace: str, other: str) -> None:
    """What the cases need besides their own objects: :data:`SAMPLE` in both namespaces (``other`` does
    not open it to ``namespace``), and a foreign pod on the name the ``child-conflict`` case renders."""
    for ns in (namespace, other):
        with contextlib.suppress(AlreadyExists):
            await kube.create(TEMPLATES, TEMPLATE, ns)
    with contextlib.suppress(AlreadyExists):
        await kube.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{SQUATTED}-notebook"},
                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, namespace)


async def _await_running(kube: Client, name: str, namespace: str, timeout: float) -> None:
    """Poll until instance ``name`` is Running, for at most ``timeout`` seconds (then return anyway:
    the case that waited gets its answer checked, and a wrong one is reported there)."""
    with anyio.move_on_after(timeout):
        while True:
            obj = await kube.get_or_none(INSTANCES, name, namespace)
            if ((obj or {}).get("status") or {}).get("phase") == "Running":
                return
            await anyio.sleep(0.5)


async def apply_corpus(kube: Client, namespace: str, other: str, placed: Sequence[Placed], *,
                       concurrency: int = 10, after_timeout: float = 120.0) -> None:
    """Create every case's template, then its instance; cases run ``concurrency`` at a time. A case
    with ``after`` waits (outside the limit, at most ``after_timeout`` s) until that case's instance
    is Running."""
    limiter = anyio.CapacityLimiter(concurrency)
    by_name = {p.case.name: p for p in placed}

    async def one(p: Placed) -> None:
        if p.case.after is not None and (first := by_name.get(p.case.after)) is not None:
            await _await_running(kube, first.instance, namespace, after_timeout)
        async with limiter:
            if p.own_template is not None:
                await create(kube, TEMPLATES, p.own_template, namespace)
            obj = instance(p.instance, {}, p.template, other if p.case.cross_namespace else None)
            obj["spec"]["variables"] = p.variables
            await create(kube, INSTANCES, obj, namespace)

    async with anyio.create_task_group() as tg:
        for p in placed:
            tg.start_soon(one, p)


def _current(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj``'s status speaks of its current generation."""
    return bool(obj) and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")


async def _all(kube: Client, resource: Resource, namespace: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in (await kube.list(resource, namespace))["items"]}


def answer_problems(p: Placed, instances: Mapping[str, Any], templates: Mapping[str, Any],
                    warnings: set[tuple[str, str, str]]) -> list[str]:
    """What is still wrong with the answer case ``p`` got (pure): nothing once its instance and
    template carry the expected, current conditions and the bad ones a Warning Event."""
    case, problems = p.case, []
    obj = instances.get(p.instance)
    ready = condition(obj, "Ready")
    if obj is None or ready.get("reason") != case.expect or not _current(obj):
        return [f"{case.name}: instance {p.instance} Ready={ready or None}"[:600]]
    if case.bad and (ready.get("status") != "False" or not ready.get("message")):
        problems.append(f"{case.name}: Ready {ready} needs status False and a message"[:600])
    if not case.bad and (obj.get("status") or {}).get("phase") != "Running":
        problems.append(f"{case.name}: phase {(obj.get('status') or {}).get('phase')}")
    if case.bad and ("JupyterNotebookInstance", p.instance, case.expect) not in warnings:
        problems.append(f"{case.name}: no Warning Event {case.expect} for instance {p.instance}")
    if case.template_reason is not None:
        template = templates.get(p.template) or {}
        valid = condition(template, "Valid")
        if (valid.get("status"), valid.get("reason")) != ("False", case.template_reason) or not _current(template):
            problems.append(f"{case.name}: template Valid={valid or None}"[:600])
        elif ("JupyterNotebookTemplate", p.template, case.template_reason) not in warnings:
            problems.append(f"{case.name}: no Warning Event {case.template_reason} for its template")
    return problems


async def verify_corpus(kube: Client, namespace: str, placed: Sequence[Placed], *, timeout: float = 60.0,
                        interval: float = 1.0) -> list[str]:
    """Poll until every case got its answer (see :func:`answer_problems`); the problems left at
    ``timeout``, and any ``absent`` object that exists."""
    deadline = time.monotonic() + timeout
    while True:
        instances = await _all(kube, INSTANCES, namespace)
        templates = await _all(kube, TEMPLATES, namespace)
        warnings = {(e["regarding"].get("kind"), e["regarding"].get("name"), e.get("reason"))
                    for e in (await kube.list(EVENTS, namespace))["items"] if e.get("type") == "Warning"}
        problems = [problem for p in placed for problem in answer_problems(p, instances, templates, warnings)]
        if not problems or time.monotonic() >= deadline:
            break
        await anyio.sleep(interval)
    for p in placed:
        if p.absent and await kube.get_or_none(CONFIG_MAPS, p.absent[1], p.absent[0]) is not None:
            problems.append(f"{p.case.name}: ConfigMap {p.absent[0]}/{p.absent[1]} exists")
    return problems


# -- fuzzed templates --------------------------------------------------------------------------------

HOSTILE_STRINGS = (
    "", " ", "{{", "}}", "{{ }}", "{{{{ username }}}}", "{{ username }}", "{{ nosuch }}", "{{ pvcs.home.name }}",
    "{{ pods.notebook.name }}", "{{ pvcs.nosuch.name }}", "{{ resources.x.name }}", "{{ instance.name }}",
    "{{ instance.namespace }}", "{{ template.name }}", "{{ image | upper }}", "Not_A_Name", "../../etc",
    "/var/run/secrets/kubernetes.io/serviceaccount", "a\nb: c", "- x", "$(HOME)", "\u0430lice", "null", "true",
    "0", "-1", "1e400", "0x10", "\U0001f600", "\u202e", "\x00", "\\", '"', "kube-system", "hostPath", "privileged",
)
_odd_strings = st.one_of(
    st.text(max_size=30),
    st.sampled_from(HOSTILE_STRINGS),
    st.builds(lambda unit, times: unit * times, st.sampled_from(["a", "{", "-", "\u00e9", "{{ username }}"]),
              st.integers(60, 5000)),
)
_placeholders = st.one_of(
    st.sampled_from([h for h in HOSTILE_STRINGS if h.startswith("{{")]),
    st.from_regex(r"\{\{[ \t]?[A-Za-z0-9_.\-]{1,16}[ \t]?\}\}", fullmatch=True),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                     st.floats(allow_nan=False, allow_infinity=False), _odd_strings)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)), max_leaves=8)
_keys = st.one_of(st.text(max_size=12), st.sampled_from(
    ["hostNetwork", "hostPID", "privileged", "hostPath", "namespace", "serviceAccountName", "nodeName",
     "automountServiceAccountToken", "ownerReferences", "name", "when", "retain", "{{ username }}", "kind"]))
_MUTATIONS = ("drop", "retype", "string", "extra", "placeholder")


def _slots(node: Any) -> list[tuple[Any, Any, bool]]:
    """Every (container, key or index, free-form?) below a template's ``spec``: free-form slots are
    inside a child's ``spec`` or ``metadata``, which the CRD schema does not check (or barely)."""
    found: list[tuple[Any, Any, bool]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        keys = list(current) if isinstance(current, dict) else range(len(current)) if isinstance(current, list) else ()
        for key in keys:
            where = (*path, key)
            free = len(where) >= 3 and where[0] in ("pods", "pvcs", "resources") and where[2] in ("spec", "metadata")
            found.append((current, key, free))
            stack.append((current[key], where))
    return found


@st.composite
def fuzzed_templates(draw: st.DrawFn) -> Object:
    """The sample template after one to four mutations in its spec (mostly in the free-form parts the
    API server passes through): a field dropped, a value replaced by one of another type or by an odd
    string, an extra field, or placeholder text."""
    template = copy.deepcopy(TEMPLATE)
    template["metadata"] = {"name": "fuzz"}
    for _ in range(draw(st.integers(1, 4))):
        slots = [*_slots(template["spec"]), (template, "spec", False)]
        free = [slot for slot in slots if slot[2]]
        pool = free if free and draw(st.integers(0, 9)) < 7 else slots
        parent, key, _ = pool[draw(st.integers(0, len(pool) - 1))]
        mutation = draw(st.sampled_from(_MUTATIONS))
        if mutation == "drop":
            del parent[key]
        elif mutation == "retype":
            parent[key] = draw(_values)
        elif mutation == "string":
            parent[key] = draw(_odd_strings)
        elif mutation == "extra":
            target = parent[key] if isinstance(parent[key], dict | list) else parent
            if isinstance(target, dict):
                target[draw(_keys)] = draw(_values)
            else:
                target.append(draw(_values))
        else:
            text = parent[key] if isinstance(parent[key], str) else ""
            at = draw(st.integers(0, len(text)))
            parent[key] = text[:at] + draw(_placeholders) + text[at:]
        if "spec" not in template:
            break
    return template


def draw_fuzzed(count: int, seed_: int) -> list[Object]:
    """``count`` fuzzed templates (fewer if hypothesis runs out of new ones), the same for the same seed."""
    found: list[Object] = []

    @seed(seed_)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzed_templates())
    def collect(template: Object) -> None:
        found.append(template)

    collect()
    return found[:count]


@dataclass
class FuzzOutcome:
    """What became of the fuzzed templates: refused at create, or answered in status."""

    rejected: int = 0
    accepted: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    """Templates' Valid reasons (accepted ones), by count."""
    problems: list[str] = field(default_factory=list)


async def submit_fuzzed(kube: Client, namespace: str, templates: Sequence[Object], outcome: FuzzOutcome, *,
                        concurrency: int = 10) -> None:
    """Create fuzzed template ``i`` as ``fuzz-<i>`` with an instance of the same name; count what the
    API server refuses (422 or 400: its schema or its decoder)."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(index: int, template: Object) -> None:
        name = f"fuzz-{index}"
        async with limiter:
            try:
                await create(kube, TEMPLATES, {**template, "metadata": {"name": name}}, namespace)
            except ApiError as exc:
                if exc.status in (400, 422):
                    outcome.rejected += 1
                else:
                    outcome.problems.append(f"{name}: {exc.status} {exc.message[:300]}")
                return
            outcome.accepted.append(name)
            await kube.create(INSTANCES, instance(name, {"username": f"fuzz{index}"}, name), namespace)

    async with anyio.create_task_group() as tg:
        for index, template in enumerate(templates):
            tg.start_soon(one, index, template)


async def verify_fuzzed(kube: Client, namespace: str, outcome: FuzzOutcome, *, timeout: float = 60.0,
                        interval: float = 1.0) -> None:
    """Poll until every accepted fuzzed template has a current ``Valid`` condition with a reason and its
    instance a current ``Ready`` condition with one; record what is left at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        templates = await _all(kube, TEMPLATES, namespace)
        instances = await _all(kube, INSTANCES, namespace)
        problems: list[str] = []
        reasons: dict[str, int] = {}
        for name in outcome.accepted:
            template, obj = templates.get(name) or {}, instances.get(name) or {}
            valid, ready = condition(template, "Valid"), condition(obj, "Ready")
            if valid.get("status") not in ("True", "False") or not valid.get("reason") or not _current(template):
                problems.append(f"{name}: template Valid={valid or None}"[:400])
            elif not ready.get("reason") or not _current(obj):
                problems.append(f"{name}: instance Ready={ready or None}"[:400])
            else:
                reasons[str(valid["reason"])] = reasons.get(str(valid["reason"]), 0) + 1
        if not problems or time.monotonic() >= deadline:
            outcome.problems += problems
            outcome.reasons = dict(sorted(reasons.items()))
            return
        await anyio.sleep(interval)


# -- the fault run -----------------------------------------------------------------------------------

DEPLOYED_LEASE = ("--lease-duration=15", "--renew-deadline=10", "--retry-period=2")
"""The lease timings a deployment runs with: this run is about input, not about a loop that a
loaded test machine stalls for longer than the fault tests' 3 s renew deadline."""
QUEUES = ("jupyternotebookinstance", "jupyternotebooktemplate")
RSS_BASE_MB = 40.0
RSS_PER_OBJECT_MB = 0.1
"""The memory bound is ``RSS after start + RSS_BASE_MB + RSS_PER_OBJECT_MB x instances``. The base
covers the corpus's near-limit objects (a 1.4 MB template and a 1.1 MB ConfigMap, each held at once
as response bytes, parsed, frozen in the cache and sent again by the dry run: about 10 MB) with
room for the allocator's arenas; per instance, the caches keep an instance, a pod and a claim
(under 20 kB frozen) and the Event buffer and status writes hold a few kB more. Measured at 200
instances: 88 MB at start, 115 MB at peak; the bound is 156 MB. A copy of an object per retry, or
anything else kept per reconcile, breaks it."""


@dataclass
class Samples:
    """The operator's RSS and queue depths, sampled while the run goes on."""

    peak_rss: int = 0
    depth: dict[str, float] = field(default_factory=lambda: dict.fromkeys(QUEUES, 0.0))
    exits: list[int] = field(default_factory=list)


def _depths(text: str) -> dict[str, float]:
    return {q: metric_sum(text, "workqueue_depth", f'name="{q}"') for q in QUEUES}


async def sample(operator: OperatorProcess, samples: Samples, interval: float = 0.5) -> None:
    """Until cancelled: peak RSS and peak queue depths of ``operator``; an exit is recorded, not raised."""
    while True:
        if not operator.running:
            if operator.proc is not None and not samples.exits:
                samples.exits.append(operator.proc.returncode)
        else:
            with contextlib.suppress(OSError):
                _, rss, _ = operator.usage()
                samples.peak_rss = max(samples.peak_rss, rss)
                depths = _depths(await anyio.to_thread.run_sync(operator.metrics))
                samples.depth = {q: max(samples.depth[q], d) for q, d in depths.items()}
        await anyio.sleep(interval)


async def drained(operator: OperatorProcess, timeout: float = 30.0) -> tuple[dict[str, float], str]:
    """Poll until both queues are empty; their depths (zero unless time ran out) and the last /metrics."""
    deadline = time.monotonic() + timeout
    while True:
        text = await anyio.to_thread.run_sync(operator.metrics)
        depths = _depths(text)
        if not any(depths.values()) or time.monotonic() >= deadline:
            return depths, text
        await anyio.sleep(0.25)


async def _create_all(env: FaultEnv, other: str, healthy: Sequence[str], placed: Sequence[Placed],
                      fuzz: Sequence[Object], outcome: FuzzOutcome) -> list[str]:
    """Everything at once: the healthy instances, the corpus, the refused objects and the fuzzed
    templates; the problems with the refusals."""
    refused: list[str] = []

    async def refuse_all() -> None:
        for index, rejection in enumerate(REJECTED):
            if (problem := await refuse(env.kube, env.namespace, index, rejection)) is not None:
                refused.append(problem)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: create_instances(env.kube, env.namespace, healthy, concurrency=20))
        tg.start_soon(apply_corpus, env.kube, env.namespace, other, placed)
        tg.start_soon(refuse_all)
        tg.start_soon(submit_fuzzed, env.kube, other, fuzz, outcome)
    return refused


def _judge(run: FaultRun, operator: OperatorProcess, samples: Samples, text: str, depths: Mapping[str, float],
           keys: Mapping[str, int], bound: float) -> None:
    """The process's own verdict: never exited, drained queues no longer than its keys, RSS under
    ``bound``, no crashed reconcile."""
    problems = run.report.problems
    if samples.exits or not operator.running or operator.starts != 1:
        problems.append(f"the operator exited ({samples.exits}) or restarted (starts={operator.starts})")
    if any(depths.values()):
        problems.append(f"work queues not drained: {dict(depths)}")
    for queue, peak in samples.depth.items():
        if peak > keys[queue]:
            problems.append(f"queue {queue} held {peak:.0f} keys; there are {keys[queue]} objects")
    if samples.peak_rss > bound:
        problems.append(f"peak RSS {samples.peak_rss / 2**20:.0f} MB over the bound {bound / 2**20:.0f} MB")
    if panics := metric_sum(text, "controller_runtime_reconcile_panics_total"):
        problems.append(f"{panics:.0f} reconciles crashed (panics)")


async def bad_input_at_scale(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """``size`` healthy instances, the whole corpus (:data:`CASES` and :data:`REJECTED`) and
    ``max(10, size // 5)`` fuzzed templates with an instance each, all created at once against one
    operator process: every healthy instance Running, every case its answer, every fuzzed template
    refused or answered; the process never exits, its RSS stays under the bound of
    :data:`RSS_PER_OBJECT_MB`, its queues never hold more keys than there are objects and drain to 0."""
    fuzz = draw_fuzzed(max(10, size // 5), rng.getrandbits(32))
    placed = place(CASES)
    other = f"{env.namespace}-fuzz"
    run = FaultRun("bad input beside healthy instances", size,
                   faults=[f"{len(CASES)} corpus cases", f"{len(REJECTED)} objects refused at admission",
                           f"{len(fuzz)} fuzzed templates"])
    await ensure_namespace(env.kube, other)
    await prepare(env)
    await setup_corpus(env.kube, env.namespace, other)
    operator = env.operator(f"--namespaces={env.namespace},{other}", *DEPLOYED_LEASE)
    samples, outcome = Samples(), FuzzOutcome()
    operator.start()
    try:
        await operator.wait_ready()
        for ns in (env.namespace, other):
            await template_valid(env.kube, SAMPLE, ns)
        _, baseline, _ = operator.usage()
        started = time.monotonic()
        async with anyio.create_task_group() as sampling:
            sampling.start_soon(sample, operator, samples)
            refused = await _create_all(env, other, [f"ok{i}" for i in range(size)], placed, fuzz, outcome)
            created = time.monotonic() - started
            await settle(run, env, started, expect_running=size + sum(1 for c in CASES if not c.bad),
                         timeout=120 + size * 0.5)
            run.report.problems += refused + await verify_corpus(env.kube, env.namespace, placed, timeout=30)
            await verify_fuzzed(env.kube, other, outcome, timeout=30)
            run.report.problems += outcome.problems
            run.report.problems += [p for p in (await check(env.kube, [other])).problems if "at quiescence" not in p]
            depths, text = await drained(operator)
            seconds = time.monotonic() - started
            sampling.cancel_scope.cancel()
        keys = {"jupyternotebookinstance": size + len(CASES) + len(outcome.accepted),
                "jupyternotebooktemplate": 2 + sum(1 for p in placed if p.own_template) + len(outcome.accepted)}
        bound = baseline + (RSS_BASE_MB + RSS_PER_OBJECT_MB * keys["jupyternotebookinstance"]) * 2**20
        _judge(run, operator, samples, text, depths, keys, bound)
        run.notes.update({
            "healthy": size, "bad_cases": sum(1 for c in CASES if c.bad),
            "rejected_at_admission": len(REJECTED) - len(refused),
            "fuzzed": len(fuzz), "fuzzed_rejected": outcome.rejected, "fuzzed_accepted": len(outcome.accepted),
            "fuzzed_valid_reasons": outcome.reasons,
            "rss_start_mb": round(baseline / 2**20, 1), "rss_peak_mb": round(samples.peak_rss / 2**20, 1),
            "rss_bound_mb": round(bound / 2**20, 1),
            "max_queue_depth": {q: int(d) for q, d in samples.depth.items()},
            "reconcile_errors": int(metric_sum(text, "controller_runtime_reconcile_errors_total")),
            "create_seconds": round(created, 1), "seconds": round(seconds, 1)})
    finally:
        exit_code = await operator.stop()
        with contextlib.suppress(ApiError):
            await env.kube.delete(NAMESPACES, other)
    if exit_code != 0:
        run.report.problems.append(f"the operator exited with {exit_code} on SIGTERM")
    return run


BAD_INPUT_SCENARIOS: dict[str, Scenario] = {"bad-input": bad_input_at_scale}
"""This module's fault runs by short name (the runner adds them to :data:`.faultruns.SCENARIOS`)."""
