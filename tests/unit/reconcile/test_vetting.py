"""Decisions: decide() remembered per instance while its inputs stay the same, computed again as soon
as one of them changes, and never remembered for objects that do not say which version they are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.reconcile.policy import Level, Policy
from jupyternetes_operator.reconcile.vetting import Decisions, decide

from .test_render import sample_instance, sample_template

VALID = (True, "Valid", "")


def versioned() -> tuple[dict[str, Any], dict[str, Any]]:
    template, instance = sample_template(), sample_instance()
    template["metadata"].update(uid="t-uid", generation=1)
    instance["metadata"].update(generation=1)
    return template, instance


def test_the_same_inputs_give_the_remembered_decision() -> None:
    decisions, (template, instance) = Decisions(), versioned()
    first = decisions.decide("k", template, instance, Policy(), VALID)
    assert first == decide(template, instance, Policy(), VALID)
    assert decisions.decide("k", template, instance, Policy(), VALID) is first
    assert len(decisions) == 1


def bump_template(t: dict[str, Any], i: dict[str, Any]) -> None:
    t["metadata"]["generation"] = 2
    t["spec"]["pods"][0]["spec"]["containers"][0]["image"] = "quay.io/jupyter/base-notebook:2025-10-20"


def bump_instance(t: dict[str, Any], i: dict[str, Any]) -> None:
    i["metadata"]["generation"] = 2
    i["spec"]["variables"]["username"] = "bob"


def new_env_secret(t: dict[str, Any], i: dict[str, Any]) -> None:
    i["metadata"]["annotations"][api.ANNOTATION_ENV_SECRET] = "fedcba9876543210"


def recreated_instance(t: dict[str, Any], i: dict[str, Any]) -> None:
    i["metadata"]["uid"] = "another-uid"


@pytest.mark.parametrize("change", [bump_template, bump_instance, new_env_secret, recreated_instance])
def test_any_input_that_changes_gives_a_new_decision(change: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    decisions, (template, instance) = Decisions(), versioned()
    first = decisions.decide("k", template, instance, Policy(), VALID)
    change(template, instance)
    again = decisions.decide("k", template, instance, Policy(), VALID)
    assert again is not first
    assert again == decide(template, instance, Policy(), VALID)
    assert again != first


def test_another_verdict_or_policy_gives_a_new_decision() -> None:
    decisions, (template, instance) = Decisions(), versioned()
    first = decisions.decide("k", template, instance, Policy(), VALID)
    refused = decisions.decide("k", template, instance, Policy(), (False, "PolicyViolation", "no"))
    assert refused.refusal is not None
    assert first.refusal is None
    stricter = decisions.decide("k", template, instance, Policy(Level.PRIVILEGED), VALID)
    assert stricter is not first
    assert stricter == decide(template, instance, Policy(Level.PRIVILEGED), VALID)


def test_objects_without_uid_or_generation_are_not_remembered() -> None:
    decisions, template, instance = Decisions(), sample_template(), sample_instance()
    first = decisions.decide("k", template, instance, Policy(), VALID)
    assert decisions.decide("k", template, instance, Policy(), VALID) is not first
    assert len(decisions) == 0


def test_forget_and_the_size_bound() -> None:
    decisions, (template, instance) = Decisions(size=2), versioned()
    for key in ("a", "b", "c"):
        decisions.decide(key, template, instance, Policy(), VALID)
    assert len(decisions) == 2  # the oldest, "a", dropped
    decisions.forget("b")
    assert len(decisions) == 1
