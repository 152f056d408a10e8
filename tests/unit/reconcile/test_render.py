from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jupyternetes_operator import api
from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.reconcile.policy import DEFAULT_ALLOWED_KINDS, Level, check_kind, check_pod
from jupyternetes_operator.reconcile.render import (
    Child,
    Endpoint,
    InstanceError,
    Rendered,
    TemplateError,
    render,
)
from jupyternetes_operator.reconcile.validation import probe_instance, validate, validate_template

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
UID = "6f1c1a52-0000-4000-8000-000000000001"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return data


def sample_template() -> dict[str, Any]:
    return load("template-jupyterlab.yaml")


NONCE = "0123456789abcdef"
"""The spawner's nonce naming an instance's environment Secret (the jupyternetes.io/env-secret annotation)."""


def sample_instance() -> dict[str, Any]:
    instance = load("instance-alice.yaml")
    instance["metadata"].update(namespace="hub", uid=UID, annotations={api.ANNOTATION_ENV_SECRET: NONCE})
    return instance


def instance(name: str = "inst", variables: dict[str, str] | None = None, namespace: str = "ns") -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.INSTANCE_KIND,
        "metadata": {"name": name, "namespace": namespace, "uid": UID,
                     "annotations": {api.ANNOTATION_ENV_SECRET: NONCE}},
        "spec": {"template": {"name": "tpl"}, "variables": dict(variables or {})},
    }


def template(
    *,
    variables: list[dict[str, Any]] | None = None,
    pods: list[dict[str, Any]] | None = None,
    pvcs: list[dict[str, Any]] | None = None,
    resources: list[dict[str, Any]] | None = None,
    endpoint: dict[str, Any] | None = None,
    generation: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "variables": variables if variables is not None else [{"name": "v"}],
        "endpoint": endpoint or {"pod": "main", "port": 8888},
        "pods": pods if pods is not None else [pod("main")],
    }
    if pvcs is not None:
        spec["pvcs"] = pvcs
    if resources is not None:
        spec["resources"] = resources
    metadata: dict[str, Any] = {"name": "tpl", "namespace": "ns"}
    if generation is not None:
        metadata["generation"] = generation
    return {"apiVersion": api.API_VERSION, "kind": api.TEMPLATE_KIND, "metadata": metadata, "spec": spec}


def pod(logical: str, image: str = "img", **extra: Any) -> dict[str, Any]:
    return {"name": logical, "spec": {"containers": [{"name": "c", "image": image}]}, **extra}


def by_logical(rendered: Rendered, logical: str) -> Child:
    return next(c for c in rendered.children if c.logical_name == logical)


def container(rendered: Rendered, logical: str = "main", index: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = by_logical(rendered, logical).manifest["spec"]["containers"][index]
    return result


# ---------------------------------------------------------------- the sample


def test_sample_renders_the_expected_pvc_and_pod() -> None:
    rendered = render(sample_template(), sample_instance())
    assert [(c.group, c.kind, c.name) for c in rendered.children] == [
        ("pvcs", "PersistentVolumeClaim", "home-alice"),
        ("pods", "Pod", "jupyter-alice-notebook"),
    ]
    assert rendered.variables == {
        "username": "alice", "image": "quay.io/jupyter/minimal-notebook:2025-10-20", "storage": "10Gi",
    }
    assert rendered.endpoint == Endpoint(pod="jupyter-alice-notebook", container=None, port="http")
    assert rendered.template_generation == 0

    pvc, notebook = rendered.children
    assert pvc.retain
    assert not notebook.retain
    assert pvc.manifest == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "home-alice",
            "namespace": "hub",
            "labels": {
                "hub.jupyter.org/username": "alice",
                api.LABEL_INSTANCE: "jupyter-alice",
                api.LABEL_TEMPLATE: "jupyterlab",
                api.LABEL_LOGICAL_NAME: "home",
                api.LABEL_MANAGED_BY: api.MANAGED_BY,
                "app.kubernetes.io/name": "jupyter-notebook",
                "app.kubernetes.io/instance": "jupyter-alice",
                "app.kubernetes.io/component": "home",
                api.LABEL_RETAINED: "true",
            },
            "annotations": {},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    meta = notebook.manifest["metadata"]
    assert meta["ownerReferences"] == [{
        "apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance", "name": "jupyter-alice",
        "uid": UID, "controller": True, "blockOwnerDeletion": True,
    }]
    assert api.LABEL_RETAINED not in meta["labels"]
    spec = notebook.manifest["spec"]
    assert spec["volumes"] == [{"name": "home", "persistentVolumeClaim": {"claimName": "home-alice"}}]
    (main,) = spec["containers"]
    assert main["image"] == "quay.io/jupyter/minimal-notebook:2025-10-20"
    assert main["envFrom"] == [{"secretRef": {"name": f"jupyter-alice-env-{NONCE}", "optional": False}}]
    assert spec["securityContext"]["runAsUser"] == 1000


def test_sample_passes_restricted_pod_security_and_the_kind_allowlist() -> None:
    rendered = render(sample_template(), sample_instance())
    for child in rendered.children:
        assert check_kind(child, DEFAULT_ALLOWED_KINDS) is None
    assert check_pod(by_logical(rendered, "notebook").manifest, Level.RESTRICTED) == []


def test_sample_is_a_valid_template() -> None:
    assert validate_template(sample_template()) == []


def test_sample_refuses_bad_instance_values() -> None:
    bad = sample_instance()
    bad["spec"]["variables"]["username"] = "Alice; rm -rf /"
    with pytest.raises(InstanceError) as info:
        render(sample_template(), bad)
    assert (info.value.reason, info.value.field) == ("InvalidVariable", "spec.variables.username")


# ---------------------------------------------------------------- purity


def test_inputs_are_not_mutated_and_outputs_share_nothing() -> None:
    tpl, inst = sample_template(), sample_instance()
    before = copy.deepcopy((tpl, inst))
    rendered = render(tpl, inst)
    assert (tpl, inst) == before
    # Mutating the output does not reach the input.
    by_logical(rendered, "notebook").manifest["spec"]["containers"][0]["args"].append("--evil")
    assert tpl["spec"]["pods"][0]["spec"]["containers"][0]["args"] == ["jupyterhub-singleuser"]
    # A second render is unaffected by the first's envFrom wiring.
    again = render(tpl, inst)
    assert len(container(again, "notebook")["envFrom"]) == 1


def test_read_only_inputs_render_the_same() -> None:
    tpl, inst = sample_template(), sample_instance()
    assert render(freeze(tpl), freeze(inst)) == render(tpl, inst)
    assert validate_template(freeze(tpl)) == []


# ---------------------------------------------------------------- substitution


INJECTIONS = [
    "{{ other }}",
    "{{other}}",
    '"quoted", "more": "x"',
    "line one\nline two",
    "a: b\n- c",
    "}}{{ instance.name }}{{",
    "key: [1, 2]\n{extra: true}",
    "\\1 \\g<0> $1",
    "x" * 4096,
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_are_literal_strings(value: str) -> None:
    tpl = template(
        variables=[{"name": "v"}, {"name": "other", "default": "OTHER"}],
        pods=[{
            "name": "main",
            "metadata": {"labels": {"l": "{{ v }}"}, "annotations": {"a": "pre-{{ v }}-post"}},
            "spec": {"containers": [{"name": "c", "image": "{{ v }}", "args": ["{{v}}", "{{ other }}"],
                                     "env": [{"name": "E", "value": "{{ v }}"}]}]},
        }],
    )
    rendered = render(tpl, instance(variables={"v": value}))
    main = container(rendered)
    assert main["image"] == value
    assert main["args"] == [value, "OTHER"]
    assert main["env"] == [{"name": "E", "value": value}]
    meta = by_logical(rendered, "main").manifest["metadata"]
    assert meta["labels"]["l"] == value
    assert meta["annotations"]["a"] == f"pre-{value}-post"
    assert set(main) == {"name", "image", "args", "env", "envFrom"}


@pytest.mark.parametrize("text", ["{{v}}", "{{ v }}", "{{   v\t}}", "{{\tv }}"])
def test_placeholder_spacing(text: str) -> None:
    rendered = render(template(pods=[pod("main", image=text)]), instance(variables={"v": "X"}))
    assert container(rendered)["image"] == "X"


@pytest.mark.parametrize("text", ["{{ v | upper }}", "{ v }", "{{", "}}", "{{ }}", "{{ v\n}}", "plain"])
def test_text_that_is_not_a_placeholder_is_kept(text: str) -> None:
    rendered = render(template(pods=[pod("main", image=text)]), instance(variables={"v": "X"}))
    assert container(rendered)["image"] == text


def test_several_placeholders_in_one_string_and_braces_around() -> None:
    rendered = render(template(pods=[pod("main", image="{{{ v }}}/{{ instance.name }}:{{v}}")]),
                      instance(variables={"v": "X"}))
    assert container(rendered)["image"] == "{X}/inst:X"


def test_keys_and_non_string_scalars_are_not_templated() -> None:
    spec = {
        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 8888}], "tty": True,
                        "resources": {"requests": {"cpu": 0.5}}}],
        "nodeSelector": {"{{ v }}": "{{ v }}"},
        "activeDeadlineSeconds": None,
    }
    rendered = render(template(pods=[{"name": "main", "spec": spec}]), instance(variables={"v": "X"}))
    out = by_logical(rendered, "main").manifest["spec"]
    assert out["nodeSelector"] == {"{{ v }}": "X"}
    assert out["containers"][0]["ports"] == [{"containerPort": 8888}]
    assert out["containers"][0]["tty"] is True
    assert out["containers"][0]["resources"]["requests"]["cpu"] == 0.5
    assert out["activeDeadlineSeconds"] is None


def test_builtins() -> None:
    tpl = template(
        pvcs=[{"name": "data", "spec": {}}],
        resources=[{"name": "svc", "apiVersion": "v1", "kind": "Service", "spec": {}}],
        pods=[pod("main", image="{{ instance.name }}|{{ instance.namespace }}|{{ template.name }}|"
                               "{{ pods.main.name }}|{{ pvcs.data.name }}|{{ resources.svc.name }}")],
    )
    rendered = render(tpl, instance(name="x1", namespace="team"))
    assert container(rendered)["image"] == "x1|team|tpl|x1-main|x1-data|x1-svc"


@pytest.mark.parametrize(
    ("text", "ref"),
    [("{{ nope }}", "nope"), ("{{ pvcs.nope.name }}", "pvcs.nope.name"), ("{{ pods.main.uid }}", "pods.main.uid"),
     ("{{ instance.uid }}", "instance.uid"), ("a {{ v }} {{ V }}", "V")],
)
def test_unknown_reference(text: str, ref: str) -> None:
    tpl = template(pods=[pod("main", image=text)])
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("UnknownReference", "spec.pods[0].spec.containers[0].image")
    assert ref in info.value.message
    assert "spec.pods[0].spec.containers[0].image" in info.value.message
    assert [(e.reason, e.field) for e in validate_template(tpl)] == [
        ("UnknownReference", "spec.pods[0].spec.containers[0].image"),
    ]


def test_unknown_reference_path_of_a_label_and_a_resource_field() -> None:
    tpl = template(
        pods=[{"name": "main", "metadata": {"labels": {"hub.jupyter.org/user": "{{ who }}"}},
               "spec": {"containers": [{"name": "c"}]}}],
        resources=[{"name": "cm", "apiVersion": "v1", "kind": "ConfigMap", "data": {"x.conf": "{{ what }}"}}],
    )
    assert {(e.reason, e.field) for e in validate_template(tpl)} == {
        ("UnknownReference", "spec.pods[0].metadata.labels[hub.jupyter.org/user]"),
        ("UnknownReference", "spec.resources[0].data[x.conf]"),
    }


# ---------------------------------------------------------------- names


def test_name_templates_in_dependency_order() -> None:
    tpl = template(
        variables=[{"name": "user"}],
        pvcs=[{"name": "home", "metadata": {"name": "home-{{ user }}"}, "spec": {}},
              {"name": "scratch", "metadata": {"name": "{{ pods.main.name }}-scratch"}, "spec": {}}],
        pods=[{"name": "main", "metadata": {"name": "nb-{{ pvcs.home.name }}"},
               "spec": {"containers": [{"name": "c", "image": "{{ pvcs.scratch.name }}"}]}}],
    )
    rendered = render(tpl, instance(variables={"user": "bob"}))
    assert [c.name for c in rendered.children] == ["home-bob", "nb-home-bob-scratch", "nb-home-bob"]
    assert container(rendered)["image"] == "nb-home-bob-scratch"


def test_two_cycle() -> None:
    tpl = template(
        pvcs=[{"name": "a", "metadata": {"name": "{{ pods.main.name }}-a"}, "spec": {}}],
        pods=[{"name": "main", "metadata": {"name": "{{ pvcs.a.name }}-x"},
               "spec": {"containers": [{"name": "c"}]}}],
    )
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert info.value.reason == "ReferenceCycle"
    assert "pods.main.name -> pvcs.a.name -> pods.main.name" in info.value.message
    errors = validate_template(tpl)
    assert [(e.reason, e.field) for e in errors] == [("ReferenceCycle", "spec.pods[0].metadata.name")]


def test_self_cycle_and_longer_cycle_are_all_reported() -> None:
    tpl = template(
        resources=[
            {"name": "r1", "apiVersion": "v1", "kind": "Service", "metadata": {"name": "{{ resources.r2.name }}"}},
            {"name": "r2", "apiVersion": "v1", "kind": "Service", "metadata": {"name": "{{ resources.r3.name }}"}},
            {"name": "r3", "apiVersion": "v1", "kind": "Service", "metadata": {"name": "{{ resources.r1.name }}"}},
        ],
        pods=[{"name": "main", "metadata": {"name": "x{{ pods.main.name }}"}, "spec": {"containers": [{}]}}],
    )
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert info.value.reason == "ReferenceCycle"
    messages = sorted(e.message for e in validate_template(tpl) if e.reason == "ReferenceCycle")
    assert len(messages) == 2
    assert "pods.main.name -> pods.main.name" in messages[0]
    assert "resources.r1.name -> resources.r2.name -> resources.r3.name -> resources.r1.name" in messages[1]


def test_long_instance_name_gives_hashed_names_that_still_fit() -> None:
    long_name = "u" + "x" * 61 + "z"
    assert len(long_name) == 63
    rendered = render(sample_template() | {}, {**sample_instance(), "metadata": {
        "name": long_name, "namespace": "hub", "uid": UID, "annotations": {api.ANNOTATION_ENV_SECRET: NONCE}}})
    notebook = by_logical(rendered, "notebook")
    assert len(notebook.name) == 63
    assert api.DNS_LABEL.fullmatch(notebook.name)
    assert notebook.name == api.child_name(long_name, "notebook") != f"{long_name}-notebook"
    assert rendered.endpoint.pod == notebook.name
    secret = container(rendered, "notebook")["envFrom"][0]["secretRef"]["name"]
    assert secret == api.env_secret_name(long_name, NONCE)
    assert len(secret) <= 253  # a Secret's name is a DNS subdomain


def test_invalid_name_from_variables_is_the_instance_s_fault() -> None:
    tpl = template(variables=[{"name": "user"}],
                   pvcs=[{"name": "home", "metadata": {"name": "home-{{ user }}"}, "spec": {}}])
    for user in ("Bob", "b" * 60, "a.b", ""):
        with pytest.raises(InstanceError) as info:
            render(tpl, instance(variables={"user": user}))
        assert (info.value.reason, info.value.field) == ("InvalidName", "spec.pvcs[0].metadata.name")
    # A name that depends on a variable only through another child's name is the instance's fault too.
    tpl = template(variables=[{"name": "user"}],
                   pvcs=[{"name": "home", "metadata": {"name": "home-{{ user }}"}, "spec": {}},
                         {"name": "more", "metadata": {"name": "{{ pvcs.home.name }}-more"}, "spec": {}}])
    with pytest.raises(InstanceError):
        render(tpl, instance(variables={"user": "u" * 55}))


def test_invalid_constant_name_is_the_template_s_fault() -> None:
    for name in ("Home", "x" * 64, "home_dir", "-home", "{{ template.name }}.x"):
        tpl = template(pvcs=[{"name": "home", "metadata": {"name": name}, "spec": {}}])
        with pytest.raises(TemplateError) as info:
            render(tpl, instance())
        assert (info.value.reason, info.value.field) == ("InvalidName", "spec.pvcs[0].metadata.name")
        assert "InvalidName" in {e.reason for e in validate_template(tpl)}


def test_references_resolve_for_children_excluded_by_when() -> None:
    tpl = template(
        variables=[{"name": "gpu", "default": "no"}],
        pvcs=[{"name": "cache", "when": [{"variable": "gpu", "operator": "In", "values": ["yes"]}], "spec": {}}],
        pods=[pod("main", image="{{ pvcs.cache.name }}")],
    )
    rendered = render(tpl, instance())
    assert [c.logical_name for c in rendered.children] == ["main"]
    assert container(rendered)["image"] == "inst-cache"


def test_two_children_rendering_to_one_name() -> None:
    tpl = template(pvcs=[{"name": "a", "metadata": {"name": "same"}, "spec": {}},
                         {"name": "b", "metadata": {"name": "same"}, "spec": {}}])
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("DuplicateName", "spec.pvcs[1].metadata.name")
    # Different kinds may share a name (a Service named like its pod is common).
    tpl = template(resources=[{"name": "svc", "apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": "{{ pods.main.name }}"}}])
    assert render(tpl, instance()).children[0].name == "inst-main"


# ---------------------------------------------------------------- when


@pytest.mark.parametrize(
    ("operator", "value", "included"),
    [("In", "t4", True), ("In", "none", False), ("NotIn", "t4", False), ("NotIn", "none", True)],
)
def test_when(operator: str, value: str, included: bool) -> None:
    tpl = template(
        variables=[{"name": "gpu", "default": "none"}],
        resources=[{"name": "quota", "apiVersion": "v1", "kind": "ConfigMap", "data": {},
                    "when": [{"variable": "gpu", "operator": operator, "values": ["t4", "a100"]}]}],
    )
    rendered = render(tpl, instance(variables={"gpu": value}))
    assert ("quota" in [c.logical_name for c in rendered.children]) is included


def test_when_needs_every_condition() -> None:
    tpl = template(
        variables=[{"name": "a"}, {"name": "b"}],
        pvcs=[{"name": "p", "spec": {}, "when": [{"variable": "a", "operator": "In", "values": ["1"]},
                                                   {"variable": "b", "operator": "NotIn", "values": ["1"]}]}],
    )
    assert len(render(tpl, instance(variables={"a": "1", "b": "2"})).children) == 2
    assert len(render(tpl, instance(variables={"a": "1", "b": "1"})).children) == 1
    assert len(render(tpl, instance(variables={"a": "2", "b": "2"})).children) == 1


def test_when_on_an_undeclared_variable() -> None:
    tpl = template(pvcs=[{"name": "p", "spec": {},
                          "when": [{"variable": "ghost", "operator": "In", "values": ["1"]}]}])
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("UnknownVariable", "spec.pvcs[0].when[0].variable")
    assert [(e.reason, e.field) for e in validate_template(tpl)] == [
        ("UnknownVariable", "spec.pvcs[0].when[0].variable")]


def test_when_with_a_bad_operator() -> None:
    tpl = template(pvcs=[{"name": "p", "spec": {}, "when": [{"variable": "v", "operator": "Exists", "values": []}]}])
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("InvalidCondition", "spec.pvcs[0].when[0].operator")


# ---------------------------------------------------------------- metadata and kinds


def test_metadata_namespace_labels_annotations() -> None:
    tpl = template(pods=[{
        "name": "main",
        "metadata": {
            "namespace": "kube-system",
            "labels": {"team": "{{ v }}", api.LABEL_INSTANCE: "someone-else", "app.kubernetes.io/name": "x"},
            "annotations": {"note": "for {{ instance.name }}"},
        },
        "spec": {"containers": [{"name": "c"}]},
    }])
    meta = render(tpl, instance(namespace="team-a", variables={"v": "blue"})).children[0].manifest["metadata"]
    assert meta["namespace"] == "team-a"
    assert meta["labels"]["team"] == "blue"
    assert meta["labels"][api.LABEL_INSTANCE] == "inst"
    assert meta["labels"]["app.kubernetes.io/name"] == "jupyter-notebook"
    assert meta["labels"]["app.kubernetes.io/component"] == "main"
    assert meta["annotations"] == {"note": "for inst"}


def test_long_template_name_label_is_fitted() -> None:
    tpl = template()
    tpl["metadata"]["name"] = "t." * 60 + "t"
    labels = render(tpl, instance()).children[0].manifest["metadata"]["labels"]
    assert labels[api.LABEL_TEMPLATE] == api.label_value(tpl["metadata"]["name"])
    assert len(labels[api.LABEL_TEMPLATE]) <= 63


def test_owner_references_and_retained_pvcs() -> None:
    tpl = template(
        pvcs=[{"name": "home", "retain": True, "spec": {}}, {"name": "tmp", "spec": {}},
              {"name": "tmp2", "retain": False, "spec": {}}],
        resources=[{"name": "svc", "apiVersion": "v1", "kind": "Service", "spec": {}}],
    )
    rendered = render(tpl, instance())
    for child in rendered.children:
        meta = child.manifest["metadata"]
        if child.logical_name == "home":
            assert child.retain
            assert "ownerReferences" not in meta
            assert meta["labels"][api.LABEL_RETAINED] == "true"
        else:
            assert not child.retain
            assert api.LABEL_RETAINED not in meta["labels"]
            (owner,) = meta["ownerReferences"]
            assert owner == {"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND, "name": "inst",
                             "uid": UID, "controller": True, "blockOwnerDeletion": True}


def test_resources_and_creation_order() -> None:
    tpl = template(
        pods=[pod("main"), pod("sidecar")],
        pvcs=[{"name": "home", "spec": {"x": 1}}],
        resources=[
            {"name": "svc", "apiVersion": "v1", "kind": "Service",
             "when": [], "spec": {"selector": {"app": "{{ pods.main.name }}"}}},
            {"name": "conf", "apiVersion": "v1", "kind": "ConfigMap", "data": {"user": "{{ v }}"},
             "metadata": {"labels": {"k": "v"}}},
            {"name": "np", "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": {}},
        ],
    )
    rendered = render(tpl, instance(variables={"v": "val"}))
    assert [(c.group, c.logical_name) for c in rendered.children] == [
        ("pvcs", "home"), ("resources", "svc"), ("resources", "conf"), ("resources", "np"),
        ("pods", "main"), ("pods", "sidecar"),
    ]
    svc, conf, np = rendered.children[1:4]
    assert (svc.api_version, svc.kind, svc.name) == ("v1", "Service", "inst-svc")
    assert svc.manifest["spec"] == {"selector": {"app": "inst-main"}}
    assert set(svc.manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert conf.manifest["data"] == {"user": "val"}
    assert set(conf.manifest) == {"apiVersion", "kind", "metadata", "data"}
    assert conf.manifest["metadata"]["labels"]["k"] == "v"
    assert (np.api_version, np.kind) == ("networking.k8s.io/v1", "NetworkPolicy")
    assert rendered.children[0].manifest["kind"] == "PersistentVolumeClaim"
    assert rendered.children[-1].manifest["apiVersion"] == "v1"


def test_template_generation() -> None:
    assert render(template(generation=7), instance()).template_generation == 7


# ---------------------------------------------------------------- endpoint


def test_endpoint_container_by_name_keeps_existing_env_from() -> None:
    tpl = template(
        endpoint={"pod": "main", "container": "server", "port": "web"},
        pods=[{"name": "main", "spec": {"containers": [
            {"name": "proxy", "image": "p"},
            {"name": "server", "image": "s", "ports": [{"name": "web", "containerPort": 80}],
             "envFrom": [{"configMapRef": {"name": "cfg"}}]},
        ]}}],
    )
    rendered = render(tpl, instance(name="nb"))
    assert "envFrom" not in container(rendered, index=0)
    assert container(rendered, index=1)["envFrom"] == [
        {"configMapRef": {"name": "cfg"}},
        {"secretRef": {"name": f"nb-env-{NONCE}", "optional": False}},
    ]
    assert rendered.endpoint == Endpoint(pod="nb-main", container="server", port="web")
    assert tpl["spec"]["pods"][0]["spec"]["containers"][1]["envFrom"] == [{"configMapRef": {"name": "cfg"}}]


def test_env_secret_only_on_the_endpoint_pod() -> None:
    rendered = render(template(pods=[pod("main"), pod("other")]), instance())
    assert "envFrom" in container(rendered, "main")
    assert "envFrom" not in container(rendered, "other")


def test_endpoint_pod_excluded_by_when() -> None:
    tpl = template(variables=[{"name": "v", "default": "off"}],
                   pods=[pod("main", when=[{"variable": "v", "operator": "In", "values": ["on"]}])])
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("InvalidEndpoint", "spec.endpoint.pod")
    assert render(tpl, instance(variables={"v": "on"})).endpoint.pod == "inst-main"


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [({"pod": "ghost", "port": 1}, "spec.endpoint.pod"),
     ({"pod": "main", "container": "ghost", "port": 1}, "spec.endpoint.container"),
     ({"pod": "main", "port": "named"}, "spec.endpoint.port"),
     ({"pod": "main", "port": True}, "spec.endpoint.port")],
)
def test_invalid_endpoint(endpoint: dict[str, Any], field: str) -> None:
    tpl = template(endpoint=endpoint)
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("InvalidEndpoint", field)
    assert ("InvalidEndpoint", field) in {(e.reason, e.field) for e in validate_template(tpl)}


def test_a_named_endpoint_port_on_a_container_whose_ports_are_not_a_list() -> None:
    # Found by the fuzzer: ``ports: true`` crashed validation with a TypeError.
    tpl = template(pods=[{"name": "main", "spec": {"containers": [{"name": "c", "image": "i", "ports": True}]}}],
                   endpoint={"pod": "main", "port": "http"})
    assert ("InvalidEndpoint", "spec.endpoint.port") in {(e.reason, e.field) for e in validate_template(tpl)}


def test_endpoint_pod_without_containers() -> None:
    tpl = template(pods=[{"name": "main", "spec": {}}])
    with pytest.raises(TemplateError) as info:
        render(tpl, instance())
    assert (info.value.reason, info.value.field) == ("InvalidEndpoint", "spec.pods[0].spec.containers")


# ---------------------------------------------------------------- validation


def test_validate_reports_every_problem() -> None:
    tpl = template(
        variables=[{"name": "v", "pattern": "("}, {"name": "w"}],
        pvcs=[{"name": "p", "spec": {"a": "{{ nope }}"}, "when": [{"variable": "x", "operator": "In",
                                                                     "values": ["1"]}]}],
        pods=[pod("main", image="{{ pvcs.q.name }}")],
        endpoint={"pod": "missing", "port": 1},
    )
    found = {(e.reason, e.field) for e in validate_template(tpl)}
    assert found >= {
        ("InvalidPattern", "spec.variables[0].pattern"),
        ("UnknownReference", "spec.pvcs[0].spec.a"),
        ("UnknownVariable", "spec.pvcs[0].when[0].variable"),
        ("UnknownReference", "spec.pods[0].spec.containers[0].image"),
        ("InvalidEndpoint", "spec.endpoint.pod"),
    }
    for error in validate_template(tpl):
        assert error.field in error.message


def test_validate_uses_sample_values_for_required_variables() -> None:
    tpl = template(variables=[{"name": "size", "required": True, "enum": ["small", "large"]}],
                   pods=[pod("main", when=[{"variable": "size", "operator": "In", "values": ["small"]}])])
    assert validate_template(tpl) == []  # the sample is the first enum entry, so the endpoint pod exists
    tpl["spec"]["variables"][0]["enum"] = ["large", "small"]
    assert [(e.reason, e.field) for e in validate_template(tpl)] == [("InvalidEndpoint", "spec.endpoint.pod")]


def test_validate_ignores_instance_errors_of_the_sample() -> None:
    # "sample" is fine; a pattern that it does not match is not the template's fault.
    tpl = template(variables=[{"name": "user", "required": True, "pattern": "[0-9]+"}],
                   pvcs=[{"name": "home", "metadata": {"name": "HOME-{{ user }}"}, "spec": {}}])
    assert validate_template(tpl) == []


def test_validate_malformed_structure() -> None:
    assert [e.reason for e in validate_template({"spec": None})] == ["InvalidTemplate"]
    tpl = template(pods=[pod("main"), pod("main"), {"name": "Bad_Name"}, "x"])  # type: ignore[list-item]
    found = {(e.reason, e.field) for e in validate_template(tpl)}
    assert ("DuplicateName", "spec.pods[1].name") in found
    assert ("InvalidTemplate", "spec.pods[2].name") in found
    assert ("InvalidTemplate", "spec.pods[3]") in found


# ---------------------------------------------------------------- properties

INJECTION_TEMPLATE = template(
    variables=[{"name": "v"}, {"name": "w", "default": "{{ v }}"}],
    pods=[{
        "name": "main",
        "metadata": {"labels": {"user": "{{ v }}"}, "annotations": {"a": "x{{v}}y{{ w }}"}},
        "spec": {"containers": [{"name": "c", "image": "{{ v }}", "args": ["{{ v }}", "--x={{ v }}"],
                                 "env": [{"name": "V", "value": "{{v}}"}], "ports": [{"containerPort": 1}]}]},
    }],
    resources=[{"name": "cm", "apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "{{ v }}", "l": "{{ w }}"}}],
)


def shape(value: Any) -> Any:
    """``value`` with every string leaf replaced by a marker: only structure and types remain."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, str):
        return "<str>"
    return value


@given(st.text(max_size=300))
@settings(max_examples=200)
def test_values_never_change_the_structure(value: str) -> None:
    assume("$(" not in value)  # refused whatever the template (test_variables: the kubelet would expand it)
    plain = render(INJECTION_TEMPLATE, instance(variables={"v": "plain"}))
    hostile = render(INJECTION_TEMPLATE, instance(variables={"v": value}))
    assert [shape(c.manifest) for c in hostile.children] == [shape(c.manifest) for c in plain.children]
    assert container(hostile)["image"] == value
    assert hostile.children[0].manifest["data"] == {"k": value, "l": "{{ v }}"}


@given(st.text(max_size=100), st.text(max_size=100))
def test_rendering_is_deterministic(v: str, w: str) -> None:
    assume("$(" not in v and "$(" not in w)
    inst = instance(variables={"v": v, "w": w})
    first = render(INJECTION_TEMPLATE, inst)
    assert render(freeze(INJECTION_TEMPLATE), freeze(inst)) == first
    assert render(INJECTION_TEMPLATE, inst) == first


ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def dns_labels(max_size: int) -> st.SearchStrategy[str]:
    ends = st.sampled_from(ALNUM)
    middle = st.text(alphabet=ALNUM + "-", max_size=max_size - 2)
    single = ends
    longer = st.builds(lambda a, m, b: a + m + b, ends, middle, ends)
    return st.one_of(single, longer)


@given(dns_labels(63), st.lists(dns_labels(40), min_size=1, max_size=4, unique=True))
@settings(max_examples=300)
def test_child_names_are_always_dns_labels(instance_name: str, logicals: list[str]) -> None:
    assert api.DNS_LABEL.fullmatch(instance_name)
    assert len(instance_name) <= 63
    tpl = template(
        pods=[pod(logicals[0])],
        pvcs=[{"name": n, "spec": {}} for n in logicals],
        resources=[{"name": n, "apiVersion": "v1", "kind": "ConfigMap", "data": {}} for n in logicals],
        endpoint={"pod": logicals[0], "port": 80},
    )
    rendered = render(tpl, instance(name=instance_name))
    (endpoint_pod,) = (c for c in rendered.children if c.group == "pods")
    secret = endpoint_pod.manifest["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
    assert secret == api.env_secret_name(instance_name, NONCE)
    names = [c.name for c in rendered.children]
    for name in names:
        assert len(name) <= 63
        assert api.DNS_LABEL.fullmatch(name), name


# ---------------------------------------------------------------- validation renders every entry, for a probe


def test_probe_names_are_not_the_old_fixed_ones() -> None:
    tpl = sample_template()
    tpl["metadata"].update(namespace="hub", uid="5d1d0b4e-0000-4000-8000-00000000000a")
    probe = probe_instance(tpl)
    assert probe["metadata"]["namespace"] == "hub"
    assert probe["metadata"]["name"].startswith("jnt-probe-")
    assert probe["metadata"]["name"] != "validation-probe"
    assert probe["spec"]["variables"]["username"].startswith("sample")
    assert probe["spec"]["variables"]["username"] != "sample"
    assert set(probe["spec"]["variables"]) == {"username"}  # only required variables without a default or enum
    assert probe_instance(copy.deepcopy(tpl)) == probe  # deterministic per template
    names = {c.name for c in validate(tpl).children}
    assert names.isdisjoint({"home-sample", "validation-probe-notebook"})
    assert names == {f"home-{probe['spec']['variables']['username']}", f"{probe['metadata']['name']}-notebook"}


def test_validation_renders_children_excluded_by_when() -> None:
    debug = pod("debug", when=[{"variable": "mode", "operator": "In", "values": ["debug"]}])
    debug["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    tpl = template(variables=[{"name": "mode", "default": "normal", "enum": ["normal", "debug"]}],
                   pods=[pod("main"), debug])
    assert [c.logical_name for c in render(tpl, instance()).children] == ["main"]
    validation = validate(tpl)
    assert validation.errors == ()
    assert [c.logical_name for c in validation.children] == ["main", "debug"]
    # Only the endpoint container gets the env Secret, as in a real render.
    assert "envFrom" not in validation.children[1].manifest["spec"]["containers"][0]


def test_validation_reports_template_errors_in_excluded_entries() -> None:
    tpl = template(variables=[{"name": "mode", "default": "normal"}],
                   pvcs=[{"name": "scratch", "when": [{"variable": "mode", "operator": "In", "values": ["big"]}],
                          "spec": "oops"}])
    assert render(tpl, instance()).children  # excluded: a spawn with the defaults never sees it
    assert [(e.reason, e.field) for e in validate_template(tpl)] == [("InvalidTemplate", "spec.pvcs[0].spec")]


def test_endpoint_excluded_by_when_is_still_found_when_every_entry_is_rendered() -> None:
    tpl = template(variables=[{"name": "v", "default": "off", "enum": ["off", "on"]}],
                   pods=[pod("main", when=[{"variable": "v", "operator": "NotIn", "values": ["off", "on"]}])])
    validation = validate(tpl)
    assert [(e.reason, e.field) for e in validation.errors] == [("InvalidEndpoint", "spec.endpoint.pod")]
    assert validation.children == ()


def _variant(logical: str, operator: str, values: list[str], name: str = "server") -> dict[str, Any]:
    return pod(logical, when=[{"variable": "flavour", "operator": operator, "values": values}],
               metadata={"name": name})


@pytest.mark.parametrize(("enum", "a", "b", "duplicate"), [
    (None, ("In", ["gpu"]), ("NotIn", ["gpu"]), False),          # one or the other
    (None, ("In", ["gpu"]), ("In", ["cpu"]), False),             # a value is never two
    (None, ("In", ["gpu", "tpu"]), ("In", ["tpu"]), True),       # tpu includes both
    (None, ("NotIn", ["gpu"]), ("NotIn", ["cpu"]), True),        # any third value includes both
    (["gpu", "cpu"], ("NotIn", ["gpu"]), ("NotIn", ["cpu"]), False),  # ... unless the enum has none
    (["gpu", "cpu", "tpu"], ("NotIn", ["gpu"]), ("NotIn", ["cpu"]), True),
])
def test_duplicate_names_only_for_entries_that_can_render_together(
        enum: list[str] | None, a: tuple[str, list[str]], b: tuple[str, list[str]], duplicate: bool) -> None:
    declaration: dict[str, Any] = {"name": "flavour", "default": "gpu"}
    if enum is not None:
        declaration["enum"] = enum
    tpl = template(variables=[declaration], endpoint={"pod": "one", "port": 8888},
                   pods=[_variant("one", *a), _variant("two", *b)])
    tpl["spec"]["pods"][0]["when"] = [{"variable": "flavour", "operator": a[0], "values": a[1]}]
    tpl["spec"]["variables"][0]["default"] = next(v for v in ["gpu", "cpu", "tpu", "other"]
                                                  if (v in a[1]) == (a[0] == "In") and (enum is None or v in enum))
    found = {(e.reason, e.field) for e in validate_template(tpl)}
    assert (("DuplicateName", "spec.pods[1].metadata.name") in found) is duplicate, found


def test_duplicate_names_between_entries_without_when_still_found() -> None:
    tpl = template(pvcs=[{"name": "a", "metadata": {"name": "same"}, "spec": {}},
                         {"name": "b", "metadata": {"name": "same"}, "spec": {}}])
    assert ("DuplicateName", "spec.pvcs[1].metadata.name") in {(e.reason, e.field) for e in validate_template(tpl)}


def test_the_environment_secret_is_wired_only_when_the_instance_names_it() -> None:
    """A Secret named after an instance could be planted by anyone who can create Secrets: only the
    one the spawner named by its nonce is wired in, and as required (the operator owns it first)."""
    plain = sample_instance()
    del plain["metadata"]["annotations"]
    assert "envFrom" not in container(render(sample_template(), plain), "notebook")
    for bad in ("../x", "0123", "0123456789ABCDEF", "0123456789abcdef0"):
        odd = sample_instance()
        odd["metadata"]["annotations"] = {api.ANNOTATION_ENV_SECRET: bad}
        assert "envFrom" not in container(render(sample_template(), odd), "notebook"), bad
    assert api.env_secret_of(sample_instance()) == f"jupyter-alice-env-{NONCE}"
