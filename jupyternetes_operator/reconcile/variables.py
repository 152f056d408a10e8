"""Resolve an instance's variables against its template's declarations (pure).

Guaranteed:

- The result has exactly one entry per declared variable, in declaration order: the
  instance's value, else the declared ``default``, else ``""`` (or, for a ``required``
  variable, an error). An instance can set nothing else.
- Patterns are RE2 (``google-re2``), matched against the whole value: matching time is
  linear in the value's length, so a hostile value cannot cause catastrophic
  backtracking however the template's pattern is written.
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

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import re2  # type: ignore[import-untyped, unused-ignore]

__all__ = ["InstanceError", "RenderError", "TemplateError", "check_declarations", "resolve"]

KUBELET_EXPANSION = "$("
"""The start of a kubelet variable reference; no instance value may contain it."""

SAMPLE_VALUE = "sample"
"""What a required variable without an enum resolves to when values are not checked."""


class RenderError(Exception):
    """A template cannot be rendered for an instance; ``reason`` is CamelCase, ``field`` a path."""

    def __init__(self, reason: str, message: str, field: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, {self.message!r}, {self.field!r})"


class TemplateError(RenderError):
    """The template is wrong: no instance can fix it (reported in the template's status too)."""


class InstanceError(RenderError):
    """The instance's input (its variables or its name) is wrong for this template."""


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is reported as an error, not logged to stderr
    return options


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> Any:
    """The compiled RE2 pattern; raises ``ValueError`` with RE2's explanation if invalid."""
    try:
        return re2.compile(pattern, _re2_options())
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(str(detail)) from None


def _full_match(compiled: Any, value: str) -> bool:
    return compiled.fullmatch(value) is not None


class _Declaration:
    """One validated ``spec.variables[i]`` entry."""

    __slots__ = ("default", "enum", "index", "name", "pattern", "required")

    def __init__(self, index: int, raw: Any) -> None:
        field = f"spec.variables[{index}]"
        if not isinstance(raw, Mapping):
            raise TemplateError("InvalidDeclaration", f"{field} must be an object", field)
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise TemplateError("InvalidDeclaration", f"{field}.name must be a non-empty string", f"{field}.name")
        default = raw.get("default")
        if default is not None and not isinstance(default, str):
            raise TemplateError("InvalidDeclaration", f"{field}.default must be a string", f"{field}.default")
        enum = raw.get("enum")
        if enum is not None and (
            isinstance(enum, str) or not isinstance(enum, Sequence) or not all(isinstance(e, str) for e in enum)
        ):
            raise TemplateError("InvalidDeclaration", f"{field}.enum must be a list of strings", f"{field}.enum")
        pattern = raw.get("pattern")
        compiled: Any = None
        if pattern is not None:
            if not isinstance(pattern, str):
                raise TemplateError("InvalidPattern", f"{field}.pattern must be a string", f"{field}.pattern")
            try:
                compiled = _compile(pattern)
            except ValueError as exc:
                raise TemplateError(
                    "InvalidPattern",
                    f"{field}.pattern of variable {name!r} is not a valid RE2 expression: {exc}",
                    f"{field}.pattern",
                ) from None
        self.index = index
        self.name = name
        self.default: str | None = default
        self.required = bool(raw.get("required", False))
        self.enum: tuple[str, ...] | None = tuple(enum) if enum is not None else None
        self.pattern: tuple[str, Any] | None = (pattern, compiled) if pattern is not None else None

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not acceptable for this variable, or None."""
        if self.pattern is not None and not _full_match(self.pattern[1], value):
            return f"does not match the pattern {self.pattern[0]!r}"
        if self.enum is not None and value not in self.enum:
            return f"is not one of {list(self.enum)!r}"
        return None


def _declarations(declarations: Sequence[Any]) -> list[_Declaration]:
    if isinstance(declarations, str | bytes) or not isinstance(declarations, Sequence):
        raise TemplateError("InvalidDeclaration", "spec.variables must be a list", "spec.variables")
    parsed: list[_Declaration] = []
    seen: set[str] = set()
    for index, raw in enumerate(declarations):
        declaration = _Declaration(index, raw)
        if declaration.name in seen:
            raise TemplateError(
                "DuplicateVariable",
                f"spec.variables[{index}].name: variable {declaration.name!r} is declared twice",
                f"spec.variables[{index}].name",
            )
        seen.add(declaration.name)
        parsed.append(declaration)
    return parsed


def check_declarations(declarations: Sequence[Any]) -> list[TemplateError]:
    """Every problem with the declarations themselves, not just the first.

    Invalid entries and patterns, duplicate names, and defaults that break their own
    pattern or enum (the CRD checks default-in-enum; nothing else checks the pattern).
    """
    if isinstance(declarations, str | bytes) or not isinstance(declarations, Sequence):
        return [TemplateError("InvalidDeclaration", "spec.variables must be a list", "spec.variables")]
    errors: list[TemplateError] = []
    seen: set[str] = set()
    for index, raw in enumerate(declarations):
        try:
            declaration = _Declaration(index, raw)
        except TemplateError as exc:
            errors.append(exc)
            continue
        field = f"spec.variables[{index}]"
        if declaration.name in seen:
            errors.append(TemplateError(
                "DuplicateVariable", f"{field}.name: variable {declaration.name!r} is declared twice", f"{field}.name"))
        seen.add(declaration.name)
        if declaration.default is not None:
            problem = declaration.problem(declaration.default)
            if problem:
                errors.append(TemplateError(
                    "InvalidDefault",
                    f"{field}.default of variable {declaration.name!r} {problem}",
                    f"{field}.default",
                ))
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
    parsed = _declarations(declarations)
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
            value = declaration.default
            if check_values and (problem := declaration.problem(value)):
                raise TemplateError(
                    "InvalidDefault",
                    f"spec.variables[{declaration.index}].default of variable {name!r} {problem}",
                    f"spec.variables[{declaration.index}].default",
                )
            resolved[name] = value
        elif declaration.required:
            if check_values:
                field = f"spec.variables.{name}"
                raise InstanceError("MissingVariable", f"{field} is required by the template but not set", field)
            resolved[name] = declaration.enum[0] if declaration.enum else SAMPLE_VALUE
        else:
            resolved[name] = ""
    return resolved


def _given(declaration: _Declaration, value: Any, *, check_values: bool) -> str:
    """An instance's value for ``declaration``, checked (its pattern and enum only with ``check_values``)."""
    field = f"spec.variables.{declaration.name}"
    if not isinstance(value, str):
        raise InstanceError("InvalidVariable", f"{field} must be a string, not {type(value).__name__}", field)
    if KUBELET_EXPANSION in value:
        raise InstanceError(
            "InvalidVariable",
            f"{field}: the value {_excerpt(value)} contains '$(', which the kubelet would expand as a "
            "variable reference in a container's command, args or env; values containing '$(' are "
            "refused",
            field)
    if check_values and (problem := declaration.problem(value)):
        raise InstanceError("InvalidVariable", f"{field}: the value {_excerpt(value)} {problem}", field)
    return value


def _excerpt(value: str, limit: int = 64) -> str:
    """``value`` quoted for a message, shortened so a huge value cannot flood a status."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"
