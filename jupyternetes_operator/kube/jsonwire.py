"""Decoding the API server's JSON so that no object can nest too deep for the operator to walk.

Guaranteed: :func:`loads` returns what ``orjson.loads`` would, except that every value nested
deeper than :data:`MAX_DEPTH` levels (the document itself is level 1) is replaced by ``null``.
The API server stores up to 10000 levels in the free-form parts of a custom resource
(``x-kubernetes-preserve-unknown-fields``); orjson refuses to parse more than 1024 and to write
more than 255, and the store and the renderer walk objects recursively, so one such object would
otherwise crash a watch or loop a reconciler forever. No real Kubernetes object comes near the
limit; an object that did arrives intact up to it, so a validator can refuse it by its depth.

Cost: two ``bytes.count`` calls for a document with at most :data:`MAX_DEPTH` brackets (every
watch event of an ordinary object); otherwise one regex scan of the document.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "loads", "prune"]

MAX_DEPTH = 200
"""Below orjson's 255-level limit for writing (what the operator decoded it can send back) and
well below Python's recursion limit."""

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)  # a whole string, or a bracket
_OPEN = frozenset(b"[{")


def prune(data: bytes, limit: int = MAX_DEPTH) -> bytes:
    """``data`` (a JSON document) with every value nested deeper than ``limit`` replaced by ``null``;
    ``data`` itself when nothing is that deep. Brackets inside strings do not count."""
    pieces: list[bytes] = []
    depth, start, cut = 0, 0, -1
    for match in _TOKEN.finditer(data):
        first = data[match.start()]
        if first == 0x22:  # a string
            continue
        if first in _OPEN:
            depth += 1
            if depth == limit + 1:
                cut = match.start()
        else:
            if depth == limit + 1:
                pieces += (data[start:cut], b"null")
                start = match.end()
            depth -= 1
    if not pieces:
        return data
    pieces.append(data[start:])
    return b"".join(pieces)


def loads(data: bytes | str) -> Any:
    """Parse JSON like ``orjson.loads``, nesting cut at :data:`MAX_DEPTH` (see the module's doc)."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        raw = prune(raw)
    return orjson.loads(raw)
