"""The JupyterHub spawner: ``c.JupyterHub.spawner_class = "jupyternetes"``.

It runs inside the hub and imports only ``kube``, ``api`` and the generic ``machinery``
(never the operator's engine: ``reconcile``, ``manager``, ``settings``). Pure parts:
``names``, ``options``, ``form``, ``manifests``, ``progress``, ``state``, ``errors``;
I/O: ``shared`` (one informer per hub process) and ``spawner``.

Convention for templates: if a template declares a ``username`` variable, the spawner sets it
to the user's name escaped to a DNS label of at most 40 characters (:func:`.names.safe_username`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spawner import JupyternetesSpawner

__all__ = ["JupyternetesSpawner"]


def __getattr__(name: str) -> Any:
    """JupyterHub is imported only for the spawner itself, not for the pure parts (``names`` is also the
    ``prepare`` command's)."""
    if name == "JupyternetesSpawner":
        from .spawner import JupyternetesSpawner

        return JupyternetesSpawner
    raise AttributeError(name)
