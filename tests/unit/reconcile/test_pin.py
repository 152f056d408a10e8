from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.reconcile.pin import pin_to_recorded
from jupyternetes_operator.reconcile.render import Rendered, render

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
UID = "6f1c1a52-0000-4000-8000-000000000001"


def template(generation: int) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / "template-jupyterlab.yaml").read_text())
    data["metadata"].update(namespace="hub", generation=generation)
    return data


def instance() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / "instance-alice.yaml").read_text())
    data["metadata"].update(namespace="hub", uid=UID)
    return data


def edited(generation: int) -> dict[str, Any]:
    """The sample after an edit: a ConfigMap added, the claim renamed."""
    data = template(generation)
    data["spec"]["resources"] = [{"name": "settings", "apiVersion": "v1", "kind": "ConfigMap",
                                  "data": {"user": "{{ username }}"}}]
    data["spec"]["pvcs"][0]["metadata"]["name"] = "work-{{ username }}"
    return data


def recorded(generation: int | None, rendered: Rendered | None = None, **extra: Any) -> dict[str, Any]:
    """A status as the reconciler writes it after observing ``rendered``'s children."""
    status: dict[str, Any] = {"phase": "Running", **extra}
    if generation is not None:
        status["templateGeneration"] = generation
    if rendered is not None:
        status["children"] = [{"logicalName": c.logical_name, "apiVersion": c.api_version, "kind": c.kind,
                               "name": c.name, "state": "Ready", "message": ""} for c in rendered.children]
    return status


def names(rendered: Rendered) -> list[tuple[str, str]]:
    return [(c.kind, c.name) for c in rendered.children]


def test_first_render_is_not_pinned() -> None:
    rendered = render(template(3), instance())
    assert pin_to_recorded(rendered, {}) is rendered


def test_same_generation_is_not_pinned() -> None:
    rendered = render(template(3), instance())
    assert pin_to_recorded(rendered, recorded(3, rendered)) is rendered


def test_newer_generation_without_recorded_children_is_not_pinned() -> None:
    rendered = render(edited(4), instance())
    assert pin_to_recorded(rendered, recorded(3)) is rendered
    assert pin_to_recorded(rendered, recorded(3, children=[])) is rendered


def test_newer_generation_keeps_only_the_recorded_children_and_generation() -> None:
    before = render(template(3), instance())
    after = render(edited(4), instance())
    assert names(after) == [("PersistentVolumeClaim", "work-alice"), ("ConfigMap", "jupyter-alice-settings"),
                            ("Pod", "jupyter-alice-notebook")]

    pinned = pin_to_recorded(after, recorded(3, before))

    # The recorded claim is still observed though the edit renamed it; the new ConfigMap is not made.
    assert names(pinned) == [("PersistentVolumeClaim", "home-alice"), ("Pod", "jupyter-alice-notebook")]
    assert pinned.children[0].manifest["metadata"] == {"name": "home-alice", "namespace": "hub"}
    assert pinned.children[1] == after.children[2]
    assert pinned.template_generation == 3
    assert pinned.endpoint == after.endpoint
    assert pinned.variables == after.variables
    assert after.template_generation == 4  # the input is left as it was
    assert len(after.children) == 3


def test_pinning_works_on_a_status_read_from_the_cache() -> None:
    before = render(template(3), instance())
    after = render(edited(4), instance())
    pinned = pin_to_recorded(after, freeze(recorded(3, before)))
    assert names(pinned) == [("PersistentVolumeClaim", "home-alice"), ("Pod", "jupyter-alice-notebook")]
    assert pinned.template_generation == 3


def test_older_render_than_recorded_is_pinned_too() -> None:
    """A stale template cache must not switch a provisioned instance either."""
    before = render(edited(5), instance())
    after = render(template(4), instance())
    pinned = pin_to_recorded(after, recorded(5, before))
    assert names(pinned) == [("PersistentVolumeClaim", "work-alice"), ("ConfigMap", "jupyter-alice-settings"),
                             ("Pod", "jupyter-alice-notebook")]
    assert pinned.children[2] == after.children[1]  # the pod the old render knows, as rendered
    assert pinned.template_generation == 5


def test_recorded_children_are_matched_by_kind_and_name() -> None:
    after = render(template(4), instance())
    status = recorded(3, children=[
        {"kind": "Pod", "name": "home-alice"},  # right name, wrong kind
        {"kind": "PersistentVolumeClaim", "name": "jupyter-alice-notebook"},  # and the other way round
    ])
    pinned = pin_to_recorded(after, status)
    # Neither matches a rendered child, so both are observed only as recorded (bare name and namespace).
    assert names(pinned) == [("Pod", "home-alice"), ("PersistentVolumeClaim", "jupyter-alice-notebook")]
    assert all(set(c.manifest) == {"metadata"} for c in pinned.children)


def test_missing_recorded_children_are_kept() -> None:
    """A child recorded as not created yet still belongs to the pinned set (the plan creates it)."""
    before = render(template(3), instance())
    status = recorded(3, before)
    status["children"][1]["state"] = "Missing"
    after = render(template(4), instance())
    assert names(pin_to_recorded(after, status)) == names(after)


def test_renamed_endpoint_pod_stays_observable_after_pinning() -> None:
    before = render(template(3), instance())
    renamed = copy.deepcopy(template(4))
    renamed["spec"]["pods"][0]["metadata"]["name"] = "{{ instance.name }}-server"
    after = render(renamed, instance())
    pinned = pin_to_recorded(after, recorded(3, before))
    assert pinned.endpoint.pod in {c.name for c in pinned.children if c.kind == "Pod"}
