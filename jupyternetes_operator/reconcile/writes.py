"""The instance reconciler's writes besides creating children: taking ownership of the environment
Secret, adopting retained claims (signed as they are relabelled), and releasing them (:mod:`.release`'s
steps). Signing the claims it creates is :mod:`.signing`'s.

Guaranteed:

- Each write is conditional on what was observed, so a race is lost, never won twice: the Secret is
  owned only if its annotation names this instance (a JSON-patch ``test`` in the same request); an
  adoption (signed for the claim's own uid), and a release's delete or patch, carry the
  claim's ``resourceVersion`` (a claim adopted meanwhile is retried, never deleted).
- A Secret or claim deleted meanwhile is not an error here: the outcome (or the next pass) says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..api import (
    ADOPTED,
    ANNOTATION_ENV_FOR,
    ANNOTATION_SERVERS,
    LABEL_APP_INSTANCE,
    LABEL_INSTANCE,
    LABEL_TEMPLATE,
    claim_servers,
    env_secret_of,
    instance_owner,
    with_server,
)
from ..kube.client import JSON_PATCH, MERGE_PATCH, Resource
from ..kube.errors import BadRequest, Invalid, NotFound
from ..kube.resources import SECRETS
from ..machinery.events import NORMAL
from .claimtrust import ANNOTATION_SIGNATURE
from .context import Context
from .outcome import Outcome, failed
from .release import Release
from .render import Child


async def own_env_secret(ctx: Context, instance: Mapping[str, Any], previous: Mapping[str, Any]) -> Outcome | None:
    """Make the instance the owner of its environment Secret (so it goes with the instance), first
    checking, in the same request, that the Secret was made for this instance. Done before any child
    is created (a later pass sees children and skips it): a server never starts without its token,
    or with a Secret planted for it. A failure outcome, or None to go on."""
    secret = env_secret_of(instance)
    if secret is None or previous.get("envSecret") == secret:
        return None
    meta = instance["metadata"]
    owner = instance_owner(meta["name"], meta["uid"], controller=False)
    patch = [{"op": "test", "path": "/metadata/annotations/" + ANNOTATION_ENV_FOR.replace("/", "~1"),
              "value": meta["name"]},
             {"op": "add", "path": "/metadata/ownerReferences", "value": [owner]}]
    try:  # the answer (the Secret itself) is discarded unread
        await ctx.client.patch(SECRETS, secret, patch, meta["namespace"], content_type=JSON_PATCH)
    except NotFound:
        return failed("EnvSecretMissing", f"Secret {secret} with the server's environment does not exist; "
                                           "the server will not start without it")
    except (Invalid, BadRequest):
        return failed("EnvSecretMismatch", f"Secret {secret} was not made for this instance (its "
                                            f"{ANNOTATION_ENV_FOR} annotation does not name it); it is not used")
    return None


async def adopt(ctx: Context, instance: Mapping[str, Any], child: Child, current: Mapping[str, Any]) -> None:
    """Relabel a retained claim for this instance: every label that names an instance says this one,
    and the claim's record of servers gains it. Conditional on the version observed, so two
    instances racing for one claim cannot both take it (the loser's retry sees it in use)."""
    kind = ctx.children[(child.api_version, child.kind)]
    name = instance["metadata"]["name"]
    rendered_labels = child.manifest["metadata"].get("labels") or {}
    labels = {key: rendered_labels[key] for key in (LABEL_INSTANCE, LABEL_APP_INSTANCE, LABEL_TEMPLATE)
              if key in rendered_labels}
    metadata = {"resourceVersion": current["metadata"].get("resourceVersion"), "labels": labels,
                "annotations": {ANNOTATION_SERVERS: with_server(claim_servers(current), name),
                                ANNOTATION_SIGNATURE: ctx.signer.signature(current)}}
    try:
        await ctx.client.patch(kind.resource, child.name, {"metadata": metadata},
                                     child.manifest["metadata"]["namespace"], content_type=MERGE_PATCH)
    except NotFound:
        return  # deleted meanwhile; the next pass creates it
    ctx.recorder.emit(instance, NORMAL, ADOPTED, f"adopted retained {child.kind} {child.name}", "Adopt")


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
