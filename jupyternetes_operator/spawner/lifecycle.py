"""Waiting for a start to settle, and finishing a start that a hub process did not see through.

Guaranteed:

- :func:`wait_running` returns the server's URL once the operator reports the instance (of that uid)
  Running, or raises a :class:`~.errors.SpawnError` that says why not (no operator, a failure, the
  start timeout, the instance deleted meanwhile).
- :func:`create` makes a start's environment Secret and instance at once, and says which was not made.
- :func:`finish` (after a hub restart, for a start whose state was written to the hub's database
  before its environment Secret and instance were made) creates the instance if it is missing, so it
  owns that Secret or fails ``EnvSecretMissing`` (after the operator's wait for it); it returns the URL
  once Running, else deletes the instance and returns None. Nothing it leaves exists without an owner
  or without a hub server that wants it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from sqlalchemy.orm import object_session
from sqlalchemy.orm.exc import UnmappedInstanceError

from .. import api
from ..kube.client import Client, Resource
from ..kube.errors import AlreadyExists, ApiError, NotFound
from ..kube.resources import SECRETS
from . import progress as prog
from .errors import SpawnError, api_error, failed, operator_absent
from .shared import SharedCache
from .state import ServerState


def persist(orm_spawner: Any, state: dict[str, Any]) -> None:
    """Write a server's state to the hub's database now: JupyterHub writes it only once ``start()``
    returns, and a hub that dies before that must leave the next one the start in progress."""
    if orm_spawner is None:  # not run by a hub (tests)
        return
    orm_spawner.state = state
    try:
        session = object_session(orm_spawner)
    except UnmappedInstanceError:  # a stand-in, not the hub's database row (tests)
        return
    if session is not None:
        session.commit()


async def create(client: Client, secret: Mapping[str, Any], instance: Mapping[str, Any],
                 namespace: str) -> tuple[Mapping[str, Any], BaseException | None]:
    """Create the environment Secret and the instance at once (the operator waits for a Secret it does
    not see yet): the instance as created, and why the Secret was not made, if it was not (the instance,
    which cannot start without it, is then the caller's to delete). Raises if the instance was not made
    (the Secret may be: :func:`finish` makes it owned)."""
    async def make(resource: Resource, obj: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        try:
            return await client.create(resource, obj, namespace)
        except ApiError as exc:
            raise api_error("create", f"{what} {obj['metadata']['name']}", namespace, exc) from exc

    answers: tuple[Mapping[str, Any] | BaseException, Mapping[str, Any] | BaseException] = await asyncio.gather(
        make(SECRETS, secret, "Secret"), make(api.INSTANCES, instance, api.INSTANCE_KIND), return_exceptions=True)
    made, created = answers
    if isinstance(created, BaseException):
        raise created
    return created, made if isinstance(made, BaseException) else None


async def wait_running(instances: SharedCache, name: str, namespace: str, uid: str, operator_timeout: float,
                       start_timeout: float) -> str:
    seen = False  # until the cache shows the instance we created, its absence means "not yet", not "deleted"

    def mine(obj: Mapping[str, Any] | None) -> bool:
        nonlocal seen
        if obj is not None and obj["metadata"]["uid"] == uid:
            seen = True
        return seen and obj is not None and obj["metadata"]["uid"] == uid

    def settled(obj: Mapping[str, Any] | None) -> bool:
        if not mine(obj):
            return seen  # gone after we saw it
        return prog.endpoint_url(obj) is not None or prog.failure(obj) is not None

    try:
        obj = await instances.wait(name, lambda o: settled(o) or (mine(o) and prog.observed(o)), operator_timeout)
    except TimeoutError:
        raise operator_absent(name, namespace, operator_timeout) from None
    try:
        obj = await instances.wait(name, settled, start_timeout)
    except TimeoutError:
        current = instances.get(name)
        ready = api.condition(current, api.READY)
        raise SpawnError(
            f"JupyterNotebookInstance {namespace}/{name} is not ready after {start_timeout:g} s "
            f"(c.Spawner.start_timeout): {api.phase(current) or 'no phase'}: {ready.get('reason') or ''} "
            f"{ready.get('message') or ''}".rstrip()) from None
    if not mine(obj):
        raise SpawnError(f"JupyterNotebookInstance {namespace}/{name} was deleted while the server started")
    if (why := prog.failure(obj)) is not None:
        raise failed(name, namespace, why)
    url = prog.endpoint_url(obj)
    assert url is not None
    return url


async def finish(lost: ServerState, instances: SharedCache, client: Client, log: logging.Logger | Any,
                 operator_timeout: float, start_timeout: float) -> str | None:
    """Finish the start ``lost`` (its ``pending`` manifest); the server's URL, or None if it did not run."""
    assert lost.pending is not None
    name, namespace = lost.instance, lost.namespace
    current: Mapping[str, Any] | None = instances.get(name)
    if current is not None and current["metadata"].get("deletionTimestamp"):
        return None
    if current is None:  # the Secret may exist: the instance makes it owned (or fails EnvSecretMissing)
        log.info("Finishing the start of %s/%s that the last hub process did not", namespace, name)
        try:
            current = await client.create(api.INSTANCES, dict(lost.pending), namespace)
        except AlreadyExists:
            with suppress(TimeoutError):
                current = await instances.wait(name, lambda o: o is not None, operator_timeout)
        except ApiError as exc:
            log.warning("Could not finish the start of %s/%s: %s", namespace, name, exc)
    if current is None:
        return None
    try:
        url = await wait_running(instances, name, namespace, current["metadata"]["uid"], operator_timeout,
                                 start_timeout)
    except SpawnError as exc:
        log.warning("The start of %s/%s that the last hub process left did not succeed: %s", namespace, name, exc)
        with suppress(NotFound):
            await client.delete(api.INSTANCES, name, namespace, propagation_policy="Foreground")
        return None
    log.info("Took over %s/%s at %s after a hub restart", namespace, name, url)
    return url
