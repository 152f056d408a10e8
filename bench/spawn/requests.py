"""The API requests each variant's client makes in the benchmark's own process."""

from __future__ import annotations

from collections import Counter
from typing import Any

from jupyternetes_operator.kube.client import Client

from .variants import KUBESPAWNER, SPAWNER


class ClientRequests:
    """API requests each variant's client made in this process (watches count once, when opened):
    one create for ``bare`` and ``jupyternetes`` by construction, JupyternetesSpawner's through our
    :class:`Client` with the hub's field manager, KubeSpawner's through kubernetes_asyncio's REST client."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def install(self) -> None:
        """Wrap the two clients' request methods (once per process)."""
        from kubernetes_asyncio.client.rest import RESTClientObject

        counts = self.counts
        request, stream, rest = Client.request, Client.stream, RESTClientObject.request

        async def counted_request(client: Client, *args: Any, **kwargs: Any) -> bytes:
            if client.field_manager == "jupyterhub":
                counts[SPAWNER] += 1
            return await request(client, *args, **kwargs)

        def counted_stream(client: Client, *args: Any, **kwargs: Any) -> Any:
            if client.field_manager == "jupyterhub":
                counts[SPAWNER] += 1
            return stream(client, *args, **kwargs)

        async def counted_rest(rest_client: Any, *args: Any, **kwargs: Any) -> Any:
            counts[KUBESPAWNER] += 1
            return await rest(rest_client, *args, **kwargs)

        Client.request = counted_request  # type: ignore[method-assign,assignment]
        Client.stream = counted_stream  # type: ignore[method-assign,assignment]
        RESTClientObject.request = counted_rest  # type: ignore[method-assign,assignment]
