"""The size bound: estimated before anything is built, close to the truth, and cheap."""

from __future__ import annotations

import copy
import time
import tracemalloc
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.reconcile import measure as measure_module
from jupyternetes_operator.reconcile.bounds import (
    CHILD_OVERHEAD,
    MAX_RENDER_BYTES,
    Profile,
    ProfileCache,
    human,
    json_size,
    string_size,
)
from jupyternetes_operator.reconcile.measure import estimate_size
from jupyternetes_operator.reconcile.render import (
    InstanceError,
    TemplateError,
    render,
)
from jupyternetes_operator.reconcile.validation import validate, validate_template

from .test_render import instance, pod, sample_instance, sample_template, template


def echoing(uses: int, default: str = "", where: str = "args") -> dict[str, Any]:
    """A template echoing variable ``v`` ``uses`` times in one string of its pod."""
    main = pod("main")
    if where == "args":
        main["spec"]["containers"][0]["args"] = ["--v=" + "{{ v }}" * uses]
    else:
        main["metadata"] = {"name": "{{ v }}" * uses}
    return template(variables=[{"name": "v", "default": default}], pods=[main])


def children_size(rendered: Any) -> int:
    return sum(len(orjson.dumps(child.manifest)) for child in rendered.children)


# ---------------------------------------------------------------- JSON sizes


@pytest.mark.parametrize("value", [
    "", "plain", 'quo"te', "back\\slash", "tab\tnew\nline", "\x00\x1f", "\u00e9t\u00e9", "\U0001f600", "\u202e",
    {"a": [1, 2.5, True, False, None, {"b": "c"}], "d": {}}, [], [[[]]], {"k\u00e9y": "v"}, -17, 1e100,
])
def test_json_size_is_exact(value: Any) -> None:
    assert json_size(value) == len(orjson.dumps(value))
    assert json_size(freeze({"x": value})) == len(orjson.dumps({"x": value}))


def test_string_size_of_a_lone_surrogate_is_an_upper_bound() -> None:
    assert string_size("a\ud800") >= len(orjson.dumps("a\\ud800"))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
@settings(max_examples=200, deadline=None)
def test_json_size_matches_orjson(value: Any) -> None:
    try:
        expected = len(orjson.dumps(value))
    except orjson.JSONEncodeError:  # lone surrogates, integers beyond 64 bits
        return
    assert json_size(value) >= expected


def test_human() -> None:
    assert [human(17), human(950 * 1024), human(MAX_RENDER_BYTES), human(812 * 1024 * 1024 + 300_000)] == [
        "17 bytes", "950 KiB", "2.0 MiB", "812.3 MiB"]


# ---------------------------------------------------------------- the estimate against real renders


@pytest.mark.parametrize(("tpl", "inst"), [
    (sample_template(), sample_instance()),
    (echoing(300), instance(variables={"v": "\u00e9\"x" * 50})),
    (echoing(0), instance()),
])
def test_estimate_bounds_the_real_size(tpl: dict[str, Any], inst: dict[str, Any]) -> None:
    rendered = render(tpl, inst)
    real = children_size(rendered)
    estimate = estimate_size(tpl, inst)
    assert real <= estimate <= real + len(rendered.children) * CHILD_OVERHEAD + len(orjson.dumps(tpl["spec"]))


# ---------------------------------------------------------------- refusals, before building


def test_huge_values_times_many_placeholders_are_refused_without_building_them() -> None:
    tpl = echoing(200_000)  # 800 MB if rendered with a 4 KiB value
    inst = instance(variables={"v": "x" * 4096})
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InstanceError) as info:
            render(tpl, inst)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < 32 * 1024 * 1024, human(peak)
    assert (info.value.reason, info.value.field) == ("RenderTooLarge", "spec.variables.v")
    assert info.value.message.startswith("spec.variables.v: the children would be about 781.")
    assert "{{ v }} accounts for" in info.value.message
    assert "200000 uses of 4096 bytes" in info.value.message


def test_just_under_and_just_over_the_limit() -> None:
    uses = 4000
    tpl = echoing(uses)
    fits = (MAX_RENDER_BYTES - 8 * 1024) // uses
    assert render(tpl, instance(variables={"v": "x" * fits})).children
    with pytest.raises(InstanceError, match="over the limit"):
        render(tpl, instance(variables={"v": "x" * (MAX_RENDER_BYTES // uses + 1)}))


def test_escaped_values_count_as_sent() -> None:
    """Quotes and control characters double or sextuple on the wire; the estimate counts that."""
    uses = 1000
    tpl = echoing(uses)
    length = MAX_RENDER_BYTES // uses // 2 + 10  # fits as letters, not as \\u0001 escapes
    assert render(tpl, instance(variables={"v": "x" * length})).children
    with pytest.raises(InstanceError):
        render(tpl, instance(variables={"v": "\x01" * length}))


def test_name_templates_of_excluded_entries_count() -> None:
    """Names are computed for every entry (a reference may name an excluded child)."""
    excluded = {"name": "cache", "when": [{"variable": "v", "operator": "In", "values": ["never"]}],
                "metadata": {"name": "{{ v }}" * 5000}, "spec": {}}
    tpl = template(variables=[{"name": "v"}], pvcs=[excluded])
    with pytest.raises(InstanceError) as info:
        render(tpl, instance(variables={"v": "y" * 4096}))
    assert info.value.reason == "RenderTooLarge"


def test_template_whose_sample_render_is_too_large() -> None:
    tpl = echoing(1000, default="d" * 4096)
    assert [(e.reason, e.field) for e in validate_template(tpl)] == [("RenderTooLarge", "spec")]
    with pytest.raises(TemplateError) as info:
        render(tpl, instance(), check_values=False)
    assert info.value.reason == "RenderTooLarge"
    # At spawn it is the instance's render that is refused, with the template's default to blame.
    with pytest.raises(InstanceError) as spawn:
        render(tpl, instance())
    assert (spawn.value.reason, spawn.value.field) == ("RenderTooLarge", "spec")


def test_validation_counts_every_entry() -> None:
    """Validation renders every entry, so a large child behind a when is measured too."""
    big = {"name": "big", "apiVersion": "v1", "kind": "ConfigMap",
           "when": [{"variable": "mode", "operator": "In", "values": ["big"]}],
           "data": {"blob": "{{ blob }}" * 1000}}
    tpl = template(variables=[{"name": "mode", "default": "small"}, {"name": "blob", "default": "b" * 4096}],
                   resources=[big])
    assert render(tpl, instance()).children  # the default render leaves it out
    assert [e.reason for e in validate_template(tpl)] == ["RenderTooLarge"]


def test_a_literal_near_the_stored_object_limit_still_renders() -> None:
    """``template-near-the-size-limit``: 1.4 MB of literal padding in a pod comes up."""
    tpl = sample_template()
    tpl["spec"]["pods"][0]["spec"]["padding"] = "x" * 1_400_000
    assert validate_template(tpl) == []
    rendered = render(tpl, sample_instance())
    assert children_size(rendered) > 1_400_000


# ---------------------------------------------------------------- the cache


def test_profiles_are_cached_per_template_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = measure_module._entry_profiles

    def counting(groups: Any) -> Any:
        calls.append(1)
        return original(groups)

    monkeypatch.setattr(measure_module, "_entry_profiles", counting)
    monkeypatch.setattr(measure_module, "_PROFILES", ProfileCache(2))
    tpl = echoing(10)
    tpl["metadata"].update(uid="u-1", generation=1)
    for name in ("a", "b", "c"):
        render(tpl, instance(name))
    validate(tpl)
    assert len(calls) == 1
    edited = copy.deepcopy(tpl)
    edited["metadata"]["generation"] = 2
    render(edited, instance())
    assert len(calls) == 2
    without_uid = echoing(10)
    render(without_uid, instance())
    render(without_uid, instance())
    assert len(calls) == 4  # hand-built objects are profiled every time
    other = copy.deepcopy(tpl)
    other["metadata"]["uid"] = "u-2"
    render(other, instance())
    render(tpl, instance())  # evicted by the third generation in a cache of two
    assert len(calls) == 6


def test_profile_size() -> None:
    assert Profile(10, {"a": 2, "b": 1}).size(lambda ref: {"a": 5, "b": 100}[ref]) == 120
