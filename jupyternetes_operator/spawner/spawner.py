"""``JupyternetesSpawner``: JupyterHub asks for a server by creating a JupyterNotebookInstance.

A thin face over the pure modules (names, options, form, manifests, progress, state),
the shared per-process informer (:mod:`.shared`) and the progress feed (:mod:`.feed`). Per call:

- ``start``: check the user's options against the template, replace any stale instance of
  the same name, create the environment Secret (the hub's ``get_env()``, API token included —
  never in the instance's spec) under a name new at every start, and the instance naming it, at once
  (two API requests; the Secret carries a key new at every start, the instance its digest; the operator
  checks the key and makes the instance the Secret's owner), then wait on the shared informer
  until the operator reports the endpoint URL, or a failure, or (after
  ``operator_timeout``) that no operator ever observed the instance.
- ``poll``: reads the shared cache only (no API call). After a hub restart, the first ``poll`` finishes
  a start the last hub did not see through (:mod:`.lifecycle`); ``get_url`` gives its address.
- ``stop``: deletes the instance (foreground, so it is gone only once its pod is; its Secret
  goes with it) and waits for that unless ``now``.
- ``delete_forever``: asks the operator (a release request) to delete the retained PVCs that this
  server alone ever used; the hub itself has no rights on PVCs.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing, suppress
from typing import Any

from jupyterhub.spawner import Spawner
from traitlets import Bool, Callable, Dict, Float, Integer, List, Unicode, Union, default

from .. import api
from ..kube.errors import ApiError, NotFound
from . import feed, form, lifecycle, manifests, names, options, shared
from . import progress as prog
from .errors import SpawnError, api_error, template_invalid, template_missing
from .state import ServerState, exit_status

SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class JupyternetesSpawner(Spawner):  # type: ignore[misc]
    """Starts each server as a JupyterNotebookInstance rendered by the Jupyternetes operator."""

    namespace = Unicode(
        help="Namespace of the instances (default: the hub's own namespace in a pod, else 'default').",
    ).tag(config=True)

    @default("namespace")
    def _default_namespace(self) -> str:
        with suppress(OSError), open(SA_NAMESPACE_FILE) as f:
            return f.read().strip()
        return "default"

    kubeconfig = Unicode(
        None, allow_none=True,
        help="Kubeconfig file; None uses the pod's ServiceAccount in a cluster, else the default kubeconfig.",
    ).tag(config=True)
    template_name = Unicode("jupyterlab", help="The template of servers without a profile_list.").tag(config=True)
    template_namespace = Unicode(
        None, allow_none=True,
        help="Namespace of the template (default: the instance's namespace; else the template must list it "
             "in spec.instanceNamespaces).",
    ).tag(config=True)
    profile_list = List(
        Dict(),
        help="""Choices offered to users. Each entry: slug, display_name, description, template,
        template_namespace, variables (fixed values), default (bool). user_options select one with
        {"profile": slug} and may set the template's userSettable variables with {"variables": {...}}.""",
    ).tag(config=True)
    extra_variables = Union(
        [Dict(), Callable()],
        help="Variables the administrator sets on every instance (win over profiles); a callable "
             "receives the spawner and returns a dict (or an awaitable of one).",
    ).tag(config=True)
    instance_name_prefix = Unicode("jupyter", help="Instance names are <prefix>-<user>[--<server>].").tag(config=True)
    instance_labels = Dict(help="Extra labels on each instance.").tag(config=True)
    instance_annotations = Dict(help="Annotations on each instance.").tag(config=True)
    operator_timeout = Float(
        30.0, help="Seconds to wait for the operator to first report on a new instance before failing the spawn "
                   "with 'operator not running'. The whole start is bounded by start_timeout.",
    ).tag(config=True)
    delete_failed_instances = Bool(
        True, help="Delete the instance when start() fails or times out (False keeps it for kubectl describe).",
    ).tag(config=True)
    stop_wait_timeout = Float(120.0, help="Longest stop() waits for the server's pod to be gone.").tag(config=True)
    informer_sync_timeout = Float(60.0, help="Longest wait for the shared instance cache's first LIST.").tag(
        config=True)
    progress_drain_seconds = Float(
        1.0, help="After the instance is Running or Failed, how long progress() still shows late Events (and "
                  "a failed start() waits for its pods' Events to be shown, while progress() is followed).",
    ).tag(config=True)
    delete_retained_pvcs = Bool(True, help="delete_forever() deletes the server's retained PVCs.").tag(config=True)

    port = Integer(8888, help="Port the server listens on (passed in its environment).").tag(config=True)

    @default("ip")
    def _default_ip(self) -> str:
        return "0.0.0.0"

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        return form.options_from_form

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = ServerState()
        self._starting = False
        self._uid: str | None = None
        self._signals = feed.Signals()  # this start() and its progress() readers
        self._recovering = True  # until this process starts the server or has polled it once
        self._url: str | None = None  # the address of a server recovered after a hub restart

    # -- names and configuration ---------------------------------------------------------

    @property
    def instance_name(self) -> str:
        return names.instance_name(self.user.name, self.name or "", self.instance_name_prefix)

    def _profiles(self) -> tuple[options.Profile, ...]:
        return options.profiles(self.profile_list, self.template_name, self.template_namespace)

    async def _extra(self) -> dict[str, str]:
        value = self.extra_variables
        if callable(value):
            value = value(self)
            if inspect.isawaitable(value):
                value = await value
        return {str(k): str(v) for k, v in (value or {}).items()}

    async def _connection(self) -> shared.Connection:
        return await shared.connection(self.kubeconfig)

    async def _cached(self, kind: str, namespace: str) -> shared.SharedCache:
        conn = await self._connection()
        try:
            if kind == "JupyterNotebookTemplates":
                return await conn.templates(namespace, self.informer_sync_timeout)
            return await conn.instances(namespace, self.informer_sync_timeout)
        except ApiError as exc:
            raise api_error("list and watch", kind, namespace, exc) from exc
        except TimeoutError:
            raise SpawnError(f"the hub's cache of {kind} in {namespace} did not sync within "
                             f"{self.informer_sync_timeout:g} s; check the API server and the hub's RBAC") from None

    async def _instances(self, namespace: str) -> shared.SharedCache:
        return await self._cached("JupyterNotebookInstances", namespace)

    async def _template(self, profile: options.Profile) -> tuple[str, Mapping[str, Any]]:
        """The profile's template, from the hub's shared cache of templates (watched, so current)."""
        namespace = profile.template_namespace or self.namespace
        template = (await self._cached("JupyterNotebookTemplates", namespace)).get(profile.template)
        if template is None:
            raise template_missing(profile.template, namespace)
        return namespace, template

    async def _declared(self, profile: options.Profile) -> tuple[str, tuple[api.Declaration, ...]]:
        """The namespace of the profile's template and the variables it declares."""
        namespace, template = await self._template(profile)
        try:
            return namespace, options.declarations(template)
        except api.DeclarationError as exc:
            raise template_invalid(profile.template, namespace, exc.message) from None

    # -- state ---------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        state.update(self._state.to_dict())
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._state = ServerState.from_dict(state)

    def clear_state(self) -> None:
        super().clear_state()
        self._state = ServerState()
        self._url = None

    def _persist_state(self) -> None:
        lifecycle.persist(self.orm_spawner, self.get_state())

    # -- options form --------------------------------------------------------------------

    async def get_options_form(self) -> str:
        if self.options_form:
            result: str = await super().get_options_form()
            return result
        extra = await self._extra()
        choices = []
        for profile in self._profiles():
            _, declared = await self._declared(profile)
            choices.append((profile, form.settable(profile, declared, extra)))
        return form.render(choices)

    # -- start ---------------------------------------------------------------------------

    async def start(self) -> str:
        self._starting = True
        self._recovering = False
        self._state = ServerState()
        self._url = None
        self._uid = None
        self._signals.clear()
        name, namespace = self.instance_name, self.namespace
        nonce, key = secrets.token_hex(8), secrets.token_hex(16)
        try:
            body = await self._instance_manifest(name, namespace, nonce, api.env_key_digest(key))
            instances = await self._instances(namespace)
            await self._replace_stale(instances, name, namespace)
            self._state = ServerState(name, namespace, pending=body)
            self._persist_state()  # before the Secret or the instance exists: see state.py
            secret = manifests.env_secret(name, nonce, key, namespace, self.get_env(),
                                          manifests.hub_labels(self.user.name, self.name or ""))
            created, unmade = await lifecycle.create((await self._connection()).client, secret, body, namespace)
            self._state = self._state.created()
            self._uid = created["metadata"]["uid"]
            self._signals.uid_known.set()
            if unmade is not None:
                raise unmade  # its instance cannot start: deleted below (delete_failed_instances)
            return await self._wait_running(instances, name, namespace, created["metadata"]["uid"])
        except BaseException as exc:
            if isinstance(exc, SpawnError):  # the pods' Events that led here go out first
                await self._signals.settle(self.progress_drain_seconds)
            if self._uid is not None:  # its instance exists (and owns the Secret): no later hub need finish it
                self._state = self._state.created()
                with suppress(Exception):
                    self._persist_state()
            if self.delete_failed_instances and self._state.started:
                with suppress(Exception):
                    await asyncio.shield(self._delete(name, namespace))
            raise
        finally:
            self._starting = False
            self._signals.done.set()

    async def _instance_manifest(self, name: str, namespace: str, nonce: str, digest: str) -> dict[str, Any]:
        """Check everything the user and the configuration chose, before any write."""
        try:
            choice = options.choose(self.user_options, self._profiles())
        except options.OptionsError as exc:
            raise SpawnError(str(exc)) from None
        template_ns, declared = await self._declared(choice.profile)
        fixed = {**choice.profile.variables, **await self._extra()}
        if any(d.name == "username" for d in declared):
            fixed["username"] = names.safe_username(self.user.name)
        label = f"{template_ns}/{choice.profile.template}"
        try:
            variables = options.resolve(declared, choice.variables, fixed, label)
        except options.OptionsError as exc:
            raise SpawnError(str(exc)) from None
        labels = {**self.instance_labels, **manifests.hub_labels(self.user.name, self.name or "")}
        annotations = {**self.instance_annotations, api.ANNOTATION_ENV_SECRET: nonce, api.ANNOTATION_ENV_DIGEST: digest}
        return manifests.instance(name, namespace, choice.profile.template, template_ns, variables, labels,
                                  annotations)

    async def _replace_stale(self, instances: shared.SharedCache, name: str, namespace: str) -> None:
        """An instance left from an earlier spawn holds an old API token: delete it and wait until gone."""
        if instances.get(name) is None:
            return
        self.log.info("Deleting stale instance %s/%s before starting", namespace, name)
        await self._delete(name, namespace)
        await instances.wait(name, lambda o: o is None, self.stop_wait_timeout)

    async def _wait_running(self, instances: shared.SharedCache, name: str, namespace: str, uid: str) -> str:
        return await lifecycle.wait_running(instances, name, namespace, uid, self.operator_timeout, self.start_timeout)

    # -- poll / stop / delete_forever ----------------------------------------------------

    async def poll(self) -> int | None:
        if self._starting:
            return None
        if self._recovering and self._state.pending is not None:
            return await self._recover()
        self._recovering = False
        if not self._state.started:
            return 0
        instances = await self._instances(self._state.namespace)
        return exit_status(instances.get(self._state.instance))

    async def _recover(self) -> int | None:
        """A start the last hub process did not see through (see :mod:`.lifecycle`): the server is taken over
        once Running, or reported 0 (the hub then shows no server, and a new start works)."""
        self._recovering = False
        lost = self._state
        instances = await self._instances(lost.namespace)
        client = (await self._connection()).client
        self._url = await lifecycle.finish(lost, instances, client, self.log, self.operator_timeout,
                                           self.start_timeout)
        self._state = ServerState(lost.instance, lost.namespace) if self._url else ServerState()
        self._persist_state()
        return None if self._url else 0

    async def get_url(self) -> str:
        """The address of a server recovered after a hub restart (see ``poll``), else the hub's record."""
        if self._url is not None:
            return self._url
        url: str = await super().get_url()
        return url

    async def _delete(self, name: str, namespace: str) -> None:
        client = (await self._connection()).client
        try:  # its environment Secret, owned by the instance, goes with it
            with suppress(NotFound):
                await client.delete(api.INSTANCES, name, namespace, propagation_policy="Foreground")
        except ApiError as exc:
            raise api_error("delete", f"JupyterNotebookInstance {name}", namespace, exc) from exc

    async def stop(self, now: bool = False) -> None:
        name = self._state.instance or self.instance_name
        namespace = self._state.namespace or self.namespace
        await self._delete(name, namespace)
        if now:
            return
        instances = await self._instances(namespace)
        try:
            await instances.wait(name, lambda o: o is None, self.stop_wait_timeout)
        except TimeoutError:
            self.log.warning("Instance %s/%s still exists %g s after its deletion", namespace, name,
                             self.stop_wait_timeout)

    async def delete_forever(self) -> None:
        """Ask the operator to release this server's retained PVCs: it deletes those that no other
        server used and no live instance holds, and keeps the rest (see ``reconcile/release.py``).
        The request is an instance with ``spec.release``, deleted once the operator answered."""
        if not self.delete_retained_pvcs:
            return
        name = self._state.instance or self.instance_name
        namespace = self._state.namespace or self.namespace
        instances = await self._instances(namespace)
        current = instances.get(name)
        if current is not None and not (current.get("spec") or {}).get("release") \
                and not current["metadata"].get("deletionTimestamp"):
            self.log.warning("Instance %s/%s still exists: its retained PVCs are kept", namespace, name)
            return
        if current is not None:  # a request left by an earlier attempt, or the server still going away
            await self._delete(name, namespace)
            await instances.wait(name, lambda o: o is None, self.stop_wait_timeout)
        client = (await self._connection()).client
        request = manifests.release_request(name, namespace, manifests.hub_labels(self.user.name, self.name or ""))
        try:
            created = await client.create(api.INSTANCES, request, namespace)
        except ApiError as exc:
            raise api_error("create", f"release request {name}", namespace, exc) from exc
        uid = created["metadata"]["uid"]
        try:
            done = await instances.wait(name, lambda o: o is not None and o["metadata"]["uid"] == uid
                                        and api.phase(o) in (api.RELEASED, api.FAILED), self.operator_timeout)
        except TimeoutError:
            raise SpawnError(f"no operator answered the release request {namespace}/{name} within "
                             f"{self.operator_timeout:g} s; it stays, and the operator will act on it when it runs"
                             ) from None
        self.log.info("Released the retained PVCs of %s/%s: %s", namespace, name, api.condition(done, api.READY).get(
            "message", ""))
        with suppress(NotFound):
            await client.delete(api.INSTANCES, name, namespace, uid=uid)

    # -- progress ------------------------------------------------------------------------

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Phase changes (shared cache), the instance's Events and its pods' (:mod:`.podevents`), until Running
        or Failed or until start() ends, whichever is first (plus progress_drain_seconds for late Events)."""
        namespace, name, signals = self.namespace, self.instance_name, self._signals
        waiters = [asyncio.ensure_future(signals.uid_known.wait()), asyncio.ensure_future(signals.done.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        uid = self._uid
        if uid is None:
            return
        queue: feed.Queue = asyncio.Queue()
        tracker = prog.Tracker()

        async def phases() -> None:
            await feed.pump_phases(queue, tracker, await self._instances(namespace), name, uid)

        async def events() -> None:  # the instance's, and its pods' (cancelled together by follow)
            client, cache = (await self._connection()).client, await self._instances(namespace)
            await asyncio.gather(feed.pump_events(queue, tracker, client, name, namespace, uid, self.log),
                                 feed.pump_pod_events(queue, tracker, client, cache, name, namespace, uid, self.log,
                                                      signals.listed))

        async with aclosing(feed.follow(queue, (phases, events), signals, self.progress_drain_seconds)) as items:
            async for item in items:
                yield item
