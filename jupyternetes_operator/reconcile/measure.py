"""The size bound applied to one template and instance: estimated before anything is built (pure,
apart from the profile cache).

Guaranteed:

- Before any child name or body is built, the size of the result is estimated from the
  template's profile (cached per template generation) and the lengths of the values (see
  :mod:`.bounds`); over :data:`.bounds.MAX_RENDER_BYTES` the render fails with reason
  ``RenderTooLarge`` — an :class:`InstanceError` for an instance's values, a
  :class:`TemplateError` when validating with sample values. Excluded entries count with their
  name template only (their names are computed all the same).
- The error blames the reference that adds most, with its uses and its value's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import api
from .bounds import MAX_RENDER_BYTES, EntryProfile, Profile, ProfileCache, estimate, human, profile, string_size
from .templating import CHILD_REF, GROUPS, PLACEHOLDER, group_entries, template_spec, templated_strings
from .variables import InstanceError, TemplateError, resolve
from .when import is_included

_PROFILES = ProfileCache()
"""Entry profiles per template generation, for the size bound (see :mod:`.bounds`)."""

# ---------------------------------------------------------------- size


def _entry_profiles(groups: Mapping[str, list[Mapping[str, Any]]]) -> tuple[EntryProfile, ...]:
    profiles = []
    for group in GROUPS:
        for index, entry in enumerate(groups[group]):
            metadata = entry.get("metadata")
            name = metadata.get("name") if isinstance(metadata, Mapping) else None
            profiles.append(EntryProfile(
                group, index, str(entry.get("name", "")),
                profile(entry, (text for _, text in templated_strings(group, index, entry)), PLACEHOLDER),
                profile(name, (name,), PLACEHOLDER) if isinstance(name, str) else Profile(0, {}),
            ))
    return tuple(profiles)


def estimate_size(template: Mapping[str, Any], instance: Mapping[str, Any], *, every_entry: bool = False) -> int:
    """The bound :func:`render` checks, in bytes: the JSON of the children it would build for
    ``instance`` (every entry's with ``every_entry``, as :func:`validate` renders), plus
    :data:`.bounds.CHILD_OVERHEAD` per child, computed without building them. Values are not
    checked (as with ``check_values=False``)."""
    spec = template_spec(template)
    variables = resolve(spec.get("variables") or (), (instance.get("spec") or {}).get("variables") or {},
                        check_values=False)
    groups = {group: group_entries(spec, group) for group in GROUPS}
    return _measure(template, groups, base_values(template, instance, variables), variables, every_entry)[0]


def base_values(template: Mapping[str, Any], instance: Mapping[str, Any],
                variables: Mapping[str, str]) -> dict[str, str]:
    """The values of the variables and of the instance and template built-ins."""
    instance_meta = instance.get("metadata") or {}
    return {
        **variables,
        "instance.name": str(instance_meta.get("name", "")),
        "instance.namespace": str(instance_meta.get("namespace", "")),
        "template.name": str((template.get("metadata") or {}).get("name", "")),
    }


def _measure(template: Mapping[str, Any], groups: Mapping[str, list[Mapping[str, Any]]], base: Mapping[str, str],
             variables: Mapping[str, str], every_entry: bool) -> tuple[int, str, int, int, int]:
    """(estimated bytes, the reference adding most, the bytes it adds, its uses, its value's bytes)."""
    profiles = _PROFILES.get(template, lambda: _entry_profiles(groups))
    sizes: dict[str, int] = {}

    def length(ref: str) -> int:
        if ref not in sizes:
            if ref in base:
                sizes[ref] = string_size(base[ref]) - 2
            else:
                sizes[ref] = api.MAX_NAME if CHILD_REF.fullmatch(ref) else 0
        return sizes[ref]

    inclusion: dict[tuple[str, int], bool] = {}

    def included(entry: EntryProfile) -> bool:
        key = (entry.group, entry.index)
        if key not in inclusion:
            try:
                inclusion[key] = every_entry or is_included(
                    groups[entry.group][entry.index], f"spec.{entry.group}[{entry.index}]", variables)
            except TemplateError:
                inclusion[key] = True  # reported by the render itself; counting the entry whole is the safe side
        return inclusion[key]

    size, by_ref = estimate(profiles, included, length)
    ref, share = max(by_ref.items(), key=lambda item: item[1], default=("", 0))
    uses = sum((p.child if included(p) else p.name).uses.get(ref, 0) for p in profiles) if ref else 0
    return size, ref, share, uses, length(ref) if ref else 0


def check_size(template: Mapping[str, Any], groups: Mapping[str, list[Mapping[str, Any]]], base: Mapping[str, str],
                variables: Mapping[str, str], values: Mapping[str, Any], *, check_values: bool,
                every_entry: bool) -> None:
    """Raise ``RenderTooLarge`` if the render would build more than :data:`.bounds.MAX_RENDER_BYTES`."""
    size, ref, share, uses, length = _measure(template, groups, base, variables, every_entry)
    if size <= MAX_RENDER_BYTES:
        return
    blame = f"; {{{{ {ref} }}}} accounts for {human(share)} ({uses} uses of {length} bytes)" if share else ""
    what = "the children of every entry, rendered with sample values," if every_entry else "the children"
    detail = f"{what} would be about {human(size)} of JSON, over the limit of {human(MAX_RENDER_BYTES)}{blame}"
    if check_values and ref in variables and ref in values:
        field = f"spec.variables.{ref}"
        raise InstanceError("RenderTooLarge", f"{field}: {detail}", field)
    if check_values:
        raise InstanceError("RenderTooLarge", f"spec: {detail}", "spec")
    raise TemplateError("RenderTooLarge", f"spec: {detail}", "spec")
