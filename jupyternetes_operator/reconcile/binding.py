"""Volume binding order: a pod is created once the claims it mounts can be scheduled with it.

A claim of a StorageClass that binds ``Immediate``-ly is bound by the PV controller before
any pod uses it. A pod created earlier is unschedulable ("unbound immediate
PersistentVolumeClaims") and enters the scheduler's back-off (1 s doubling to 10 s): at a
class-start burst that costs seconds per pod. So the pod waits until the instance's own
claims it mounts are ``Bound``. A ``WaitForFirstConsumer`` claim binds only once its pod is
scheduled, so that pod is created at once; so is a pod whose claim's class is unknown to the
operator (none named, not found, not readable, or not asked for while the API server answers 429
with a Retry-After): the order then is what it was before.

:func:`awaited_claims` is pure; :class:`BindingModes` reads each StorageClass once (its
``volumeBindingMode`` is immutable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..kube.client import Client
from ..kube.errors import Forbidden, NotFound, TooManyRequests
from ..kube.resources import STORAGE_CLASSES

log = logging.getLogger(__name__)

IMMEDIATE = "Immediate"


def mounted_claims(pod: Mapping[str, Any]) -> list[str]:
    """The claim names ``pod``'s volumes mount, in order."""
    return [str(claim["claimName"]) for volume in (pod.get("spec") or {}).get("volumes") or ()
            if isinstance(claim := volume.get("persistentVolumeClaim"), Mapping) and claim.get("claimName")]


def storage_class(claim: Mapping[str, Any]) -> str | None:
    """The StorageClass a claim names (the API server fills in the default class on create)."""
    name = (claim.get("spec") or {}).get("storageClassName")
    return str(name) if name else None


def awaited_claims(pod: Mapping[str, Any], claims: Mapping[str, Mapping[str, Any] | None],
                   immediate: Callable[[str], bool]) -> list[str]:
    """The claims the pod must wait for: those among ``claims`` (the instance's own, as last seen;
    None: not seen) it mounts that are not Bound and whose class binds immediately."""
    waiting = []
    for name in mounted_claims(pod):
        claim = claims.get(name)
        if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
            continue
        if (cls := storage_class(claim)) is not None and immediate(cls):
            waiting.append(name)
    return waiting


class BindingModes:
    """``volumeBindingMode`` by StorageClass name, read with one GET per class and then kept."""

    def __init__(self, client: Client, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._modes: dict[str, str | None] = {}
        self._forbidden = False
        self._quiet_until = 0.0

    async def immediate(self, names: Collection[str]) -> set[str]:
        """Which of ``names`` bind immediately (a class not found, not readable, or not asked for while
        the API server said to wait: not known to)."""
        for name in set(names) - set(self._modes):
            if self._forbidden:
                self._modes[name] = None
                continue
            if self._clock() < self._quiet_until:
                continue  # one class read shared by every instance: not asked again before Retry-After
            try:
                found = await self._client.get(STORAGE_CLASSES, name)
            except NotFound:
                continue  # may be created later: asked again next time
            except TooManyRequests as exc:
                self._quiet_until = self._clock() + (exc.retry_after or 1.0)
                continue
            except Forbidden:
                log.warning("may not get StorageClasses: pods are created without waiting for their claims "
                            "to bind (grant get on storage.k8s.io storageclasses)")
                self._forbidden = True
                self._modes[name] = None
                continue
            self._modes[name] = str(found.get("volumeBindingMode") or IMMEDIATE)
        return {name for name in names if self._modes.get(name) == IMMEDIATE}
