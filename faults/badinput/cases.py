"""The corpus: bad instances and templates (and oddly shaped but fine ones), each with the answer
it must get, checked against a real API server and operator. :data:`CASES` are accepted at create;
the instance's ``Ready`` condition then ends with the case's reason and a message, the bad ones
with a Warning Event of that reason; where the template is at fault its ``Valid`` condition is
False with the template's reason, and an Event says so too."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jupyternetes_operator.kube.client import Object
from jupyternetes_operator.testing.operator import TEMPLATE

from .builders import Change, Nested, add_resource, declare, pod_metadata, set_container, set_pod, template_with

SAMPLE: str = TEMPLATE["metadata"]["name"]
"""The sample template, present in both namespaces of a run; cases without a template of their own use it."""
SQUATTED = "squatted"
"""The instance whose pod name a foreign pod already has (the ``child-conflict`` case)."""
READY = "ServerReady"


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
