"""How big a render may get, known before it is built (pure, apart from a bounded cache).

Guaranteed:

- :func:`estimate` gives, from a :class:`Profile` of each template entry and the *lengths* of
  the values its placeholders resolve to, an upper bound (up to :data:`CHILD_OVERHEAD` for the
  operator's own metadata) on the JSON bytes of the children a render builds. Its cost is one
  multiplication per distinct reference: a value of 4 KiB used 200,000 times is refused without
  allocating anything near the 800 MB it would build.
- A profile is computed once per template generation (keyed by ``metadata.uid`` and
  ``metadata.generation``, which the API server changes with every spec change) and kept in a
  cache of at most :data:`CACHE_SIZE` templates. Objects without a uid or generation (tests,
  hand-built dicts) are profiled on every call.
- :data:`MAX_RENDER_BYTES` is the bound one instance's render must stay under (see its docstring
  for why that number).

Not promised: that a render under the bound is accepted by the API server. Admission, field
pruning and etcd's own limit (1.5 MiB per stored object by default) still decide; the bound only
keeps every request under the API server's request limit and the operator's memory per render
small and fixed.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "CACHE_SIZE",
    "CHILD_OVERHEAD",
    "MAX_RENDER_BYTES",
    "EntryProfile",
    "Profile",
    "ProfileCache",
    "estimate",
    "human",
    "json_size",
    "profile",
    "string_size",
]

MAX_RENDER_BYTES = 2 * 1024 * 1024
"""The most JSON bytes one render (all children of an instance together) may build: 2 MiB.

- Above the biggest template etcd stores (1.5 MiB by default), so a template's literal content
  always fits and values still have room (``template-near-the-size-limit``: 1.4 MB of literal
  padding in a pod still comes up).
- Below the API server's request body limit (3 MiB), so no create the operator sends is refused
  for its size by the API server itself, whatever the values.
- Small enough that the instance workers rendering at once (32 by default) hold at most ~64 MiB
  of rendered JSON between them, however many hostile instances fail beside healthy ones.
"""

CHILD_OVERHEAD = 2048
"""Bytes added per child for what the operator writes besides the template's content: its seven
labels (values up to 63 characters), the ownerReference, name, namespace and the endpoint's
``envFrom``."""

CACHE_SIZE = 256
"""Template generations whose profiles are kept (a profile is a few integers per entry)."""


def string_size(text: str) -> int:
    """The JSON bytes of ``text`` as a string (quotes and escapes included, UTF-8)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    try:
        return len(orjson.dumps(text))
    except orjson.JSONEncodeError:  # a lone surrogate: no encoder writes it; count it as the worst escape
        return 6 * len(text) + 2


def json_size(value: Any) -> int:
    """The compact JSON bytes of a plain or read-only tree. Iterative (any depth)."""
    total = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += string_size(node)
        elif isinstance(node, Mapping):
            total += 2 + max(len(node) - 1, 0)  # braces and commas
            for key, item in node.items():
                total += string_size(str(key)) + 1  # the key and its colon
                stack.append(item)
        elif isinstance(node, Sequence) and not isinstance(node, bytes | bytearray):
            total += 2 + max(len(node) - 1, 0)
            stack.extend(node)
        elif node is None or node is True:
            total += 4
        elif node is False:
            total += 5
        else:
            total += len(orjson.dumps(node)) if isinstance(node, int | float) else len(str(node)) + 2
    return total


@dataclass(frozen=True)
class Profile:
    """The size of a piece of a template, placeholders aside, and how often it uses each reference."""

    base: int
    """JSON bytes of the piece with every placeholder removed."""
    uses: Mapping[str, int]
    """Reference (the text inside ``{{ }}``) → occurrences in the strings that get substituted."""

    def size(self, lengths: Callable[[str], int]) -> int:
        """JSON bytes once each placeholder is replaced by a value of ``lengths(ref)`` bytes."""
        return self.base + sum(count * lengths(ref) for ref, count in self.uses.items())


def profile(value: Any, templated: Iterable[str], placeholder: re.Pattern[str]) -> Profile:
    """The :class:`Profile` of ``value`` whose substituted strings are ``templated``."""
    uses: dict[str, int] = {}
    removed = 0
    for text in templated:
        if "{{" not in text:
            continue
        for match in placeholder.finditer(text):
            uses[match[1]] = uses.get(match[1], 0) + 1
            removed += len(match[0])  # a tab inside the braces is two JSON bytes: removing one is safe
    return Profile(max(json_size(value) - removed, 0), uses)


@dataclass(frozen=True)
class EntryProfile:
    """One ``spec.<group>[<index>]`` entry: the whole child it renders, and its name template alone
    (built for every entry, even one its ``when`` excludes)."""

    group: str
    index: int
    logical_name: str
    child: Profile
    name: Profile


def estimate(entries: Iterable[EntryProfile], included: Callable[[EntryProfile], bool],
             lengths: Callable[[str], int]) -> tuple[int, dict[str, int]]:
    """(bytes, bytes per reference) of a render: whole children for ``included`` entries, name
    templates for the others. The per-reference split says which value to blame."""
    total = 0
    by_ref: dict[str, int] = {}
    for entry in entries:
        whole = included(entry)
        part = entry.child if whole else entry.name
        total += part.base + (CHILD_OVERHEAD if whole else 0)
        for ref, count in part.uses.items():
            grown = count * lengths(ref)
            total += grown
            by_ref[ref] = by_ref.get(ref, 0) + grown
    return total, by_ref


def human(size: int) -> str:
    """``size`` bytes for a message: ``812.3 MiB``, ``2.0 MiB``, ``950 KiB``, ``17 bytes``."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


class ProfileCache:
    """Entry profiles per template generation, least recently used dropped beyond ``size``."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], tuple[EntryProfile, ...]] = OrderedDict()

    def get(self, template: Mapping[str, Any],
            compute: Callable[[], tuple[EntryProfile, ...]]) -> tuple[EntryProfile, ...]:
        metadata = template.get("metadata")
        uid = metadata.get("uid") if isinstance(metadata, Mapping) else None
        generation = metadata.get("generation") if isinstance(metadata, Mapping) else None
        if not isinstance(uid, str) or not uid or not isinstance(generation, int) or isinstance(generation, bool):
            return compute()
        key = (uid, generation)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        profiles = compute()
        self._items[key] = profiles
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return profiles

    def __len__(self) -> int:
        return len(self._items)
