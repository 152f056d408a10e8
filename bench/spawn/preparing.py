"""Prepared homes, the I/O (``--prepared-homes``, ``--prepare-kubespawner``): the prepare requests of
:mod:`.prepared` created, waited for until Prepared, then deleted and waited for until gone, and, if
asked, KubeSpawner's own claims created and waited for until Bound, before the scenario's timed part."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import NotFound
from jupyternetes_operator.kube.resources import PVCS

from ..watch_hotpath import Display
from .cluster import Bench, template_name
from .home import claim_name
from .prepared import (
    BOUND,
    PREPARED_VARIANTS,
    not_prepared,
    prepare_name,
    prepare_request,
    still_there,
    timed_keys,
    unbound,
    unprepared,
)
from .variants import KUBESPAWNER, namespace_of


async def prepare_homes(bench: Bench, display: Display, args: argparse.Namespace, tags: Sequence[str]) -> None:
    """``--prepared-homes``, untimed: the operated variants' homes prepared (:func:`prepare_requests`),
    then, with ``--prepare-kubespawner``, KubeSpawner's (:func:`prepare_kubespawner_claims`); the
    caller then waits for the operator to be quiet."""
    await prepare_requests(bench, display, args, tags)
    if args.prepare_kubespawner:
        await prepare_kubespawner_claims(bench, display, args, tags)


async def prepare_requests(bench: Bench, display: Display, args: argparse.Namespace, tags: Sequence[str]) -> None:
    """A prepare request for every spawn the scenario will make in a prepared variant
    (:mod:`.prepared`), all of them Prepared (each claim Bound), then deleted (their claims stay, for
    the spawns to adopt) and gone.

    The claims are named to their spawns' keys first, so the claim watch marks a spawn's claim when
    it is prepared: before the spawn's create is sent (:func:`.phases.phases` counts that as there)."""
    client = bench.client
    wanted = {prepare_name(key): (v, key) for v in args.variants if v in PREPARED_VARIANTS
              for key in timed_keys(bench.key, v, tags, args.n)}
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


async def create_as_kubespawner(spawner: Any) -> None:
    """Create ``spawner``'s home claim as its ``storage_pvc_ensure`` does in ``start()``
    (``KubeSpawner._make_create_pvc_request``): its own manifest (``get_pvc_manifest()``), sent by its
    own client to its own namespace; only an existing claim, which it tolerates (409), fails here."""
    await spawner.api.create_namespaced_persistent_volume_claim(namespace=spawner.namespace,
                                                                body=spawner.get_pvc_manifest())


async def prepare_kubespawner_claims(bench: Bench, display: Display, args: argparse.Namespace,
                                     tags: Sequence[str]) -> None:
    """``--prepare-kubespawner``: for every spawn the scenario will make in ``kubespawner``, the claim
    its KubeSpawner would create at spawn time, created now by a KubeSpawner built as that spawn's
    (:meth:`.cluster.Bench.kube_spawner`), all waited for until Bound (``--prepare-timeout``).

    As with the prepare requests, the claims are named to their spawns' keys first, so the claim
    watch marks them before the spawns' creates are sent: already there."""
    keys = timed_keys(bench.key, KUBESPAWNER, tags, args.n)
    namespace, total, created = namespace_of(KUBESPAWNER), len(keys), 0
    for key in keys:
        bench.watches.marks.claims[claim_name(key)] = key
    limiter = anyio.CapacityLimiter(args.concurrency)

    async def create(key: str) -> None:
        nonlocal created
        spawner = bench.kube_spawner(key)
        async with limiter:
            await create_as_kubespawner(spawner)
        created += 1
        display.report("prepared homes: KubeSpawner's claims created", created, total)

    display.status(f"prepared homes: {total} KubeSpawner claims ({namespace})")
    with anyio.fail_after(args.prepare_timeout):
        async with anyio.create_task_group() as tg:
            for key in keys:
                tg.start_soon(create, key)
    names = {claim_name(key) for key in keys}
    if left := await until(client=bench.client, display=display, timeout=args.prepare_timeout,
                           by_namespace={namespace: names}, label="prepared homes: KubeSpawner's claims Bound",
                           waiting=unbound, resource=PVCS):
        raise RuntimeError(not_prepared(left, total, args.prepare_timeout, "KubeSpawner claims", BOUND))


async def until(client: Client, display: Display, timeout: float, by_namespace: dict[str, set[str]], label: str,
                waiting: Callable[[list[Any], set[str]], dict[str, str]], resource: Resource = INSTANCES,
                ) -> dict[str, str]:
    """List the namespaces' ``resource`` until ``waiting(items, names)`` is empty in each, or
    ``timeout`` seconds pass: what still waits then (name -> its phase), else nothing."""
    total = sum(map(len, by_namespace.values()))
    left = {name: "(not listed yet)" for names in by_namespace.values() for name in names}
    with anyio.move_on_after(timeout):
        while True:
            now: dict[str, str] = {}
            for namespace, names in by_namespace.items():
                now.update(waiting(list((await client.list(resource, namespace))["items"]), names))
            left = now
            display.report(label, total - len(left), total)
            if not left:
                break
            await anyio.sleep(0.5)
    return left
