"""The instance reconciler: observe (cache) → render (pure) → plan (pure) → apply → status.

Level-triggered: it is handed a key, re-reads everything from the informer caches,
and converges. Children get deterministic names, so a retry against a stale cache
meets ``AlreadyExists`` instead of creating a duplicate.

Outcomes, as conditions with reasons (never a crash, never another key stalled):
- template missing → Pending/``TemplateNotFound`` with a Warning Event (recovers when it
  appears: the template informer re-enqueues the instances that name it);
- template invalid, not allowed for this namespace, bad variables, policy
  violations, name conflicts → Failed with the reason, recorded as an Event;
- children being created / not ready → Provisioning; endpoint pod ready → Running;
- a pod that exits 0 and will not restart (the server's own idle cull) → Stopped, for good.
A child is created once and never rewritten or re-created: one that disappears or
fails turns the instance Failed (JupyterHub's poll sees it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import api
from ..kube.errors import AlreadyExists, ApiError, Invalid, NotFound
from ..kube.owners import controller_uid
from ..machinery.controller import Result
from ..machinery.echoes import Creations, Echoes
from ..machinery.events import NORMAL, WARNING
from ..machinery.expectations import Expectations
from ..machinery.store import ObjectKey, key_of, thaw
from . import capacity
from . import status as st
from .binding import BindingModes, awaited_claims, mounted_claims, storage_class
from .capacity import Admissions
from .claimtrust import ANNOTATION_CREATED_FOR
from .context import Context
from .outcome import Outcome, announcement, blocked_by, failed, observe, stopped, up_to_date, waiting
from .pin import pin_to_recorded, recorded_only
from .plan import Holder, Plan, Trust, plan
from .prepare import claims_only, holder_state, is_prepare, preparation, prepared_again
from .render import Child, Rendered
from .resolve import Resolution, TemplateRef, resolve_template
from .signing import ClaimSigning
from .status import Condition
from .vetting import Decisions
from .writes import ENV_SECRET_PENDING, adopt, own_env_secret, release_request

if TYPE_CHECKING:
    from ..machinery.clock import Clock
    from ..metrics import JupyternetesMetrics

log = logging.getLogger(__name__)

PERMANENT = frozenset({400, 403, 404, 405, 413, 415})
"""Answers to a child's create that a retry cannot change (quota, admission, the operator's own
rights, a size limit): the instance fails with ``ChildRejected`` instead of retrying forever."""
FIRST_STATUS_GRACE = 2.0
"""Seconds a new instance that is merely provisioning waits for its first status write: a spawn
that runs within it goes straight to Running, with one status write (and no Provisioning Event)
instead of two of each. 2 s covers a burst's median spawn here (0.25 s covered a lone one only:
at a 300 burst it cost 2.1 more API requests per spawn, bench/README.md); a failure or a wait
with a reason (Pending) is written at once (but for the short wait for the environment Secret the
hub creates beside the instance), and the spawn's progress shows meanwhile in its pod's Events."""


class _ChildConflict(Exception):
    """A child's name is taken by an object this instance does not control (or may not trust)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InstanceReconciler:
    def __init__(self, context: Context, *, metrics: JupyternetesMetrics, clock: Clock) -> None:
        self._ctx = context
        self._metrics = metrics
        self._clock = clock
        self._first_seen: dict[ObjectKey, float] = {}
        # The status we last wrote: until the cache shows it, it is the truth (so a stale cache never
        # repeats a transition or its Event). Only this reconciler writes instance status.
        self._written: Expectations[ObjectKey, dict[str, Any]] = Expectations(st.same_status)
        self._echoes = Echoes()  # our status writes met again: they wake nothing (see news)
        self._created = Creations()  # our children's creates met again: they wake nothing (child_news)
        self._decisions = Decisions()
        self._binding = BindingModes(context.client)
        self._signing = ClaimSigning(context, self._binding)
        self._admissions = Admissions(context.templates, context.instances, context.template_namespace)

    def news(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """The instances' update filter: anything but one of this reconciler's status writes coming
        back. Either way the cache now holds ``new``: a write it shows is no longer remembered."""
        self._written.observed(key_of(new), new)
        return self._echoes.news(old, new)

    def child_news(self, added: Mapping[str, Any]) -> bool:
        """The children's addition filter: anything but a create of ours coming back as it answered."""
        return self._created.news(added)

    def remembered(self) -> dict[str, int]:
        """Entries in each per-instance memo: all 0 once no spawn is under way and the cache shows
        every write (nothing is kept for each of 10,000 running servers)."""
        return {"first_seen": len(self._first_seen), "written": len(self._written), "echoes": len(self._echoes),
                "decisions": len(self._decisions), "admissions": len(self._admissions.held),
                "created": len(self._created), **self._signing.remembered()}

    async def reconcile(self, key: ObjectKey) -> Result:
        instance = self._ctx.instances.get(key)
        await self._signing.gone(key, None if instance is None else instance["metadata"]["uid"])
        if instance is None:
            self._first_seen.pop(key, None)
            for memo in (self._written, self._admissions, self._echoes, self._decisions):
                memo.forget(key)
            return Result()
        first_seen = self._first_seen.setdefault(key, self._clock.now())
        previous = self._written.seen(key, instance, thaw(instance.get("status") or {}))
        if instance["metadata"].get("deletionTimestamp"):
            outcome = Outcome(api.TERMINATING, Condition(None, "Terminating"), Condition(None, "Terminating"),
                              Condition(False, "Terminating", "the instance is being deleted"))
        elif (instance.get("spec") or {}).get("release"):
            outcome = await release_request(self._ctx, instance, previous, self._holder(key.namespace))
        elif previous.get("phase") == api.PREPARED:  # done once: a claim deleted since is not made again
            outcome = prepared_again(previous)
        elif previous.get("phase") == api.STOPPED:  # terminal: its pod is never re-created, even once gone
            outcome = stopped(api.status_condition(previous, api.READY).get("message", ""))
        else:
            outcome = await self._converge(instance, previous)
        if (outcome.phase == api.PROVISIONING or outcome.ready.reason == ENV_SECRET_PENDING) and not previous \
                and (wait := first_seen + FIRST_STATUS_GRACE - self._clock.now()) > 0:  # it may run before then
            return Result(requeue_after=min(wait, outcome.retry_after or wait))
        await self._write_status(key, instance, previous, outcome)
        self._signing.recorded(key, outcome.children)
        if outcome.phase not in (api.PENDING, api.PROVISIONING):
            self._first_seen.pop(key, None)  # the spawn is over: not kept for each of 10,000 live servers
            self._decisions.forget(key)
        return Result(requeue_after=outcome.retry_after)

    # -- observe / render / plan / apply ----------------------------------------------------

    async def _converge(self, instance: Mapping[str, Any], previous: Mapping[str, Any]) -> Outcome:
        meta = instance["metadata"]
        resolution = resolve_template(TemplateRef.of(instance), meta["namespace"], self._ctx.templates,
                                      self._ctx.template_namespace)
        # The template's generation, rendered or not: being validated again (new policy settings) or
        # broken, it still says whether the server runs its current version.
        current_generation = None if resolution.template is None else \
            int(resolution.template["metadata"].get("generation") or 0)
        rendered = self._vetted_render(instance, resolution)
        if isinstance(rendered, Outcome):
            # A running server is never failed for its template (JupyterHub's poll would stop it): a
            # provisioned instance goes on being observed from what it was rendered with.
            recorded = recorded_only(previous, meta["namespace"])
            if recorded is None:
                return rendered
            rendered = recorded
        rendered = pin_to_recorded(rendered, previous)
        if prepare := is_prepare(instance):
            rendered = claims_only(rendered)
        elif (full := self._admissions.room(instance, str(previous.get("phase") or ""), lambda: any(
                not c.retain and (o := self._lookup(c)) is not None and controller_uid(o) == meta["uid"]
                for c in rendered.children))) is not None:
            return waiting(capacity.REASON, full.message, resolved=True, retry_after=capacity.WAIT)
        trusted = self._trust(instance, previous)
        the_plan = await self._plan(instance, rendered, previous, trusted)
        if isinstance(the_plan, Outcome):
            return the_plan
        if (blocked := blocked_by(the_plan, in_use_blocks=not prepare)) is not None:
            return blocked
        if not prepare and not any(obj is not None and controller_uid(obj) == meta["uid"]
                                   for _, obj in the_plan.observed) and \
                (failure := await own_env_secret(self._ctx, instance, previous, self._waited(key_of(instance)))):
            return failure  # nothing is created for a server before it owns its environment Secret
        for child, current in the_plan.adopt:
            await adopt(self._ctx, instance, child, current, record=not prepare)
        answers = await self._create_all(instance, the_plan, trusted)
        await self._signing.settle(instance, [  # its own claims, after the pass's creates (signing.py)
            (self._ctx.children[(c.api_version, c.kind)].resource, obj) for c, obj in the_plan.observed if c.retain
            and obj is not None and (obj["metadata"].get("labels") or {}).get(api.LABEL_INSTANCE) == meta["name"]])
        if isinstance(answers, Outcome):
            return answers
        created, deferred = answers
        seen = observe(rendered, the_plan.observed, created, deferred)
        if prepare:
            claims = [obj or created.get(c.name) for c, obj in the_plan.observed]
            classes = [cls for obj in claims if obj is not None and (cls := storage_class(obj))]
            return preparation(meta["name"], the_plan.observed, created, [c.name for c, _ in the_plan.adopt],
                               await self._binding.immediate(classes), seen)
        return dataclasses.replace(seen,
                                   env_secret=api.env_secret_of(instance), current_generation=current_generation)

    def _vetted_render(self, instance: Mapping[str, Any], resolution: Resolution) -> Rendered | Outcome:
        """The instance rendered from its ``resolution``'s template, once the template reconciler has
        vetted that template (its generation, under the current policy) and the children pass policy;
        else the outcome."""
        ref = TemplateRef.of(instance)
        if resolution.template is None:
            reason, message = resolution.reason, resolution.message
            if reason == api.TEMPLATE_NOT_FOUND:
                return waiting(reason, message, resolved=False)
            return failed(reason, message)
        template = resolution.template
        valid = api.condition(template, api.VALID)
        if not valid or valid.get("observedGeneration") != template["metadata"].get("generation") \
                or (template.get("status") or {}).get("policy") != self._ctx.policy.fingerprint:
            # Never render a template the template reconciler has not vetted (it re-enqueues us).
            message = f"template {ref} generation {template['metadata'].get('generation')} is being validated"
            return waiting("TemplateNotValidated", message)
        verdict = (valid.get("status") != "False", str(valid.get("reason")), str(valid.get("message")))
        decision = self._decisions.decide(key_of(instance), template, instance, self._ctx.policy, verdict)
        if decision.refusal is not None:
            return failed(*decision.refusal)
        assert decision.rendered is not None  # a render that fails is a refusal
        return decision.rendered

    def _trust(self, instance: Mapping[str, Any], previous: Mapping[str, Any]) -> Trust:
        """Which retained claims ``instance`` may keep or mount: signed ones, or those it created (its
        creation mark, on the uid its create answered or its status ``previous`` records)."""
        made = self._signing.made(instance, previous)
        uid = instance["metadata"]["uid"]
        return lambda claim: self._ctx.signer.trusted(claim, uid, created=made.get(claim["metadata"]["name"]))

    async def _plan(self, instance: Mapping[str, Any], rendered: Rendered,
                    previous: Mapping[str, Any], trusted: Trust) -> Plan | Outcome:
        """The plan against the cache, made again against live reads of the children it doubts."""
        meta = instance["metadata"]
        holder = self._holder(meta["namespace"])
        the_plan = plan(rendered.children, meta["name"], meta["uid"], self._lookup, holder, trusted)
        existed = {(c.get("kind"), c.get("name")) for c in previous.get("children") or ()
                   if c.get("state") != st.MISSING}
        recorded = [c for c in the_plan.create if (c.kind, c.name) in existed]
        if not recorded and not the_plan.untrusted:
            return the_plan
        # Recorded as created but not in the cache (deleted from under us, or a cache still behind
        # our own writes), or a retained claim the cache shows unsigned (planted, or our signature not
        # seen yet): only a live read may fail a server for it.
        doubtful = [*recorded, *(u.child for u in the_plan.untrusted)]
        live = {c.name: await self._read(c) for c in doubtful}
        if vanished := [c for c in recorded if live[c.name] is None]:
            # A server is never silently re-created (its state is gone).
            missing = ", ".join(f"{c.kind} {c.name}" for c in vanished)
            return failed("ChildDeleted", f"{missing} disappeared; the server will not be re-created", True)
        return plan(rendered.children, meta["name"], meta["uid"], lambda c: live.get(c.name) or self._lookup(c),
                    holder, trusted)

    async def _create_all(self, instance: Mapping[str, Any], the_plan: Plan, trusted: Trust) -> Outcome | tuple[
            dict[str, Mapping[str, Any] | None], dict[str, str]]:
        """Create what the plan says, in order (claims before pods): what each create answered and
        why each pod left for later waits (:mod:`.binding`), or the outcome of the first create that
        fails the instance (retryable errors are raised)."""
        created: dict[str, Mapping[str, Any] | None] = {}
        deferred: dict[str, str] = {}
        claims = {c.name: obj for c, obj in the_plan.observed if c.kind == "PersistentVolumeClaim"}
        for child in the_plan.create:
            if child.kind == "Pod" and (waiting := await self._unbound(child, {**claims, **created})):
                deferred[child.name] = (f"waiting for PersistentVolumeClaim {', '.join(waiting)} to bind "
                                        "before the pod is created")
                continue
            try:
                created[child.name] = await self._create(instance, child, trusted)
            except Invalid as exc:  # only the instance's values can make a vetted template's child invalid
                causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes) or exc.message
                return failed("ChildInvalid", f"{child.kind} {child.name}: {causes}", True)
            except ApiError as exc:
                if exc.status not in PERMANENT:
                    raise  # throttling, server errors: retried with backoff
                return failed("ChildRejected", f"{child.kind} {child.name}: the API server refused it "
                                               f"({exc.status}): {exc.message}"[:4096], True)
            except _ChildConflict as exc:
                return failed(exc.reason, str(exc), True)
        return created, deferred

    async def _unbound(self, pod: Child, claims: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
        """The instance's claims ``pod`` mounts that bind before any pod uses them, not Bound yet."""
        classes = [cls for name in mounted_claims(pod.manifest) if (claim := claims.get(name)) is not None
                   and (cls := storage_class(claim)) is not None]
        immediate = await self._binding.immediate(classes)
        return awaited_claims(pod.manifest, claims, immediate.__contains__)

    def _lookup(self, child: Child) -> Mapping[str, Any] | None:
        kind = self._ctx.children.get((child.api_version, child.kind))
        return None if kind is None else kind.store.get_by_name(child.manifest["metadata"]["namespace"], child.name)

    def _holder(self, namespace: str) -> Callable[[str], Holder]:
        return lambda name: holder_state(self._ctx.instances.get(ObjectKey(namespace, name)))

    async def _read(self, child: Child) -> Mapping[str, Any] | None:
        kind = self._ctx.children[(child.api_version, child.kind)]
        return await self._ctx.client.get_or_none(kind.resource, child.name, child.manifest["metadata"]["namespace"])

    async def _create(self, instance: Mapping[str, Any], child: Child, trusted: Trust) -> Mapping[str, Any] | None:
        """Create ``child``; the object the API server answered with (None: it existed already)."""
        kind = self._ctx.children[(child.api_version, child.kind)]
        namespace = child.manifest["metadata"]["namespace"]
        manifest = child.manifest
        if child.retain:  # who has used it (delete-forever reads it); that this instance made it (claimtrust)
            meta = manifest["metadata"]
            mark = self._ctx.signer.creation_mark(namespace, child.name, instance["metadata"]["uid"])
            annotations = {**meta.get("annotations", {}), ANNOTATION_CREATED_FOR: mark}
            if not is_prepare(instance):  # a prepare request serves no one
                annotations[api.ANNOTATION_SERVERS] = instance["metadata"]["name"]
            manifest = {**manifest, "metadata": {**meta, "annotations": annotations}}
        try:
            obj = await self._ctx.client.create(kind.resource, manifest, namespace)
        except AlreadyExists:
            # Ours from an earlier attempt the cache has not shown yet, or an object outside our
            # label-selected cache that squats on the name: look, and never overwrite the latter.
            existing = await self._ctx.client.get(kind.resource, child.name, namespace)
            seen = plan((child,), instance["metadata"]["name"], instance["metadata"]["uid"], lambda _: existing,
                        trusted=trusted)
            if seen.conflicts:
                raise _ChildConflict("ChildConflict", seen.conflicts[0].message) from None
            if seen.untrusted:
                raise _ChildConflict("ClaimUntrusted", seen.untrusted[0].message) from None
            return None
        except ApiError as exc:
            if isinstance(exc, Invalid) or exc.status in PERMANENT:
                self._ctx.recorder.emit(instance, WARNING, "CreateFailed",
                                        f"{child.kind} {child.name}: {exc.message}"[:1024], "Create")
            raise
        self._created.created(obj, self._lookup(child))
        if child.retain:  # signed at once or later (signing.py); if this write is lost, a later pass signs it
            obj = await self._signing.created(instance, kind.resource, obj)
        self._ctx.recorder.emit(instance, NORMAL, api.CREATED, f"created {child.kind} {child.name}", "Create")
        return obj

    # -- status -------------------------------------------------------------------------------

    async def _write_status(self, key: ObjectKey, instance: Mapping[str, Any], current: dict[str, Any],
                            outcome: Outcome) -> None:
        meta = instance["metadata"]
        generation = int(meta.get("generation") or 0)
        running = current.get("templateGeneration")
        running = outcome.template_generation if running is None else running
        conditions = [outcome.resolved.as_status(api.TEMPLATE_RESOLVED),
                      outcome.children_ready.as_status(api.CHILDREN_READY), outcome.ready.as_status(api.READY),
                      up_to_date(running, outcome.current_generation).as_status(api.UP_TO_DATE)]
        desired: dict[str, Any] = {
            "observedGeneration": generation,
            "phase": outcome.phase,
            "conditions": st.merge_conditions(current.get("conditions") or (), conditions, generation,
                                              st.now_rfc3339()),
            # An outcome decided before observing children keeps the last record of them: it is
            # what tells a vanished child from one never created.
            "children": list(outcome.children) or current.get("children"),
            "endpoint": outcome.endpoint,
            # Recorded when the children are first rendered, then kept: it says what the server runs.
            "envSecret": outcome.env_secret or current.get("envSecret"),
            "templateGeneration": running,
        }
        desired = {k: v for k, v in desired.items() if v is not None}
        if st.same_status({k: v for k, v in current.items() if k in desired}, desired) and \
                set(current) <= set(desired):
            return
        patch = {**{k: None for k in current if k not in desired}, **desired}
        self._echoes.expect(key, instance, desired)
        try:
            updated = await self._ctx.client.patch(api.INSTANCES, meta["name"], {"status": patch}, meta["namespace"],
                                                   subresource="status")
        except NotFound:
            return  # deleted meanwhile: its delete event ends its story

        version = updated["metadata"].get("resourceVersion")
        cached = (self._ctx.instances.get(key) or {}).get("metadata") or {}
        if cached.get("resourceVersion") != version:  # else the cache shows it: nothing to remember
            self._written.wrote(key, str(version), desired)
        if cached.get("resourceVersion") == meta.get("resourceVersion"):
            self._echoes.wrote(key, instance, updated)  # its event has not come yet
        else:  # its event came first: dropped if it matched what was sent, else it woke us
            self._echoes.forget(key)
        self._announce(key, instance, current, outcome)

    def _waited(self, key: ObjectKey) -> float:
        """Seconds since this spawn's instance was first seen."""
        return self._clock.now() - self._first_seen.get(key, self._clock.now())

    def _announce(self, key: ObjectKey, instance: Mapping[str, Any], current: Mapping[str, Any],
                  outcome: Outcome) -> None:
        if outcome.phase == api.RUNNING and current.get("phase") != api.RUNNING:
            started = self._first_seen.pop(key, None)
            if started is not None:
                self._metrics.spawned(self._clock.now() - started)
        if (event := announcement(current, outcome)) is not None:
            self._ctx.recorder.emit(instance, *event)

