"""Fault runs through the :mod:`faults.proxy`: the operator reaches the API server only through a
proxy that stalls, resets or refuses its requests during a burst of instances.

Each scenario has the :data:`~faults.run.Scenario` signature and ends with :func:`~faults.run.settle`.
Besides the invariants, each proves from the proxy's request log that the operator reacted as it
must — the inactivity watchdog cut every silent watch, every reset watch was reopened, no object
was asked for again sooner than a 429's ``Retry-After`` — and adds a problem to the report when it
did not, so ``run.ok`` covers the proof too. The measurements go into ``run.notes``.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from jupyternetes_operator.api import FAILED, INSTANCES, LABEL_INSTANCE, phase
from jupyternetes_operator.kube.errors import NotFound
from jupyternetes_operator.kube.resources import PODS
from jupyternetes_operator.testing.controlplane import ADMIN
from jupyternetes_operator.testing.operator import (
    TEMPLATE,
    OperatorProcess,
    metric_sum,
    ready_instance,
    template_valid,
    wait_for,
)

from .proxy import FaultProxy
from .proxy_rules import Action, Rule, Seen
from .run import FaultEnv, FaultRun, claims, create_instances, metrics_of, prepare, settle

INACTIVITY = 3.0
"""The operator's ``--watch-inactivity-timeout`` in these runs (150 s in production)."""
SLACK = 2.5
"""Seconds allowed on top of a deadline for scheduling on a busy machine."""
RETRY_AFTER = 2
"""The ``Retry-After`` of injected 429s."""


@asynccontextmanager
async def proxied_operator(env: FaultEnv, *args: str, seed: int) -> AsyncIterator[tuple[FaultProxy, OperatorProcess]]:
    """A started proxy and, behind it, a leading operator whose informers have synced (and the
    sample template, vetted). The operator is stopped before the proxy."""
    async with FaultProxy.for_control_plane(env.control_plane, env.workdir / "proxy", seed=seed) as proxy:
        kubeconfig = proxy.write_kubeconfig(env.workdir / "proxy-kubeconfig.yaml",
                                            env.control_plane.tokens[ADMIN])
        operator = env.operator(*args, kubeconfig=kubeconfig)
        await prepare(env)
        operator.start()
        try:
            await operator.wait_ready()
            await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
            yield proxy, operator
        finally:
            await operator.stop()


async def _delete_pods_of(env: FaultEnv, instance: str) -> int:
    pods = (await env.kube.list(PODS, env.namespace, label_selector=f"{LABEL_INSTANCE}={instance}"))["items"]
    for pod in pods:
        with contextlib.suppress(NotFound):
            await env.kube.delete(PODS, pod["metadata"]["name"], env.namespace, grace_period_seconds=0)
    return len(pods)


async def _metric(operator: OperatorProcess, name: str, labels: str) -> float:
    """A metric of the running operator (read off the loop: the proxy runs on it), NaN if unreadable."""
    text = await metrics_of(operator)
    return float("nan") if text is None else metric_sum(text, name, labels)


async def watch_stall(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """Every watch goes silent (no bytes, no FIN) for over three inactivity timeouts while half of
    ``size`` instances are created and the pods of a few Running ones are deleted; the watchdog must
    cut each silent stream, and the operator must then see what happened meanwhile."""
    stall = 3 * INACTIVITY + 1
    names = [f"stall{i}" for i in range(size)]
    first, second = names[:size // 2], names[size // 2:]
    victims = first[:max(1, size // 8)]
    run = FaultRun(f"watches stalled (no FIN) for {stall:.0f} s, inactivity timeout {INACTIVITY:.0f} s", size)
    async with proxied_operator(env, f"--watch-inactivity-timeout={INACTIVITY}",
                                seed=rng.randrange(2**32)) as (proxy, operator):
        started = time.monotonic()
        await create_instances(env.kube, env.namespace, first)
        for name in first:
            await ready_instance(env.kube, name, env.namespace, timeout=60)
        retained = await claims(env.kube, env.namespace)
        watched = {s.path for s in proxy.open_exchanges()}
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: create_instances(env.kube, env.namespace, second, concurrency=len(second),
                                                   rng=rng, jitter=stall * 0.7))
            await anyio.sleep(0.2)
            stalled_at = time.monotonic()
            outage = proxy.stall_watches()
            silenced = proxy.injected["silence"]
            await anyio.sleep(0.5)
            deleted = sum([await _delete_pods_of(env, victim) for victim in victims])
            await anyio.sleep(stall - (time.monotonic() - stalled_at))
            proxy.remove(outage)
            resumed = time.monotonic()
        run.faults.append(f"{silenced} open watches silenced at {stalled_at - started:.1f} s, "
                          f"{proxy.injected['stall']} new watches unanswered for {resumed - stalled_at:.1f} s")
        run.faults.append(f"{deleted} pods of {len(victims)} Running instances deleted during the stall")
        await settle(run, env, started, retained_before=retained, expect_running=size - len(victims))
        for victim in victims:  # the deletes happened while every watch was silent: they must be seen
            try:
                await wait_for(env.kube, INSTANCES, victim, env.namespace,
                               lambda o: phase(o) == FAILED, 10,
                               f"instance {victim} Failed after its pod was deleted")
            except AssertionError as exc:
                run.report.problems.append(str(exc))
        reopened = await _reopened(proxy, dict.fromkeys(watched, resumed))
        stalled_restarts = await _metric(operator, "jupyternetes_informer_watch_restarts_total", 'reason="stalled"')
    _prove_watchdog(run, proxy, watched, reopened)
    run.notes["stalled_restarts_metric"] = stalled_restarts
    return run


def _answered_watch(proxy: FaultProxy, path: str, since: float) -> Seen | None:
    """The first watch of ``path`` since ``since`` that the server answered."""
    return next((s for s in proxy.watches(since=since)
                 if s.path == path and s.action is Action.PASS and s.status == 200), None)


async def _reopened(proxy: FaultProxy, since: dict[str, float], timeout: float = 40.0) -> dict[str, float]:
    """Wait until every path in ``since`` has a watch the server answered after its time (an informer
    cut repeatedly backs off further each time, so the last one may come late); returns the delays
    of those that came."""
    with anyio.move_on_after(timeout):
        while not all(_answered_watch(proxy, path, at) for path, at in since.items()):  # noqa: ASYNC110
            await anyio.sleep(0.2)
    found = {path: _answered_watch(proxy, path, at) for path, at in since.items()}
    return {path: s.at - since[path] for path, s in found.items() if s is not None}


def _prove_watchdog(run: FaultRun, proxy: FaultProxy, watched: set[str], reopened: dict[str, float]) -> None:
    silent = [s for s in proxy.seen if s.silenced is not None or s.action is Action.STALL]
    cut_after = [s.ended - (s.silenced or s.at) for s in silent if s.client_closed and s.ended is not None]
    late = [s for s in silent if not s.client_closed or s.ended is None
            or s.ended - (s.silenced or s.at) > INACTIVITY + SLACK]
    run.notes.update(silent_streams=len(silent), cut_by_watchdog=len(silent) - len(late),
                     watchdog_max_s=round(max(cut_after, default=float("nan")), 2),
                     informers=len(watched), reopened_after_stall=len(reopened),
                     reopen_after_stall_max_s=round(max(reopened.values(), default=float("nan")), 2))
    if not silent:
        run.report.problems.append("no watch stream was silenced: the stall proved nothing")
    for s in late:
        run.report.problems.append(f"silent watch {s.path} not cut within {INACTIVITY + SLACK:.1f} s "
                                   f"(ended {s.ended}, closed by the client: {s.client_closed})")
    if missing := watched - set(reopened):
        run.report.problems.append(f"no watch reopened after the stall for {sorted(missing)}")


async def watch_drop(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """Every open connection but the Lease's reset (RST, the response unfinished) five times while
    ``size`` instances are created, and some creates' answers reset after the server acted on them;
    every reset watch must be reopened and no child duplicated."""
    names = [f"drop{i}" for i in range(size)]
    run = FaultRun("connections reset mid-stream x5 during a burst", size)
    async with proxied_operator(env, seed=rng.randrange(2**32)) as (proxy, _operator):
        started = time.monotonic()
        lost_answers = proxy.add(Rule(Action.DROP, methods=frozenset({"POST"}), watch=False,
                                      path=r"/(pods|persistentvolumeclaims)$", share=0.3, times=4))
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: create_instances(env.kube, env.namespace, names, concurrency=2, rng=rng,
                                                   jitter=0.4))
            for _ in range(5):
                await anyio.sleep(rng.uniform(0.4, 1.0))
                dropped = proxy.drop(watches=None)
                run.faults.append(f"{dropped} connections reset at {time.monotonic() - started:.1f} s")
        proxy.remove(lost_answers)
        run.faults.append(f"{lost_answers.hits} create answers reset after the server acted")
        await settle(run, env, started, expect_running=size)
        dropped_watches = [s for s in proxy.seen if s.watch and s.dropped is not None]
        last_drop = {s.path: s.dropped for s in sorted(dropped_watches, key=lambda s: s.dropped or 0.0)
                     if s.dropped is not None}
        reopened = await _reopened(proxy, last_drop)
    if (found := len(await claims(env.kube, env.namespace))) != size:
        run.report.problems.append(f"{found} retained claims for {size} instances")
    for path in sorted(set(last_drop) - set(reopened)):
        run.report.problems.append(f"watch {path} reset at {last_drop[path] - started:.1f} s was never reopened")
    run.notes.update(watches_reset=len(dropped_watches), others_reset=proxy.injected["drop"] - len(dropped_watches),
                     reopen_max_s=round(max(reopened.values(), default=float("nan")), 2))
    if not dropped_watches:
        run.report.problems.append("no watch was reset: the run proved nothing")
    return run


async def api_errors(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """During a burst of ``size`` instances, and until they converge, a share of the operator's requests
    (watches included, the Lease spared) is answered 429 with ``Retry-After``, another 500, and others
    are slowed; no object may be asked for again sooner than its 429's ``Retry-After``."""
    names = [f"errors{i}" for i in range(size)]
    run = FaultRun(f"API errors: 429 (Retry-After {RETRY_AFTER} s), 500, slow answers", size)
    async with proxied_operator(env, seed=rng.randrange(2**32)) as (proxy, operator):
        started = time.monotonic()
        for rule in (Rule(Action.THROTTLE, share=0.15, retry_after=RETRY_AFTER), Rule(Action.FAIL, share=0.15),
                     Rule(Action.DELAY, share=0.3, delay=0.4)):
            proxy.add(rule)
        await create_instances(env.kube, env.namespace, names, concurrency=4, rng=rng, jitter=1.0)
        await settle(run, env, started, expect_running=size)
        proxy.clear()
        throttled_metric = await _metric(operator, "rest_client_requests_total", 'code="429"')
    for kind in ("429", "500", "delay"):
        run.faults.append(f"{kind} x{proxy.injected[kind]}")
    _prove_retry_after(run, proxy)
    run.notes.update(requests=len(proxy.seen), throttled=proxy.injected["429"], failed=proxy.injected["500"],
                     slowed=proxy.injected["delay"], throttled_seen_by_operator=throttled_metric)
    return run


def _prove_retry_after(run: FaultRun, proxy: FaultProxy) -> None:
    """No object asked for again sooner than the ``Retry-After`` of a 429 it got."""
    gaps: list[float] = []
    for s in proxy.seen:
        if s.status != 429 or s.retry_after is None:
            continue
        again = proxy.next_request(s)
        if again is None:
            continue  # an Event (never retried), or the last word
        gap = again.at - s.at
        gaps.append(gap)
        if gap < s.retry_after - 0.05:
            run.report.problems.append(f"{again.method} {s.object} asked again {gap:.2f} s after a 429 "
                                       f"with Retry-After {s.retry_after}")
    run.notes.update(retried_after_429=len(gaps), min_retry_gap_s=round(min(gaps, default=float("nan")), 2))
    if not gaps:
        run.report.problems.append("no 429 was followed by a retry: Retry-After was not exercised")

