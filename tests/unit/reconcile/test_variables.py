from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.reconcile.variables import (
    InstanceError,
    TemplateError,
    check_declarations,
    resolve,
)

DECLARATIONS: list[dict[str, Any]] = [
    {"name": "username", "required": True, "pattern": "[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?"},
    {"name": "image", "default": "minimal", "enum": ["minimal", "scipy"], "userSettable": True},
    {"name": "note", "description": "free text"},
    {"name": "gpu", "enum": ["none", "t4"], "default": "none"},
]


def test_values_defaults_and_empty() -> None:
    assert resolve(DECLARATIONS, {"username": "alice"}) == {
        "username": "alice", "image": "minimal", "note": "", "gpu": "none",
    }


def test_result_follows_declaration_order() -> None:
    resolved = resolve(DECLARATIONS, {"gpu": "t4", "username": "bob", "note": "x"})
    assert list(resolved) == ["username", "image", "note", "gpu"]
    assert resolved["gpu"] == "t4"


def test_empty_string_is_a_value_not_a_missing_one() -> None:
    assert resolve([{"name": "a", "default": "d"}], {"a": ""}) == {"a": ""}


def test_undeclared_variable() -> None:
    with pytest.raises(InstanceError) as info:
        resolve(DECLARATIONS, {"username": "alice", "zzz": "1", "gpux": "1"})
    assert info.value.reason == "UndeclaredVariable"
    assert info.value.field == "spec.variables.gpux"
    assert "gpux" in info.value.message
    assert "zzz" in info.value.message
    assert "spec.variables.gpux" in info.value.message


def test_missing_required() -> None:
    with pytest.raises(InstanceError) as info:
        resolve(DECLARATIONS, {})
    assert (info.value.reason, info.value.field) == ("MissingVariable", "spec.variables.username")
    assert "spec.variables.username" in info.value.message


@pytest.mark.parametrize("value", ["Alice", "-alice", "alice-", "a" * 41, "", "alice\n", "alice\nbob", "ali ce"])
def test_pattern_is_a_full_match(value: str) -> None:
    with pytest.raises(InstanceError) as info:
        resolve(DECLARATIONS, {"username": value})
    assert (info.value.reason, info.value.field) == ("InvalidVariable", "spec.variables.username")


def test_pattern_alternation_is_anchored_as_a_whole() -> None:
    declarations = [{"name": "v", "pattern": "a|ab"}]
    assert resolve(declarations, {"v": "ab"}) == {"v": "ab"}
    with pytest.raises(InstanceError):
        resolve(declarations, {"v": "abc"})


def test_enum() -> None:
    with pytest.raises(InstanceError) as info:
        resolve(DECLARATIONS, {"username": "alice", "image": "evil:latest"})
    assert (info.value.reason, info.value.field) == ("InvalidVariable", "spec.variables.image")
    assert info.value.message == "spec.variables.image: must be one of ['minimal', 'scipy'], not 'evil:latest'"


def test_non_string_value() -> None:
    with pytest.raises(InstanceError) as info:
        resolve(DECLARATIONS, {"username": 5})  # type: ignore[dict-item]
    assert info.value.reason == "InvalidVariable"


def test_huge_value_is_shortened_in_the_message() -> None:
    with pytest.raises(InstanceError) as info:
        resolve(DECLARATIONS, {"username": "A" * 100_000})
    assert len(info.value.message) < 400


def test_invalid_pattern_is_a_template_error() -> None:
    with pytest.raises(TemplateError) as info:
        resolve([{"name": "ok"}, {"name": "v", "pattern": "(unclosed"}], {})
    assert (info.value.reason, info.value.field) == ("InvalidPattern", "spec.variables[1].pattern")
    assert "missing )" in info.value.message


def test_invalid_pattern_is_reported_even_when_the_value_is_absent() -> None:
    with pytest.raises(TemplateError):
        resolve([{"name": "v", "pattern": "[", "default": "x"}], {})


def test_default_breaking_its_pattern_is_a_template_error() -> None:
    with pytest.raises(TemplateError) as info:
        resolve([{"name": "v", "pattern": "[0-9]+", "default": "abc"}], {})
    assert (info.value.reason, info.value.field) == ("InvalidDefault", "spec.variables[0].default")
    assert info.value.message == "spec.variables[0].default of variable 'v': 'abc' does not match the pattern '[0-9]+'"


def test_unchecked_values_fill_required_with_samples() -> None:
    declarations: list[dict[str, Any]] = [
        {"name": "a", "required": True, "pattern": "[0-9]+"},
        {"name": "b", "required": True, "enum": ["x", "y"]},
        {"name": "c", "default": "d"},
        {"name": "e"},
    ]
    assert resolve(declarations, {}, check_values=False) == {"a": "sample", "b": "x", "c": "d", "e": ""}
    # Patterns and enums are not enforced either...
    assert resolve(declarations, {"a": "nope", "b": "z"}, check_values=False)["b"] == "z"
    # ...but undeclared variables and broken patterns still are.
    with pytest.raises(InstanceError):
        resolve(declarations, {"zz": "1"}, check_values=False)
    with pytest.raises(TemplateError):
        resolve([{"name": "a", "pattern": "("}], {}, check_values=False)


def test_read_only_inputs() -> None:
    declarations = freeze({"v": DECLARATIONS})["v"]
    values = freeze({"username": "alice", "gpu": "t4"})
    assert resolve(declarations, values)["gpu"] == "t4"


def test_malformed_declarations() -> None:
    with pytest.raises(TemplateError) as info:
        resolve([{"description": "no name"}], {})
    assert info.value.field == "spec.variables[0].name"
    with pytest.raises(TemplateError) as info:
        resolve([{"name": "a"}, {"name": "a"}], {})
    assert info.value.reason == "DuplicateVariable"


def test_check_declarations_reports_every_problem() -> None:
    errors = check_declarations([
        {"name": "a", "pattern": "("},
        {"name": "b", "pattern": "[0-9]+", "default": "x"},
        {"name": "c", "enum": ["1"], "default": "2"},
        {"name": "b"},
        {"name": "ok", "pattern": "[a-z]+", "default": "abc"},
    ])
    assert [(e.reason, e.field) for e in errors] == [
        ("InvalidPattern", "spec.variables[0].pattern"),
        ("InvalidDefault", "spec.variables[1].default"),
        ("InvalidDefault", "spec.variables[2].default"),
        ("DuplicateVariable", "spec.variables[3].name"),
    ]
    assert check_declarations(DECLARATIONS) == []


@given(st.text(max_size=200).filter(lambda v: "$(" not in v))
def test_any_text_is_accepted_without_a_pattern_and_kept_verbatim(value: str) -> None:
    assert resolve([{"name": "v"}], {"v": value}) == {"v": value}


@pytest.mark.parametrize("value", ["$(HOME)", "a$(JUPYTERHUB_API_TOKEN)b", "$$(X)", "$("])
def test_values_the_kubelet_would_expand_are_refused(value: str) -> None:
    """The kubelet expands $(VAR) in command, args and env: such a value could read another env entry."""
    for declarations in ([{"name": "v"}], [{"name": "v", "enum": [value]}], [{"name": "v", "pattern": ".*"}]):
        with pytest.raises(InstanceError, match=r"kubelet would expand") as caught:
            resolve(declarations, {"v": value})
        assert (caught.value.reason, caught.value.field) == ("InvalidVariable", "spec.variables.v")


def test_dollar_without_parenthesis_and_defaults_with_it_are_fine() -> None:
    assert resolve([{"name": "v"}], {"v": "$HOME ($) $ ("}) == {"v": "$HOME ($) $ ("}
    assert resolve([{"name": "v", "default": "$(HOME)/work"}], {}) == {"v": "$(HOME)/work"}


@given(st.text(max_size=200))
def test_any_text_either_matches_or_is_refused(value: str) -> None:
    declarations = [{"name": "v", "pattern": "[a-z]{1,10}"}]
    acceptable = value.isascii() and value.isalpha() and value.islower() and 1 <= len(value) <= 10
    if acceptable:
        assert resolve(declarations, {"v": value}) == {"v": value}
    else:  # '$(' is refused before the pattern is tried (test_values_the_kubelet_would_expand_are_refused)
        with pytest.raises(InstanceError, match="kubelet would expand" if "$(" in value else "does not match"):
            resolve(declarations, {"v": value})
