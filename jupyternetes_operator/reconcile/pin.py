"""Keep a provisioned instance on the children it was first rendered with (pure).

Guaranteed: a template edit never adds children to, removes children from, or moves the
endpoint of an instance whose status records children of an older template generation;
new spawns get the new version. A provisioned instance whose template can no longer be
rendered (broken by an edit, deleted, not yet vetted under new policy settings) is observed
from its record alone (:func:`recorded_only`), so a running server is never failed for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from . import status as st
from .render import Child, Endpoint, Rendered


def pin_to_recorded(rendered: Rendered, previous: Mapping[str, Any]) -> Rendered:
    """Keep a provisioned instance on the children it was rendered with.

    After a template edit (a newer generation than the one recorded in status) the
    recorded children are observed as they are — those the new render no longer
    produces included — and nothing the template now adds is created. If the edit
    renamed the endpoint pod, the recorded pod (and the recorded port) stay the
    endpoint. New spawns get the new version.
    """
    recorded = previous.get("templateGeneration")
    if recorded is None or recorded == rendered.template_generation or not previous.get("children"):
        return rendered
    by_name = {(c.kind, c.name): c for c in rendered.children}
    namespace = next((c.manifest["metadata"]["namespace"] for c in rendered.children), "")
    kept = tuple(by_name.get((r.get("kind"), r.get("name"))) or _recorded_child(r, namespace)
                 for r in previous["children"]
                 if (r.get("kind"), r.get("name")) in by_name or r.get("state") != st.MISSING)
    endpoint = rendered.endpoint
    pods = [c.name for c in kept if c.kind == "Pod"]
    if endpoint.pod not in pods and len(pods) == 1:
        port = (previous.get("endpoint") or {}).get("port", endpoint.port)
        endpoint = Endpoint(pods[0], endpoint.container, port)
    return dataclasses.replace(rendered, children=kept, endpoint=endpoint, template_generation=int(recorded))


def recorded_only(previous: Mapping[str, Any], namespace: str) -> Rendered | None:
    """What a provisioned instance was rendered with, from its status record alone (its one recorded
    Pod the endpoint, on the recorded port); None if it is not provisioned, or if it has several pods
    (the record does not say which one serves)."""
    generation = previous.get("templateGeneration")
    records = [r for r in previous.get("children") or () if r.get("state") != st.MISSING]
    pods = [str(r.get("name")) for r in records if r.get("kind") == "Pod"]
    if generation is None or len(pods) != 1:
        return None
    port = (previous.get("endpoint") or {}).get("port", 0)
    return Rendered(tuple(_recorded_child(r, namespace) for r in records), {}, Endpoint(pods[0], None, port),
                    int(generation))


def _recorded_child(record: Mapping[str, Any], namespace: str) -> Child:
    """A child known only from the status record (enough to look it up in the cache). A claim counts
    as retained: the planner keeps an owned one by its controller before it looks at retention."""
    kind = str(record.get("kind"))
    group = {"Pod": "pods", "PersistentVolumeClaim": "pvcs"}.get(kind, "resources")
    return Child(group, str(record.get("logicalName", "")), str(record.get("apiVersion", "v1")), kind,
                 str(record.get("name")), {"metadata": {"name": record.get("name"), "namespace": namespace}},
                 retain=kind == "PersistentVolumeClaim")
