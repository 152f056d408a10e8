from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.machinery.multistore import CompositeStore
from jupyternetes_operator.machinery.store import Store
from jupyternetes_operator.reconcile.resolve import Resolution, TemplateRef, Usage, resolve_template, usage_of

SHARED = "jupyternetes"


def template(namespace: str, name: str = "lab", allowed: Sequence[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"pods": [], "endpoint": {"pod": "main", "port": 8888}}
    if allowed is not None:
        spec["instanceNamespaces"] = list(allowed)
    return {"apiVersion": api.API_VERSION, "kind": api.TEMPLATE_KIND,
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}, "spec": spec}


def store(*templates: dict[str, Any]) -> Store:
    the_store = Store()
    for obj in templates:
        the_store.add(obj)
    return the_store


def found_in(resolution: Resolution) -> str:
    assert resolution.template is not None, resolution
    assert (resolution.reason, resolution.message) == ("", "")
    return str(resolution.template["metadata"]["namespace"])


# ---------------------------------------------------------------- TemplateRef


def test_ref_of_an_instance_naming_only_a_template() -> None:
    ref = TemplateRef.of({"spec": {"template": {"name": "lab"}}})
    assert ref == TemplateRef("lab", None)
    assert str(ref) == "lab"


def test_ref_of_an_instance_naming_a_namespace() -> None:
    ref = TemplateRef.of({"spec": {"template": {"name": "lab", "namespace": "shared"}}})
    assert ref == TemplateRef("lab", "shared")
    assert str(ref) == "shared/lab"


@pytest.mark.parametrize("instance", [{}, {"spec": None}, {"spec": {}}, {"spec": {"template": None}}])
def test_ref_of_an_instance_without_a_template_is_empty(instance: dict[str, Any]) -> None:
    assert TemplateRef.of(instance) == TemplateRef("", None)


# ---------------------------------------------------------------- lookup order


def test_template_in_the_instance_namespace_is_used() -> None:
    resolution = resolve_template(TemplateRef("lab", None), "team-a", store(template("team-a")), SHARED)
    assert found_in(resolution) == "team-a"


def test_instance_namespace_is_preferred_over_the_shared_one() -> None:
    templates = store(template(SHARED), template("team-a"))
    assert found_in(resolve_template(TemplateRef("lab", None), "team-a", templates, SHARED)) == "team-a"


def test_shared_namespace_is_the_fallback_and_needs_no_permission() -> None:
    templates = store(template(SHARED, allowed=[]), template("team-b"))
    assert found_in(resolve_template(TemplateRef("lab", None), "team-a", templates, SHARED)) == SHARED


def test_without_a_shared_namespace_only_the_instance_namespace_is_searched() -> None:
    templates = store(template("team-b", allowed=["*"]))
    resolution = resolve_template(TemplateRef("lab", None), "team-a", templates, None)
    assert resolution == Resolution(None, "TemplateNotFound", "template 'lab' not found in namespace 'team-a'")


def test_not_found_names_every_namespace_searched() -> None:
    templates = store(template("team-a", name="other"), template(SHARED, name="other"))
    resolution = resolve_template(TemplateRef("lab", None), "team-a", templates, SHARED)
    assert resolution == Resolution(
        None, "TemplateNotFound", f"template 'lab' not found in namespace 'team-a' or '{SHARED}'")


def test_explicit_namespace_is_the_only_place_searched() -> None:
    templates = store(template("team-a"), template(SHARED))
    resolution = resolve_template(TemplateRef("lab", "elsewhere"), "team-a", templates, SHARED)
    assert resolution == Resolution(None, "TemplateNotFound", "template 'lab' not found in namespace 'elsewhere'")


def test_explicit_namespace_wins_over_the_instance_namespace() -> None:
    templates = store(template("team-a"), template(SHARED))
    assert found_in(resolve_template(TemplateRef("lab", SHARED), "team-a", templates, SHARED)) == SHARED


def test_explicit_own_namespace_is_allowed_without_listing() -> None:
    templates = store(template("team-a", allowed=[]))
    assert found_in(resolve_template(TemplateRef("lab", "team-a"), "team-a", templates, SHARED)) == "team-a"


# ---------------------------------------------------------------- permission


@pytest.mark.parametrize("allowed", [["team-a"], ["team-x", "team-a"], ["*"]])
def test_template_in_another_namespace_listing_the_instance_namespace_is_allowed(allowed: list[str]) -> None:
    templates = store(template("team-b", allowed=allowed))
    assert found_in(resolve_template(TemplateRef("lab", "team-b"), "team-a", templates, SHARED)) == "team-b"


@pytest.mark.parametrize("allowed", [None, [], ["team-x"], ["team-a-dev"], ["team"]])
def test_template_in_another_namespace_not_listing_the_instance_namespace_is_refused(
    allowed: list[str] | None,
) -> None:
    templates = store(template("team-b", allowed=allowed))
    resolution = resolve_template(TemplateRef("lab", "team-b"), "team-a", templates, SHARED)
    assert resolution == Resolution(
        None, "TemplateNotAllowed",
        "template team-b/lab does not list namespace 'team-a' in spec.instanceNamespaces")


def test_explicit_shared_namespace_is_allowed_without_listing() -> None:
    templates = store(template(SHARED, allowed=["team-x"]))
    assert found_in(resolve_template(TemplateRef("lab", SHARED), "team-a", templates, SHARED)) == SHARED


def test_a_namespace_is_not_shared_without_an_operator_setting() -> None:
    templates = store(template(SHARED, allowed=[]))
    resolution = resolve_template(TemplateRef("lab", SHARED), "team-a", templates, None)
    assert resolution.template is None
    assert resolution.reason == "TemplateNotAllowed"


def test_resolution_returns_the_cached_object() -> None:
    templates = store(template("team-a"))
    resolution = resolve_template(TemplateRef("lab", None), "team-a", templates, SHARED)
    assert resolution.template is templates.get_by_name("team-a", "lab")


# ---------------------------------------------------------------- per-namespace caches


def test_composite_store_of_watched_namespaces() -> None:
    templates = CompositeStore({"team-a": store(template("team-a", name="own")),
                                SHARED: store(template(SHARED)),
                                "team-b": store(template("team-b", name="guest", allowed=["team-a"]))})
    assert found_in(resolve_template(TemplateRef("own", None), "team-a", templates, SHARED)) == "team-a"
    assert found_in(resolve_template(TemplateRef("lab", None), "team-a", templates, SHARED)) == SHARED
    assert found_in(resolve_template(TemplateRef("guest", "team-b"), "team-a", templates, SHARED)) == "team-b"
    assert resolve_template(TemplateRef("guest", "team-b"), "team-c", templates, SHARED).reason == "TemplateNotAllowed"
    assert resolve_template(TemplateRef("lab", "unwatched"), "team-a", templates, SHARED).reason == "TemplateNotFound"


def test_composite_store_over_all_namespaces() -> None:
    templates = CompositeStore({None: store(template("team-a"), template(SHARED, name="base"))})
    assert found_in(resolve_template(TemplateRef("lab", None), "team-a", templates, SHARED)) == "team-a"
    assert found_in(resolve_template(TemplateRef("base", None), "team-a", templates, SHARED)) == SHARED


# ---------------------------------------------------------------- usage_of


def instance(namespace: str, ref_namespace: str | None = None, index: int = 0,
             running: int | None = None) -> dict[str, Any]:
    ref = {"name": "lab", **({"namespace": ref_namespace} if ref_namespace else {})}
    return {"metadata": {"name": f"i{index}", "namespace": namespace}, "spec": {"template": ref},
            **({"status": {"templateGeneration": running}} if running is not None else {})}


def test_usage_counts_what_resolving_each_instance_would() -> None:
    templates = store(template(SHARED), template("team-a"), template("team-b", allowed=["team-c"]))
    naming = [instance(ns, ref_ns, i) for i, (ns, ref_ns) in enumerate(
        [("team-a", None)] * 3 + [("team-b", None)] * 2 + [("team-c", None)] * 4 + [("team-c", "team-b")] * 5
        + [("team-d", "team-b")] * 6 + [("team-d", None)] * 7 + [("team-a", SHARED)] * 8)]
    for the_template, expected in ((template(SHARED), 4 + 7 + 8), (template("team-a"), 3),
                                   (template("team-b", allowed=["team-c"]), 2 + 5)):
        one_by_one = sum(
            1 for i in naming
            if (r := resolve_template(TemplateRef.of(i), i["metadata"]["namespace"], templates, SHARED).template)
            is not None and r["metadata"]["namespace"] == the_template["metadata"]["namespace"])
        assert usage_of(the_template, naming, templates, SHARED).instances == one_by_one == expected


def test_usage_counts_the_servers_on_an_older_generation() -> None:
    lab = {**template("team-a"), "metadata": {**template("team-a")["metadata"], "generation": 3}}
    templates = store(lab, template("team-b"))
    naming = [instance("team-a", None, 0, running=3), instance("team-a", None, 1, running=2),
              instance("team-a", None, 2, running=1), instance("team-a", None, 3),  # not provisioned yet
              instance("team-b", None, 4, running=1)]  # another template's: not counted
    assert usage_of(lab, naming, templates, SHARED) == Usage(instances=4, outdated=2)
