"""The instance reconciler's writes besides creating children: taking ownership of the environment
Secret, adopting retained claims (signed as they are relabelled), and releasing them (:mod:`.release`'s
steps). Signing the claims it creates is :mod:`.signing`'s.

Guaranteed:

- Each write is conditional on what was observed, so a race is lost, never won twice: the Secret is
  owned only if its annotation names this instance (a JSON-patch ``test`` in the same request) and it
  proves the instance's key digest (else the ownership is taken back at once, before any child); an
  adoption (signed for the claim's own uid), and a release's delete or patch, carry the
  claim's ``resourceVersion`` (a claim adopted meanwhile is retried, never deleted).
- A Secret or claim deleted meanwhile is not an error here: the outcome (or the next pass) says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any

from ..api import (
    ADOPTED,
    ANNOTATION_ENV_DIGEST,
    ANNOTATION_ENV_FOR,
    ANNOTATION_ENV_KEY,
    ANNOTATION_SERVERS,
    FAILED,
    LABEL_APP_INSTANCE,
    LABEL_INSTANCE,
    LABEL_TEMPLATE,
    READY,
    RELEASED,
    claim_servers,
    env_secret_of,
    env_secret_proven,
    instance_owner,
    status_condition,
    with_server,
)
from ..kube.client import JSON_PATCH, MERGE_PATCH, Resource
from ..kube.errors import BadRequest, Invalid, NotFound
from ..kube.resources import SECRETS
from ..machinery.events import NORMAL
from .claimtrust import ANNOTATION_SIGNATURE
from .context import Context
from .outcome import Outcome, failed, released, waiting
from .plan import HolderLookup
from .release import Release, plan_release, summary
from .render import Child

ENV_SECRET_PENDING = "EnvSecretPending"
"""Waiting for an environment Secret the hub creates beside the instance (not seen yet)."""
ENV_SECRET_MISSING, ENV_SECRET_MISMATCH = "EnvSecretMissing", "EnvSecretMismatch"
"""The final failures: no Secret after the wait; one not made for the instance."""


async def own_env_secret(ctx: Context, instance: Mapping[str, Any], previous: Mapping[str, Any],
                         waited: float) -> Outcome | None:
    """Make the instance the owner of its environment Secret (so it goes with the instance), first
    checking, in the same request, that the Secret was made for this instance, and then that it proves
    the key whose digest the instance declares (else the ownership is taken back). Done before any
    child is created (a later pass sees children and skips it): a server never starts without its
    token, or with a Secret planted for it. A Secret not there yet is waited for (the hub creates it
    beside the instance) until ``ctx.env_secret_wait`` seconds after the instance was first seen
    (``waited`` so far). A failure or wait outcome (a failure is final), or None to go on."""
    secret = env_secret_of(instance)
    if secret is None or previous.get("envSecret") == secret:
        return None
    ready = status_condition(previous, READY)
    if previous.get("phase") == FAILED and ready.get("reason") in (ENV_SECRET_MISSING, ENV_SECRET_MISMATCH):
        return failed(str(ready["reason"]), str(ready.get("message") or ""))
    meta = instance["metadata"]
    owner = [instance_owner(meta["name"], meta["uid"], controller=False)]
    patch = [{"op": "test", "path": "/metadata/annotations/" + ANNOTATION_ENV_FOR.replace("/", "~1"),
              "value": meta["name"]},
             {"op": "add", "path": "/metadata/ownerReferences", "value": owner}]
    try:  # of the answer, only the key annotation is read
        answer = await ctx.client.patch(SECRETS, secret, patch, meta["namespace"], content_type=JSON_PATCH)
    except NotFound:
        if waited < ctx.env_secret_wait:
            return waiting(ENV_SECRET_PENDING, f"waiting for Secret {secret} with the server's environment",
                           resolved=True, retry_after=min(1.0, max(0.05, waited / 2)))
        return failed(ENV_SECRET_MISSING, f"Secret {secret} with the server's environment does not exist "
                                          f"{ctx.env_secret_wait:g} s after the instance was seen; the server "
                                          "will not start without it")
    except (Invalid, BadRequest):
        return _mismatch(secret)
    if not env_secret_proven(instance, answer):
        disown = [{"op": "test", "path": "/metadata/ownerReferences", "value": owner},
                  {"op": "remove", "path": "/metadata/ownerReferences"}]
        with suppress(NotFound, Invalid, BadRequest):  # changed meanwhile: no longer ours to take back
            await ctx.client.patch(SECRETS, secret, disown, meta["namespace"], content_type=JSON_PATCH)
        return _mismatch(secret)
    return None


def _mismatch(secret: str) -> Outcome:
    return failed(ENV_SECRET_MISMATCH, f"Secret {secret} was not made for this instance (its {ANNOTATION_ENV_FOR} "
                                       f"annotation does not name it, or its {ANNOTATION_ENV_KEY} does not match "
                                       f"the instance's {ANNOTATION_ENV_DIGEST}); it is not used")


async def adopt(ctx: Context, instance: Mapping[str, Any], child: Child, current: Mapping[str, Any], *,
                record: bool = True) -> None:
    """Relabel a retained claim for this instance: every label that names an instance says this one,
    and (``record``: it is a server) the claim's record of servers gains it. Conditional on the version
    observed, so two instances racing for one claim cannot both take it (the loser's retry sees it in use)."""
    kind = ctx.children[(child.api_version, child.kind)]
    name = instance["metadata"]["name"]
    rendered_labels = child.manifest["metadata"].get("labels") or {}
    labels = {key: rendered_labels[key] for key in (LABEL_INSTANCE, LABEL_APP_INSTANCE, LABEL_TEMPLATE)
              if key in rendered_labels}
    annotations = {ANNOTATION_SIGNATURE: ctx.signer.signature(current)}
    if record:
        annotations[ANNOTATION_SERVERS] = with_server(claim_servers(current), name)
    metadata = {"resourceVersion": current["metadata"].get("resourceVersion"), "labels": labels,
                "annotations": annotations}
    try:
        await ctx.client.patch(kind.resource, child.name, {"metadata": metadata},
                                     child.manifest["metadata"]["namespace"], content_type=MERGE_PATCH)
    except NotFound:
        return  # deleted meanwhile; the next pass creates it
    ctx.recorder.emit(instance, NORMAL, ADOPTED, f"adopted retained {child.kind} {child.name}", "Adopt")


async def release_request(ctx: Context, instance: Mapping[str, Any], previous: Mapping[str, Any],
                          holder: HolderLookup) -> Outcome:
    """A release request (see :mod:`.release`): done once; its status then says what it did."""
    if previous.get("phase") == RELEASED:
        return released(status_condition(previous, READY).get("message", ""))
    meta = instance["metadata"]
    namespace = meta["namespace"]
    kind = ctx.children.get(("v1", "PersistentVolumeClaim"))
    if kind is None:
        return released("PersistentVolumeClaims are not an allowed kind: nothing to release")
    claims = [c for c in kind.store.list() if c["metadata"].get("namespace") == namespace]
    steps = plan_release(claims, meta["name"], holder)
    await release(ctx, kind.resource, namespace, steps)
    return released(summary(steps))


async def release(ctx: Context, resource: Resource, namespace: str, steps: Iterable[Release]) -> None:
    """Apply a release's steps, each conditional on the claim as observed."""
    for step in steps:
        claim_meta = step.claim["metadata"]
        try:
            if step.delete:
                await ctx.client.delete(resource, step.name, namespace, uid=claim_meta.get("uid"),
                                        resource_version=claim_meta.get("resourceVersion"))
            else:
                await ctx.client.patch(resource, step.name, {"metadata": {
                    "resourceVersion": claim_meta.get("resourceVersion"),
                    "annotations": {ANNOTATION_SERVERS: ",".join(step.remaining)}}},
                    namespace, content_type=MERGE_PATCH)
        except NotFound:
            continue
