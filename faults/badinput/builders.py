"""Builders of bad templates (the sample template with edits to its spec), and a way to send
objects nested deeper than a JSON encoder writes."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from jupyternetes_operator.kube.client import Client, Object, Resource
from jupyternetes_operator.testing.operator import TEMPLATE

Change = Callable[[Object], Any]
"""Edits a template's ``spec`` in place."""


def template_with(*changes: Change) -> Callable[[str], Object]:
    """A builder of the sample template named ``name``, with ``changes`` applied to its spec."""
    def make(name: str) -> Object:
        obj = copy.deepcopy(TEMPLATE)
        obj["metadata"] = {"name": name}
        for change in changes:
            change(obj["spec"])
        return obj
    return make


def set_pod(**fields: Any) -> Change:
    return lambda spec: spec["pods"][0]["spec"].update(fields)


def set_container(**fields: Any) -> Change:
    return lambda spec: spec["pods"][0]["spec"]["containers"][0].update(fields)


def pod_metadata(key: str, **values: str) -> Change:
    return lambda spec: spec["pods"][0]["metadata"].setdefault(key, {}).update(values)


def add_resource(resource: Object) -> Change:
    return lambda spec: spec.setdefault("resources", []).append(resource)


def declare(name: str, **fields: Any) -> Change:
    return lambda spec: spec["variables"].append({"name": name, **fields})


@dataclass(frozen=True)
class Nested:
    """Stands for ``{"a": {"a": ... 1}}`` ``depth`` objects deep, deeper than a JSON encoder writes;
    :func:`dumps` writes it."""

    depth: int

    def json(self) -> bytes:
        return b'{"a":' * (self.depth - 1) + b'{"a":1' + b"}" * self.depth


def dumps(obj: Any) -> bytes:
    """``orjson.dumps`` that also writes :class:`Nested` values."""
    found: dict[bytes, bytes] = {}

    def marker(value: Any) -> str:
        if not isinstance(value, Nested):
            raise TypeError(f"cannot write a {type(value).__name__}")
        text = f"nested-{secrets.token_hex(8)}"
        found[orjson.dumps(text)] = value.json()
        return text

    data = orjson.dumps(obj, default=marker, option=orjson.OPT_PASSTHROUGH_DATACLASS)
    for placeholder, nested in found.items():
        data = data.replace(placeholder, nested)
    return data


async def create(kube: Client, resource: Resource, obj: Object, namespace: str) -> None:
    """Create ``obj`` as :func:`dumps` writes it (the client's own encoder stops at 255 levels)."""
    await kube.request("POST", resource.path(namespace), body=dumps(obj), named=False)
