"""A template's variable declarations (its ``spec.variables``), read alike by the operator and the spawner (pure).

Guaranteed:

- :func:`parse_declarations` is every entry parsed, in order, or the first :class:`DeclarationError`
  (a ``reason``, a ``message`` naming the field, the ``field``): entries that are not a list,
  malformed entries, patterns that are not RE2, a name declared twice. :func:`each_declaration`
  yields them all, to report every problem at once.
- A pattern is RE2 (``google-re2``), matched against the whole value: matching time is linear in
  the value's length, so a hostile value cannot cause catastrophic backtracking however the
  template's pattern is written (an expression RE2 cannot run that way, a backreference for one,
  is not a valid pattern).
- :meth:`Declaration.problem` says why a value is refused (outside the enum, then not matching the
  pattern), quoting the value shortened (:func:`excerpt`), so a huge value cannot flood a message.

Not decided here: who may set a value (``userSettable`` is the spawner's business), and what every
value must avoid whatever the declaration (the operator's).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2  # type: ignore[import-untyped, unused-ignore]

VARIABLES = "spec.variables"


class FieldError(Exception):
    """Something a user wrote is wrong: ``reason`` is CamelCase, ``message`` names the ``field`` (a path)."""

    def __init__(self, reason: str, message: str, field: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, {self.message!r}, {self.field!r})"


class DeclarationError(FieldError):
    """A template declares its variables wrongly."""


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern; raises ``ValueError`` with RE2's explanation if it is not one."""
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is reported as an error, not logged to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(str(detail)) from None


def excerpt(value: str, limit: int = 64) -> str:
    """``value`` quoted for a message, shortened so a huge value cannot flood a status."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


@dataclass(frozen=True)
class Declaration:
    """One entry of a template's ``spec.variables``. Parsed (:meth:`parse`), its pattern is valid RE2."""

    name: str
    description: str = ""
    default: str | None = None
    required: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    """The allowed values; None allows any (an empty enum allows none)."""
    user_settable: bool = False
    index: int = field(default=0, compare=False)
    """Its position in ``spec.variables`` (where errors point), not part of what it declares."""

    @property
    def path(self) -> str:
        return f"{VARIABLES}[{self.index}]"

    @classmethod
    def parse(cls, raw: Any, index: int) -> Declaration:
        """The entry ``raw`` at ``index``; raises :class:`DeclarationError` naming what is wrong with it."""
        path = f"{VARIABLES}[{index}]"
        if not isinstance(raw, Mapping):
            raise DeclarationError("InvalidDeclaration", f"{path} must be an object", path)
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise DeclarationError("InvalidDeclaration", f"{path}.name must be a non-empty string", f"{path}.name")
        default = raw.get("default")
        if default is not None and not isinstance(default, str):
            raise DeclarationError("InvalidDeclaration", f"{path}.default must be a string", f"{path}.default")
        enum = raw.get("enum")
        if enum is not None and (
            isinstance(enum, str) or not isinstance(enum, Sequence) or not all(isinstance(e, str) for e in enum)
        ):
            raise DeclarationError("InvalidDeclaration", f"{path}.enum must be a list of strings", f"{path}.enum")
        return cls(name, str(raw.get("description") or ""), default, bool(raw.get("required", False)),
                   _pattern(raw.get("pattern"), name, path), tuple(enum) if enum is not None else None,
                   bool(raw.get("userSettable")), index)

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not acceptable for this variable (``must be one of …``, ``'x' does not match
        the pattern …``), or None."""
        if self.enum is not None and value not in self.enum:
            return f"must be one of {list(self.enum)!r}, not {excerpt(value)}"
        if self.pattern is not None and compile_pattern(self.pattern).fullmatch(value) is None:
            return f"{excerpt(value)} does not match the pattern {self.pattern!r}"
        return None


def _pattern(pattern: Any, name: str, path: str) -> str | None:
    """A declared pattern, once RE2 has compiled it."""
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise DeclarationError("InvalidPattern", f"{path}.pattern must be a string", f"{path}.pattern")
    try:
        compile_pattern(pattern)
    except ValueError as exc:
        raise DeclarationError("InvalidPattern", f"{path}.pattern of variable {name!r} is not a valid RE2 "
                                                 f"expression: {exc}", f"{path}.pattern") from None
    return pattern


def each_declaration(entries: Any) -> Iterator[Declaration | DeclarationError]:
    """Every entry of ``spec.variables`` in order, parsed, or why it is not a declaration (a name
    declared again is a ``DuplicateVariable``; entries that are not a list, one error)."""
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        yield DeclarationError("InvalidDeclaration", f"{VARIABLES} must be a list", VARIABLES)
        return
    seen: set[str] = set()
    for index, raw in enumerate(entries):
        try:
            declaration = Declaration.parse(raw, index)
        except DeclarationError as exc:
            yield exc
            continue
        if declaration.name in seen:
            yield DeclarationError("DuplicateVariable", f"{declaration.path}.name: variable {declaration.name!r} "
                                                        "is declared twice", f"{declaration.path}.name")
            continue
        seen.add(declaration.name)
        yield declaration


def parse_declarations(entries: Any) -> tuple[Declaration, ...]:
    """Every declaration of ``spec.variables``, in order; raises the first :class:`DeclarationError`."""
    parsed: list[Declaration] = []
    for item in each_declaration(entries):
        if isinstance(item, DeclarationError):
            raise item
        parsed.append(item)
    return tuple(parsed)
