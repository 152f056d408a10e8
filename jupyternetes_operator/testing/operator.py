"""The operator as tests, fault runs and benchmarks see it: the sample objects, polling waits
on what it does, and ``jupyternetes-operator run`` as a child process to kill, signal or measure.

The samples are read from the repository's ``examples/``, so this module is for source checkouts.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import yaml

from ..api import INSTANCES, READY, RUNNING, TEMPLATES, VALID, condition, phase
from ..kube.client import Client, Object

EXAMPLES = Path(__file__).parents[2] / "examples"


def sample(name: str) -> Object:
    doc: Object = yaml.safe_load((EXAMPLES / name).read_text())
    return doc


TEMPLATE = sample("template-jupyterlab.yaml")
INSTANCE = sample("instance-alice.yaml")


def instance(name: str, variables: dict[str, str] | None = None, template: str = "jupyterlab",
             template_namespace: str | None = None) -> Object:
    """The sample instance renamed, for ``template`` (``username`` defaults to the name)."""
    obj = copy.deepcopy(INSTANCE)
    obj["metadata"] = {"name": name}
    obj["spec"]["template"] = {"name": template, **({"namespace": template_namespace} if template_namespace else {})}
    obj["spec"]["variables"] = variables if variables is not None else {"username": name}
    return obj


# -- polling waits (fail with the last state seen) -------------------------------------------

async def poll(fetch: Callable[[], Awaitable[Any]], predicate: Callable[[Any], Any], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    """``await fetch()`` until ``predicate`` holds for its result; fail with the last result seen."""
    last: Any = None
    try:
        with anyio.fail_after(timeout):
            while True:
                last = await fetch()
                if predicate(last):
                    return last
                await anyio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}"[:4000]) from None


async def wait_for(kube: Client, resource: Any, name: str, namespace: str, predicate: Callable[[Any], Any],
                   timeout: float = 30, what: str = "") -> Any:
    """Poll until ``predicate(obj)`` is truthy (obj is None when absent)."""
    return await poll(lambda: kube.get_or_none(resource, name, namespace), predicate, timeout, what or name)


async def wait_for_list(kube: Client, resource: Any, namespace: str, predicate: Callable[[Any], Any],
                        timeout: float = 30, what: str = "") -> Any:
    """Poll a LIST of ``resource`` in ``namespace`` until ``predicate(list)`` is truthy."""
    return await poll(lambda: kube.list(resource, namespace), predicate, timeout, what or str(resource), 0.1)


async def instance_reason(kube: Client, name: str, namespace: str, reason: str, timeout: float = 30) -> Any:
    return await wait_for(kube, INSTANCES, name, namespace, lambda o: condition(o, READY).get("reason") == reason,
                          timeout, f"instance {name} Ready reason {reason}")


async def ready_instance(kube: Client, name: str, namespace: str, timeout: float = 30) -> Any:
    return await wait_for(kube, INSTANCES, name, namespace,
                          lambda o: phase(o) == RUNNING, timeout,
                          f"instance {name} Running")


async def template_valid(kube: Client, name: str, namespace: str, status: str = "True", timeout: float = 30) -> Any:
    return await wait_for(kube, TEMPLATES, name, namespace,
                          lambda o: condition(o, VALID).get("status") == status
                          and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"],
                          timeout, f"template {name} Valid={status}")


# -- the operator's process -------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SHORT_LEASE = ("--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5")
"""Leader election on timings short enough for fault tests."""


def parse_proc(stat: str, status: str, ticks: int = CLK_TCK) -> tuple[int, float]:
    """(RSS bytes, user + system CPU seconds) from ``/proc/<pid>/stat`` and ``/proc/<pid>/status``."""
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15 of stat
    rss = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss, cpu


def metric_sum(text: str, name: str, labels: str = "") -> float:
    """The sum of every sample of ``name`` whose label set starts with ``labels`` (e.g. ``'code="429"'``)
    in a Prometheus text exposition."""
    total = 0.0
    prefix = name + "{" + labels if labels else name
    for line in text.splitlines():
        if line.startswith(prefix) and (labels or line[len(name):len(name) + 1] in ("{", " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """``python -m jupyternetes_operator run`` watching ``namespaces``; each ``start()`` is a new process
    on a new metrics port, appending to ``log``. The first namespace stands for the operator's own (its
    Lease, with ``leader_election`` on :data:`SHORT_LEASE` timings, and its claim signing key).
    ``python`` is the interpreter whose installed operator runs (another build's virtualenv, say); any
    but this one runs isolated (``-I``), so a checkout in the working directory cannot shadow its package."""

    def __init__(self, kubeconfig: Path, namespaces: tuple[str, ...], log: Path, *args: str,
                 leader_election: bool = True, python: str | Path = sys.executable) -> None:
        election = [f"--lease-namespace={namespaces[0]}",
                    *(SHORT_LEASE if leader_election else ["--leader-elect=false"])]
        isolated = ["-I"] if Path(python) != Path(sys.executable) else []
        self.argv = [str(python), *isolated, "-m", "jupyternetes_operator", "run", f"--kubeconfig={kubeconfig}",
                     f"--namespaces={','.join(namespaces)}", *election, *args]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.starts = 0

    def start(self) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*self.argv, f"--bind-address={self.address}"], stdout=out,
                                         stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; SIGKILL if it has not exited within ``timeout``. Returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    async def stop(self, timeout: float = 30) -> int:
        return await anyio.to_thread.run_sync(self.terminate, timeout)

    async def exited(self, timeout: float) -> int | None:
        """The exit code once the process ends by itself within ``timeout`` seconds, else None (no signal sent)."""
        assert self.proc is not None
        proc = self.proc

        def wait() -> int | None:
            try:
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None

        return await anyio.to_thread.run_sync(wait)

    def usage(self) -> tuple[float, int, float]:
        """(perf_counter, RSS bytes, CPU seconds) of the running process, from ``/proc``."""
        assert self.proc is not None
        base = Path(f"/proc/{self.proc.pid}")
        rss, cpu = parse_proc((base / "stat").read_text(), (base / "status").read_text())
        return time.perf_counter(), rss, cpu

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=10) as r:
            return bytes(r.read()).decode()

    async def wait_ready(self, timeout: float = 30) -> None:
        """Until ``/readyz`` answers 200 (informers synced)."""
        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://{self.address}/readyz", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        with anyio.fail_after(timeout):
            while not await anyio.to_thread.run_sync(ready):
                if not self.running:
                    raise AssertionError(f"operator exited with {self.proc.returncode if self.proc else None}; "
                                         f"see {self.log}")
                await anyio.sleep(0.1)
