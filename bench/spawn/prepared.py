"""Prepared homes (``--prepared-homes``): the operated variants' home claims made before the timed part (pure).

Before the scenario, every spawn the timed part of ``jupyternetes`` and ``spawner`` will make gets
a prepare request (an instance with ``spec.prepare: true``): the same template and the same
``spec.variables`` as that spawn's instance, so the operator renders and binds the very claim the
spawn later adopts. ``bare`` is unchanged: it creates its claims at spawn time, as a hub that
prepares nothing does; so is ``kubespawner``, unless ``--prepare-kubespawner`` asks for its claims
too (the fairness control): then every spawn of its timed part finds its claim made and Bound,
made by KubeSpawner's own client from KubeSpawner's own manifest (``get_pvc_manifest()`` of a
spawner built as the spawn builds it, :meth:`.cluster.Bench.kube_spawner`), since no operator reads
a request for it. KubeSpawner's ``storage_pvc_ensure`` still sends its create at spawn time; the
answer is 409 AlreadyExists, which it takes as the claim being there, and it goes on to the pod.

Guaranteed: a request's variables are those its spawn's instance carries (the client's
:func:`.cluster.instance` for ``jupyternetes``; ``JupyternetesSpawner``'s ``username``, the hub
user's :func:`~jupyternetes_operator.spawner.names.safe_username`, for ``spawner``), and its name is
never a spawn's (keys end in a digit; requests in ``-prep``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from jupyternetes_operator import api

from .variants import JUPYTERNETES, KUBESPAWNER, SPAWNER

PREPARE_SUFFIX = "-prep"
PREPARED_VARIANTS = (JUPYTERNETES, SPAWNER)
"""The variants whose homes are prepared (the operated ones: only the operator reads prepare requests)."""
BOUND = "Bound"
"""The phase of a claim bound to a volume."""
NO_STATUS = "(no status)"
"""The phase reported for a request the operator has not written a status to (or a claim without a phase)."""


def prepared_variants(kubespawner: bool = False) -> tuple[str, ...]:
    """The variants whose homes a run prepares: the operated ones, and ``kubespawner`` too with
    ``--prepare-kubespawner``."""
    return (*PREPARED_VARIANTS, KUBESPAWNER) if kubespawner else PREPARED_VARIANTS


def timed_keys(key: Callable[[str, int, str], str], variant: str, tags: Sequence[str], n: int) -> list[str]:
    """The keys of the spawns the timed part makes in ``variant``: ``n`` per tag (``key``:
    :meth:`.cluster.Bench.key`)."""
    return [key(variant, i, tag) for tag in tags for i in range(n)]


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


def still_there(objects: Iterable[Mapping[str, Any]], names: Collection[str]) -> dict[str, str]:
    """Of the objects ``names``, those among ``objects`` (a namespace's list) -> their phase."""
    return {str(o["metadata"]["name"]): str((o.get("status") or {}).get("phase") or NO_STATUS)
            for o in objects if o["metadata"]["name"] in names}


def _not_in(phase: str, objects: Iterable[Mapping[str, Any]], names: Collection[str]) -> dict[str, str]:
    """Of the objects ``names``, those not in ``phase`` among ``objects`` -> their phase ("(not found)")."""
    phases = still_there(objects, names)
    return {name: phases.get(name, "(not found)") for name in names if phases.get(name) != phase}


def unprepared(instances: Iterable[Mapping[str, Any]], names: Collection[str]) -> dict[str, str]:
    """Of the requests ``names``, those not ``Prepared`` among ``instances`` -> their phase."""
    return _not_in(api.PREPARED, instances, names)


def unbound(claims: Iterable[Mapping[str, Any]], names: Collection[str]) -> dict[str, str]:
    """Of the claims ``names``, those not ``Bound`` among ``claims`` -> their phase."""
    return _not_in(BOUND, claims, names)


def not_prepared(left: Mapping[str, str], total: int, timeout: float, what: str = "prepare requests",
                 state: str = api.PREPARED) -> str:
    """The error of a wait that timed out with ``left`` (name -> phase) of ``total`` ``what`` not in ``state``."""
    counts = ", ".join(f"{n} {phase}" for phase, n in sorted(Counter(left.values()).items()))
    return (f"{len(left)} of {total} {what} not {state} after {timeout:g} s ({counts}), "
            f"e.g. {', '.join(sorted(left)[:3])}")
