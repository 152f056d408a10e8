"""The bad-input fault run: ``size`` healthy instances, the whole corpus and fuzzed templates, all
created at once against one operator process, which must answer each, never exit, stay within its
memory bound and drain its queues (``python -m bench.faults --scenarios bad-input``)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.to_thread

from jupyternetes_operator.kube.client import Object
from jupyternetes_operator.kube.errors import ApiError
from jupyternetes_operator.kube.resources import NAMESPACES
from jupyternetes_operator.testing.namespaces import ensure_namespace
from jupyternetes_operator.testing.operator import OperatorProcess, metric_sum, template_valid

from ..invariants import check
from ..run import FaultEnv, FaultRun, create_instances, prepare, settle
from .cases import CASES, SAMPLE
from .corpus import Placed, apply_corpus, place, setup_corpus, verify_corpus
from .fuzz import FuzzOutcome, draw_fuzzed, submit_fuzzed, verify_fuzzed
from .rejected import REJECTED, refuse

DEPLOYED_LEASE = ("--lease-duration=15", "--renew-deadline=10", "--retry-period=2")
"""The lease timings a deployment runs with: this run is about input, not about a loop that a
loaded test machine stalls for longer than the fault tests' 3 s renew deadline."""
QUEUES = ("jupyternotebookinstance", "jupyternotebooktemplate")
RSS_BASE_MB = 40.0
RSS_PER_OBJECT_MB = 0.1
"""The memory bound is ``RSS after start + RSS_BASE_MB + RSS_PER_OBJECT_MB x instances``. The base
covers the corpus's near-limit objects (a 1.4 MB template and a 1.1 MB ConfigMap, each held at once
as response bytes, parsed, frozen in the cache and sent again by the dry run: about 10 MB) with
room for the allocator's arenas; per instance, the caches keep an instance, a pod and a claim
(under 20 kB frozen) and the Event buffer and status writes hold a few kB more. Measured at 200
instances: 88 MB at start, 115 MB at peak; the bound is 156 MB. A copy of an object per retry, or
anything else kept per reconcile, breaks it."""


@dataclass
class Samples:
    """The operator's RSS and queue depths, sampled while the run goes on."""

    peak_rss: int = 0
    depth: dict[str, float] = field(default_factory=lambda: dict.fromkeys(QUEUES, 0.0))
    exits: list[int] = field(default_factory=list)


def _depths(text: str) -> dict[str, float]:
    return {q: metric_sum(text, "workqueue_depth", f'name="{q}"') for q in QUEUES}


async def sample(operator: OperatorProcess, samples: Samples, interval: float = 0.5) -> None:
    """Until cancelled: peak RSS and peak queue depths of ``operator``; an exit is recorded, not raised."""
    while True:
        if not operator.running:
            if operator.proc is not None and not samples.exits:
                samples.exits.append(operator.proc.returncode)
        else:
            with contextlib.suppress(OSError):
                _, rss, _ = operator.usage()
                samples.peak_rss = max(samples.peak_rss, rss)
                depths = _depths(await anyio.to_thread.run_sync(operator.metrics))
                samples.depth = {q: max(samples.depth[q], d) for q, d in depths.items()}
        await anyio.sleep(interval)


async def drained(operator: OperatorProcess, timeout: float = 30.0) -> tuple[dict[str, float], str]:
    """Poll until both queues are empty; their depths (zero unless time ran out) and the last /metrics."""
    deadline = time.monotonic() + timeout
    while True:
        text = await anyio.to_thread.run_sync(operator.metrics)
        depths = _depths(text)
        if not any(depths.values()) or time.monotonic() >= deadline:
            return depths, text
        await anyio.sleep(0.25)


async def _create_all(env: FaultEnv, other: str, healthy: Sequence[str], placed: Sequence[Placed],
                      fuzz: Sequence[Object], outcome: FuzzOutcome) -> list[str]:
    """Everything at once: the healthy instances, the corpus, the refused objects and the fuzzed
    templates; the problems with the refusals."""
    refused: list[str] = []

    async def refuse_all() -> None:
        for index, rejection in enumerate(REJECTED):
            if (problem := await refuse(env.kube, env.namespace, index, rejection)) is not None:
                refused.append(problem)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: create_instances(env.kube, env.namespace, healthy, concurrency=20))
        tg.start_soon(apply_corpus, env.kube, env.namespace, other, placed)
        tg.start_soon(refuse_all)
        tg.start_soon(submit_fuzzed, env.kube, other, fuzz, outcome)
    return refused


def _judge(run: FaultRun, operator: OperatorProcess, samples: Samples, text: str, depths: Mapping[str, float],
           keys: Mapping[str, int], bound: float) -> None:
    """The process's own verdict: never exited, drained queues no longer than its keys, RSS under
    ``bound``, no crashed reconcile."""
    problems = run.report.problems
    if samples.exits or not operator.running or operator.starts != 1:
        problems.append(f"the operator exited ({samples.exits}) or restarted (starts={operator.starts})")
    if any(depths.values()):
        problems.append(f"work queues not drained: {dict(depths)}")
    for queue, peak in samples.depth.items():
        if peak > keys[queue]:
            problems.append(f"queue {queue} held {peak:.0f} keys; there are {keys[queue]} objects")
    if samples.peak_rss > bound:
        problems.append(f"peak RSS {samples.peak_rss / 2**20:.0f} MB over the bound {bound / 2**20:.0f} MB")
    if panics := metric_sum(text, "controller_runtime_reconcile_panics_total"):
        problems.append(f"{panics:.0f} reconciles crashed (panics)")


async def bad_input_at_scale(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """``size`` healthy instances, the whole corpus (:data:`CASES` and :data:`REJECTED`) and
    ``max(10, size // 5)`` fuzzed templates with an instance each, all created at once against one
    operator process: every healthy instance Running, every case its answer, every fuzzed template
    refused or answered; the process never exits, its RSS stays under the bound of
    :data:`RSS_PER_OBJECT_MB`, its queues never hold more keys than there are objects and drain to 0."""
    fuzz = draw_fuzzed(max(10, size // 5), rng.getrandbits(32))
    placed = place(CASES)
    other = f"{env.namespace}-fuzz"
    run = FaultRun("bad input beside healthy instances", size,
                   faults=[f"{len(CASES)} corpus cases", f"{len(REJECTED)} objects refused at admission",
                           f"{len(fuzz)} fuzzed templates"])
    await ensure_namespace(env.kube, other)
    await prepare(env)
    await setup_corpus(env.kube, env.namespace, other)
    operator = env.operator(f"--namespaces={env.namespace},{other}", *DEPLOYED_LEASE)
    samples, outcome = Samples(), FuzzOutcome()
    operator.start()
    try:
        await operator.wait_ready()
        for ns in (env.namespace, other):
            await template_valid(env.kube, SAMPLE, ns)
        _, baseline, _ = operator.usage()
        started = time.monotonic()
        async with anyio.create_task_group() as sampling:
            sampling.start_soon(sample, operator, samples)
            refused = await _create_all(env, other, [f"ok{i}" for i in range(size)], placed, fuzz, outcome)
            created = time.monotonic() - started
            await settle(run, env, started, expect_running=size + sum(1 for c in CASES if not c.bad),
                         timeout=120 + size * 0.5)
            run.report.problems += refused + await verify_corpus(env.kube, env.namespace, placed, timeout=30)
            await verify_fuzzed(env.kube, other, outcome, timeout=30)
            run.report.problems += outcome.problems
            run.report.problems += [p for p in (await check(env.kube, [other])).problems if "at quiescence" not in p]
            depths, text = await drained(operator)
            seconds = time.monotonic() - started
            sampling.cancel_scope.cancel()
        keys = {"jupyternotebookinstance": size + len(CASES) + len(outcome.accepted),
                "jupyternotebooktemplate": 2 + sum(1 for p in placed if p.own_template) + len(outcome.accepted)}
        bound = baseline + (RSS_BASE_MB + RSS_PER_OBJECT_MB * keys["jupyternotebookinstance"]) * 2**20
        _judge(run, operator, samples, text, depths, keys, bound)
        run.notes.update({
            "healthy": size, "bad_cases": sum(1 for c in CASES if c.bad),
            "rejected_at_admission": len(REJECTED) - len(refused),
            "fuzzed": len(fuzz), "fuzzed_rejected": outcome.rejected, "fuzzed_accepted": len(outcome.accepted),
            "fuzzed_valid_reasons": outcome.reasons,
            "rss_start_mb": round(baseline / 2**20, 1), "rss_peak_mb": round(samples.peak_rss / 2**20, 1),
            "rss_bound_mb": round(bound / 2**20, 1),
            "max_queue_depth": {q: int(d) for q, d in samples.depth.items()},
            "reconcile_errors": int(metric_sum(text, "controller_runtime_reconcile_errors_total")),
            "create_seconds": round(created, 1), "seconds": round(seconds, 1)})
    finally:
        exit_code = await operator.stop()
        with contextlib.suppress(ApiError):
            await env.kube.delete(NAMESPACES, other)
    if exit_code != 0:
        run.report.problems.append(f"the operator exited with {exit_code} on SIGTERM")
    return run
