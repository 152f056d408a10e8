"""Phase marks from watch events, percentiles and per-variant summaries (pure: no I/O, no clock).

Every spawn has a *key* (the instance's name, or the pod's name where there is no instance)
and a set of *marks*: the client's own clock (``time.perf_counter``) at the moment it sent the
create, got the answer, or received the watch event that first showed a state. The
server's ``creationTimestamp`` and condition times have one-second granularity, so they are
never used.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyternetes_operator import api

SENT, ACKED, OPERATOR_SAW, CLAIM_CREATED, CLAIM_BOUND, POD_CREATED, SCHEDULED, RUNNING, READY, DONE = (
    "sent", "acked", "operator_saw", "claim_created", "claim_bound", "pod_created", "scheduled", "running", "ready",
    "done")
ORDER = (SENT, ACKED, OPERATOR_SAW, CLAIM_CREATED, CLAIM_BOUND, POD_CREATED, SCHEDULED, RUNNING, READY, DONE)
"""The marks in the order a spawn passes them (a home claim binds before its pod is created when the
operator orders them; a client that creates both at once reaches ``claim_bound`` after ``pod_created``,
which :func:`breakdown` then counts as no time)."""
CLAIM_MARKS = (CLAIM_CREATED, CLAIM_BOUND)
"""The marks only a run with home claims has."""
LABELS = {ACKED: "create answered", OPERATOR_SAW: "operator saw it", CLAIM_CREATED: "claim created",
          CLAIM_BOUND: "claim bound",
          POD_CREATED: "pod created", SCHEDULED: "scheduled", RUNNING: "running (IP)", READY: "instance Ready",
          DONE: "client done"}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str((meta.get("labels") or {}).get(api.LABEL_INSTANCE) or meta.get("name"))


def pod_marks(pod: Mapping[str, Any]) -> set[str]:
    """The states a pod object shows: created, scheduled, running with an IP."""
    marks = {POD_CREATED}
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    if spec.get("nodeName") or conditions.get("PodScheduled") == "True":
        marks.add(SCHEDULED)
    if status.get("phase") == "Running" and status.get("podIP"):
        marks |= {SCHEDULED, RUNNING}
    return marks


def instance_marks(instance: Mapping[str, Any]) -> set[str]:
    """The states an instance shows: the operator has written its status; it is Ready."""
    status = instance.get("status") or {}
    marks = set()
    if status:
        marks.add(OPERATOR_SAW)
    if api.status_condition(status, api.READY).get("status") == "True":
        marks.add(READY)
    return marks


def claim_marks(claim: Mapping[str, Any]) -> set[str]:
    """The states a claim shows: created (seen at all), Bound (to a volume)."""
    return {CLAIM_CREATED, CLAIM_BOUND} if (claim.get("status") or {}).get("phase") == "Bound" else {CLAIM_CREATED}


@dataclass
class Marks:
    """First time each mark was observed, per key (the first observation wins)."""

    times: dict[str, dict[str, float]] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)
    """Claim name -> the key of the spawn it is the home of (claims not named here are not marked)."""

    def mark(self, key: str, name: str, t: float) -> bool:
        """Record ``name`` for ``key`` at ``t`` unless already there; True if it is new."""
        seen = self.times.setdefault(key, {})
        if name in seen:
            return False
        seen[name] = t
        return True

    def pod_event(self, pod: Mapping[str, Any], t: float) -> list[tuple[str, str]]:
        key = pod_key(pod)
        return [(key, m) for m in sorted(pod_marks(pod)) if self.mark(key, m, t)]

    def instance_event(self, instance: Mapping[str, Any], t: float) -> list[tuple[str, str]]:
        key = str((instance.get("metadata") or {}).get("name"))
        return [(key, m) for m in sorted(instance_marks(instance)) if self.mark(key, m, t)]

    def claim_event(self, claim: Mapping[str, Any], t: float) -> list[tuple[str, str]]:
        key = self.claims.get(str((claim.get("metadata") or {}).get("name")))
        return [] if key is None else [(key, m) for m in sorted(claim_marks(claim)) if self.mark(key, m, t)]


def phases(marks: Mapping[str, float]) -> dict[str, float]:
    """Seconds from ``sent`` to every other mark present (``operator_saw`` is the earliest sign
    of the operator: its first status write, its claim or its pod, whichever the client saw first).

    A mark seen before ``sent`` (a claim prepared before the spawn: ``--prepared-homes``, and
    KubeSpawner's with ``--prepare-kubespawner``) was already there: 0, never negative, and no sign
    of the operator at work on this spawn."""
    if SENT not in marks:
        return {}
    sent = marks[SENT]
    out = {name: max(0.0, marks[name] - sent) for name in ORDER[1:] if name in marks}
    if OPERATOR_SAW in out:
        out[OPERATOR_SAW] = min(out[name] for name in (OPERATOR_SAW, CLAIM_CREATED, POD_CREATED)
                                if name in out and (name == OPERATOR_SAW or marks[name] >= sent))
    return out


def before_sent(marks: Mapping[str, float], name: str) -> bool:
    """Whether mark ``name`` was seen before the create was sent (a claim already there)."""
    return SENT in marks and name in marks and marks[name] < marks[SENT]


def breakdown(marks: Mapping[str, float]) -> dict[str, float]:
    """Time spent reaching each mark after the previous one present (never negative: a mark
    observed out of order, e.g. the status after the pod, counts as zero)."""
    since = phases(marks)
    out, previous = {}, 0.0
    for name in ORDER[1:]:
        if name in since:
            reached = max(previous, since[name])
            out[name] = reached - previous
            previous = reached
    return out


@dataclass(frozen=True)
class Spawn:
    """One spawn's result: its marks (client clock) and whether it finished."""

    key: str
    marks: Mapping[str, float]
    error: str | None = None

    @property
    def latency(self) -> float | None:
        done: float | None = phases(self.marks).get(DONE)
        return done


def summarize(spawns: Iterable[Spawn]) -> dict[str, Any]:
    """Latency percentiles, mean per-phase breakdown and the burst's first-sent-to-last-done time."""
    spawns = list(spawns)
    done = [s for s in spawns if s.latency is not None and s.error is None]
    latencies = [s.latency for s in done if s.latency is not None]
    out: dict[str, Any] = {"spawns": len(spawns), "done": len(done), "errors": len(spawns) - len(done)}
    if not latencies:
        return out
    out["latency"] = {"p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
                      "p99": percentile(latencies, 99), "max": max(latencies), "mean": statistics.fmean(latencies)}
    parts = [breakdown(s.marks) for s in done]
    out["breakdown_mean"] = {name: statistics.fmean(p.get(name, 0.0) for p in parts)
                             for name in ORDER[1:] if any(name in p for p in parts)}
    out["phase_p50"] = {name: percentile([p[name] for p in map(phases, (s.marks for s in done)) if name in p], 50)
                        for name in ORDER[1:] if any(name in s.marks for s in done)}
    if any(CLAIM_BOUND in s.marks for s in done):  # a run with home claims: how many were there before it
        out["claims_bound_before_sent"] = sum(before_sent(s.marks, CLAIM_BOUND) for s in done)
    first = min(s.marks[SENT] for s in done)
    out["all_done_seconds"] = max(s.marks[DONE] for s in done) - first
    out["throughput_per_second"] = len(done) / out["all_done_seconds"] if out["all_done_seconds"] > 0 else math.nan
    return out


def done_curve(spawns: Iterable[Spawn]) -> tuple[list[float], list[int]]:
    """(seconds since the first send, spawns done by then), for a throughput-over-time plot."""
    spawns = [s for s in spawns if SENT in s.marks]
    if not spawns:
        return [], []
    first = min(s.marks[SENT] for s in spawns)
    times = sorted(s.marks[DONE] - first for s in spawns if DONE in s.marks and s.error is None)
    return times, list(range(1, len(times) + 1))


def goal(measured: float | None, limit: float | None, ok: bool | None = None) -> dict[str, Any]:
    if measured is None or limit is None or math.isnan(measured) or math.isnan(limit):
        return {"status": "not measured"}
    met = (measured <= limit) if ok is None else ok
    return {"status": "met" if met else "not met", "measured": measured, "limit": limit}


def goals(results: Mapping[str, Mapping[str, Mapping[str, Any]]], operator: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's goals from ``results[scenario][variant]`` summaries and the operator's numbers."""
    def lat(scenario: str, variant: str, q: str) -> float | None:
        value = ((results.get(scenario) or {}).get(variant) or {}).get("latency", {}).get(q)
        return None if value is None else float(value)

    def all_done(scenario: str, variant: str) -> float | None:
        value = ((results.get(scenario) or {}).get(variant) or {}).get("all_done_seconds")
        return None if value is None else float(value)

    def errors(scenario: str, variant: str) -> int:
        return int(((results.get(scenario) or {}).get(variant) or {}).get("errors", 0))

    def scaled(x: float | None, f: float, add: float = 0.0) -> float | None:
        return None if x is None else x * f + add

    out = {
        "sequential p50: jupyternetes <= bare + 15 ms": goal(lat("sequential", "jupyternetes", "p50"),
                                                             scaled(lat("sequential", "bare", "p50"), 1, 0.015)),
        "sequential p99: jupyternetes <= 1.3 x bare": goal(lat("sequential", "jupyternetes", "p99"),
                                                           scaled(lat("sequential", "bare", "p99"), 1.3)),
        "burst all-Ready: jupyternetes <= 1.3 x bare": goal(all_done("burst", "jupyternetes"),
                                                            scaled(all_done("burst", "bare"), 1.3)),
        "burst 5,000 all-Ready: jupyternetes <= 1.5 x bare, no failures": goal(
            all_done("burst5000", "jupyternetes"), scaled(all_done("burst5000", "bare"), 1.5),
            None if all_done("burst5000", "jupyternetes") is None else
            (all_done("burst5000", "jupyternetes") or 0) <= (scaled(all_done("burst5000", "bare"), 1.5) or 0)
            and not errors("burst5000", "jupyternetes")),
        "spawner p50 at a 200 burst <= 0.5 x KubeSpawner": goal(lat("burst200", "spawner", "p50"),
                                                                scaled(lat("burst200", "kubespawner", "p50"), 0.5)),
        "spawner p99 at a 200 burst <= 0.5 x KubeSpawner": goal(lat("burst200", "spawner", "p99"),
                                                                scaled(lat("burst200", "kubespawner", "p99"), 0.5)),
        **{f"spawner {q} at a 200 burst with home claims <= 0.5 x KubeSpawner": goal(
            lat("burst200-home", "spawner", q), scaled(lat("burst200-home", "kubespawner", q), 0.5))
           for q in ("p50", "p99")},
        "scale: sequential p50 beside the live notebooks <= 1.1 x empty": goal(
            lat("scale", "jupyternetes@live", "p50"), scaled(lat("scale", "jupyternetes@empty", "p50"), 1.1)),
        "operator RSS <= 200 MB (max seen)": goal(operator.get("rss_max_mb"), 200.0),
        "operator idle CPU < 1% of a core": goal(operator.get("idle_cpu_percent"), 1.0,
                                                 None if operator.get("idle_cpu_percent") is None
                                                 else operator["idle_cpu_percent"] < 1.0),
    }
    if scale := operator.get("scale"):
        out[f"scale: operator RSS <= 200 MB with {scale['live']:,} live"] = goal(scale.get("rss_max_mb"), 200.0)
        out[f"scale: idle CPU < 1% of a core with {scale['live']:,} live"] = goal(
            scale.get("idle_cpu_percent"), 1.0, None if scale.get("idle_cpu_percent") is None
            else scale["idle_cpu_percent"] < 1.0)
    return out
