"""Operator replicas with leader election, as the fault runs drive them: who leads (by what each
replica's ``/metrics`` says and what the Lease names), a supervisor that restarts a replica that
exits (as a Deployment's kubelet would), and stopping them all."""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anyio

from jupyternetes_operator.kube.resources import LEASES
from jupyternetes_operator.testing.operator import SHORT_LEASE, OperatorProcess, metric_sum

from .run import FaultEnv, FaultRun, metrics_of, retrying

LEASE_NAME = "jupyternetes-operator"
LEASE_DURATION = float(next(a for a in SHORT_LEASE if a.startswith("--lease-duration=")).split("=")[1])
GRACE_PERIOD = 30.0
"""A pod's default ``terminationGracePeriodSeconds``: SIGTERM to exit, or the kubelet SIGKILLs."""


async def leading(replica: OperatorProcess) -> bool | None:
    """Whether a replica says it leads (``leader_election_master_status``); None if it cannot say."""
    text = await metrics_of(replica)
    return None if text is None else metric_sum(text, "leader_election_master_status") == 1


async def sole_leader(replicas: Mapping[str, OperatorProcess], timeout: float = 30.0) -> str | None:
    """The one replica that leads, once every replica answers and exactly one says it leads; None if
    that does not happen within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        states = {name: await leading(replica) for name, replica in replicas.items()}
        if None not in states.values() and sum(bool(s) for s in states.values()) == 1:
            return next(name for name, state in states.items() if state)
        if time.monotonic() >= deadline:
            return None
        await anyio.sleep(0.2)


async def one_leader(run: FaultRun, env: FaultEnv, replicas: Mapping[str, OperatorProcess]) -> None:
    """Exactly one replica leads, and it is the one the Lease names (by the identity it logged)."""
    leader = await sole_leader(replicas)
    lease = await retrying(lambda: env.kube.get(LEASES, LEASE_NAME, env.namespace))
    holder = str(lease["spec"].get("holderIdentity") or "")
    if leader is None:
        states = {name: await leading(replica) for name, replica in replicas.items()}
        run.report.problems.append(f"not exactly one replica leads: {states}")
    elif not holder or f"{holder}: acquired lease" not in replicas[leader].log.read_text(errors="replace"):
        run.report.problems.append(f"replica {leader} leads but the Lease names {holder!r}")
    else:
        run.notes["leader"] = leader


@dataclass(frozen=True)
class Exit:
    replica: str
    code: int
    at: float
    """``time.monotonic()`` when the supervisor saw it."""


async def supervise(replicas: Mapping[str, OperatorProcess], exits: list[Exit], *, backoff: float = 1.0) -> None:
    """Restart each replica that exits, ``backoff`` seconds later, as a Deployment's kubelet would;
    record every exit. Runs until cancelled."""
    restart_at: dict[str, float] = {}
    while True:
        now = time.monotonic()
        for name, replica in replicas.items():
            if name in restart_at:
                if now >= restart_at[name]:
                    del restart_at[name]
                    replica.start()
            elif replica.proc is not None and (code := replica.proc.poll()) is not None:
                exits.append(Exit(name, code, now))
                restart_at[name] = now + backoff
        await anyio.sleep(0.05)


async def stop_all(replicas: Mapping[str, OperatorProcess]) -> None:
    for replica in replicas.values():
        if replica.running:
            replica.signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            await replica.stop()

