"""Kubernetes Events (``events.k8s.io/v1``) without slowing reconciles down.

``emit()`` never blocks and never raises: it puts the event on a bounded buffer that
``run()`` sends in the background (Warnings on a buffer of their own). When a buffer is full
(the API server is slow or down) new events are dropped and counted — events are a courtesy to
humans, never worth stalling a reconcile for.

Every event names its reporter: ``controller`` (``reportingController``, e.g.
``example.com/operator``) and ``instance`` (``reportingInstance``, e.g. the replica's
identity) are the caller's to give — the machinery has no name of its own.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ..kube.errors import ApiError
from ..kube.fence import WriteFenced
from ..kube.resources import EVENTS
from .clock import Clock, MonotonicClock

if TYPE_CHECKING:
    from ..kube.client import Client

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
HOLD_POLL = 0.1
"""Seconds between two looks at ``busy()`` while a Normal event is held."""
_MAX_NAME = 253  # a DNS subdomain, like every Event's name


def _micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_for(regarding: Mapping[str, Any], type_: str, reason: str, note: str, action: str,
              controller: str, instance: str) -> dict[str, Any]:
    """The Event object for ``regarding`` (pure apart from the timestamp and name suffix). Its name is
    ``<regarding's name>.<16 hex digits>``, the first part shortened so that the whole stays a
    valid name (at most 253 characters) however long the regarding object's name is."""
    meta = regarding.get("metadata") or {}
    prefix = str(meta.get("name") or "object")[:_MAX_NAME - 17].rstrip(".-")
    return {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": f"{prefix}.{secrets.token_hex(8)}",
                     "namespace": meta.get("namespace") or "default"},
        "eventTime": _micro_time(), "reportingController": controller, "reportingInstance": instance[:128],
        "action": action, "reason": reason, "note": note[:1024], "type": type_,
        "regarding": {"apiVersion": regarding.get("apiVersion"), "kind": regarding.get("kind"),
                      "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                      "resourceVersion": meta.get("resourceVersion")},
    }


class EventRecorder:
    """Warnings go at once, on their own senders, so no Normal event ever holds one back. Normal
    events wait while ``busy()`` (work is queued), each at most ``hold`` seconds after it was
    emitted: in a burst of spawns the API server serves the spawns' own writes first, and the
    "Created" and "Ready" notes reach ``kubectl describe`` and a spawn's progress at most ``hold``
    seconds late (the Warnings a human acts on, never). While Normal events queue beyond what the
    senders hold (a burst), a Normal event for an object whose last Normal event is still unsent
    joins it (one write, both notes: "created Pod …; the notebook server is ready at …"); a lone
    spawn's events stay apart. ``senders``
    requests in flight drain the Normal buffer: one at a time fell behind a burst of spawns (a
    300-instance bad-input run lost Warnings to a full buffer)."""

    def __init__(self, client: Client, *, controller: str, instance: str, buffer: int = 4096,
                 senders: int = 8, warning_senders: int = 2, busy: Callable[[], bool] = lambda: False,
                 hold: float = 0.0, clock: Clock | None = None) -> None:
        self._client = client
        self._senders = senders
        self._warning_senders = warning_senders
        self._controller = controller
        self._instance = instance
        self._busy = busy
        self._hold = hold
        self._clock = clock or MonotonicClock()
        self._normal = anyio.create_memory_object_stream[tuple[float, dict[str, Any]]](buffer)
        self._warnings = anyio.create_memory_object_stream[tuple[float, dict[str, Any]]](buffer)
        self._waiting: dict[str, dict[str, Any]] = {}  # regarding uid -> its Normal event not yet sent
        self.dropped = 0
        self.merged = 0

    def emit(self, regarding: Mapping[str, Any], type_: str, reason: str, note: str, action: str = "Reconcile") -> None:
        """Queue an event. While Normal events are queued beyond the senders (a burst), a Normal event for
        an object whose previous Normal event is not sent yet joins it: one Event, the latest reason and
        action, the notes joined with "; "."""
        uid = str((regarding.get("metadata") or {}).get("uid") or "")
        if type_ != WARNING and (waiting := self._waiting.get(uid)) is not None and \
                self._normal[1].statistics().current_buffer_used:
            waiting.update(reason=reason, action=action, note=f"{waiting['note']}; {note}"[:1024])
            waiting["regarding"]["resourceVersion"] = (regarding.get("metadata") or {}).get("resourceVersion")
            self.merged += 1
            return
        event = event_for(regarding, type_, reason, note, action, self._controller, self._instance)
        try:
            (self._warnings if type_ == WARNING else self._normal)[0].send_nowait((self._clock.now(), event))
        except anyio.WouldBlock:
            self.dropped += 1
            return
        if type_ != WARNING and uid:
            self._waiting[uid] = event

    def pending(self) -> int:
        """Events emitted and not yet taken by a sender."""
        return sum(receive.statistics().current_buffer_used for _, receive in (self._normal, self._warnings))

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(self._senders):
                tg.start_soon(self._send_from, self._normal[1].clone(), self._hold)
            for _ in range(self._warning_senders):
                tg.start_soon(self._send_from, self._warnings[1].clone(), 0.0)

    async def _send_from(self, receive: MemoryObjectReceiveStream[tuple[float, dict[str, Any]]], hold: float) -> None:
        async for emitted, event in receive:
            while hold and self._busy() and (wait := emitted + hold - self._clock.now()) > 0:
                await self._clock.sleep(min(wait, HOLD_POLL))
            uid = str(event["regarding"].get("uid") or "")
            if self._waiting.get(uid) is event:
                del self._waiting[uid]  # sent from here on: a later event is an Event of its own
            try:
                await self._client.create(EVENTS, event, event["metadata"]["namespace"])
            except (ApiError, OSError, TimeoutError, WriteFenced) as exc:  # fenced: no longer the leader
                log.info("could not record event %s: %s", event["reason"], exc)
