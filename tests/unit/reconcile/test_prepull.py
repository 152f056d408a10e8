"""Which images a template asks to pre-pull, the puller DaemonSet, and the pull state (pure; on the real
control plane: tests/integration/test_prepull.py)."""

from __future__ import annotations

import copy
from typing import Any

from jupyternetes_operator.reconcile.policy import Level, check_pod
from jupyternetes_operator.reconcile.prepull import (
    ANNOTATION_IMAGES,
    MAX_COMBINATIONS,
    NOT_PULLED,
    PULLED,
    PULLING,
    Images,
    daemonset,
    digest,
    pull_status,
    rollout,
    template_images,
    vetted,
    wanted,
)

from .test_render import sample_template


def with_pod(**spec: Any) -> dict[str, Any]:
    template = sample_template()
    template["spec"]["pods"][0]["spec"].update(spec)
    return template


def test_literal_and_enum_images() -> None:
    template = sample_template()
    assert template_images(template) == Images(
        ("quay.io/jupyter/minimal-notebook:2025-10-20", "quay.io/jupyter/scipy-notebook:2025-10-20"), ())
    template["spec"]["pods"][0]["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1.36"}]
    assert "busybox:1.36" in template_images(template).images


def test_every_combination_of_enum_variables() -> None:
    template = sample_template()
    template["spec"]["variables"] += [{"name": "registry", "default": "a.io", "enum": ["a.io", "b.io"]},
                                      {"name": "tag", "default": "1", "enum": ["1", "2", "3"]}]
    template["spec"]["pods"][0]["spec"]["containers"][0]["image"] = "{{ registry }}/lab:{{ tag }}"
    assert template_images(template).images == tuple(sorted(f"{r}/lab:{t}" for r in ("a.io", "b.io")
                                                             for t in ("1", "2", "3")))


def test_what_cannot_be_expanded_is_named() -> None:
    template = sample_template()
    template["spec"]["variables"].append({"name": "free", "default": "x"})
    template["spec"]["pods"][0]["spec"]["containers"][0]["image"] = "lab:{{ free }}-{{ instance.name }}"
    assert template_images(template) == Images((), (
        "spec.pods[0].spec.containers[0].image: free, instance.name has no enum",))
    template["spec"]["variables"].append({"name": "many", "default": "0", "enum": [str(i) for i in range(9)]})
    template["spec"]["variables"].append({"name": "more", "default": "0", "enum": [str(i) for i in range(9)]})
    template["spec"]["pods"][0]["spec"]["containers"][0]["image"] = "lab:{{ many }}{{ more }}"
    assert MAX_COMBINATIONS < 81
    assert template_images(template).skipped == (
        f"spec.pods[0].spec.containers[0].image: 81 combinations of many, more (at most {MAX_COMBINATIONS})",)


def test_only_vetted_templates() -> None:
    template = sample_template()
    template["metadata"]["generation"] = 2
    assert not vetted(template)
    template["status"] = {"conditions": [{"type": "Valid", "status": "True", "observedGeneration": 1}]}
    assert not vetted(template)  # an older generation's verdict
    template["status"]["conditions"][0]["observedGeneration"] = 2
    assert vetted(template)
    template["status"]["conditions"][0]["status"] = "False"
    assert not vetted(template)


def test_the_puller_meets_the_restricted_level() -> None:
    ds = daemonset(["a.io/x:1", "b.io/y:2"], "jupyternetes")
    pod = {"metadata": ds["spec"]["template"]["metadata"], "spec": ds["spec"]["template"]["spec"]}
    assert check_pod(pod, Level.RESTRICTED) == []
    assert [(c["name"], c["image"], c["command"]) for c in pod["spec"]["initContainers"]] == [
        ("image-0", "a.io/x:1", ["true"]), ("image-1", "b.io/y:2", ["true"])]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert ds["metadata"]["annotations"][ANNOTATION_IMAGES] == digest(["a.io/x:1", "b.io/y:2"])
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()


def ds_status(images: list[str], generation: int = 1, observed: int = 1, **status: int) -> dict[str, Any]:
    ds = copy.deepcopy(daemonset(images, "ns"))
    ds["metadata"]["generation"] = generation
    ds["status"] = {"observedGeneration": observed, **status}
    return ds


def test_rollout_states() -> None:
    images = ["a", "b"]
    assert rollout(None, images)[0] == PULLING
    assert rollout(ds_status(["a"], desiredNumberScheduled=2, updatedNumberScheduled=2, numberReady=2),
                   images) == (PULLING, "the image puller is being updated")  # another image list
    assert rollout(ds_status(images, generation=2, observed=1, desiredNumberScheduled=2), images)[0] == PULLING
    assert rollout(ds_status(images, desiredNumberScheduled=3, updatedNumberScheduled=3, numberReady=1),
                   images) == (PULLING, "pulled on 1 of 3 nodes")
    assert rollout(ds_status(images, desiredNumberScheduled=3, updatedNumberScheduled=3, numberReady=3),
                   images) == (PULLED, "pulled on 3 of 3 nodes")


def test_pull_status() -> None:
    template = sample_template()
    ready = ds_status(["a", "b", "c"], desiredNumberScheduled=1, updatedNumberScheduled=1, numberReady=1)
    assert pull_status(template, None, ["a"], ready)["state"] == NOT_PULLED
    assert pull_status(template, Images(("a", "c"), ("x: why",)), ["a", "b", "c"], ready) == {
        "state": PULLED, "message": "pulled on 1 of 1 nodes", "images": ["a", "c"], "skipped": ["x: why"]}
    over = pull_status(template, Images(("a", "z"), ()), ["a", "b", "c"], ready)
    assert over["images"] == ["a"]
    assert over["skipped"] == ["z: over the limit of 200 images"]
    assert pull_status(template, Images((), ("x: why",)), ["a"], ready)["state"] == NOT_PULLED


def test_a_template_being_validated_keeps_what_was_pulled_for_it() -> None:
    template = sample_template()
    template["metadata"]["generation"] = 3
    template["status"] = {"conditions": [{"type": "Valid", "status": "True", "observedGeneration": 2}],
                          "prePull": {"state": PULLED, "images": ["old:1"]}}
    assert wanted(template) == Images(("old:1",), ())
    template["status"]["conditions"][0]["status"] = "False"
    assert wanted(template) is None
    template["status"]["conditions"][0].update(status="True", observedGeneration=3)
    assert wanted(template) == template_images(template)
