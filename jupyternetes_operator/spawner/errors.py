"""Errors a hub administrator can act on: each says what is wrong and what to do (pure)."""

from __future__ import annotations

from ..kube.errors import ApiError, Forbidden, Invalid, NotFound


class SpawnError(Exception):
    """Starting (or stopping) a server failed; ``str()`` is the message for the admin and user."""


def template_missing(name: str, namespace: str) -> SpawnError:
    return SpawnError(
        f"JupyterNotebookTemplate {namespace}/{name} does not exist: create it (kubectl apply -f <template>.yaml "
        f"-n {namespace}) or point c.JupyternetesSpawner.template_name / template_namespace / profile_list at an "
        "existing one (kubectl get jnt -A)")


def template_invalid(name: str, namespace: str, detail: str) -> SpawnError:
    return SpawnError(f"JupyterNotebookTemplate {namespace}/{name} is invalid: {detail} "
                      f"(kubectl describe jnt {name} -n {namespace})")


def forbidden(verb: str, what: str, namespace: str, exc: Forbidden) -> SpawnError:
    return SpawnError(
        f"the hub is not allowed to {verb} {what} in namespace {namespace} ({exc.message}): bind the hub's "
        "ServiceAccount to the Role in deploy/components/hub/ in that namespace, or set "
        "c.JupyternetesSpawner.namespace to a namespace where it is bound")


def operator_absent(name: str, namespace: str, seconds: float) -> SpawnError:
    return SpawnError(
        f"no Jupyternetes operator picked up JupyterNotebookInstance {namespace}/{name} within {seconds:g} s: "
        f"is the operator running (kubectl get pods -l app.kubernetes.io/name=jupyternetes-operator -A) and "
        f"watching namespace {namespace} (its --namespaces flag)? Raise c.JupyternetesSpawner.operator_timeout "
        "if it is just slow")


def failed(name: str, namespace: str, detail: str) -> SpawnError:
    return SpawnError(f"JupyterNotebookInstance {namespace}/{name} failed: {detail} "
                      f"(kubectl describe jni {name} -n {namespace})")


def api_error(verb: str, what: str, namespace: str, exc: ApiError) -> SpawnError:
    """The actionable form of any API error while ``verb``-ing ``what``."""
    if isinstance(exc, Forbidden) and "exceeded quota" in exc.message:  # 403 too, but no missing right
        return SpawnError(f"could not {verb} {what} in namespace {namespace}: {exc.message} "
                          f"(kubectl describe resourcequota -n {namespace})")
    if isinstance(exc, Forbidden):
        return forbidden(verb, what, namespace, exc)
    if isinstance(exc, NotFound) and "the server could not find the requested resource" in exc.message:
        return SpawnError(f"the API server does not serve {what}: install the Jupyternetes CRDs "
                          "(kubectl apply -f crds/)")
    if isinstance(exc, Invalid):
        causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes) or exc.message
        return SpawnError(f"the API server rejected {what} in namespace {namespace}: {causes}")
    return SpawnError(f"could not {verb} {what} in namespace {namespace}: {exc}")
