"""Variable declarations as both sides read them: parsing, RE2 patterns, and the check of a value."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jupyternetes_operator.api.variables import (
    Declaration,
    DeclarationError,
    each_declaration,
    excerpt,
    parse_declarations,
)
from jupyternetes_operator.machinery.store import freeze

USERNAME = {"name": "username", "required": True, "pattern": "[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?"}
IMAGE = {"name": "image", "default": "img:1", "enum": ["img:1", "img:2"], "userSettable": True,
         "description": "The image"}


def test_an_entry_is_read_whole() -> None:
    image = Declaration.parse(IMAGE, 1)
    assert image == Declaration("image", "The image", "img:1", False, None, ("img:1", "img:2"), True)
    assert (image.index, image.path) == (1, "spec.variables[1]")
    assert Declaration.parse({"name": "x"}, 0) == Declaration("x")
    assert Declaration.parse(freeze(USERNAME), 0).required


@pytest.mark.parametrize(("raw", "reason", "field"), [
    ("username", "InvalidDeclaration", "spec.variables[2]"),
    ({"description": "no name"}, "InvalidDeclaration", "spec.variables[2].name"),
    ({"name": ""}, "InvalidDeclaration", "spec.variables[2].name"),
    ({"name": "v", "default": 3}, "InvalidDeclaration", "spec.variables[2].default"),
    ({"name": "v", "enum": "a"}, "InvalidDeclaration", "spec.variables[2].enum"),
    ({"name": "v", "enum": ["a", 1]}, "InvalidDeclaration", "spec.variables[2].enum"),
    ({"name": "v", "pattern": 5}, "InvalidPattern", "spec.variables[2].pattern"),
    ({"name": "v", "pattern": "(unclosed"}, "InvalidPattern", "spec.variables[2].pattern"),
    ({"name": "v", "pattern": r"(a)\1"}, "InvalidPattern", "spec.variables[2].pattern"),  # not RE2
])
def test_a_malformed_entry_names_its_field(raw: Any, reason: str, field: str) -> None:
    with pytest.raises(DeclarationError) as info:
        Declaration.parse(raw, 2)
    assert (info.value.reason, info.value.field) == (reason, field)
    assert info.value.message.startswith(field)


def test_an_invalid_pattern_says_what_re2_says() -> None:
    with pytest.raises(DeclarationError, match=r"of variable 'v' is not a valid RE2 expression: .*missing \)"):
        Declaration.parse({"name": "v", "pattern": "(unclosed"}, 0)


def test_all_declarations_or_the_first_problem() -> None:
    assert [d.name for d in parse_declarations([USERNAME, IMAGE])] == ["username", "image"]
    assert parse_declarations(()) == ()
    with pytest.raises(DeclarationError, match=r"spec\.variables must be a list"):
        parse_declarations({"name": "v"})
    with pytest.raises(DeclarationError) as info:
        parse_declarations([USERNAME, {"name": "x", "pattern": "("}, {"name": "username"}])
    assert info.value.field == "spec.variables[1].pattern"


def test_every_problem_at_once() -> None:
    items = list(each_declaration([{"name": "a", "pattern": "("}, IMAGE, {"name": "image"}, 7]))
    assert [(i.reason, i.field) if isinstance(i, DeclarationError) else i.name for i in items] == [
        ("InvalidPattern", "spec.variables[0].pattern"), "image",
        ("DuplicateVariable", "spec.variables[2].name"), ("InvalidDeclaration", "spec.variables[3]")]


@pytest.mark.parametrize("value", ["Alice", "-alice", "alice-", "a" * 41, "", "alice\n", "alice\nbob", "ali ce"])
def test_a_pattern_matches_the_whole_value(value: str) -> None:
    assert Declaration.parse(USERNAME, 0).problem(value) == f"{value!r} does not match the pattern " \
                                                             f"{USERNAME['pattern']!r}"


def test_an_alternation_is_anchored_as_a_whole() -> None:
    declaration = Declaration.parse({"name": "v", "pattern": "a|ab"}, 0)
    assert declaration.problem("ab") is None
    assert declaration.problem("abc") is not None


def test_enum() -> None:
    image = Declaration.parse(IMAGE, 0)
    assert image.problem("img:2") is None
    assert image.problem("docker.io/evil") == "must be one of ['img:1', 'img:2'], not 'docker.io/evil'"
    assert Declaration("v", enum=()).problem("") is not None  # an empty enum allows nothing
    assert Declaration("v").problem("anything at all") is None


def test_the_enum_is_checked_before_the_pattern() -> None:
    both = Declaration.parse({"name": "v", "enum": ["a1"], "pattern": "[a-z][0-9]"}, 0)
    assert both.problem("a1") is None
    assert both.problem("b2") == "must be one of ['a1'], not 'b2'"
    assert str(both.problem("zz")).startswith("must be one of")


def test_a_huge_value_is_shortened_in_the_message() -> None:
    problem = Declaration.parse(USERNAME, 0).problem("A" * 100_000)
    assert problem is not None
    assert len(problem) < 200
    assert "(100000 characters)" in problem
    assert excerpt("short") == "'short'"


def test_a_hostile_value_against_a_backtracking_pattern_is_fast() -> None:
    # (a+)+ takes exponential time in a backtracking engine on "aaaa...b"; RE2 is linear.
    declaration = Declaration.parse({"name": "v", "pattern": "(a+)+"}, 0)
    start = time.monotonic()
    assert declaration.problem("a" * 50_000 + "b") is not None
    assert time.monotonic() - start < 1.0
