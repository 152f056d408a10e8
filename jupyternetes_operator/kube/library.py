"""kubernetes_asyncio's kubeconfig and in-cluster loaders and its TLS setup, without its generated API.

The client takes from kubernetes_asyncio only ``Configuration``, the config loaders (exec plugins,
token refresh, OIDC, in-cluster) and ``RESTClientObject``'s connection pool. Importing them the
usual way runs the package ``__init__`` files, which import every generated API class and model:
37 MB resident in each operator and hub process, never used.

:func:`import_lean` imports them with the two package ``__init__`` files deferred: ``kubernetes_asyncio``
and ``kubernetes_asyncio.client`` are entered in ``sys.modules`` unexecuted, with the two names the
loaders import from the latter. Any other name asked of either package (``client.CoreV1Api``,
``kubernetes_asyncio.watch``, what KubeSpawner uses in the same hub) runs the deferred ``__init__``
first, so the whole library still works in the process; only its cost is deferred to first use.
If the library was imported before, it is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

_PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client")


def _deferred(name: str) -> ModuleType:
    """Package ``name`` entered in ``sys.modules`` with its ``__init__`` not run: submodules import as
    usual, and the first name not set on it runs the ``__init__``."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attribute: str) -> Any:
        del module.__dict__["__getattr__"]  # once: the __init__ below may ask for names it sets later
        loader.exec_module(module)
        return getattr(module, attribute)

    module.__dict__["__getattr__"] = complete
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _api_client(*args: Any, **kwargs: Any) -> Any:
    """``ApiClient`` as the kubeconfig loader names it (only ``new_client_from_config`` calls it): the
    generated client, imported when first built."""
    from kubernetes_asyncio.client.api_client import ApiClient

    return ApiClient(*args, **kwargs)


def import_lean() -> None:
    """Import the configuration, the loaders and the REST client without the generated API (see module)."""
    if _PACKAGES[0] in sys.modules:
        return
    _deferred(_PACKAGES[0])
    client = _deferred(_PACKAGES[1])
    client.__dict__.update(Configuration=importlib.import_module("kubernetes_asyncio.client.configuration").Configuration,
                           ApiClient=_api_client)
    importlib.import_module("kubernetes_asyncio.config")
    importlib.import_module("kubernetes_asyncio.client.rest")
