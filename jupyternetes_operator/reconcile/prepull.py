"""Image pre-pull: the images valid templates declare, kept pulled on every node by one DaemonSet.

As z2jh's continuous image puller: one DaemonSet (:data:`DAEMONSET`, in the operator's own
namespace) whose pod has one init container per image, each running ``true`` (the image must have
it on its ``PATH``) as user 65534 with nothing mounted, then a ``pause`` container that keeps the pod
(and so the images) on the node. A node where the pod is Ready has pulled every image.

Guaranteed:

- Which images (:func:`template_images`, pure): of every ``spec.pods`` entry whatever its ``when``,
  each container's and init container's ``image``: a literal one as it is; one with placeholders
  for every combination of the ``enum`` values of the variables it names (at most
  :data:`MAX_COMBINATIONS`); one naming a variable without an ``enum`` or a built-in is not
  pre-pulled, and the template's status says so.
- Only templates whose ``Valid`` condition is True for their current generation count: an
  invalid or unvetted template puts nothing new on the nodes (while a new generation of a valid
  template is being validated, the images last pulled for it stay).
- The DaemonSet is created when the first image is needed, its pod template changed (a merge
  patch, only when the image list changes) when the union of images changes, and deleted when no
  template needs any. At most :data:`MAX_IMAGES` images, the first in sorted order; the others are
  reported as not pre-pulled.
- Each template's ``status.prePull`` says its images, the ones left out and why, and the pull
  state: ``Pulled`` once the DaemonSet with exactly this image list is Ready on every node it
  schedules to, else ``Pulling`` (with how many nodes are done), ``NotPulled`` when there is
  nothing to pull for it (invalid, or no image that can be pre-pulled).

Not promised: nodes the DaemonSet does not schedule to (taints it does not tolerate) get nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import api
from ..api import DeclarationError, parse_declarations
from ..kube.client import MERGE_PATCH, Resource
from ..kube.errors import NotFound
from ..machinery.controller import Result
from ..machinery.multistore import ReadStore
from ..machinery.store import ObjectKey
from .templating import PLACEHOLDER, is_list, substitute

if TYPE_CHECKING:
    from ..kube.client import Client

DAEMONSETS = Resource("apps", "v1", "daemonsets")
DAEMONSET = "jupyternetes-image-puller"
"""The one DaemonSet's name (in the operator's namespace)."""
COMPONENT = "image-puller"
LABELS = {"app.kubernetes.io/name": "jupyternetes", "app.kubernetes.io/component": COMPONENT,
          api.LABEL_MANAGED_BY: api.MANAGED_BY}
SELECTOR = {"app.kubernetes.io/name": "jupyternetes", "app.kubernetes.io/component": COMPONENT}
ANNOTATION_IMAGES = f"{api.GROUP}/images-digest"
"""A digest of the DaemonSet's image list: the pull state counts only a DaemonSet that pulls these."""
MAX_COMBINATIONS = 64
"""Images one ``image`` field may expand to (the product of its variables' enums)."""
MAX_IMAGES = 200
"""Images the DaemonSet pulls at most (init containers of one pod)."""
DEFAULT_PAUSE_IMAGE = "registry.k8s.io/pause:3.10"

PULLED, PULLING, NOT_PULLED = "Pulled", "Pulling", "NotPulled"


@dataclass(frozen=True)
class Images:
    """What a template asks to pre-pull."""

    images: tuple[str, ...]
    """Sorted, each once."""
    skipped: tuple[str, ...]
    """Why each image field that could not be expanded is left out (``field: reason``)."""


def _image_fields(template: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    spec = template.get("spec")
    pods = spec.get("pods") if isinstance(spec, Mapping) else None
    for index, entry in enumerate(pods if is_list(pods) else ()):
        pod = entry.get("spec") if isinstance(entry, Mapping) else None
        if not isinstance(pod, Mapping):
            continue
        for key in ("initContainers", "containers"):
            containers = pod.get(key)
            for number, container in enumerate(containers if is_list(containers) else ()):
                image = container.get("image") if isinstance(container, Mapping) else None
                if isinstance(image, str) and image:
                    yield f"spec.pods[{index}].spec.{key}[{number}].image", image


def template_images(template: Mapping[str, Any]) -> Images:
    """The images ``template`` declares (see the module doc), pure."""
    spec = template.get("spec")
    try:
        declarations = {d.name: d for d in parse_declarations(
            (spec.get("variables") if isinstance(spec, Mapping) else None) or ())}
    except DeclarationError:  # not Valid: never asked (see vetted)
        declarations = {}
    images: set[str] = set()
    skipped: list[str] = []
    for path, text in _image_fields(template):
        refs = list(dict.fromkeys(m[1] for m in PLACEHOLDER.finditer(text)))
        unbounded = [r for r in refs if r not in declarations or declarations[r].enum is None]
        if unbounded:
            skipped.append(f"{path}: {', '.join(unbounded)} has no enum")
            continue
        choices = [declarations[r].enum or () for r in refs]
        count = math.prod(len(c) for c in choices)
        if count > MAX_COMBINATIONS:
            skipped.append(f"{path}: {count} combinations of {', '.join(refs)} (at most {MAX_COMBINATIONS})")
            continue
        images.update(_expanded(text, path, refs, combination) for combination in itertools.product(*choices))
    return Images(tuple(sorted(images)), tuple(skipped))


def _expanded(text: str, path: str, refs: Sequence[str], combination: Sequence[str]) -> str:
    values = dict(zip(refs, combination, strict=True))
    return substitute(text, path, lambda ref, _: values[ref])


def vetted(template: Mapping[str, Any]) -> bool:
    """``Valid`` True for the template's current generation."""
    valid = api.condition(template, api.VALID)
    return valid.get("status") == "True" and valid.get("observedGeneration") == \
        (template.get("metadata") or {}).get("generation")


def wanted(template: Mapping[str, Any]) -> Images | None:
    """What ``template`` asks to pre-pull: its images once vetted; while a new generation of a template
    that was valid is being validated, what was last pulled for it (so an edit never drops the puller's
    images for a moment); None for a template not valid."""
    if vetted(template):
        return template_images(template)
    if api.condition(template, api.VALID).get("status") == "True":
        previous = ((template.get("status") or {}).get("prePull") or {}).get("images") or ()
        return Images(tuple(str(i) for i in previous), ())
    return None


def digest(images: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(images).encode()).hexdigest()[:16]


def daemonset(images: Sequence[str], namespace: str, pause_image: str = DEFAULT_PAUSE_IMAGE) -> dict[str, Any]:
    """The puller DaemonSet for ``images`` (pure)."""
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}
    resources = {"requests": {"cpu": "0", "memory": "0"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    init = [{"name": f"image-{index}", "image": image, "command": ["true"], "imagePullPolicy": "IfNotPresent",
             "resources": resources, "securityContext": security} for index, image in enumerate(images)]
    return {
        "apiVersion": DAEMONSETS.api_version, "kind": "DaemonSet",
        "metadata": {"name": DAEMONSET, "namespace": namespace, "labels": LABELS,
                     "annotations": {ANNOTATION_IMAGES: digest(images)}},
        "spec": {
            "selector": {"matchLabels": SELECTOR},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "automountServiceAccountToken": False, "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 0,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": init,
                    "containers": [{"name": "pause", "image": pause_image, "resources": resources,
                                    "securityContext": security}],
                },
            },
        },
    }


def rollout(current: Mapping[str, Any] | None, images: Sequence[str]) -> tuple[str, str]:
    """(state, message) of the DaemonSet ``current`` for a template whose images are all in it."""
    if current is None or (current["metadata"].get("annotations") or {}).get(ANNOTATION_IMAGES) != digest(images):
        return PULLING, "the image puller is being updated"
    status = current.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    ready = int(status.get("numberReady") or 0)
    if status.get("observedGeneration") != current["metadata"].get("generation"):
        return PULLING, "the image puller is being updated"
    done = min(updated, ready)
    if done >= desired:
        return PULLED, f"pulled on {desired} of {desired} nodes"
    return PULLING, f"pulled on {done} of {desired} nodes"


def pull_status(template: Mapping[str, Any], wanted: Images | None, pulled: Sequence[str],
                current: Mapping[str, Any] | None) -> dict[str, Any]:
    """A template's ``status.prePull`` (pure): ``wanted`` None for a template not vetted; ``pulled``
    the DaemonSet's image list."""
    if wanted is None:
        return {"state": NOT_PULLED, "message": "the template is not Valid: nothing is pre-pulled for it",
                "images": [], "skipped": []}
    kept = [i for i in wanted.images if i in set(pulled)]
    skipped = [*wanted.skipped, *(f"{i}: over the limit of {MAX_IMAGES} images" for i in wanted.images
                                  if i not in kept)]
    if not kept:
        return {"state": NOT_PULLED, "message": "no image that can be pre-pulled", "images": [],
                "skipped": skipped}
    state, message = rollout(current, pulled)
    return {"state": state, "message": message, "images": kept, "skipped": skipped}


class PrePullReconciler:
    """Keeps the one DaemonSet and every template's ``status.prePull`` (the key is the DaemonSet's)."""

    def __init__(self, client: Client, templates: ReadStore, daemonsets: ReadStore, namespace: str,
                 pause_image: str = DEFAULT_PAUSE_IMAGE) -> None:
        self._client = client
        self._templates = templates
        self._daemonsets = daemonsets
        self.namespace = namespace
        self._pause_image = pause_image

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.namespace, DAEMONSET)

    async def reconcile(self, key: ObjectKey) -> Result:
        templates = self._templates.list()
        asked = {(t["metadata"]["namespace"], t["metadata"]["name"]): wanted(t) for t in templates}
        union = sorted({i for w in asked.values() if w is not None for i in w.images})[:MAX_IMAGES]
        current = self._daemonsets.get_by_name(self.namespace, DAEMONSET)
        current = await self._converge(current, union)
        for template in templates:
            meta = template["metadata"]
            if not vetted(template) and asked[(meta["namespace"], meta["name"])] is not None:
                continue  # being validated: its status waits for the verdict
            desired = pull_status(template, asked[(meta["namespace"], meta["name"])], union, current)
            if (template.get("status") or {}).get("prePull") != desired:
                try:
                    await self._client.patch(api.TEMPLATES, meta["name"], {"status": {"prePull": desired}},
                                             meta["namespace"], subresource="status", content_type=MERGE_PATCH)
                except NotFound:
                    continue
        return Result()

    async def _converge(self, current: Mapping[str, Any] | None, images: Sequence[str]) -> Mapping[str, Any] | None:
        """The DaemonSet made to pull ``images`` (None: deleted, or not needed)."""
        if not images:
            if current is not None:
                with contextlib.suppress(NotFound):
                    await self._client.delete(DAEMONSETS, DAEMONSET, self.namespace, uid=current["metadata"]["uid"])
            return None
        desired = daemonset(images, self.namespace, self._pause_image)
        if current is None:
            return await self._client.create(DAEMONSETS, desired, self.namespace)
        if (current["metadata"].get("annotations") or {}).get(ANNOTATION_IMAGES) == digest(images):
            return current
        patch = {"metadata": {"annotations": desired["metadata"]["annotations"]},
                 "spec": {"template": desired["spec"]["template"]}}
        return await self._client.patch(DAEMONSETS, DAEMONSET, patch, self.namespace, content_type=MERGE_PATCH)

