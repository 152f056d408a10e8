"""``jupyternetes-operator prepare``: users' homes made before their first spawn (prepare requests).

For each JupyterHub user name, a prepare request (:mod:`.reconcile.prepare`) named
``prepare-<username>`` whose ``username`` variable is the user's name as JupyternetesSpawner sets it
(:func:`.spawner.names.safe_username`), so the claim the operator makes is the one the user's first
spawn renders and adopts. With ``--wait`` it waits until each request is done, showing progress,
then deletes the Prepared ones (their homes stay).

Guaranteed: an existing object is never changed. A request already there for the same user and
template counts as this one (a rerun); anything else under its name is reported and left alone.
Exit status 0 when every request is there (with ``--wait``: Prepared), else 1.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import anyio

from . import api
from .kube.client import Client
from .kube.errors import AlreadyExists, NotFound
from .spawner.names import safe_username

PREFIX = "prepare-"
DONE = (api.PREPARED, api.FAILED)


@dataclass(frozen=True)
class Options:
    users: tuple[str, ...]
    namespace: str
    template: str
    template_namespace: str | None = None
    wait: float | None = None
    """Seconds to wait for every request to be done (None: do not wait)."""
    kubeconfig: str | None = None


def request_name(user: str) -> str:
    """The prepare request of ``user``'s home (a DNS label: the escaped name is at most 40 characters)."""
    return PREFIX + safe_username(user)


def request(user: str, namespace: str, template: str, template_namespace: str | None) -> dict[str, Any]:
    """The prepare request of ``user``'s home, from ``template``."""
    ref = {"name": template, **({"namespace": template_namespace} if template_namespace else {})}
    return {"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND,
            "metadata": {"name": request_name(user), "namespace": namespace},
            "spec": {"template": ref, "variables": {"username": safe_username(user)}, "prepare": True}}


def same_request(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether ``existing`` asks what ``wanted`` asks (a rerun), and is nothing else under that name."""
    have, want = existing.get("spec") or {}, wanted["spec"]
    return bool(have.get("prepare")) and have.get("variables") == want["variables"] \
        and have.get("template") == want["template"]


def users_from(arguments: Iterable[str], files: Iterable[TextIO]) -> tuple[str, ...]:
    """User names from the command line and from files (one per line; blank lines and ``#`` comments
    skipped), each once, in order."""
    lines = [line.strip() for f in files for line in f]
    names = [*arguments, *(line for line in lines if line and not line.startswith("#"))]
    return tuple(dict.fromkeys(names))


async def run(options: Options, err: TextIO = sys.stderr) -> int:
    async with await Client.from_kubeconfig(options.kubeconfig) as client:
        ours = await _create_all(client, options, err)
        if options.wait is None:
            print(f"{len(ours)} of {len(options.users)} prepare requests in {options.namespace}", file=err)
            return 0 if len(ours) == len(options.users) else 1
        phases = await _wait(client, options.namespace, ours, options.wait, err)
        prepared = [name for name, phase in phases.items() if phase == api.PREPARED]
        for name in prepared:
            try:
                await client.delete(api.INSTANCES, name, options.namespace)
            except NotFound:
                continue
        for name, phase in sorted(phases.items()):
            if phase != api.PREPARED:
                print(f"{name}: {phase or 'no status yet'} (kept; kubectl describe jni -n {options.namespace} "
                      f"{name})", file=err)
        print(f"{len(prepared)} of {len(options.users)} homes prepared; their requests deleted, the homes kept",
              file=err)
        return 0 if len(prepared) == len(options.users) else 1


async def _create_all(client: Client, options: Options, err: TextIO) -> list[str]:
    """Create each user's request; the names of those that are there now (created, or a rerun's)."""
    ours: list[str] = []
    for user in options.users:
        wanted = request(user, options.namespace, options.template, options.template_namespace)
        name = wanted["metadata"]["name"]
        try:
            await client.create(api.INSTANCES, wanted, options.namespace)
        except AlreadyExists:
            existing = await client.get_or_none(api.INSTANCES, name, options.namespace)
            if existing is None or not same_request(existing, wanted):
                print(f"{name}: the name is taken by another instance; {user!r} skipped", file=err)
                continue
        ours.append(name)
    return ours


async def _wait(client: Client, namespace: str, names: Sequence[str], timeout: float,
                err: TextIO) -> dict[str, str]:
    """Each request's phase once all are done or ``timeout`` passed ("" : no status), with progress."""
    shown = ""
    deadline = time.monotonic() + timeout
    while True:
        listed = {o["metadata"]["name"]: str((o.get("status") or {}).get("phase") or "")
                  for o in (await client.list(api.INSTANCES, namespace))["items"]}
        phases = {name: listed.get(name, "") for name in names}
        done = sum(1 for p in phases.values() if p in DONE)
        line = f"prepared {sum(1 for p in phases.values() if p == api.PREPARED)}/{len(names)}, " \
               f"failed {sum(1 for p in phases.values() if p == api.FAILED)}"
        if line != shown:
            print(line, file=err, flush=True)
            shown = line
        if done == len(names) or time.monotonic() >= deadline:
            return phases
        await anyio.sleep(0.5)
