"""An entry's ``when`` conditions: their shape, whether they hold, whether two can hold at once (pure).

Guaranteed:

- ``when`` is a list of ``{variable, operator: In|NotIn, values: [string]}``; anything else is
  a :class:`TemplateError` ``InvalidCondition`` at its field. Values are literal (not templated).
- An entry is included when every condition holds; a condition on an undeclared variable is
  ``UnknownVariable``.
- :func:`compatible` respects enums; patterns are not considered, so it may say two condition
  sets can hold together although no value satisfies both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .templating import is_list
from .variables import TemplateError

_OPERATORS = ("In", "NotIn")

# ---------------------------------------------------------------- conditions


def when_conditions(entry: Mapping[str, Any], path: str) -> list[tuple[str, str, tuple[str, ...], str]]:
    """``when`` as (variable, operator, values, path) tuples, structurally checked."""
    when = entry.get("when")
    if when is None:
        return []
    if not is_list(when):
        raise TemplateError("InvalidCondition", f"{path}.when must be a list", f"{path}.when")
    conditions = []
    for index, condition in enumerate(when):
        where = f"{path}.when[{index}]"
        if not isinstance(condition, Mapping):
            raise TemplateError("InvalidCondition", f"{where} must be an object", where)
        variable, operator, values = condition.get("variable"), condition.get("operator"), condition.get("values")
        if not isinstance(variable, str):
            raise TemplateError("InvalidCondition", f"{where}.variable must be a string", f"{where}.variable")
        if operator not in _OPERATORS:
            raise TemplateError(
                "InvalidCondition", f"{where}.operator must be In or NotIn, got {operator!r}", f"{where}.operator")
        if not is_list(values) or not all(isinstance(v, str) for v in values):
            raise TemplateError("InvalidCondition", f"{where}.values must be a list of strings", f"{where}.values")
        conditions.append((variable, str(operator), tuple(values), where))
    return conditions


def is_included(entry: Mapping[str, Any], path: str, variables: Mapping[str, str]) -> bool:
    """Whether every ``when`` condition of the entry holds."""
    included = True
    for variable, operator, values, where in when_conditions(entry, path):
        if variable not in variables:
            raise TemplateError(
                "UnknownVariable", f"{where}.variable: {variable!r} is not a declared variable", f"{where}.variable")
        holds = (variables[variable] in values) == (operator == "In")
        included = included and holds
    return included


def variable_enums(spec: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    declarations = spec.get("variables") or ()
    return {d["name"]: frozenset(d["enum"]) for d in declarations if is_list(declarations)
            and isinstance(d, Mapping) and isinstance(d.get("name"), str) and is_list(d.get("enum"))}


def compatible(a: Sequence[tuple[str, str, tuple[str, ...], str]], b: Sequence[tuple[str, str, tuple[str, ...], str]],
                enums: Mapping[str, frozenset[str]]) -> bool:
    """Whether some values satisfy the ``when`` conditions ``a`` and ``b`` at once. A variable with
    an enum takes one of its values; any other takes any string (its pattern is not considered)."""
    allowed: dict[str, frozenset[str]] = {}
    excluded: dict[str, set[str]] = {}
    for variable, operator, values, _ in (*a, *b):
        if operator == "In":
            allowed[variable] = allowed[variable] & frozenset(values) if variable in allowed else frozenset(values)
        else:
            excluded.setdefault(variable, set()).update(values)
    for variable in allowed.keys() | excluded.keys():
        choices = allowed.get(variable)
        if variable in enums:
            choices = enums[variable] if choices is None else choices & enums[variable]
        if choices is not None and not choices - excluded.get(variable, set()):
            return False  # no value left for this variable (a free string always avoids a finite NotIn)
    return True
