from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.api import LABEL_INSTANCE, LABEL_RETAINED
from jupyternetes_operator.machinery.store import Store, freeze
from jupyternetes_operator.reconcile.plan import Conflict, Holder, InUse, plan
from jupyternetes_operator.reconcile.render import Child, Endpoint, Rendered, render

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
UID = "6f1c1a52-0000-4000-8000-000000000001"
OTHER_UID = "6f1c1a52-0000-4000-8000-000000000002"
NAMESPACE = "hub"


def sample() -> Rendered:
    """The sample template rendered for alice: PVC ``home-alice`` (retained), Pod ``jupyter-alice-notebook``."""
    template = yaml.safe_load((EXAMPLES / "template-jupyterlab.yaml").read_text())
    instance = yaml.safe_load((EXAMPLES / "instance-alice.yaml").read_text())
    instance["metadata"].update(namespace=NAMESPACE, uid=UID)
    return render(template, instance)


def child(kind: str = "ConfigMap", name: str = "cm", *, retain: bool = False) -> Child:
    manifest = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": NAMESPACE}}
    group = {"Pod": "pods", "PersistentVolumeClaim": "pvcs"}.get(kind, "resources")
    return Child(group, name, "v1", kind, name, manifest, retain)


def rendered(*children: Child) -> Rendered:
    return Rendered(children=children, variables={}, endpoint=Endpoint("p", None, 8888), template_generation=1)


def existing(name: str, *, controller: str | None = None, owner: str | None = None,
             labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An object as the cache holds it; ``owner`` is a non-controller ownerReference."""
    refs = []
    if controller is not None:
        refs.append({"apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance", "name": "x",
                     "uid": controller, "controller": True})
    if owner is not None:
        refs.append({"apiVersion": "v1", "kind": "ConfigMap", "name": "y", "uid": owner})
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": dict(labels or {})}
    if refs:
        metadata["ownerReferences"] = refs
    return {"metadata": metadata}


def retained(name: str, instance: str | None, **extra: Any) -> dict[str, Any]:
    labels = {LABEL_RETAINED: "true"}
    if instance is not None:
        labels[LABEL_INSTANCE] = instance
    return existing(name, labels=labels, **extra)


def store_lookup(*objects: Mapping[str, Any]) -> Any:
    """A lookup backed by a real cache, keyed like the instance reconciler's."""
    store = Store()
    for obj in objects:
        store.add(obj)
    return lambda c: store.get_by_name(c.manifest["metadata"]["namespace"], c.name)


def test_nothing_in_the_cache_creates_every_child_in_order() -> None:
    the_plan = plan(sample().children, "jupyter-alice", UID, lambda _: None)
    assert [(c.kind, c.name) for c in the_plan.create] == [
        ("PersistentVolumeClaim", "home-alice"), ("Pod", "jupyter-alice-notebook"),
    ]
    assert the_plan.adopt == ()
    assert the_plan.conflicts == ()
    assert [(c.name, obj) for c, obj in the_plan.observed] == [("home-alice", None), ("jupyter-alice-notebook", None)]


def test_children_controlled_by_this_instance_are_kept() -> None:
    pvc = existing("home-alice", controller=UID)
    pod = existing("jupyter-alice-notebook", controller=UID)
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(pvc, pod))
    assert (the_plan.create, the_plan.adopt, the_plan.conflicts) == ((), (), ())
    assert [(c.name, obj) for c, obj in the_plan.observed] == [
        ("home-alice", freeze(pvc)), ("jupyter-alice-notebook", freeze(pod)),
    ]


def test_the_rendered_children_themselves_are_kept() -> None:
    """What the operator creates from a render must plan as 'keep' once the cache holds it."""
    the_rendered = sample()
    pod = copy.deepcopy(the_rendered.children[1].manifest)
    the_plan = plan(the_rendered.children, "jupyter-alice", UID, store_lookup(pod))
    assert [c.name for c in the_plan.create] == ["home-alice"]
    assert the_plan.conflicts == ()


def test_retained_claim_of_another_instance_is_adopted() -> None:
    claim = retained("home-alice", "jupyter-alice-old")
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim))
    assert [(c.kind, c.name) for c, _ in the_plan.adopt] == [("PersistentVolumeClaim", "home-alice")]
    assert [c.name for c in the_plan.create] == ["jupyter-alice-notebook"]
    assert the_plan.conflicts == ()


def test_retained_claim_without_an_instance_label_is_adopted() -> None:
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(retained("home-alice", None)))
    assert [c.name for c, _ in the_plan.adopt] == ["home-alice"]


def test_retained_claim_already_labelled_for_this_instance_is_kept() -> None:
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(retained("home-alice", "jupyter-alice")))
    assert the_plan.adopt == ()
    assert the_plan.conflicts == ()
    assert [c.name for c in the_plan.create] == ["jupyter-alice-notebook"]


def test_the_rendered_retained_claim_is_kept_once_created() -> None:
    the_rendered = sample()
    pvc = copy.deepcopy(the_rendered.children[0].manifest)
    the_plan = plan(the_rendered.children, "jupyter-alice", UID, store_lookup(pvc))
    assert the_plan.adopt == ()
    assert the_plan.conflicts == ()


def test_a_retained_claim_held_by_a_live_instance_is_never_adopted() -> None:
    """One home is never mounted by two servers: the holder still exists, so this one may not take it."""
    claim = retained("home-alice", "jupyter-alice--lab")
    holders = {"jupyter-alice--lab": Holder.LIVE}
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim),
                    lambda n: holders.get(n, Holder.ABSENT))
    assert the_plan.adopt == ()
    assert the_plan.in_use == (InUse(the_plan.observed[0][0], "jupyter-alice--lab", Holder.LIVE),)
    assert not the_plan.in_use[0].waits
    assert "in use by instance jupyter-alice--lab" in the_plan.in_use[0].message


def test_a_retained_claim_held_by_an_instance_being_deleted_waits() -> None:
    claim = retained("home-alice", "jupyter-alice--lab")
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim), lambda _: Holder.TERMINATING)
    assert the_plan.adopt == ()
    assert [(u.holder, u.waits) for u in the_plan.in_use] == [("jupyter-alice--lab", True)]
    assert "being deleted" in the_plan.in_use[0].message


def test_a_claim_a_prepare_request_still_prepares_waits_even_unsigned() -> None:
    """The request signs it once it binds: the server waits for that, and neither adopts it nor fails it
    as untrusted meanwhile."""
    claim = retained("home-alice", "alice-prep")
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim), lambda _: Holder.PREPARING,
                    trusted=lambda _: False)
    assert the_plan.adopt == ()
    assert the_plan.untrusted == ()
    assert [(u.holder, u.waits) for u in the_plan.in_use] == [("alice-prep", True)]
    assert "being prepared by prepare request alice-prep" in the_plan.in_use[0].message


def test_a_prepare_request_meets_its_own_claim_unsigned_as_untrusted_unless_it_made_it() -> None:
    """Its own name on the label is no excuse: the trust check comes first, as for any server."""
    claim = retained("home-alice", "alice-prep")
    the_plan = plan(sample().children, "alice-prep", UID, store_lookup(claim), lambda _: Holder.PREPARING,
                    trusted=lambda _: False)
    assert the_plan.in_use == ()
    assert [u.child.name for u in the_plan.untrusted] == ["home-alice"]


def test_a_claim_of_a_prepare_request_that_is_done_is_adopted_once_trusted() -> None:
    claim = retained("home-alice", "alice-prep")
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim), lambda _: Holder.ABSENT)
    assert [c.name for c, _ in the_plan.adopt] == ["home-alice"]
    untrusted = plan(sample().children, "jupyter-alice", UID, store_lookup(claim), lambda _: Holder.ABSENT,
                     trusted=lambda _: False)
    assert untrusted.adopt == ()
    assert [u.child.name for u in untrusted.untrusted] == ["home-alice"]


def test_retained_claim_with_a_non_controller_owner_is_adopted() -> None:
    claim = retained("home-alice", "bob", owner=OTHER_UID)
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim))
    assert [c.name for c, _ in the_plan.adopt] == ["home-alice"]


def test_child_controlled_by_another_instance_conflicts() -> None:
    pod = existing("jupyter-alice-notebook", controller=OTHER_UID)
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(pod))
    assert the_plan.conflicts == (Conflict(
        sample().children[1],
        "Pod 'jupyter-alice-notebook' already exists and has another controller; it will not be overwritten",
    ),)
    assert [c.name for c in the_plan.create] == ["home-alice"]


def test_retained_claim_controlled_by_someone_conflicts() -> None:
    claim = retained("home-alice", "jupyter-alice-old", controller=OTHER_UID)
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(claim))
    assert the_plan.adopt == ()
    assert [c.message for c in the_plan.conflicts] == [
        "PersistentVolumeClaim 'home-alice' already exists and has another controller; it will not be overwritten",
    ]


@pytest.mark.parametrize(
    "labels",
    [{}, {LABEL_RETAINED: "false"}, {LABEL_RETAINED: "True"}, {LABEL_INSTANCE: "jupyter-alice"}],
    ids=["no-labels", "retained-false", "retained-not-exactly-true", "instance-label-only"],
)
def test_unowned_claim_not_marked_retained_conflicts(labels: dict[str, str]) -> None:
    the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(existing("home-alice", labels=labels)))
    assert the_plan.adopt == ()
    assert [c.message for c in the_plan.conflicts] == [
        "PersistentVolumeClaim 'home-alice' already exists and has no controller and is not a retained claim; "
        "it will not be overwritten",
    ]


def test_retained_object_for_a_child_that_is_not_retained_conflicts() -> None:
    cm = child("ConfigMap", "settings")
    the_plan = plan(rendered(cm).children, "inst", UID, lambda _: retained("settings", "other"))
    assert the_plan.adopt == ()
    assert [c.child for c in the_plan.conflicts] == [cm]


def test_non_controller_owner_reference_is_not_control() -> None:
    cm = child("ConfigMap", "settings")
    the_plan = plan(rendered(cm).children, "inst", UID, lambda _: existing("settings", owner=UID))
    assert [c.message for c in the_plan.conflicts] == [
        "ConfigMap 'settings' already exists and has no controller and is not a retained claim; "
        "it will not be overwritten",
    ]


def test_every_child_is_planned_and_observed_once_in_render_order() -> None:
    a, b, c, d = child("ConfigMap", "a"), child("Secret", "b"), child("Service", "c"), child("Pod", "d")
    cache = {"b": existing("b", controller=UID), "c": existing("c", controller=OTHER_UID)}
    asked: list[str] = []

    def lookup(wanted: Child) -> Mapping[str, Any] | None:
        asked.append(wanted.name)
        return cache.get(wanted.name)

    the_plan = plan(rendered(a, b, c, d).children, "inst", UID, lookup)
    assert asked == ["a", "b", "c", "d"]
    assert the_plan.create == (a, d)
    assert [x.child for x in the_plan.conflicts] == [c]
    assert the_plan.observed == ((a, None), (b, cache["b"]), (c, cache["c"]), (d, None))


def test_empty_render_plans_nothing() -> None:
    the_plan = plan(rendered().children, "inst", UID, lambda _: pytest.fail("nothing to look up"))
    assert (the_plan.create, the_plan.adopt, the_plan.conflicts, the_plan.observed) == ((), (), (), ())


def test_a_retained_claim_the_operator_did_not_sign_is_never_kept_adopted_or_mounted() -> None:
    """Planted under the home's name with the operator's labels, even labelled for this very instance."""
    for holder in (None, "jupyter-alice", "jupyter-old"):
        the_plan = plan(sample().children, "jupyter-alice", UID, store_lookup(retained("home-alice", holder)),
                        trusted=lambda _: False)
        assert [u.child.name for u in the_plan.untrusted] == ["home-alice"], holder
        assert the_plan.adopt == ()
        assert "not created or adopted by this operator" in the_plan.untrusted[0].message
