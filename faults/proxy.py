"""A loopback HTTPS proxy between the operator and the API server that injects faults on command.

The operator reaches it through a kubeconfig of its own (:meth:`FaultProxy.write_kubeconfig`): the
proxy serves TLS with a certificate of the control plane's CA, passes the bearer token through and
relays response bodies chunk by chunk (a watch's events reach the client as the server sends them);
request bodies, always small, are read whole. An unreachable API server is answered 503.

Faults, each counted in :attr:`FaultProxy.injected`:

- rules (:class:`~faults.proxy_rules.Rule`), matched on new requests by method, path and whether
  they are watches, answer 429 with ``Retry-After`` (and the ``Status`` body the API server sends), answer 500, delay,
  *stall* (no response at all, the connection held open) or *drop* (the response started, then the
  TCP connection reset without ending it);
- :meth:`FaultProxy.silence` makes every open watch stream go quiet for good (nothing more is
  sent, the connection stays open: no FIN) and :meth:`FaultProxy.drop` resets open exchanges.

The Lease in ``coordination.k8s.io`` is never touched unless a rule says ``leases=True``
(``silence`` and ``drop`` always spare it).
Every request is recorded in :attr:`FaultProxy.seen` with what was done to it and when it ended.
Runs on the caller's asyncio loop and never blocks it. Not promised: HTTP/2, upgrades (exec,
port-forward), exact timing under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

import aiohttp
import orjson
import yaml
from aiohttp import web

from jupyternetes_operator.testing.pki import issue_serving_cert

from .proxy_rules import LEASES, Action, Rule, Seen, status_body

if TYPE_CHECKING:
    from jupyternetes_operator.testing.controlplane import ControlPlane

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})


@dataclass(eq=False)
class _Exchange:
    seen: Seen
    request: web.BaseRequest
    done: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None


def _object(method: str, path: str, body: bytes) -> str:
    if method == "POST" and body:
        try:
            name = orjson.loads(body)["metadata"]["name"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return path
        return f"{path}/{name}"
    return path


def _reset(transport: asyncio.Transport | None) -> None:
    """Close abruptly: RST (SO_LINGER 0), no TLS close_notify, no end of the HTTP response."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FaultProxy:
    """The proxy; ``async with`` (or :meth:`start` / :meth:`close`) runs it on a free loopback port."""

    def __init__(self, upstream: str, ca_cert: Path, cert: Path, key: Path, *, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca_cert = ca_cert
        self._cert, self._key = cert, key
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self.injected: Counter[str] = Counter()
        """Faults by kind: ``429``, ``500``, ``delay``, ``stall``, ``drop``, ``silence``."""
        self._rng = random.Random(seed)
        self._open: set[_Exchange] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @classmethod
    def for_control_plane(cls, control_plane: ControlPlane, directory: Path, *, seed: int = 0) -> Self:
        """A proxy in front of ``control_plane``'s API server, its certificate written to ``directory``."""
        cert, key = issue_serving_cert(control_plane.pki, directory, "fault-proxy")
        return cls(control_plane.server, control_plane.pki.ca_cert, cert, key, seed=seed)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig for ``token`` that goes through this proxy."""
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fault-proxy",
            "clusters": [{"name": "fault-proxy", "cluster": {"server": self.url,
                                                              "certificate-authority": str(self.ca_cert)}}],
            "users": [{"name": "fault-proxy", "user": {"token": token}}],
            "contexts": [{"name": "fault-proxy", "context": {"cluster": "fault-proxy", "user": "fault-proxy"}}],
        }
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        upstream_tls = ssl.create_default_context(cafile=str(self.ca_cert))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream_tls, limit=0), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        serving_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        serving_tls.load_cert_chain(self._cert, self._key)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=serving_tls)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        for exchange in list(self._open):
            _reset(exchange.request.transport)
            exchange.done.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- faults --------------------------------------------------------------------------------

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        if rule in self.rules:
            self.rules.remove(rule)

    def clear(self) -> None:
        self.rules.clear()

    def open_exchanges(self) -> list[Seen]:
        """The watch streams open now, but the Lease's."""
        return [e.seen for e in self._open if e.seen.watch and not e.seen.path.startswith(LEASES)]

    def silence(self) -> int:
        """Every open watch stream goes quiet for good: nothing more is sent, no FIN. Returns how many."""
        now = time.monotonic()
        silenced = 0
        for exchange in list(self._open):
            seen = exchange.seen
            if not seen.watch or seen.silenced is not None or seen.path.startswith(LEASES):
                continue
            seen.silenced = now
            if exchange.pump is not None:
                exchange.pump.cancel()
            silenced += 1
        if silenced:
            self.injected["silence"] += silenced
        return silenced

    def stall_watches(self) -> Rule:
        """A watch outage: open watches go silent and new ones get no response, until the returned
        rule is removed."""
        self.silence()
        return self.add(Rule(Action.STALL, watch=True))

    def drop(self, *, watches: bool | None = True) -> int:
        """Reset every open exchange but the Lease's (by default only the watch streams) now. Returns how many."""
        dropped = 0
        for exchange in list(self._open):
            seen = exchange.seen
            if (watches is not None and seen.watch != watches) or seen.path.startswith(LEASES):
                continue
            self._drop(exchange)
            dropped += 1
        if dropped:
            self.injected["drop"] += dropped
        return dropped

    def _drop(self, exchange: _Exchange) -> None:
        exchange.seen.dropped = time.monotonic()
        _reset(exchange.request.transport)
        exchange.done.set()

    # -- what happened ------------------------------------------------------------------------

    def next_request(self, seen: Seen) -> Seen | None:
        """The first request after ``seen`` for the same object."""
        later = (s for s in self.seen if s.at > seen.at and s.object == seen.object)
        return next(later, None)

    def watches(self, since: float = 0.0) -> list[Seen]:
        return [s for s in self.seen if s.watch and s.at >= since]

    # -- serving --------------------------------------------------------------------------------

    def _pick(self, method: str, path: str, watch: bool) -> Rule | None:
        for rule in self.rules:
            if rule.matches(method, path, watch) and (rule.share >= 1.0 or self._rng.random() < rule.share):
                rule.hits += 1
                return rule
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()
        watch = request.query.get("watch") in ("true", "1")
        rule = self._pick(request.method, request.path, watch)
        action = rule.action if rule is not None else Action.PASS
        seen = Seen(arrived, request.method, request.path, _object(request.method, request.path, body), watch, action)
        self.seen.append(seen)
        if rule is not None:
            self.injected[str(action)] += 1
        exchange = _Exchange(seen, request)
        self._open.add(exchange)
        try:
            if rule is not None and action is Action.THROTTLE:
                return self._answer(seen, 429, status_body(
                    429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": rule.retry_after}), {"Retry-After": str(rule.retry_after)})
            if action is Action.FAIL:
                return self._answer(seen, 500, status_body(
                    500, "InternalError", "Internal error occurred: injected by the fault proxy",
                    {"causes": [{"message": "injected by the fault proxy"}]}))
            if action is Action.STALL:
                await self._until_closed(exchange)
                return web.Response(status=204)  # never reaches the client: it has gone
            if rule is not None and action is Action.DELAY:
                await asyncio.sleep(rule.delay)
            return await self._forward(exchange, body, rule if action is Action.DROP else None)
        finally:
            self._open.discard(exchange)
            seen.ended = time.monotonic()

    def _answer(self, seen: Seen, code: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
        seen.status = code
        seen.retry_after = int(headers["Retry-After"]) if headers and "Retry-After" in headers else None
        return web.Response(status=code, body=body, content_type="application/json", headers=headers)

    async def _forward(self, exchange: _Exchange, body: bytes, drop: Rule | None) -> web.StreamResponse:
        request, seen = exchange.request, exchange.seen
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            upstream = await self._session.request(
                request.method, self.upstream + request.path_qs, data=body or None, headers=headers,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"))
        except (aiohttp.ClientError, OSError) as exc:
            return self._answer(seen, 503, status_body(503, "ServiceUnavailable", f"fault proxy: upstream: {exc}"))
        watcher = asyncio.create_task(self._until_closed(exchange))
        timer: asyncio.TimerHandle | None = None
        try:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP - {"content-length"}})
            if seen.silenced is not None:  # went quiet before the server answered: nothing at all is sent
                await exchange.done.wait()
                return web.Response(status=204)  # never reaches the client: it has gone
            seen.status = upstream.status
            await response.prepare(request)
            if drop is not None and drop.delay <= 0:  # counted when the rule was picked
                # Half of the first chunk (headers go out with it), then the reset: mid-response.
                chunk = await upstream.content.readany()
                await response.write(chunk[:max(1, len(chunk) // 2)])
                self._drop(exchange)
            elif seen.silenced is None:
                exchange.pump = asyncio.create_task(self._pump(exchange, upstream, response))
            if drop is not None and drop.delay > 0:
                timer = asyncio.get_running_loop().call_later(drop.delay, self._drop, exchange)
            await exchange.done.wait()
            return response
        except (ConnectionError, aiohttp.ClientError):
            return web.Response(status=204)  # the client has gone
        finally:
            if timer is not None:
                timer.cancel()
            watcher.cancel()
            tasks = [t for t in (watcher, exchange.pump) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            upstream.release()  # back to the pool if the body was read to its end, else closed

    async def _pump(self, exchange: _Exchange, upstream: aiohttp.ClientResponse, response: web.StreamResponse,
                    ) -> None:
        """Relay the body chunk by chunk until it ends (then end the response) or fails."""
        try:
            async for chunk in upstream.content.iter_any():
                if exchange.seen.silenced is not None:
                    return
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientError, TimeoutError):
            pass
        finally:
            if exchange.seen.silenced is None:
                exchange.done.set()

    async def _until_closed(self, exchange: _Exchange) -> None:
        """Wait until the client closes the connection (recorded), or the exchange ends otherwise."""
        while not exchange.done.is_set():
            transport = exchange.request.transport
            if transport is None or transport.is_closing():
                if exchange.seen.dropped is None:
                    exchange.seen.client_closed = True
                exchange.done.set()
                return
            await asyncio.sleep(0.05)
