"""Resolve an instance's variables against its template's declarations (pure).

Guaranteed:

- The result has exactly one entry per declared variable, in declaration order: the
  instance's value, else the declared ``default``, else ``""`` (or, for a ``required``
  variable, an error). An instance can set nothing else.
- Declarations are read, and values checked against them, as the spawner does
  (:mod:`jupyternetes_operator.api.variables`): patterns are RE2, matched against the whole
  value in linear time.
- An instance value containing ``$(`` is refused (``InvalidVariable``), whatever the template
  declares: the kubelet expands ``$(VAR)`` (and un-escapes ``$$(``) in a container's
  ``command``, ``args`` and ``env`` values, so such a value could read another variable or
  env entry, a downward-API field or a Secret-backed env var of the pod. Refusing it
  everywhere is simpler than tracking which fields the value reaches; defaults, written by
  the template's author, may contain it.
- Errors say who must fix them: :class:`TemplateError` (the template is wrong; no
  instance can fix it) or :class:`InstanceError` (the instance's input is wrong). Both
  carry a CamelCase ``reason``, a ``message`` that names the field, and the ``field``
  path itself.

Not checked here: ``userSettable`` (who may set a value is the spawner's business, not
the operator's), and structure the CRD schema already enforces (name syntax, list
sizes) beyond what is needed to fail with a clear error instead of a crash.

The two error classes live here, the lowest layer that raises them;
:mod:`jupyternetes_operator.reconcile.render` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..api import Declaration, DeclarationError, FieldError, each_declaration, excerpt, parse_declarations

__all__ = ["InstanceError", "RenderError", "TemplateError", "check_declarations", "resolve"]

KUBELET_EXPANSION = "$("
"""The start of a kubelet variable reference; no instance value may contain it."""

SAMPLE_VALUE = "sample"
"""What a required variable without an enum resolves to when values are not checked."""


class RenderError(FieldError):
    """A template cannot be rendered for an instance; ``reason`` is CamelCase, ``field`` a path."""


class TemplateError(RenderError):
    """The template is wrong: no instance can fix it (reported in the template's status too)."""


class InstanceError(RenderError):
    """The instance's input (its variables or its name) is wrong for this template."""


def _template_error(exc: DeclarationError) -> TemplateError:
    return TemplateError(exc.reason, exc.message, exc.field)


def _invalid_default(declaration: Declaration) -> TemplateError | None:
    """The error for a default that breaks its own enum or pattern (None if it keeps them)."""
    if declaration.default is None or not (problem := declaration.problem(declaration.default)):
        return None
    return TemplateError("InvalidDefault", f"{declaration.path}.default of variable {declaration.name!r}: {problem}",
                         f"{declaration.path}.default")


def check_declarations(declarations: Sequence[Any]) -> list[TemplateError]:
    """Every problem with the declarations themselves, not just the first.

    Invalid entries and patterns, duplicate names, and defaults that break their own
    pattern or enum (the CRD checks default-in-enum; nothing else checks the pattern).
    """
    errors: list[TemplateError] = []
    for item in each_declaration(declarations):
        if isinstance(item, DeclarationError):
            errors.append(_template_error(item))
        elif (invalid := _invalid_default(item)) is not None:
            errors.append(invalid)
    return errors


def resolve(
    declarations: Sequence[Mapping[str, Any]],
    values: Mapping[str, str],
    *,
    check_values: bool = True,
) -> dict[str, str]:
    """The value of every declared variable: the instance's, else the default, else ``""``.

    ``declarations`` is the template's ``spec.variables``; ``values`` the instance's
    ``spec.variables``. With ``check_values=False`` (rendering a template with sample
    values, to validate it) a missing required value becomes a sample (the first enum
    entry, else ``"sample"``) and patterns and enums are not checked; undeclared
    values are refused either way.

    Raises :class:`InstanceError` (``UndeclaredVariable``, ``MissingVariable``,
    ``InvalidVariable``, also for a value containing ``$(``) or :class:`TemplateError` (``InvalidPattern``,
    ``InvalidDeclaration``, ``DuplicateVariable``, ``InvalidDefault``).
    """
    try:
        parsed = parse_declarations(declarations)
    except DeclarationError as exc:
        raise _template_error(exc) from None
    if not isinstance(values, Mapping):
        raise InstanceError("InvalidVariable", "spec.variables must be a map of strings", "spec.variables")
    declared = {d.name for d in parsed}
    undeclared = sorted(str(name) for name in values if name not in declared)
    if undeclared:
        first = undeclared[0]
        listed = ", ".join(repr(n) for n in undeclared)
        known = ", ".join(repr(d.name) for d in parsed) or "none"
        raise InstanceError(
            "UndeclaredVariable",
            f"spec.variables.{first}: the template declares no variable {listed} (declared: {known})",
            f"spec.variables.{first}",
        )
    resolved: dict[str, str] = {}
    for declaration in parsed:
        name = declaration.name
        if name in values:
            resolved[name] = _given(declaration, values[name], check_values=check_values)
        elif declaration.default is not None:
            if check_values and (invalid := _invalid_default(declaration)) is not None:
                raise invalid
            resolved[name] = declaration.default
        elif declaration.required:
            if check_values:
                field = f"spec.variables.{name}"
                raise InstanceError("MissingVariable", f"{field} is required by the template but not set", field)
            resolved[name] = declaration.enum[0] if declaration.enum else SAMPLE_VALUE
        else:
            resolved[name] = ""
    return resolved


def _given(declaration: Declaration, value: Any, *, check_values: bool) -> str:
    """An instance's value for ``declaration``, checked (its pattern and enum only with ``check_values``)."""
    field = f"spec.variables.{declaration.name}"
    if not isinstance(value, str):
        raise InstanceError("InvalidVariable", f"{field} must be a string, not {type(value).__name__}", field)
    if KUBELET_EXPANSION in value:
        raise InstanceError(
            "InvalidVariable",
            f"{field}: the value {excerpt(value)} contains '$(', which the kubelet would expand as a "
            "variable reference in a container's command, args or env; values containing '$(' are "
            "refused",
            field)
    if check_values and (problem := declaration.problem(value)):
        raise InstanceError("InvalidVariable", f"{field}: {problem}", field)
    return value
