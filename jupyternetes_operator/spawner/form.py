"""The options form, generated from profiles and their templates' declarations (pure).

Field names: ``profile`` (the chosen slug) and ``<slug>/<variable>`` for each
user-settable variable of that profile's template that the profile does not fix.
:func:`options_from_form` turns the posted form back into ``user_options``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from ..api import Declaration
from .options import Profile


def settable(profile: Profile, declared: Sequence[Declaration], fixed: Mapping[str, str] | None = None,
             ) -> list[Declaration]:
    """The variables a user may choose for ``profile`` (not fixed by it, the hub, or the spawner)."""
    fixed = fixed or {}
    return [d for d in declared
            if d.user_settable and d.name not in profile.variables and d.name not in fixed and d.name != "username"]


def _field(profile: Profile, declaration: Declaration) -> str:
    name = escape(f"{profile.slug}/{declaration.name}")
    label = escape(declaration.description or declaration.name)
    if declaration.enum:
        options = "".join(
            f'<option value="{escape(v)}"{" selected" if v == declaration.default else ""}>{escape(v)}</option>'
            for v in declaration.enum)
        control = f'<select class="form-control" id="{name}" name="{name}">{options}</select>'
    else:
        attrs = f' value="{escape(declaration.default or "")}"'
        if declaration.pattern:
            attrs += f' pattern="{escape(declaration.pattern)}"'
        if declaration.required:
            attrs += " required"
        control = f'<input class="form-control" type="text" id="{name}" name="{name}"{attrs}>'
    return f'<div class="form-group"><label for="{name}">{label}</label>{control}</div>'


def render(choices: Sequence[tuple[Profile, Sequence[Declaration]]]) -> str:
    """The form's HTML; ``""`` (JupyterHub then shows no form) when there is nothing to choose."""
    if len(choices) == 1 and not choices[0][1]:
        return ""
    default = next((p.slug for p, _ in choices if p.default), choices[0][0].slug)
    parts: list[str] = []
    for profile, fields in choices:
        slug = escape(profile.slug)
        if len(choices) == 1:
            parts.append(f'<input type="hidden" name="profile" value="{slug}">')
        else:
            checked = " checked" if profile.slug == default else ""
            description = f"<p>{escape(profile.description)}</p>" if profile.description else ""
            parts.append(f'<div class="radio"><label><input type="radio" name="profile" value="{slug}"{checked}> '
                         f"<strong>{escape(profile.display_name)}</strong></label>{description}</div>")
        parts.extend(_field(profile, d) for d in fields)
    return "\n".join(parts)


def options_from_form(form: Mapping[str, Sequence[str]]) -> dict[str, object]:
    """``user_options`` from posted form data: the profile and its non-empty variables."""
    slug = (form.get("profile") or [""])[0]
    prefix = f"{slug}/"
    variables = {key[len(prefix):]: values[0] for key, values in form.items()
                 if key.startswith(prefix) and values and values[0] != ""}
    return {"profile": slug, "variables": variables} if slug else {"variables": variables}
