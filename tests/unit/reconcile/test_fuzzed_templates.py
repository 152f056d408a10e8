"""Whatever a template holds, validation answers with a list of problems and rendering with a
RenderError: neither crashes (the same fuzzed templates go through the real operator in the
bad-input fault run)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings

from faults.badinput.fuzz import fuzzed_templates
from jupyternetes_operator.reconcile.render import RenderError, render
from jupyternetes_operator.reconcile.validation import MAX_DEPTH, validate_template

INSTANCE = {"apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": "jupyter-fuzz", "namespace": "team", "uid": "u-1"},
            "spec": {"template": {"name": "fuzz"}, "variables": {"username": "fuzz"}}}


@given(fuzzed_templates())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_fuzzed_template_gets_an_answer_not_a_crash(template: dict[str, Any]) -> None:
    problems = validate_template(template)
    assert all(p.reason and p.message for p in problems)
    if not problems:
        with contextlib.suppress(RenderError):  # a RenderError is an answer; anything else fails the test
            render(template, INSTANCE)


def test_a_template_nested_too_deep_is_refused_by_its_depth_before_anything_walks_it() -> None:
    node: dict[str, Any] = {"x": 1}
    for _ in range(5000):  # deeper than recursion (or any JSON encoder) goes
        node = {"a": node}
    template = {"spec": {"endpoint": {"pod": "p", "port": 1}, "pods": [{"name": "p", "spec": {"extra": node}}]}}
    [problem] = validate_template(template)
    assert problem.reason == "TooDeeplyNested"
    assert problem.field.startswith("spec.pods[0].spec.extra.a.a")

    def nested(levels: int) -> dict[str, Any]:
        value: dict[str, Any] = {"x": 1}
        for _ in range(levels - 1):
            value = {"a": value}
        return value

    # spec (level 1) > pods > [0] > spec > extra (level 5): MAX_DEPTH levels in all is the most allowed.
    template["spec"]["pods"][0]["spec"]["extra"] = nested(MAX_DEPTH - 4)
    assert all(p.reason != "TooDeeplyNested" for p in validate_template(template))
    template["spec"]["pods"][0]["spec"]["extra"] = nested(MAX_DEPTH - 3)
    assert [p.reason for p in validate_template(template)] == ["TooDeeplyNested"]
