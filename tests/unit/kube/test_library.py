"""kubernetes_asyncio without its generated API: the loaders work, the API is not imported, and the
whole library still works in the same process once asked for. Each case runs in a fresh interpreter
(this one has long imported the library whole)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

GENERATED = ("kubernetes_asyncio.client.models", "kubernetes_asyncio.client.api",
             "kubernetes_asyncio.client.api_client")


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_client_loads_a_kubeconfig_without_the_generated_api(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    out = run(f"""
        import anyio, sys
        from jupyternetes_operator.kube.client import Client

        async def main():
            async with await Client.from_kubeconfig({str(kubeconfig)!r}) as client:
                c = client._configuration
                print(c.host, c.api_key.get("BearerToken") or c.api_key.get("authorization"))
        anyio.run(main)
        print(sorted(m for m in sys.modules if m.startswith({GENERATED!r})))
    """)
    assert out.splitlines() == ["https://127.0.0.1:6443 Bearer t0ken", "[]"]


def test_the_whole_library_still_works_in_the_same_process() -> None:
    out = run("""
        import jupyternetes_operator.kube.client
        import kubernetes_asyncio
        from kubernetes_asyncio.client import CoreV1Api, V1Pod
        from kubernetes_asyncio.config import new_client_from_config
        print(CoreV1Api.__module__, V1Pod.__module__, kubernetes_asyncio.watch.Watch.__module__,
              kubernetes_asyncio.client.ApiClient.__module__, kubernetes_asyncio.__version__)
    """)
    assert out.split()[:4] == ["kubernetes_asyncio.client.api.core_v1_api", "kubernetes_asyncio.client.models.v1_pod",
                               "kubernetes_asyncio.watch.watch", "kubernetes_asyncio.client.api_client"]


def test_a_library_imported_before_is_used_as_it_is() -> None:
    out = run("""
        import sys
        import kubernetes_asyncio.client
        real = kubernetes_asyncio.client.ApiClient
        import jupyternetes_operator.kube.client
        print(kubernetes_asyncio.client.ApiClient is real, "kubernetes_asyncio.client.models" in sys.modules)
    """)
    assert out == "True True"
