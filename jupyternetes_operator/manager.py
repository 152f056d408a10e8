"""The composition root: every long-lived piece, wired once, in one task group.

Informers (templates, instances, and the children the operator owns, selected by
label) run on every replica so a new leader starts with a warm cache; the two
controllers run only while this replica leads. ``/metrics``, ``/healthz`` and
``/readyz`` are served throughout. What wakes which queue is declared once, in
:meth:`Operator.build` (``machinery.wiring`` with the map functions of ``reconcile.wiring``).

Shutdown: SIGTERM (or :meth:`Operator.stop`) stops the controllers taking work,
lets in-flight reconciles finish within ``shutdown_timeout``, releases the Lease,
then cancels the rest; a replica that only follows stops campaigning at once.
Losing the Lease stops all guarded work at once and makes :meth:`Operator.run`
raise :class:`LeadershipLost`, so the process exits and restarts as a follower.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiohttp
import anyio
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from . import api
from .api import GROUP, INSTANCE_KIND, INSTANCES, LABEL_MANAGED_BY, MANAGED_BY, TEMPLATES
from .kube.client import Client, Resource
from .kube.discovery import resource_for
from .kube.errors import ServerError, TooManyRequests
from .machinery import memory
from .machinery.backoff import Backoff
from .machinery.clock import Clock, MonotonicClock
from .machinery.controller import Controller
from .machinery.events import EventRecorder
from .machinery.handlers import content_changed, never
from .machinery.informer import Informer, InformerOptions
from .machinery.leader import LeaderElectionConfig, LeaderElector
from .machinery.multistore import CompositeStore
from .machinery.ratelimit import BucketThrottle
from .machinery.store import ObjectKey, Transform
from .machinery.wiring import wake
from .machinery.workqueue import WorkQueue
from .metrics import Metrics
from .reconcile import wiring
from .reconcile.claimtrust import ClaimSigner, ensure_key
from .reconcile.context import ChildKind, Context
from .reconcile.instances import InstanceReconciler
from .reconcile.policy import Policy
from .reconcile.prepull import DAEMONSETS, PrePullReconciler
from .reconcile.prepull import LABELS as PREPULL_LABELS
from .reconcile.resolve import INSTANCES_BY_TEMPLATE, instances_by_template
from .reconcile.status import claim_view, instance_view, pod_view
from .reconcile.templates import TemplateReconciler
from .settings import Settings

log = logging.getLogger(__name__)

CHILD_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
LEASES_PATH = "/apis/coordination.k8s.io/"  # the elector's own writes are never fenced
VIEWS: dict[tuple[str, str], Transform] = {
    ("v1", "Pod"): pod_view, ("v1", "PersistentVolumeClaim"): claim_view}
"""What the child caches keep of each kind they trim (the rest is kept whole, less managedFields)."""

PREPULL_SELECTOR = ",".join(f"{k}={v}" for k, v in sorted(PREPULL_LABELS.items()))


def _one(key: ObjectKey, _: object) -> list[ObjectKey]:
    """Map function: whatever changed, the one key."""
    return [key]


COUNT_DELAY = 1.0
"""Seconds a template's instance count may lag behind its instances."""
TRIM_INTERVAL = 30.0
"""Seconds between two returns of the C heap's free pages to the system."""
EVENT_HOLD = 2.0
"""Seconds a Normal Event may wait while instances are queued (a burst): the spawns' writes first."""


def excluding(field_selector: str | None, namespaces: Iterable[str]) -> str | None:
    """``field_selector`` narrowed to objects outside ``namespaces``. The API server supports
    ``metadata.namespace`` field selectors on every resource, custom resources included; the
    terms of a selector are ANDed."""
    terms = [field_selector] if field_selector else []
    terms += [f"metadata.namespace!={namespace}" for namespace in sorted(namespaces)]
    return ",".join(terms) or None


class Operator:
    def __init__(self, settings: Settings, client: Client, metrics: Metrics, clock: Clock | None = None) -> None:
        self.settings = settings
        self.client = client
        self.metrics = metrics
        self.clock = clock or MonotonicClock()
        self.informers: list[Informer] = []
        self.controllers: list[Controller[ObjectKey]] = []
        self.elector: LeaderElector | None = None
        self._stopping = anyio.Event()
        self._has_led = False

    def _scopes(self, extra: Iterable[str | None] = ()) -> Sequence[str | None]:
        """One informer scope per watched namespace (plus ``extra``), or [None] for all namespaces."""
        if not self.settings.namespaces:
            return [None]
        return [*sorted({*self.settings.namespaces, *(n for n in extra if n)})]

    def _informers(self, resource: Resource, name: str, options: InformerOptions, scopes: Sequence[str | None],
                   unwatched: Iterable[str] | None = None) -> tuple[list[Informer], CompositeStore]:
        """Informers per scope; the all-namespaces scope leaves out ``unwatched`` (default: the
        settings' excluded namespaces) on the server side, so nothing from them enters the store."""
        skip = self.settings.unwatched_namespaces if unwatched is None else unwatched
        by_scope: dict[str | None, Informer] = {}
        for namespace in scopes:
            reflector = dataclasses.replace(options.reflector,
                                            inactivity_timeout=self.settings.watch_inactivity_timeout)
            fields = options.field_selector if namespace is not None else excluding(options.field_selector, skip)
            scoped = dataclasses.replace(options, namespace=namespace, reflector=reflector, field_selector=fields)
            label = name if namespace is None else f"{name}/{namespace}"
            by_scope[namespace] = Informer.for_resource(self.client, resource, scoped, name=label,
                                                        metrics=self.metrics.informer, clock=self.clock)
        self.informers += by_scope.values()
        return list(by_scope.values()), CompositeStore({ns: i.store for ns, i in by_scope.items()})

    async def build(self) -> None:
        """Create informers, queues, reconcilers and controllers (discovers child resources)."""
        s, m, c = self.settings, self.metrics, self.clock
        instance_queue: WorkQueue[ObjectKey] = WorkQueue("jupyternotebookinstance", clock=c, metrics=m.workqueue)
        template_queue: WorkQueue[ObjectKey] = WorkQueue("jupyternotebooktemplate", clock=c, metrics=m.workqueue)
        scopes = self._scopes()
        if s.unwatched_namespaces:
            log.info("watching all namespaces except %s", ", ".join(sorted(s.unwatched_namespaces)))
        # The shared template namespace serves templates even when it is excluded (an admin may keep
        # them beside the operator); its instances and children stay excluded.
        templates_i, templates = self._informers(TEMPLATES, "jupyternotebooktemplates", InformerOptions(),
                                                 self._scopes([s.template_namespace]),
                                                 s.unwatched_namespaces - {s.template_namespace})
        by_template = partial(instances_by_template, shared_namespace=s.template_namespace)
        instances_i, instances = self._informers(INSTANCES, "jupyternotebookinstances", InformerOptions(
            indexers={INSTANCES_BY_TEMPLATE: by_template}, transform=instance_view), scopes)
        children: dict[tuple[str, str], ChildKind] = {}
        child_informers: list[Informer] = []
        claim_informers: list[Informer] = []
        for api_version, kind in sorted(s.allowed_kinds):
            resource = await resource_for(self.client, api_version, kind)
            options = InformerOptions(label_selector=CHILD_SELECTOR)
            if (view := VIEWS.get((api_version, kind))) is not None:
                options = dataclasses.replace(options, transform=view)
            made, store = self._informers(resource, resource.plural, options, scopes)
            child_informers += made
            claim_informers += made if kind == "PersistentVolumeClaim" else []
            children[(api_version, kind)] = ChildKind(resource, store)

        self.recorder = EventRecorder(self.client, controller=api.EVENT_REPORTER, instance=s.leader_election.identity,
                                      busy=lambda: len(instance_queue) > 0, hold=EVENT_HOLD, clock=self.clock)
        self.signer = ClaimSigner(adopt_unsigned=s.adopt_unsigned_claims)
        context = Context(self.client, templates, instances, children, self.recorder, Policy(
            s.pod_security_level, s.allowed_kinds, s.tenant), s.template_namespace, self.signer, s.env_secret_wait)
        self.instance_reconciler = instance_reconciler = InstanceReconciler(context, metrics=m.jupyternetes,
                                                                            clock=self.clock)
        template_reconciler = TemplateReconciler(context)

        # What wakes what. A template's count may lag COUNT_DELAY behind its instances, so a burst of
        # spawns costs one status write per template; instances wake on a template's new generation
        # or verdict only, not on its count (which would make every spawn O(live instances)); not on
        # their own status writes (InstanceReconciler.news) or children's creates (child_news), nor
        # on child updates the child caches do not keep.
        (wake(instance_queue)
            .for_(instances_i, when_updated=instance_reconciler.news)
            .owns(child_informers, GROUP, INSTANCE_KIND, when_updated=content_changed,
                  when_added=instance_reconciler.child_news)
            .watches(claim_informers, wiring.instance_of_claim, when_updated=content_changed)
            .watches(templates_i, partial(wiring.instances_naming, instances=instances),
                     when_updated=wiring.verdict_changed)
            .watches(instances_i, partial(wiring.waiting_for_room, instances=instances,
                                          shared_namespace=s.template_namespace),
                     when_updated=never, when_added=False))
        (wake(template_queue)
            .for_(templates_i)
            .watches(instances_i, partial(wiring.templates_named_by, shared_namespace=s.template_namespace),
                     when_updated=never, delay=COUNT_DELAY))

        prepull: tuple[Informer, WorkQueue[ObjectKey], PrePullReconciler] | None = None
        if s.prepull:
            # One DaemonSet in the operator's own namespace, re-planned from every template on any change.
            puller_queue: WorkQueue[ObjectKey] = WorkQueue("imagepuller", clock=c, metrics=m.workqueue)
            made, daemonsets = self._informers(
                DAEMONSETS, "daemonsets", InformerOptions(label_selector=PREPULL_SELECTOR),
                [s.leader_election.lease_namespace], ())
            puller = PrePullReconciler(self.client, templates, daemonsets, s.leader_election.lease_namespace,
                                       s.prepull_pause_image)
            the_key = partial(_one, puller.key)
            (wake(puller_queue)
                .watches(templates_i, the_key, when_updated=wiring.verdict_changed)
                .watches(made, the_key))
            prepull = (made[0], puller_queue, puller)

        everything = [*templates_i, *instances_i, *child_informers]
        self.controllers = [
            Controller("jupyternotebooktemplate", template_reconciler.reconcile, template_queue,
                       workers=s.template_workers, wait_for=everything, metrics=m.controller, clock=self.clock),
            Controller("jupyternotebookinstance", instance_reconciler.reconcile, instance_queue,
                       workers=s.instance_workers, wait_for=everything, metrics=m.controller, clock=self.clock),
        ]
        if prepull is not None:
            informer, puller_queue, puller = prepull
            self.controllers.append(Controller("imagepuller", puller.reconcile, puller_queue, workers=1,
                                               wait_for=[*templates_i, informer], metrics=m.controller,
                                               clock=self.clock))
        self.instances, self._templates, self._instance_queue = instances, templates, instance_queue
        le = s.leader_election
        if le.enabled:
            elector = self.elector = LeaderElector.for_lease(
                self.client, LeaderElectionConfig(le.lease_name, le.lease_namespace, le.identity, le.lease_duration,
                                                  le.renew_deadline, le.retry_period),
                clock=self.clock, metrics=m.leader, before_release=self.client.fenced_writes_landed)
            # Every write but the Lease's own is fenced on the leader's clock, so a replica that was
            # frozen past its renew deadline cannot write even once before its guarded work is cancelled.
            self.client.write_fence = lambda method, path: path.startswith(LEASES_PATH) or elector.may_act()

    # -- running -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return all(i.has_synced for i in self.informers)

    def healthy(self) -> bool:
        return self.elector is None or self.elector.check(max_tolerable_expiration=20.0)

    def stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _lead(self) -> None:
        """The leader-guarded work: both controllers, until a graceful stop (or cancellation)."""
        self._has_led = True
        # The claim signing key, before any reconcile could sign or check a retained claim (the first
        # leader creates it; followers never write).
        self.signer.load(await ensure_key(self.client, self.settings.leader_election.lease_namespace))
        log.info("leading: starting controllers")
        async with anyio.create_task_group() as outer:
            outer.start_soon(self._drain_on_stop, outer.cancel_scope)
            async with anyio.create_task_group() as controllers:
                for controller in self.controllers:
                    controllers.start_soon(controller.run)
            outer.cancel_scope.cancel()

    async def _drain_on_stop(self, scope: anyio.CancelScope) -> None:
        await self._stopping.wait()
        for controller in self.controllers:
            controller.shutdown()  # take no new keys; in-flight reconciles finish, then run() returns
        await self.clock.sleep(self.settings.shutdown_timeout)
        log.warning("in-flight reconciles did not finish within %.0fs; stopping them", self.settings.shutdown_timeout)
        scope.cancel()

    async def run(self) -> None:
        """Run until stopped (returns) or until leadership is lost (raises LeadershipLost)."""
        if not self.controllers:
            await self.build()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.recorder.run)
            tg.start_soon(self._refresh_gauges)
            tg.start_soon(self._return_memory)
            for informer in self.informers:
                tg.start_soon(informer.run)
            if self.elector is not None:
                await self._campaign(self.elector)
            else:
                await self._lead()
            log.info("stopped")
            tg.cancel_scope.cancel()

    async def _campaign(self, elector: LeaderElector) -> None:
        """Lead when elected. A graceful stop that comes while this replica only follows ends the
        campaign at once: a follower has no work in flight, and waiting for a lease it would only
        give back would hold the process until the kubelet's SIGKILL."""
        async with anyio.create_task_group() as tg:
            async def stop_following() -> None:
                await self._stopping.wait()
                # Once it has led, the elector ends run() itself: a leader drains in _lead (and
                # releases the Lease), a lost lease still raises LeadershipLost.
                if not self._has_led:
                    tg.cancel_scope.cancel()

            tg.start_soon(stop_following)
            await elector.run(self._lead)
            tg.cancel_scope.cancel()

    async def _refresh_gauges(self) -> None:
        """Instances by phase, templates by validity and outdated servers (the templates' counts),
        recomputed from the caches (no API calls)."""
        while True:
            if self.ready:
                counts = dict.fromkeys(api.PHASES, 0)
                for instance in self.instances.list():
                    phase = api.phase(instance) or api.PENDING
                    counts[phase] = counts.get(phase, 0) + 1
                for phase, count in counts.items():
                    self.metrics.jupyternetes.instances(phase, count)
                valid = {"True": 0, "False": 0, "Unknown": 0}
                outdated = 0
                for template in self._templates.list():
                    status = api.condition(template, api.VALID).get("status", "Unknown")
                    valid[str(status)] = valid.get(str(status), 0) + 1
                    outdated += int((template.get("status") or {}).get("outdatedInstances") or 0)
                self.metrics.jupyternetes.outdated(outdated)
                for state, count in valid.items():
                    self.metrics.jupyternetes.templates(state.lower(), count)
            await self.clock.sleep(5.0)

    async def _return_memory(self) -> None:
        """Every TRIM_INTERVAL, when no instance waits, the C heap's free pages go back to the system
        (:mod:`.machinery.memory`: a few ms at 10,000 notebooks)."""
        while True:
            await self.clock.sleep(TRIM_INTERVAL)
            if not len(self._instance_queue):
                memory.trim()


def http_app(operator: Operator) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(operator.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        ok = operator.healthy()
        return web.Response(text="ok" if ok else "leader lease renewal is overdue", status=200 if ok else 500)

    async def readyz(_: web.Request) -> web.Response:
        ok = operator.ready
        return web.Response(text="ok" if ok else "informers not synced", status=200 if ok else 503)

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)])
    return app


async def serve_http(operator: Operator, bind_address: str) -> None:
    host, _, port = bind_address.rpartition(":")
    runner = web.AppRunner(http_app(operator), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, int(port)).start()
        log.info("serving /metrics, /healthz, /readyz on %s", bind_address)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


async def run_operator(settings: Settings) -> None:
    """Entry point of ``jupyternetes-operator run``."""
    metrics = Metrics(CollectorRegistry(auto_describe=True))  # served on /metrics
    clock = MonotonicClock()
    throttle = BucketThrottle(settings.qps, settings.burst, clock=clock) if settings.qps > 0 else None
    options: dict[str, Any] = {"metrics": metrics.client, "throttle": throttle, "field_manager": api.FIELD_MANAGER,
                               "connections": settings.api_connections}
    if settings.in_cluster:
        client = Client.in_cluster(**options)
    else:
        client = await Client.from_kubeconfig(settings.kubeconfig, **options)
    async with client:
        operator = await _built(settings, client, metrics, clock)
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve_http, operator, settings.bind_address)
            tg.start_soon(_stop_on_signals, operator, tg.cancel_scope)
            await operator.run()
            tg.cancel_scope.cancel()


async def _built(settings: Settings, client: Client, metrics: Metrics, clock: Clock) -> Operator:
    """A built operator. Started while the API server cannot be reached (an outage), it retries with
    backoff rather than crash into the kubelet's restart backoff, which would delay it long after."""
    backoff = Backoff()
    while True:
        operator = Operator(settings, client, metrics, clock)  # afresh: a failed build() leaves parts behind
        try:
            await operator.build()
            return operator
        except (aiohttp.ClientError, OSError, ServerError, TooManyRequests) as exc:
            delay = backoff.next_delay(clock.now())
            log.warning("cannot reach the API server to start (%s); retrying in %.1fs", exc, delay)
            await clock.sleep(delay)


async def _stop_on_signals(operator: Operator, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: shutting down gracefully", signal.Signals(signum).name)
            if operator.stopping:
                scope.cancel()  # a second signal: stop now
            operator.stop()
