"""Prepared homes (``--prepared-homes``): the operated variants' home claims made before the timed part (pure).

Before the scenario, every spawn the timed part of ``jupyternetes`` and ``spawner`` will make gets
a prepare request (an instance with ``spec.prepare: true``): the same template and the same
``spec.variables`` as that spawn's instance, so the operator renders and binds the very claim the
spawn later adopts. ``bare`` and ``kubespawner`` are unchanged: they create their claims at spawn
time, as a hub that prepares nothing does.

Guaranteed: a request's variables are those its spawn's instance carries (the client's
:func:`.cluster.instance` for ``jupyternetes``; ``JupyternetesSpawner``'s ``username``, the hub
user's :func:`~jupyternetes_operator.spawner.names.safe_username`, for ``spawner``), and its name is
never a spawn's (keys end in a digit; requests in ``-prep``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from jupyternetes_operator import api

from .variants import JUPYTERNETES, SPAWNER

PREPARE_SUFFIX = "-prep"
PREPARED_VARIANTS = (JUPYTERNETES, SPAWNER)
"""The variants whose homes are prepared (the operated ones: only the operator reads prepare requests)."""
NO_STATUS = "(no status)"
"""The phase reported for a request the operator has not written a status to."""


def prepare_name(key: str) -> str:
    """The prepare request of spawn ``key``'s home: a DNS label of at most 63 characters."""
    return api.fit_name(key + PREPARE_SUFFIX)


def spawn_variables(variant: str, key: str) -> dict[str, str]:
    """The ``spec.variables`` spawn ``key`` of ``variant`` gives its instance (``username`` alone: the
    sample template's other variables have defaults, which neither the client nor the spawner sets)."""
    if variant == JUPYTERNETES:
        return {"username": key}
    if variant == SPAWNER:  # the hub user is the key without the spawner's "jupyter-" prefix
        from jupyternetes_operator.spawner.names import safe_username

        return {"username": safe_username(key.removeprefix("jupyter-"))}
    raise ValueError(f"variant {variant!r} makes no instance to prepare a home for")


def prepare_request(variant: str, key: str, template: str) -> dict[str, Any]:
    """The prepare request for spawn ``key`` of ``variant``, whose instance renders ``template`` (in
    its own namespace, where the request is created too)."""
    return {"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND, "metadata": {"name": prepare_name(key)},
            "spec": {"prepare": True, "template": {"name": template}, "variables": spawn_variables(variant, key)}}


def unprepared(instances: Iterable[Mapping[str, Any]], names: Collection[str]) -> dict[str, str]:
    """Of the requests ``names``, those not ``Prepared`` among ``instances`` (a namespace's list) -> their phase."""
    phases = {str(i["metadata"]["name"]): str((i.get("status") or {}).get("phase") or NO_STATUS)
              for i in instances if i["metadata"]["name"] in names}
    return {name: phases.get(name, "(not found)") for name in names if phases.get(name) != api.PREPARED}


def still_there(instances: Iterable[Mapping[str, Any]], names: Collection[str]) -> dict[str, str]:
    """Of the requests ``names``, those still among ``instances`` (deleted, not gone yet) -> their phase."""
    return {str(i["metadata"]["name"]): str((i.get("status") or {}).get("phase") or NO_STATUS)
            for i in instances if i["metadata"]["name"] in names}


def not_prepared(left: Mapping[str, str], total: int, timeout: float) -> str:
    """The error of a wait that timed out with ``left`` (request -> phase) of ``total`` not Prepared."""
    counts = ", ".join(f"{n} {phase}" for phase, n in sorted(Counter(left.values()).items()))
    return (f"{len(left)} of {total} prepare requests not {api.PREPARED} after {timeout:g} s ({counts}), "
            f"e.g. {', '.join(sorted(left)[:3])}")
