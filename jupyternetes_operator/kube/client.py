"""The only HTTP code: raw-bytes requests to the Kubernetes API.

Config, credentials (including token refresh) and the aiohttp transport come from
``kubernetes_asyncio``; request and response bodies are bytes written and read with
orjson. No generated model object is built here, so every hot path stays cheap.

Contract: a 2xx answer returns the parsed body; anything else raises the typed
error from :mod:`.errors`. The client never retries on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp
import orjson
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.rest import RESTClientObject

from .errors import NotFound, error_from_response

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

Object = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """A resource type, addressed by group/version/plural (no discovery on hot paths)."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path; ``namespace=None`` on a namespaced type means all namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource is not None:
                base += f"/{subresource}"
        return base


class Client:
    """An authenticated connection to one API server."""

    def __init__(self, configuration: Configuration) -> None:
        self._configuration = configuration
        self._rest = RESTClientObject(configuration)
        self._session: aiohttp.ClientSession = self._rest.pool_manager
        self._host = str(configuration.host).rstrip("/")

    @classmethod
    async def from_kubeconfig(cls, path: str | None = None, context: str | None = None) -> Self:
        configuration = Configuration()
        await k8s_config.load_kube_config(config_file=path, context=context,
                                          client_configuration=configuration)
        return cls(configuration)

    @classmethod
    def in_cluster(cls) -> Self:
        configuration = Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(configuration)

    async def close(self) -> None:
        await self._rest.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": JSON}
        if content_type is not None:
            headers["Content-Type"] = content_type
        for setting in (await self._configuration.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def _url(self, path: str, params: Mapping[str, str | int | bool] | None) -> str:
        if not params:
            return self._host + path
        encoded = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
        return f"{self._host}{path}?{urlencode(encoded)}"

    async def request(self, method: str, path: str, *,
                      params: Mapping[str, str | int | bool] | None = None,
                      body: bytes | None = None, content_type: str | None = None,
                      timeout: float | None = 60.0) -> bytes:
        """Send one request; return the raw body of a 2xx answer or raise ApiError."""
        if body is not None and content_type is None:
            content_type = JSON
        async with self._session.request(
            method, self._url(path, params), data=body,
            headers=await self._headers(content_type),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            data = await response.read()
            if response.status >= 300:
                raise error_from_response(response.status, data, response.headers)
            return data

    @asynccontextmanager
    async def stream(self, path: str, *, params: Mapping[str, str | int | bool] | None = None,
                     connect_timeout: float = 30.0) -> AsyncIterator[aiohttp.StreamReader]:
        """Open a long-lived GET (a watch) and yield its body stream; errors raise as usual."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        async with self._session.get(self._url(path, params), headers=await self._headers(None),
                                     timeout=timeout) as response:
            if response.status >= 300:
                raise error_from_response(response.status, await response.read(), response.headers)
            yield response.content

    # JSON conveniences over request(); all take and return plain dicts.

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Object:
        return _loads(await self.request("GET", resource.path(namespace, name)))

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> Object | None:
        try:
            return await self.get(resource, name, namespace)
        except NotFound:
            return None

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, limit: int = 500) -> Object:
        """LIST all pages; returns a list object whose ``items`` holds every page's items."""
        params: dict[str, str | int | bool] = {"limit": limit}
        if label_selector:
            params["labelSelector"] = label_selector
        items: list[Object] = []
        while True:
            page = _loads(await self.request("GET", resource.path(namespace), params=params))
            items.extend(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                page["items"] = items
                return page
            params["continue"] = token

    async def create(self, resource: Resource, obj: Mapping[str, Any], namespace: str | None = None,
                     *, dry_run: bool = False) -> Object:
        params: dict[str, str | int | bool] | None = {"dryRun": "All"} if dry_run else None
        return _loads(await self.request("POST", resource.path(namespace), params=params,
                                         body=orjson.dumps(obj)))

    async def patch(self, resource: Resource, name: str, patch: Any, namespace: str | None = None, *,
                    content_type: str = MERGE_PATCH, subresource: str | None = None) -> Object:
        return _loads(await self.request("PATCH", resource.path(namespace, name, subresource),
                                         body=orjson.dumps(patch), content_type=content_type))

    async def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None) -> Object:
        body = orjson.dumps({"kind": "DeleteOptions", "apiVersion": "v1",
                             "propagationPolicy": propagation_policy}) if propagation_policy else None
        return _loads(await self.request("DELETE", resource.path(namespace, name), body=body))


def _loads(data: bytes) -> Object:
    parsed = orjson.loads(data)
    if not isinstance(parsed, dict):
        raise TypeError(f"expected a JSON object from the API server, got {type(parsed).__name__}")
    return parsed
