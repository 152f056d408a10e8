"""Prepared homes, the I/O (``--prepared-homes``): the prepare requests of :mod:`.prepared` created,
waited for until Prepared, then deleted and waited for until gone, before the scenario's timed part."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import NotFound

from ..watch_hotpath import Display
from .cluster import Bench, template_name
from .home import claim_name
from .prepared import PREPARED_VARIANTS, not_prepared, prepare_name, prepare_request, still_there, unprepared
from .variants import namespace_of


async def prepare_homes(bench: Bench, display: Display, args: argparse.Namespace, tags: Sequence[str]) -> None:
    """``--prepared-homes``, untimed: a prepare request for every spawn the scenario will make in a
    prepared variant (:mod:`.prepared`), all of them Prepared (each claim Bound), then deleted (their
    claims stay, for the spawns to adopt) and gone (the caller then waits for the operator to be quiet).

    The claims are named to their spawns' keys first, so the claim watch marks a spawn's claim when
    it is prepared: before the spawn's create is sent (:func:`.phases.phases` counts that as there)."""
    client = bench.client
    wanted = {prepare_name(key): (v, key) for v in args.variants if v in PREPARED_VARIANTS
              for tag in tags for key in (bench.key(v, i, tag) for i in range(args.n))}
    if not wanted:
        return
    by_namespace: dict[str, set[str]] = {}
    for name, (v, key) in wanted.items():
        bench.watches.marks.claims[claim_name(key)] = key
        by_namespace.setdefault(namespace_of(v), set()).add(name)
    limiter, total, created = anyio.CapacityLimiter(args.concurrency), len(wanted), 0

    async def create(v: str, key: str) -> None:
        nonlocal created
        async with limiter:
            await client.create(INSTANCES, prepare_request(v, key, template_name(args.home)), namespace_of(v))
        created += 1
        display.report("prepared homes: requests created", created, total)

    async def delete(name: str, namespace: str) -> None:
        async with limiter:
            with suppress(NotFound):
                await client.delete(INSTANCES, name, namespace)

    display.status(f"prepared homes: {total} prepare requests ({', '.join(sorted(by_namespace))})")
    async with anyio.create_task_group() as tg:
        for v, key in wanted.values():
            tg.start_soon(create, v, key)
    if left := await until(client, display, args.prepare_timeout, by_namespace, "prepared homes: Prepared", unprepared):
        raise RuntimeError(not_prepared(left, total, args.prepare_timeout))
    display.status("prepared homes: deleting the requests (their claims stay)")
    async with anyio.create_task_group() as tg:
        for namespace, names in by_namespace.items():
            for name in names:
                tg.start_soon(delete, name, namespace)
    if left := await until(client, display, args.prepare_timeout, by_namespace, "prepared homes: requests gone",
                           still_there):
        raise RuntimeError(f"{len(left)} of {total} deleted prepare requests still there after "
                           f"{args.prepare_timeout:g} s, e.g. {', '.join(sorted(left)[:3])}")

async def until(client: Client, display: Display, timeout: float, by_namespace: dict[str, set[str]], label: str,
                waiting: Callable[[list[Any], set[str]], dict[str, str]]) -> dict[str, str]:
    """List the namespaces' instances until ``waiting(items, names)`` is empty in each, or
    ``timeout`` seconds pass: what still waits then (name -> its phase), else nothing."""
    total = sum(map(len, by_namespace.values()))
    left = {name: "(not listed yet)" for names in by_namespace.values() for name in names}
    with anyio.move_on_after(timeout):
        while True:
            now: dict[str, str] = {}
            for namespace, names in by_namespace.items():
                now.update(waiting(list((await client.list(INSTANCES, namespace))["items"]), names))
            left = now
            display.report(label, total - len(left), total)
            if not left:
                break
            await anyio.sleep(0.5)
    return left
