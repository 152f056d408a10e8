"""Decoding cuts nesting at MAX_DEPTH (the API server stores up to 10000 levels) and changes nothing else."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyternetes_operator.kube.client import load_object
from jupyternetes_operator.kube.jsonwire import MAX_DEPTH, loads, prune
from jupyternetes_operator.kube.watch import decode


def nested(depth: int) -> bytes:
    """``{"a": {"a": ... 1}}`` with ``depth`` objects, written without a JSON encoder's limits."""
    return b'{"a":' * (depth - 1) + b'{"a":1' + b"}" * depth


def depth_of(value: Any) -> int:
    level, stack = 0, [(value, 1)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict | list):
            level = max(level, at)
            stack += [(v, at + 1) for v in (node.values() if isinstance(node, dict) else node)]
    return level


def truncated(value: Any, limit: int, at: int = 1) -> Any:
    if isinstance(value, dict | list) and at > limit:
        return None
    if isinstance(value, dict):
        return {k: truncated(v, limit, at + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [truncated(v, limit, at + 1) for v in value]
    return value


def test_documents_deeper_than_any_json_library_allows_decode_cut_at_max_depth() -> None:
    for depth in (MAX_DEPTH + 1, 300, 1100, 10_000):
        obj = loads(nested(depth))
        assert depth_of(obj) == MAX_DEPTH
    assert loads(nested(MAX_DEPTH)) == orjson.loads(nested(MAX_DEPTH))


def test_every_decoding_path_is_cut() -> None:
    body = b'{"metadata":{"name":"t"},"spec":' + nested(5000) + b"}"
    assert depth_of(load_object(body)) == MAX_DEPTH
    event = decode(b'{"type":"ADDED","object":' + body + b"}")
    assert event.object["metadata"]["name"] == "t"
    assert depth_of(event.object) == MAX_DEPTH - 1


def test_brackets_and_escaped_quotes_inside_strings_do_not_count() -> None:
    text = '{{ username }} [[[ \\" {{{{{{{{ ]'
    doc = orjson.dumps({"s": text * 100, "t": ["\\", '"{', "}\""], "u": {"v": [1, {"w": None}]}})
    assert prune(doc, 4) is doc
    assert prune(doc, 3) == orjson.dumps({"s": text * 100, "t": ["\\", '"{', "}\""], "u": {"v": [1, None]}})
    assert loads(doc) == orjson.loads(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(alphabet="{}[]\"\\ab:,", max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="{}[]\"ab", max_size=3), inner,
                                                                 max_size=3),
    max_leaves=30)


@given(json_values, st.integers(1, 6))
@settings(max_examples=300)
def test_prune_replaces_exactly_what_is_deeper_than_the_limit(value: Any, limit: int) -> None:
    cut = orjson.loads(prune(orjson.dumps(value), limit))
    assert cut == truncated(value, limit)
    assert depth_of(cut) <= limit
