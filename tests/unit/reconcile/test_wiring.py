"""The domain's map functions: which templates an instance wakes (the lookup order resolve_template
follows), which instances a template wakes and on which updates, which instance a retained claim
wakes."""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.machinery.multistore import CompositeStore
from jupyternetes_operator.machinery.store import ObjectKey, Store
from jupyternetes_operator.reconcile.resolve import (
    INSTANCES_BY_TEMPLATE,
    TemplateRef,
    instances_by_template,
    resolve_template,
    template_namespaces,
)
from jupyternetes_operator.reconcile.wiring import (
    instance_of_claim,
    instances_naming,
    templates_named_by,
    verdict_changed,
)

SHARED = "shared"


def instance(namespace: str, name: str, template: str, template_namespace: str | None = None) -> dict[str, Any]:
    ref = {"name": template} | ({"namespace": template_namespace} if template_namespace else {})
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"template": ref}}


def template(namespace: str, name: str = "lab", *, generation: int = 1, valid: str | None = None,
             observed: int = 1, instances: int = 0, allowed: tuple[str, ...] = (),
             policy: str = "p1") -> dict[str, Any]:
    status: dict[str, Any] = {"instances": instances, "policy": policy}
    if valid is not None:
        status["conditions"] = [{"type": "Ready", "status": "True"},
                                {"type": "Valid", "status": valid, "observedGeneration": observed}]
    return {"metadata": {"name": name, "namespace": namespace, "generation": generation},
            "spec": {"instanceNamespaces": list(allowed)}, "status": status}


# ---------------------------------------------------------------- the namespace rule

def test_template_namespaces() -> None:
    assert template_namespaces(TemplateRef("lab", None), "team-a", SHARED) == ["team-a", SHARED]
    assert template_namespaces(TemplateRef("lab", None), "team-a", None) == ["team-a"]
    assert template_namespaces(TemplateRef("lab", None), SHARED, SHARED) == [SHARED]
    assert template_namespaces(TemplateRef("lab", "team-b"), "team-a", SHARED) == ["team-b"]
    assert template_namespaces(TemplateRef("lab", SHARED), "team-a", None) == [SHARED]


# ---------------------------------------------------------------- instance -> templates

def test_an_instance_wakes_its_template_where_it_may_be_found() -> None:
    assert templates_named_by(instance("team-a", "i", "lab"), shared_namespace=SHARED) == [
        ObjectKey("team-a", "lab"), ObjectKey(SHARED, "lab")]
    assert templates_named_by(instance("team-a", "i", "lab"), shared_namespace=None) == [ObjectKey("team-a", "lab")]
    assert templates_named_by(instance("team-a", "i", "lab", "team-b"), shared_namespace=SHARED) == [
        ObjectKey("team-b", "lab")]
    assert templates_named_by(instance(SHARED, "i", "lab"), shared_namespace=SHARED) == [ObjectKey(SHARED, "lab")]


def test_an_instance_naming_no_template_wakes_none() -> None:
    assert templates_named_by({"metadata": {"name": "i", "namespace": "team-a"}}, shared_namespace=SHARED) == []


@pytest.mark.parametrize(("own", "shared", "other", "ref_namespace", "instance_namespace"), [
    *itertools.product((True, False), (True, False), (True, False), (None, "team-b", SHARED), ("team-a", SHARED)),
])
def test_the_template_an_instance_resolves_to_is_one_it_wakes(own: bool, shared: bool, other: bool,
                                                             ref_namespace: str | None,
                                                             instance_namespace: str) -> None:
    templates = Store()
    for present, namespace in ((own, instance_namespace), (shared, SHARED), (other, "team-b")):
        if present and templates.get(ObjectKey(namespace, "lab")) is None:
            templates.add(template(namespace, allowed=("*",)))
    obj = instance(instance_namespace, "i", "lab", ref_namespace)
    resolved = resolve_template(TemplateRef.of(obj), instance_namespace, CompositeStore({None: templates}),
                                SHARED).template
    if resolved is not None:
        assert ObjectKey(resolved["metadata"]["namespace"], "lab") in templates_named_by(obj, shared_namespace=SHARED)


# ---------------------------------------------------------------- template -> instances

def by_template(*objs: dict[str, Any]) -> CompositeStore:
    """Instances indexed as the manager indexes them, with :data:`SHARED` the shared template namespace."""
    store = Store({INSTANCES_BY_TEMPLATE: partial(instances_by_template, shared_namespace=SHARED)})
    for obj in objs:
        store.add(obj)
    return CompositeStore({None: store})


def test_a_template_wakes_every_instance_that_may_resolve_to_it_in_any_namespace() -> None:
    store = by_template(instance("team-a", "i1", "lab"), instance("team-b", "i2", "lab", SHARED),
                        instance("team-a", "i3", "other"), instance("shared", "i4", "lab"))
    woken = instances_naming(template(SHARED), instances=store)
    assert sorted(woken) == [ObjectKey("shared", "i4"), ObjectKey("team-a", "i1"), ObjectKey("team-b", "i2")]
    assert instances_naming(template(SHARED, "unused"), instances=store) == []


def test_a_template_does_not_wake_the_instances_of_other_namespaces_using_the_same_name() -> None:
    """Issue 16: 1,000 namespaces, each with its own ``jupyterlab``. A template's verdict, and its
    count, concern the instances that may resolve to it, not every instance naming ``jupyterlab``."""
    store = by_template(*(instance(f"team-{n}", f"i{n}-{k}", "lab") for n in range(50) for k in range(3)),
                        instance("team-x", "cross", "lab", "team-7"))
    woken = instances_naming(template("team-7"), instances=store)
    assert sorted(woken) == [ObjectKey("team-7", f"i7-{k}") for k in range(3)] + [ObjectKey("team-x", "cross")]


@pytest.mark.parametrize(("ref_namespace", "instance_namespace"),
                         [(None, "team-a"), (None, SHARED), (SHARED, "team-a"), ("team-b", "team-a")])
def test_the_index_files_an_instance_under_every_template_it_may_resolve_to(
        ref_namespace: str | None, instance_namespace: str) -> None:
    obj = instance(instance_namespace, "i", "lab", ref_namespace)
    expected = template_namespaces(TemplateRef.of(obj), instance_namespace, SHARED)
    assert instances_by_template(obj, SHARED) == [f"{n}/lab" for n in expected]


def test_instances_wake_on_a_new_generation_or_verdict_only() -> None:
    before = template("t", valid="True")
    assert not verdict_changed(before, template("t", valid="True", instances=7))  # the count every spawn changes
    assert verdict_changed(before, template("t", generation=2, valid="True"))
    assert verdict_changed(before, template("t", valid="False"))
    assert verdict_changed(before, template("t", valid="True", observed=2))
    assert verdict_changed(template("t"), before)  # the first verdict
    # The same verdict reached again under other policy settings: instances waiting for a verdict
    # under the operator's own settings must hear of it.
    assert verdict_changed(before, template("t", valid="True", policy="p2"))


# ---------------------------------------------------------------- claim -> instance

def test_a_retained_claim_wakes_the_instance_its_label_names() -> None:
    claim = {"metadata": {"name": "home", "namespace": "team-a", "labels": {api.LABEL_INSTANCE: "i1"}}}
    assert instance_of_claim(claim) == [ObjectKey("team-a", "i1")]
    assert instance_of_claim({"metadata": {"name": "home", "namespace": "team-a", "labels": {}}}) == []
    assert instance_of_claim({"metadata": {"name": "home", "namespace": "team-a"}}) == []
