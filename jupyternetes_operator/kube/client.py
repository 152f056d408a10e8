"""The only HTTP code: raw-bytes requests to the Kubernetes API.

Config, credentials (including token refresh) and the aiohttp transport come from
``kubernetes_asyncio`` (imported without its generated API: :mod:`.library`); request and response
bodies are bytes written and read with orjson. No generated model object is built here, so every
hot path stays cheap.

Contract: a 2xx answer returns the parsed body; anything else raises the typed
error from :mod:`.errors`, and a connection that fails mid-request raises an
``OSError`` (:class:`TransportError` where aiohttp's own is not one). The client
never retries on its own.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, Self
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson

from .errors import Gone, NotFound, error_from_response
from .fence import Fence, FencedBody, InFlight, refused
from .jsonwire import loads
from .library import import_lean
from .metrics import ClientMetrics
from .pools import Pools

import_lean()  # before the imports below: kubernetes_asyncio without its generated API
from kubernetes_asyncio import config as k8s_config  # noqa: E402
from kubernetes_asyncio.client import Configuration  # noqa: E402

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


class Throttle(Protocol):
    """Client-side rate limiting: ``wait()`` returns when the next request may go out."""

    async def wait(self) -> None: ...


def _verb(method: str, params: Mapping[str, str | int | bool] | None, has_name: bool) -> str:
    if method == "GET":
        if params and params.get("watch"):
            return "WATCH"
        return "GET" if has_name else "LIST"
    return method


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, unless ``NO_PROXY``
    covers its host), as Go clients such as kubectl find it."""
    parts = urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class TransportError(aiohttp.ClientOSError):
    """The connection failed before a whole answer arrived (reset or closed mid-response, server gone).

    An ``OSError`` like every other network failure, so one ``except OSError`` covers them all (aiohttp
    raises some, e.g. an unfinished body, outside that hierarchy). A write may or may not have taken effect.
    """


class Client:
    """An authenticated connection to one API server.

    ``throttle`` (off by default, like controller-runtime) delays each request;
    ``metrics`` records requests and latency (:mod:`.metrics`; nothing by default);
    ``field_manager`` names this client in managedFields on every write. Without one the
    server names it after the User-Agent, as for any client that does not say, and
    :meth:`apply` (which needs a name) refuses.
    ``connections`` caps the requests in flight (:class:`.pools.Pools`; watches have their own).
    """

    def __init__(self, configuration: Configuration, *, metrics: ClientMetrics | None = None,
                 throttle: Throttle | None = None, field_manager: str | None = None,
                 connections: int | None = None) -> None:
        self._configuration = configuration
        self._pools = Pools(configuration, connections)
        self._host = str(configuration.host).rstrip("/")
        # The proxy is settled once: the kubeconfig's proxy-url, else HTTPS_PROXY/NO_PROXY. aiohttp's own
        # trust_env would look for ~/.netrc in a worker thread on every request (a thread hop per request,
        # and a netrc entry for the API host would clash with the token header).
        self._proxy: str | None = configuration.proxy or env_proxy(self._host)
        self._proxy_headers: Mapping[str, str] | None = configuration.proxy_headers if self._proxy else None
        self._metrics = metrics if metrics is not None else ClientMetrics()
        self._throttle = throttle
        self.field_manager = field_manager
        self.write_fence: Callable[[str, str], bool] | None = None
        """``(method, path) -> allowed``, consulted before every write (set by the composition root):
        once before it waits for a connection and again as its body is written (:class:`.fence.FencedBody`)."""
        self._in_flight = InFlight()

    @classmethod
    async def from_kubeconfig(cls, path: str | None = None, context: str | None = None,
                              **options: Any) -> Self:
        configuration = Configuration()
        await k8s_config.load_kube_config(config_file=path, context=context,
                                          client_configuration=configuration)
        return cls(configuration, **options)

    @classmethod
    def in_cluster(cls, **options: Any) -> Self:
        configuration = Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(configuration, **options)

    def reserve(self, prefix: str, connections: int = 1) -> None:
        """Requests under ``prefix`` get a pool of their own (:meth:`.pools.Pools.reserve`)."""
        self._pools.reserve(prefix, connections)

    async def close(self) -> None:
        await self._pools.close()

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

    async def _before(self, verb: str) -> float:
        if self._throttle is not None:
            waited = time.monotonic()
            await self._throttle.wait()
            self._metrics.throttled(verb, time.monotonic() - waited)
        return time.monotonic()

    def _after(self, verb: str, method: str, code: str, started: float) -> None:
        self._metrics.request(verb, method, code, time.monotonic() - started)

    async def request(self, method: str, path: str, *,
                      params: Mapping[str, str | int | bool] | None = None,
                      body: bytes | None = None, content_type: str | None = None,
                      timeout: float | None = 60.0, named: bool = True) -> bytes:
        """Send one request; return the raw body of a 2xx answer or raise ApiError."""
        if body is not None and content_type is None:
            content_type = JSON
        verb = _verb(method, params, named)
        started = await self._before(verb)
        # Checked after any throttling wait, and again as the body is written (FencedBody).
        fence: Fence | None = None
        payload: bytes | FencedBody | None = body
        if method not in ("GET", "HEAD") and self.write_fence is not None:
            fence = Fence(self.write_fence, method, path)
            fence.check()
            payload = FencedBody(body or b"", fence, content_type or JSON)
            self._in_flight.enter()
        code = "<error>"
        try:
            async with self._pools.for_request(path).request(
                method, self._url(path, params), data=payload,
                headers=await self._headers(content_type),
                timeout=aiohttp.ClientTimeout(total=timeout),
                proxy=self._proxy, proxy_headers=self._proxy_headers,
            ) as response:
                code = str(response.status)
                data = await response.read()
                if response.status >= 300:
                    raise error_from_response(response.status, data, response.headers)
                return data
        except aiohttp.ClientError as exc:
            if fence is not None and (refusal := refused(exc)) is not None:
                raise refusal from None
            if isinstance(exc, OSError):
                raise
            raise TransportError(f"{method} {path}: {exc}") from exc
        finally:
            self._after(verb, method, code, started)
            if fence is not None:
                self._in_flight.leave()

    async def fenced_writes_landed(self) -> None:
        """Return once no write that passed :attr:`write_fence` is still in flight (at once if none is).
        A leader letting go of its Lease waits for this after closing the fence: none of its writes
        then reaches the API server after the Lease says someone else may act."""
        await self._in_flight.wait()

    @asynccontextmanager
    async def stream(self, path: str, *, params: Mapping[str, str | int | bool] | None = None,
                     connect_timeout: float = 30.0, total_timeout: float | None = None,
                     ) -> AsyncIterator[aiohttp.StreamReader]:
        """Open a long-lived GET (a watch) and yield its body stream; errors raise as usual.

        Only the time to the response headers is recorded as request latency.
        """
        started = await self._before("WATCH")
        code = "<error>"
        timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        try:
            async with self._pools.watches.get(self._url(path, params), headers=await self._headers(None),
                                         timeout=timeout, proxy=self._proxy,
                                         proxy_headers=self._proxy_headers) as response:
                code = str(response.status)
                self._after("WATCH", "GET", code, started)
                if response.status >= 300:
                    raise error_from_response(response.status, await response.read(), response.headers)
                yield response.content
        except BaseException:
            if code == "<error>":
                self._after("WATCH", "GET", code, started)
            raise

    # JSON conveniences over request(); all take and return plain dicts.

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Object:
        return load_object(await self.request("GET", resource.path(namespace, name)))

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> Object | None:
        try:
            return await self.get(resource, name, namespace)
        except NotFound:
            return None

    async def list_page(self, resource: Resource, namespace: str | None = None, *,
                        params: Mapping[str, str | int | bool] | None = None) -> Object:
        """One LIST request, as the server answers it (``metadata.continue`` for more)."""
        return load_object(await self.request("GET", resource.path(namespace), params=params, named=False,
                                         timeout=300.0))

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   resource_version: str | None = None, limit: int = 500) -> Object:
        """LIST every page (``limit=0``: one unpaginated request); the result's ``items`` holds all of
        them and its ``metadata.resourceVersion`` is the version to watch from.

        If a continue token expires mid-way (410), the list restarts as one unpaginated
        request, as client-go's pager does, so the result is always one consistent snapshot.
        """
        params: dict[str, str | int | bool] = {"limit": limit} if limit else {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        items: list[Object] = []
        while True:
            try:
                page = await self.list_page(resource, namespace, params=params)
            except Gone:
                if "continue" not in params:
                    raise
                full = {k: v for k, v in params.items() if k not in ("continue", "limit")}
                return await self.list_page(resource, namespace, params=full)
            items.extend(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                page["items"] = items
                return page
            params["continue"] = token
            params.pop("resourceVersion", None)  # the token pins the snapshot

    def _write_params(self, dry_run: bool, extra: Mapping[str, str | int | bool] | None = None,
                      ) -> dict[str, str | int | bool]:
        params: dict[str, str | int | bool] = {}
        if self.field_manager is not None:
            params["fieldManager"] = self.field_manager
        if dry_run:
            params["dryRun"] = "All"
        if extra:
            params.update(extra)
        return params

    async def create(self, resource: Resource, obj: Mapping[str, Any], namespace: str | None = None,
                     *, dry_run: bool = False) -> Object:
        return load_object(await self.request("POST", resource.path(namespace), params=self._write_params(dry_run),
                                         body=orjson.dumps(obj), named=False))

    async def replace(self, resource: Resource, obj: Mapping[str, Any], namespace: str | None = None, *,
                      subresource: str | None = None, dry_run: bool = False) -> Object:
        """PUT: optimistic concurrency through ``metadata.resourceVersion`` (409 Conflict if stale)."""
        name = obj["metadata"]["name"]
        return load_object(await self.request("PUT", resource.path(namespace, name, subresource),
                                         params=self._write_params(dry_run), body=orjson.dumps(obj)))

    async def patch(self, resource: Resource, name: str, patch: Any, namespace: str | None = None, *,
                    content_type: str = MERGE_PATCH, subresource: str | None = None,
                    dry_run: bool = False) -> Object:
        """A merge patch (default) or a JSON patch (``content_type=JSON_PATCH``, ``patch`` a list)."""
        return load_object(await self.request("PATCH", resource.path(namespace, name, subresource),
                                         params=self._write_params(dry_run), body=orjson.dumps(patch),
                                         content_type=content_type))

    async def apply(self, resource: Resource, obj: Mapping[str, Any], namespace: str | None = None, *,
                    force: bool = False, subresource: str | None = None, dry_run: bool = False) -> Object:
        """Server-side apply of ``obj`` (JSON is YAML) as this client's field manager."""
        if self.field_manager is None:
            raise ValueError("server-side apply needs a field manager: build the Client with field_manager=")
        name = obj["metadata"]["name"]
        params = self._write_params(dry_run, {"force": True} if force else None)
        return load_object(await self.request("PATCH", resource.path(namespace, name, subresource), params=params,
                                         body=orjson.dumps(obj), content_type=APPLY_PATCH))

    async def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, uid: str | None = None,
                     resource_version: str | None = None, grace_period_seconds: int | None = None,
                     dry_run: bool = False) -> Object:
        """DELETE, optionally only if the object still has ``uid``/``resource_version`` (else 409)."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            options["dryRun"] = ["All"]
        return load_object(await self.request("DELETE", resource.path(namespace, name), body=orjson.dumps(options)))


def load_object(data: bytes) -> Object:
    """Parse a JSON object body, nested at most :data:`.jsonwire.MAX_DEPTH` deep (raises TypeError for
    anything but an object)."""
    parsed = loads(data)
    if not isinstance(parsed, dict):
        raise TypeError(f"expected a JSON object from the API server, got {type(parsed).__name__}")
    return parsed
