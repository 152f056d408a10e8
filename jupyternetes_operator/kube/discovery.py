"""Find the REST resource for an (apiVersion, kind), once at start-up (never on hot paths)."""

from __future__ import annotations

from .client import Client, Resource, load_object
from .errors import NotFound


async def resource_for(client: Client, api_version: str, kind: str) -> Resource:
    """The resource serving ``kind`` in ``api_version``; NotFound if the server has none."""
    group, _, version = api_version.rpartition("/")
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    listing = load_object(await client.request("GET", path))
    for entry in listing.get("resources") or ():
        if entry.get("kind") == kind and "/" not in entry.get("name", ""):
            return Resource(group, version, entry["name"], bool(entry.get("namespaced")))
    raise NotFound(404, "NotFound", f"the server has no resource for {api_version} {kind}")
