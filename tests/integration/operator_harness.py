"""Run the real operator in-process against the test control plane, and wait on what it does."""

from __future__ import annotations

import copy
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import yaml

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Object
from jupyternetes_operator.manager import Operator
from jupyternetes_operator.metrics import Metrics
from jupyternetes_operator.settings import LeaderElectionSettings, Settings

EXAMPLES = Path(__file__).parents[2] / "examples"


def sample(name: str) -> Object:
    doc: Object = yaml.safe_load((EXAMPLES / name).read_text())
    return doc


TEMPLATE = sample("template-jupyterlab.yaml")
INSTANCE = sample("instance-alice.yaml")


def instance(name: str, variables: dict[str, str] | None = None, template: str = "jupyterlab",
             template_namespace: str | None = None) -> Object:
    obj = copy.deepcopy(INSTANCE)
    obj["metadata"] = {"name": name}
    obj["spec"]["template"] = {"name": template, **({"namespace": template_namespace} if template_namespace else {})}
    obj["spec"]["variables"] = variables if variables is not None else {"username": name}
    return obj


@asynccontextmanager
async def running_operator(kubeconfig: Path, namespaces: tuple[str, ...], **settings: Any) -> AsyncIterator[Operator]:
    """The operator on its own client, watching ``namespaces``, leader election off unless asked."""
    settings.setdefault("leader_election", LeaderElectionSettings(enabled=False))
    metrics = Metrics()
    async with await Client.from_kubeconfig(str(kubeconfig), metrics=metrics) as client:
        operator = Operator(Settings(namespaces=namespaces, **settings), client, metrics)
        await operator.build()
        async with anyio.create_task_group() as tg:
            tg.start_soon(operator.run)
            with anyio.fail_after(30):
                while not operator.ready:  # noqa: ASYNC110 (informers expose no event for "all synced")
                    await anyio.sleep(0.02)
            yield operator
            tg.cancel_scope.cancel()


async def wait_for(kube: Client, resource: Any, name: str, namespace: str, predicate: Callable[[Any], Any],
                   timeout: float = 30, what: str = "") -> Any:
    """Poll until ``predicate(obj)`` is truthy (obj is None when absent); fail with the last state seen."""
    last: Any = None
    try:
        with anyio.fail_after(timeout):
            while True:
                last = await kube.get_or_none(resource, name, namespace)
                if predicate(last):
                    return last
                await anyio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or name}; last seen: {last!r}"[:4000]) from None


def condition(obj: Any, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or ():
        if c["type"] == type_:
            return dict(c)
    return {}


async def instance_reason(kube: Client, name: str, namespace: str, reason: str, timeout: float = 30) -> Any:
    return await wait_for(kube, INSTANCES, name, namespace, lambda o: condition(o, "Ready").get("reason") == reason,
                          timeout, f"instance {name} Ready reason {reason}")


async def ready_instance(kube: Client, name: str, namespace: str, timeout: float = 30) -> Any:
    return await wait_for(kube, INSTANCES, name, namespace,
                          lambda o: o and (o.get("status") or {}).get("phase") == "Running", timeout,
                          f"instance {name} Running")


async def template_valid(kube: Client, name: str, namespace: str, status: str = "True", timeout: float = 30) -> Any:
    return await wait_for(kube, TEMPLATES, name, namespace,
                          lambda o: condition(o, "Valid").get("status") == status
                          and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"],
                          timeout, f"template {name} Valid={status}")


class OperatorProcess:
    """``jupyternetes-operator run`` as a child process (for tests that kill or signal it)."""

    def __init__(self, kubeconfig: Path, namespaces: tuple[str, ...], log: Path, *args: str) -> None:
        self.argv = [sys.executable, "-m", "jupyternetes_operator", "run", f"--kubeconfig={kubeconfig}",
                     f"--namespaces={','.join(namespaces)}", f"--lease-namespace={namespaces[0]}",
                     "--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5", *args]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*self.argv, f"--bind-address={self.address}"], stdout=out,
                                         stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return await anyio.to_thread.run_sync(lambda: proc.wait(timeout))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
