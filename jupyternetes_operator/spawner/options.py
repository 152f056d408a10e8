"""Profiles, template variable declarations and ``user_options``, checked before any write (pure).

Who may set what:

- the template declares its variables; only those with ``userSettable: true`` may come
  from a user (``user_options["variables"]``, or the options form);
- a profile (``profile_list`` entry) picks the template and may fix any declared variable;
- the administrator's ``extra_variables`` and the spawner's ``username`` win over both.

A user value for a variable that is undeclared, not user-settable, fixed by the profile
or outside its ``enum``/``pattern`` is refused with :class:`OptionsError`, whose message
says which variable and why. Declarations are read, and values checked, by the operator's own
rules (:mod:`jupyternetes_operator.api.variables`); the operator checks everything again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api import Declaration, parse_declarations

USER_OPTION_KEYS = frozenset({"profile", "variables"})


class OptionsError(ValueError):
    """The user's (or the configuration's) choices cannot make a valid instance; ``str()`` says why."""


def declarations(template: Mapping[str, Any]) -> tuple[Declaration, ...]:
    """The template's declarations; raises :class:`~jupyternetes_operator.api.variables.DeclarationError`
    if it declares them wrongly (the operator refuses such a template too)."""
    return parse_declarations((template.get("spec") or {}).get("variables") or ())


@dataclass(frozen=True)
class Profile:
    """A ``profile_list`` entry: a template plus fixed variables, shown as one choice."""

    slug: str
    display_name: str
    template: str
    template_namespace: str | None = None
    description: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    default: bool = False

    @classmethod
    def of(cls, entry: Mapping[str, Any], default_template: str, default_namespace: str | None) -> Profile:
        unknown = set(entry) - {"slug", "display_name", "description", "template", "template_namespace",
                                "variables", "default"}
        if unknown:
            raise OptionsError(f"profile_list entry {entry.get('slug') or entry.get('display_name')!r}: unknown "
                               f"keys {sorted(unknown)}; allowed: slug, display_name, description, template, "
                               "template_namespace, variables, default")
        display = str(entry.get("display_name") or entry.get("slug") or "")
        slug = str(entry.get("slug") or display)
        if not slug:
            raise OptionsError("every profile_list entry needs a slug or a display_name")
        variables = entry.get("variables") or {}
        if not isinstance(variables, Mapping) or not all(isinstance(v, str) for v in variables.values()):
            raise OptionsError(f"profile {slug!r}: variables must map names to strings")
        return cls(slug, display, str(entry.get("template") or default_template),
                   entry.get("template_namespace") or default_namespace, str(entry.get("description") or ""),
                   dict(variables), bool(entry.get("default")))


def profiles(entries: Sequence[Mapping[str, Any]], template: str, template_namespace: str | None,
             ) -> tuple[Profile, ...]:
    """The configured profiles; without a ``profile_list``, one implicit profile for ``template``."""
    if not entries:
        return (Profile("default", "Default", template, template_namespace, default=True),)
    result = tuple(Profile.of(e, template, template_namespace) for e in entries)
    slugs = [p.slug for p in result]
    if len(set(slugs)) != len(slugs):
        raise OptionsError(f"profile_list has duplicate slugs: {slugs}")
    return result


@dataclass(frozen=True)
class Choice:
    """What ``user_options`` asked for: a profile and the variables the user set."""

    profile: Profile
    variables: Mapping[str, str]


def choose(user_options: Mapping[str, Any] | None, available: Sequence[Profile]) -> Choice:
    """Parse ``user_options`` (``{"profile": slug, "variables": {name: value}}``, both optional)."""
    options = user_options or {}
    if unknown := set(options) - USER_OPTION_KEYS:
        raise OptionsError(f"unknown server options {sorted(unknown)}: pass {{\"profile\": <slug>, "
                           "\"variables\": {<name>: <value>}}")
    slug = options.get("profile")
    if slug in (None, ""):
        profile = next((p for p in available if p.default), available[0])
    else:
        found = [p for p in available if p.slug == slug]
        if not found:
            raise OptionsError(f"unknown profile {slug!r}; choose one of {[p.slug for p in available]}")
        profile = found[0]
    variables = options.get("variables") or {}
    if not isinstance(variables, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise OptionsError("server option 'variables' must map variable names to string values")
    return Choice(profile, dict(variables))


def resolve(declared: Sequence[Declaration], user: Mapping[str, str], fixed: Mapping[str, str],
            template: str) -> dict[str, str]:
    """The instance's ``spec.variables``: the user's values (checked) under the fixed ones.

    ``fixed`` holds the profile's, the administrator's and the spawner's own values; an
    undeclared or out-of-range fixed value is a configuration error, also reported here.
    """
    by_name = {d.name: d for d in declared}
    problems: list[str] = []
    for name, value in sorted(user.items()):
        declaration = by_name.get(name)
        if declaration is None:
            settable = sorted(d.name for d in declared if d.user_settable and d.name not in fixed)
            problems.append(f"{name!r} is not a variable of template {template} (you may set: {settable or 'none'})")
        elif not declaration.user_settable:
            problems.append(f"{name!r} cannot be chosen by users (template {template} does not mark it userSettable)")
        elif name in fixed:
            problems.append(f"{name!r} is fixed by the server profile")
        elif (why := declaration.problem(value)) is not None:
            problems.append(f"{name!r} {why}")
    if problems:
        raise OptionsError("invalid server options: " + "; ".join(problems))
    for name, value in sorted(fixed.items()):
        declaration = by_name.get(name)
        if declaration is None:
            problems.append(f"{name!r} (set by the hub configuration) is not declared by template {template}")
        elif (why := declaration.problem(value)) is not None:
            problems.append(f"{name!r} (set by the hub configuration) {why}")
    merged = {**user, **fixed}
    problems.extend(f"template {template} requires {d.name!r}, which neither the profile nor extra_variables sets"
                    + (" (users may set it)" if d.user_settable else "")
                    for d in declared if d.required and d.name not in merged)
    if problems:
        raise OptionsError("the hub's configuration does not fit the template: " + "; ".join(problems))
    return merged
