"""The tenant policy: every rule refuses by default and is loosened by its own setting."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.reconcile.policy import Level, Policy
from jupyternetes_operator.reconcile.render import render
from jupyternetes_operator.reconcile.tenant import TenantPolicy, VariableReferences, is_reference

EXAMPLES = Path(__file__).parents[3] / "examples"
SAMPLE: dict[str, Any] = yaml.safe_load((EXAMPLES / "template-jupyterlab.yaml").read_text())

PROBE: dict[str, Any] = {
    "apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance",
    "metadata": {"name": "probe", "namespace": "default", "uid": "00000000-0000-0000-0000-000000000000"},
    "spec": {"variables": {}}}
Edit = Callable[[dict[str, Any]], Any]


def template(*edits: Edit) -> dict[str, Any]:
    doc = copy.deepcopy(SAMPLE)
    for edit in edits:
        edit(doc["spec"])
    return doc


def pod(**fields: Any) -> Edit:
    return lambda spec: spec["pods"][0]["spec"].update(fields)


def claim(**fields: Any) -> Edit:
    return lambda spec: spec["pvcs"][0]["spec"].update(fields)


def resource(**body: Any) -> Edit:
    return lambda spec: spec.setdefault("resources", []).append(body)


def declare(name: str, **fields: Any) -> Edit:
    return lambda spec: spec["variables"].append({"name": name, **fields})


def service(**fields: Any) -> Edit:
    return resource(name="svc", apiVersion="v1", kind="Service",
                    spec={"ports": [{"port": 80}], "selector": {"app": "x"}, **fields})


def tenant_problems(doc: dict[str, Any], **settings: Any) -> list[tuple[str, str]]:
    """(reason, field) of the child-level problems, the template rendered with sample values."""
    rendered = render(doc, PROBE, check_values=False)
    policy = Policy(tenant=TenantPolicy(**settings))
    return [(reason, v.field) for reason, v in policy.check(rendered.children) if reason == "TenantPolicyViolation"]


def template_problems(doc: dict[str, Any], **settings: Any) -> list[tuple[str, str]]:
    return [(reason, v.field) for reason, v in Policy(tenant=TenantPolicy(**settings)).check_template(doc)]


def test_the_sample_passes_every_rule() -> None:
    assert tenant_problems(template()) == []
    assert template_problems(template()) == []
    assert SAMPLE["spec"]["pods"][0]["spec"]["automountServiceAccountToken"] is False


def test_frozen_templates_are_checked_alike() -> None:
    doc = template(declare("sa", enum=["a"]), pod(serviceAccountName="{{ sa }}"))
    assert template_problems(freeze(doc)) == template_problems(doc) != []


# ---------------------------------------------------------------- child rules


def test_service_account_from_the_allowlist_only() -> None:
    doc = template(pod(serviceAccountName="jupyterhub"))
    assert tenant_problems(doc) == [("TenantPolicyViolation", "spec.pods[notebook].spec.serviceAccountName")]
    assert tenant_problems(doc, service_accounts=frozenset({"default", "jupyterhub"})) == []
    assert tenant_problems(template(pod(serviceAccountName="default"))) == []
    assert tenant_problems(template(pod(serviceAccountName=""))) == []  # unset: the default account


def test_a_pod_without_service_account_runs_as_default() -> None:
    problems = Policy(tenant=TenantPolicy(service_accounts=frozenset({"notebook"}))).check(
        render(template(), PROBE, check_values=False).children)
    assert [(r, v.field) for r, v in problems] == [
        ("TenantPolicyViolation", "spec.pods[notebook].spec.serviceAccountName")]
    assert "runs as 'default'" in problems[0][1].message
    assert "--allowed-service-accounts" in problems[0][1].message


def test_deprecated_service_account_field_is_checked_too() -> None:
    assert tenant_problems(template(pod(serviceAccount="jupyterhub"))) == [
        ("TenantPolicyViolation", "spec.pods[notebook].spec.serviceAccount")]


def test_automount_token_is_no_rule_of_its_own() -> None:
    assert tenant_problems(template(pod(automountServiceAccountToken=True))) == []


def token_volume(audience: str | None) -> Edit:
    token: dict[str, Any] = {"path": "token", "expirationSeconds": 3600}
    if audience is not None:
        token["audience"] = audience

    def edit(spec: dict[str, Any]) -> None:
        spec["pods"][0]["spec"]["volumes"].append(
            {"name": "tok", "projected": {"sources": [{"configMap": {"name": "ca"}}, {"serviceAccountToken": token}]}})
    return edit


@pytest.mark.parametrize("audience", ["vault", None])
def test_projected_tokens_only_for_allowed_audiences(audience: str | None) -> None:
    doc = template(token_volume(audience))
    field = "spec.pods[notebook].spec.volumes[1].projected.sources[1].serviceAccountToken.audience"
    assert tenant_problems(doc) == [("TenantPolicyViolation", field)]
    assert tenant_problems(doc, token_audiences=frozenset({"vault"})) == ([] if audience else tenant_problems(doc))


def test_node_name() -> None:
    doc = template(pod(nodeName="control-plane"))
    assert tenant_problems(doc) == [("TenantPolicyViolation", "spec.pods[notebook].spec.nodeName")]
    assert tenant_problems(doc, node_name=True) == []


@pytest.mark.parametrize(("key", "setting"), [("priorityClassName", "priority_classes"),
                                              ("runtimeClassName", "runtime_classes")])
def test_priority_and_runtime_classes_from_allowlists(key: str, setting: str) -> None:
    doc = template(pod(**{key: "system-node-critical"}))
    assert tenant_problems(doc) == [("TenantPolicyViolation", f"spec.pods[notebook].spec.{key}")]
    assert tenant_problems(doc, **{setting: frozenset({"system-node-critical"})}) == []
    assert tenant_problems(doc, **{setting: frozenset({"other"})}) != []


@pytest.mark.parametrize("kind", ["NodePort", "LoadBalancer", "ExternalName"])
def test_service_types(kind: str) -> None:
    doc = template(service(type=kind))
    assert tenant_problems(doc) == [("TenantPolicyViolation", "spec.resources[svc].spec.type")]
    assert tenant_problems(doc, service_types=frozenset({"ClusterIP", kind})) == []


def test_cluster_ip_and_headless_services_are_fine() -> None:
    assert tenant_problems(template(service())) == []
    assert tenant_problems(template(service(type="ClusterIP", clusterIP="None"))) == []


def test_external_ips() -> None:
    doc = template(service(externalIPs=["10.0.0.1"]))
    assert tenant_problems(doc) == [("TenantPolicyViolation", "spec.resources[svc].spec.externalIPs")]
    assert tenant_problems(doc, external_ips=True) == []


@pytest.mark.parametrize(("key", "value"), [("volumeName", "pv-hostpath-root"),
                                            ("selector", {"matchLabels": {"user": "bob"}})])
def test_claim_binding(key: str, value: Any) -> None:
    doc = template(claim(**{key: value}))
    assert tenant_problems(doc) == [("TenantPolicyViolation", f"spec.pvcs[home].spec.{key}")]
    assert tenant_problems(doc, pvc_binding=True) == []


def test_claim_binding_in_resources_is_checked_too() -> None:
    doc = template(resource(name="extra", apiVersion="v1", kind="PersistentVolumeClaim",
                            spec={"accessModes": ["ReadWriteOnce"], "volumeName": "pv-x",
                                  "resources": {"requests": {"storage": "1Gi"}}}))
    assert tenant_problems(doc) == [("TenantPolicyViolation", "spec.resources[extra].spec.volumeName")]


@pytest.mark.parametrize("key", ["dataSource", "dataSourceRef"])
def test_claim_data_sources(key: str) -> None:
    clone = template(claim(**{key: {"kind": "PersistentVolumeClaim", "name": "home-bob"}}))
    assert tenant_problems(clone) == [("TenantPolicyViolation", f"spec.pvcs[home].spec.{key}")]
    assert tenant_problems(clone, pvc_data_sources=frozenset({"PersistentVolumeClaim"})) == []
    snapshot = template(claim(**{key: {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot",
                                       "name": "seed"}}))
    assert tenant_problems(snapshot) == []
    assert tenant_problems(snapshot, pvc_data_sources=frozenset()) != []


def test_pods_in_resources_are_refused_whatever_the_settings() -> None:
    doc = template(resource(name="side", apiVersion="v1", kind="Pod",
                            spec={"containers": [{"name": "c", "image": "busybox"}]}))
    everything = {"service_accounts": frozenset({"default"}), "node_name": True, "pvc_binding": True}
    for settings in ({}, everything):
        assert tenant_problems(doc, **settings) == [("TenantPolicyViolation", "spec.resources[side].kind")]


def test_messages_name_the_setting() -> None:
    doc = template(pod(nodeName="n", priorityClassName="p"), service(type="NodePort"), claim(volumeName="v"))
    rendered = render(doc, PROBE, check_values=False)
    messages = " ".join(v.message for _, v in Policy().check(rendered.children))
    for flag in ("--allow-node-name", "--allowed-priority-classes", "--allowed-service-types", "--allow-pvc-binding"):
        assert flag in messages


# ---------------------------------------------------------------- variables in reference fields

REFERENCE_EDITS: dict[str, tuple[Edit, str]] = {
    "service-account": (pod(serviceAccountName="{{ x }}"), "spec.pods[0].spec.serviceAccountName"),
    "claim": (lambda s: s["pods"][0]["spec"]["volumes"][0]["persistentVolumeClaim"].update(
        claimName="home-{{ x }}"), "spec.pods[0].spec.volumes[0].persistentVolumeClaim.claimName"),
    "env-secret": (lambda s: s["pods"][0]["spec"]["containers"][0].update(
        envFrom=[{"secretRef": {"name": "jupyter-{{ x }}-env"}}]),
        "spec.pods[0].spec.containers[0].envFrom[0].secretRef.name"),
    "env-value-from": (lambda s: s["pods"][0]["spec"]["containers"][0].update(
        env=[{"name": "T", "valueFrom": {"secretKeyRef": {"name": "{{ x }}", "key": "token"}}}]),
        "spec.pods[0].spec.containers[0].env[0].valueFrom.secretKeyRef.name"),
    "secret-volume": (lambda s: s["pods"][0]["spec"]["volumes"].append(
        {"name": "s", "secret": {"secretName": "{{ x }}"}}),
                      "spec.pods[0].spec.volumes[1].secret.secretName"),
    "projected-config-map": (lambda s: s["pods"][0]["spec"]["volumes"].append(
        {"name": "p", "projected": {"sources": [{"configMap": {"name": "{{ x }}"}}]}}),
        "spec.pods[0].spec.volumes[1].projected.sources[0].configMap.name"),
    "image-pull-secret": (pod(imagePullSecrets=[{"name": "{{ x }}"}]), "spec.pods[0].spec.imagePullSecrets[0].name"),
    "node-name": (pod(nodeName="{{ x }}"), "spec.pods[0].spec.nodeName"),
    "node-selector": (pod(nodeSelector={"kubernetes.io/hostname": "{{ x }}"}),
                      "spec.pods[0].spec.nodeSelector[kubernetes.io/hostname]"),
    "priority": (pod(priorityClassName="{{ x }}"), "spec.pods[0].spec.priorityClassName"),
    "runtime": (pod(runtimeClassName="{{ x }}"), "spec.pods[0].spec.runtimeClassName"),
    "data-source": (claim(dataSource={"kind": "PersistentVolumeClaim", "name": "home-{{ x }}"}),
                    "spec.pvcs[0].spec.dataSource.name"),
    "data-source-ref": (claim(dataSourceRef={"kind": "PersistentVolumeClaim", "name": "{{ x }}"}),
                        "spec.pvcs[0].spec.dataSourceRef.name"),
    "volume-name": (claim(volumeName="{{ x }}"), "spec.pvcs[0].spec.volumeName"),
    "service-selector": (service(selector={"hub.jupyter.org/username": "{{ x }}"}),
                         "spec.resources[0].spec.selector[hub.jupyter.org/username]"),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_EDITS))
def test_variables_may_not_fill_reference_fields(case: str) -> None:
    edit, field = REFERENCE_EDITS[case]
    plain = template(declare("x"), edit)
    assert template_problems(plain) == [("VariableInReferenceField", field)]
    enum_only = template(declare("x", enum=["a"]), edit)
    assert template_problems(enum_only) == [("VariableInReferenceField", field)]
    opted_in = template(declare("x", enum=["a"], allowReferences=True), edit)
    assert template_problems(opted_in) == []
    assert template_problems(opted_in, variable_references=VariableReferences.NEVER) == [
        ("VariableInReferenceField", field)]
    assert template_problems(plain, variable_references=VariableReferences.ANY) == []


def test_allow_references_needs_an_enum() -> None:
    doc = template(declare("x", allowReferences=True), pod(serviceAccountName="{{ x }}"))
    assert template_problems(doc) == [("VariableInReferenceField", "spec.variables[3].allowReferences"),
                                      ("VariableInReferenceField", "spec.pods[0].spec.serviceAccountName")]


def test_built_ins_and_non_reference_fields_are_fine() -> None:
    doc = template(
        lambda s: s["pods"][0]["spec"]["containers"][0].update(
            envFrom=[{"secretRef": {"name": "jupyter-{{ instance.name }}-env"}}],
            env=[{"name": "USER", "value": "{{ username }}"}], workingDir="/home/{{ username }}"),
        resource(name="cm", apiVersion="v1", kind="ConfigMap", data={"secret": "{{ username }}"}),
        service(selector={"app": "{{ pods.notebook.name }}"}))
    assert template_problems(doc) == []


def test_metadata_is_no_reference_field() -> None:
    """Name templates and labels are the child's own; ``home-{{ username }}`` is the sample's home."""
    assert template_problems(template(lambda s: s["pods"][0]["metadata"].update(
        annotations={"secretName": "{{ username }}"}))) == []


def test_malformed_templates_are_tolerated() -> None:
    for doc in ({}, {"spec": None}, {"spec": {"variables": "x", "pods": "y"}},
                {"spec": {"variables": [None, {"name": 3}], "pods": [None, {"name": "p", "spec": []}]}}):
        assert Policy().check_template(doc) == []


@pytest.mark.parametrize(("path", "expected"), [
    ("spec.serviceAccountName", True),
    ("spec.volumes[0].configMap.name", True),
    ("spec.volumes[0].configMap.items[0].path", False),
    ("spec.containers[0].name", False),
    ("spec.containers[0].image", False),
    ("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0].values[0]", True),
    ("spec.tolerations[0].key", True),
    ("data.secretName", False),
    ("spec.podSelector.matchLabels.app", True),
])
def test_reference_paths(path: str, expected: bool) -> None:
    assert is_reference(path) is expected


def test_a_user_settable_variable_may_not_name_a_retained_claim() -> None:
    """A user could otherwise name another user's home and have it adopted while that user is away."""
    def home_named_by(variable: str) -> Edit:
        return lambda spec: spec["pvcs"][0]["metadata"].update(name=f"home-{{{{ {variable} }}}}")

    chosen = template(declare("who", userSettable=True), home_named_by("who"))
    assert template_problems(chosen) == [("VariableInReferenceField", "spec.pvcs[0].metadata.name")]
    assert template_problems(template(declare("who"), home_named_by("who"))) == []  # set by the spawner or admin
    listed = template(declare("who", userSettable=True, enum=["shared"], allowReferences=True), home_named_by("who"))
    assert template_problems(listed) == []
    assert template_problems(chosen, variable_references=VariableReferences.ANY) == []
    not_retained = template(declare("who", userSettable=True), home_named_by("who"),
                            lambda spec: spec["pvcs"][0].update(retain=False))
    assert template_problems(not_retained) == []  # an owned claim conflicts instead of being adopted


def test_the_policy_fingerprint_changes_with_every_setting_and_only_then() -> None:
    """A template's verdict records it: under other settings the template is validated again."""
    base = Policy()
    assert base.fingerprint == Policy().fingerprint
    assert base.fingerprint == Policy(tenant=TenantPolicy(service_accounts=frozenset({"default"}))).fingerprint
    others = [Policy(level=Level.RESTRICTED), Policy(allowed_kinds=frozenset({("v1", "Pod")})),
              Policy(tenant=TenantPolicy(node_name=True)),
              Policy(tenant=TenantPolicy(service_accounts=frozenset({"default", "hub"}))),
              Policy(tenant=TenantPolicy(variable_references=VariableReferences.ANY))]
    prints = {p.fingerprint for p in others}
    assert len(prints) == len(others)
    assert base.fingerprint not in prints
