"""Read-only JSON objects: what a cache hands out, and the explicit copy that makes one writable.

Guaranteed:

- :func:`freeze` makes a deep, read-only copy: mappings become :class:`FrozenDict` (a ``dict``
  whose every changing method raises ``TypeError``), lists and tuples become tuples, JSON scalars
  stay (short strings replaced by an equal, interned one: :data:`INTERN_MAX`). Nothing else is accepted
  (``TypeError``), so read-only holds for every node. A node whose leaves are all short strings,
  integers, booleans and nulls may be an equal node frozen before (same keys in the same order, same values of the same
  types): read-only, so no reader can tell, but 10,000 cached pods hold their containers once.
- :func:`thaw` makes a deep, independent, plain ``dict``/``list`` copy (ready for ``orjson``).
- A :class:`Packed` mapping (made by a cache's view, never by :func:`freeze`) is read-only too:
  :func:`freeze` keeps it as it is and :func:`thaw` unpacks it.

Not promised: hashability (a :class:`FrozenDict` is not hashable), identity either way (equal nodes
may or may not be one object), or protection from code that calls ``dict``'s own methods on it on
purpose.

A :class:`FrozenDict` rather than a ``MappingProxyType`` over a private dict: the proxy costs 56
bytes per mapping, about 1.4 KB per notebook in the caches (an instance and its pod view hold 25
mappings), 14 MB at 10,000 live (bench/README.md, issue 18).
"""

from __future__ import annotations

import builtins
import sys
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NoReturn, TypeAlias, overload

import orjson

FrozenObject: TypeAlias = Mapping[str, Any]
"""A stored object: a read-only :class:`FrozenDict` tree (lists became tuples)."""

_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})

INTERN_MAX = 32
"""Strings up to this length are interned as they are frozen: the values a cache holds thousands
of times ("True", "Running", a namespace, an image, a label value) are then held once. A string
longer than this is most often unique (a uid is 36), and is kept as it came."""
_intern = sys.intern


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses every change with ``TypeError``; copies of it (``dict(d)``,
    ``d.copy()``, ``d | other``) are plain, writable dicts."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"a cached object is read-only (thaw() it for a writable copy): {type(self).__name__}")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __copy__(self) -> FrozenDict:
        return self  # nothing in it can change

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return FrozenDict, (dict(self),)


class Packed(Mapping[str, Any]):
    """A read-only mapping that keeps its scalar entries as they are and the others as one JSON
    document, deflated, and decoded (and frozen) whenever one of them is read. For a node kept for
    every object but read whole, and rarely, apart from its scalars: an instance's status (its
    ``phase`` and generations are read for every instance by the gauges and the counts; its
    conditions, children and endpoint once a reconcile, thawed). A subclass names a ``PRESET``: JSON
    like what it packs (its keys, its usual values), against which each document is deflated, so that
    what is kept is what differs. Equal to any mapping with the same content; keys iterate scalars first."""

    PRESET: ClassVar[bytes] = b""
    _WBITS: ClassVar[int] = -11
    """Raw deflate (no header, no checksum: it never leaves the process) with a 2 KB window, room for a
    preset and a document of that size; memory level 1: a compressor of a few KB, made in microseconds."""

    __slots__ = ("_packed", "_packed_keys", "_scalars")

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        rest = {k: v for k, v in mapping.items() if not _is_scalar(v)}
        self._scalars = _frozen_mapping({k: v for k, v in mapping.items() if k not in rest})[0]
        self._packed_keys: tuple[str, ...] = _share(("k", *rest), tuple(_intern(k) for k in rest))
        self._packed = b""
        if rest:
            deflate = zlib.compressobj(6, zlib.DEFLATED, self._WBITS, 1, zlib.Z_DEFAULT_STRATEGY, self.PRESET)
            # Copied to a bytes of its own size: zlib's answer is a shrunk buffer of the C heap.
            self._packed = memoryview(deflate.compress(orjson.dumps(rest)) + deflate.flush()).tobytes()

    def _rest(self) -> dict[str, Any]:
        if not self._packed:
            return {}
        rest: dict[str, Any] = orjson.loads(zlib.decompressobj(self._WBITS, self.PRESET).decompress(self._packed))
        return rest

    def __getitem__(self, key: str) -> Any:
        if key in self._scalars:
            return self._scalars[key]
        if key in self._packed_keys:
            return freeze(self._rest()[key])
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._scalars
        yield from self._packed_keys

    def __len__(self) -> int:
        return len(self._scalars) + len(self._packed_keys)

    def __contains__(self, key: object) -> bool:
        return key in self._scalars or key in self._packed_keys

    def thawed(self) -> dict[str, Any]:
        """A plain, writable copy (what :func:`thaw` returns)."""
        return {**self._scalars, **self._rest()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self.thawed() == thaw(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a dict, so unhashable like one

    def __copy__(self) -> Packed:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Packed:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.thawed()!r})"


def _is_scalar(value: Any) -> bool:
    kind = type(value)
    return kind is str or kind is int or kind is bool or value is None or kind is float


SHARED_MAX = 2048
"""Distinct small nodes :func:`freeze` keeps to share; the set starts again once full."""
_shared: dict[tuple[Any, ...], Any] = {}


def _share(key: tuple[Any, ...], node: Any) -> Any:
    """The node frozen before with this content, else ``node`` (kept for the next)."""
    found = _shared.get(key)
    if found is not None:
        return found
    if len(_shared) >= SHARED_MAX:
        _shared.clear()
    _shared[key] = node
    return node


def forget_shared() -> None:
    """Empty the table of nodes to share (the nodes stay wherever they are held): a memory
    measurement calls it before it reads, so the table is not charged to what it weighs."""
    _shared.clear()


# Hot path (every watch event): the leaf tests are inlined, since most nodes are leaves and a call
# per leaf costs about half the total. A shared node's key is its content, flat: "d" or "t", then
# for each entry its key (mappings), then the value: a short string as it is, an int, bool or None
# as its type and value (True == 1, but they are not one value; a float, where -0.0 == 0.0, makes
# its node unshared), a shared node as its id. An id is
# never reused while a key holds it: the node that key shares holds that child.

def _frozen_mapping(obj: Mapping[str, Any]) -> tuple[FrozenDict, bool]:
    copy = {}
    parts: list[Any] | None = ["d"]
    for k, v in obj.items():
        t = type(v)
        if t is str:
            short = len(v) <= INTERN_MAX
            copy[k] = text = _intern(v) if short else v
            if not short:
                parts = None
            elif parts is not None:
                parts += (k, text)
        elif t is int or t is bool or v is None or t is float:
            copy[k] = v
            if t is float:  # -0.0 == 0.0: a node with a float is never shared
                parts = None
            elif parts is not None:
                parts += (k, t, v)
        else:
            node, shared = _frozen(v)
            copy[k] = node
            if not shared:
                parts = None
            elif parts is not None:
                parts += (k, id(node))
    frozen = FrozenDict(copy)
    return (frozen, False) if parts is None else (_share(tuple(parts), frozen), True)


def _frozen_sequence(obj: list[Any] | tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    items = []
    parts: list[Any] | None = ["t"]
    for v in obj:
        t = type(v)
        if t is str:
            short = len(v) <= INTERN_MAX
            items.append(text := _intern(v) if short else v)
            if not short:
                parts = None
            elif parts is not None:
                parts.append(text)
        elif t is int or t is bool or v is None or t is float:
            items.append(v)
            if t is float:
                parts = None
            elif parts is not None:
                parts += (t, v)
        else:
            item, shared = _frozen(v)
            items.append(item)
            if not shared:
                parts = None
            elif parts is not None:
                parts.append(id(item))
    frozen = tuple(items)
    return (frozen, False) if parts is None else (_share(tuple(parts), frozen), True)


def _frozen(obj: Any) -> tuple[Any, bool]:
    """``obj`` frozen, and whether it is a shared node (every leaf short: see :func:`freeze`)."""
    kind = type(obj)
    if kind is dict or kind is FrozenDict:
        return _frozen_mapping(obj)
    if kind is list or kind is tuple:
        return _frozen_sequence(obj)
    if kind is str:
        return (_intern(obj) if len(obj) <= INTERN_MAX else obj), False
    if kind in _SCALARS or isinstance(obj, Packed):
        return obj, False
    if isinstance(obj, Mapping):
        return _frozen_mapping(dict(obj))
    raise TypeError(f"cannot freeze a {kind.__name__}: not a JSON value")


@overload
def freeze(obj: Mapping[str, Any]) -> FrozenObject: ...
@overload
def freeze(obj: builtins.list[Any] | tuple[Any, ...]) -> tuple[Any, ...]: ...
@overload
def freeze(obj: Any) -> Any: ...
def freeze(obj: Any) -> Any:
    """A deep, read-only copy: mappings become :class:`FrozenDict`, lists
    (and tuples) become tuples of frozen items, JSON scalars stay as they are.

    A mapping or list whose leaves are all short strings, integers, booleans or nulls (a pod's container ports, a
    condition without a long message, a template reference) is shared with an equal one frozen
    recently (up to :data:`SHARED_MAX` distinct ones are remembered): being read-only, equal nodes
    may be one object, which 10,000 cached notebooks then hold once.

    Anything else (sets, bytes, arbitrary objects) is rejected with ``TypeError``: the store
    only promises read-only objects because it knows every node type.
    """
    return _frozen(obj)[0]


@overload
def thaw(obj: Mapping[str, Any]) -> dict[str, Any]: ...
@overload
def thaw(obj: builtins.list[Any] | tuple[Any, ...]) -> builtins.list[Any]: ...
@overload
def thaw(obj: Any) -> Any: ...
def thaw(obj: Any) -> Any:
    """A deep, mutable copy with plain dicts and lists (ready for ``orjson.dumps``)."""
    kind = type(obj)
    if kind is FrozenDict or kind is dict:
        copy = {}
        for k, v in obj.items():
            t = type(v)
            copy[k] = v if t is str or t is int or t is bool or v is None or t is float else thaw(v)
        return copy
    if kind is tuple or kind is list:
        return [v if _is_scalar(v) else thaw(v) for v in obj]
    if kind in _SCALARS:
        return obj
    if isinstance(obj, Packed):
        return obj.thawed()
    if isinstance(obj, Mapping):
        return thaw(dict(obj))
    raise TypeError(f"cannot thaw a {kind.__name__}: not a JSON value")
