"""``jupyternetes-operator dev-cluster``: the test control plane, in the background, for a person.

``up`` builds (with a progress display) and starts a supervisor process that owns
the control plane; it returns once the cluster is ready and prints how to use it.
``down`` asks the supervisor to stop everything; ``env`` prints ``export
KUBECONFIG=…``. State lives in one directory (``--dir``), by default under the
binary cache root.

Life cycle: ``down`` stops the processes and keeps the state (etcd's data, certificates,
logs), so the next ``up`` resumes the same cluster with every object it held. Nothing else
deletes it: ``delete`` stops the cluster if it runs and removes its state directory (as ``kind
delete cluster`` does), and ``up --fresh`` does that first. Tests and benchmarks start from a
fresh directory: a resumed cluster carrying thousands of old objects is not a clean slate.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .binaries import COMPONENTS, HELM, build, cache_root, ensure_binaries, ensure_helm
from .controlplane import ControlPlane, ControlPlaneConfig
from .process import ManagedProcess


def default_dir() -> Path:
    return cache_root() / "dev-cluster"


def _state(directory: Path) -> dict[str, str] | None:
    try:
        state: dict[str, str] = json.loads((directory / "ready.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def build_with_progress() -> None:
    """Build every component (or find it cached), showing which one and for how long."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    # Helm is for the chart's tests and for `helm install` on the dev cluster (on PATH with `env`).
    components = (*COMPONENTS, HELM)
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("control plane binaries", total=len(components))
        for component in components:
            progress.update(task, description=f"{component.name} {component.version} (built once, then cached)")
            build(component)
            progress.advance(task)
        progress.update(task, description="control plane binaries and helm ready")


def up(directory: Path, nodes: int, samples: list[Path], operator: bool = False, fresh: bool = False) -> int:
    state = _state(directory)
    if state and _pid_alive(int(state["pid"])) and not fresh:
        print(f"dev cluster already running at {state['server']}\nexport KUBECONFIG={state['kubeconfig']}")
        return 0
    if fresh and (code := delete(directory)) != 0:
        return code
    build_with_progress()
    if (directory / "cluster").exists():
        print(f"resuming the dev cluster kept in {directory} (its objects included); "
              "'dev-cluster delete' or 'up --fresh' starts an empty one")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ready.json").unlink(missing_ok=True)
    progress_file = directory / "progress"
    progress_file.write_text("")
    with (directory / "supervisor.log").open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "jupyternetes_operator", "dev-cluster", "serve", "--dir", str(directory),
             "--nodes", str(nodes), *(["--operator"] if operator else [])],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    from rich.console import Console

    console = Console()
    with console.status("starting the control plane") as status:
        while (state := _state(directory)) is None:
            if supervisor.poll() is not None:
                tail = (directory / "supervisor.log").read_text(errors="replace").splitlines()[-40:]
                console.print("[red]the dev cluster failed to start:[/red]\n" + "\n".join(tail))
                return 1
            lines = progress_file.read_text().splitlines()
            if lines:
                status.update(lines[-1])
            time.sleep(0.2)
    plane_kubectl = Path(state["kubectl"])
    for sample in samples:
        subprocess.run([str(plane_kubectl), f"--kubeconfig={state['kubeconfig']}", "apply", "-f", str(sample)],
                       check=True)
    # Plain prints: these lines are meant to be copied, so they must never be wrapped.
    print(f"dev cluster ready at {state['server']} (logs in {state['workdir']}/logs)")
    if operator:
        print(f"operator running: metrics on http://{OPERATOR_ADDRESS}/metrics, "
              f"log in {state['workdir']}/logs/operator.log")
    print(f"export KUBECONFIG={state['kubeconfig']}")
    print(f"kubectl: {state['kubectl']}")
    return 0


OPERATOR_ADDRESS = "127.0.0.1:8080"


def serve(directory: Path, nodes: int, operator: bool = False) -> int:
    """Run the control plane in the foreground until SIGTERM/SIGINT (the supervisor of ``up``)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    progress_file = directory / "progress"

    def progress(line: str) -> None:
        with progress_file.open("a") as f:
            f.write(line + "\n")

    plane = ControlPlane(ControlPlaneConfig(nodes=nodes, workdir=directory / "cluster"), ensure_binaries())
    try:
        plane.start(progress)
        if operator:
            progress("starting the operator")
            # Its own namespace (the claim signing key's), as deployed; applied, since a dev cluster
            # started again keeps its etcd data.
            plane.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyternetes"}}])
            proc = ManagedProcess("operator", [
                sys.executable, "-m", "jupyternetes_operator", "run", f"--kubeconfig={plane.kubeconfig}",
                "--leader-elect=false", "--log-format=text", f"--bind-address={OPERATOR_ADDRESS}"],
                plane.workdir / "logs" / "operator.log")
            plane.processes["operator"] = proc
            proc.start()
            proc.wait_ready(lambda: _http_ok(f"http://{OPERATOR_ADDRESS}/readyz"), 60)
        state = {"pid": str(os.getpid()), "server": plane.server, "kubeconfig": str(plane.kubeconfig),
                 "kubectl": str(plane.binaries.kubectl), "helm": str(ensure_helm()), "workdir": str(plane.workdir)}
        (directory / "ready.json").write_text(json.dumps(state))
        while not stop.wait(1.0):
            dead = [name for name, proc in plane.processes.items() if not proc.alive()]
            if dead:
                print(f"component(s) exited: {', '.join(dead)}; stopping", flush=True)
                return 1
        return 0
    finally:
        plane.stop()
        (directory / "ready.json").unlink(missing_ok=True)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.URLError:
        return False


def down(directory: Path) -> int:
    state = _state(directory)
    if state is None or not _pid_alive(int(state["pid"])):
        print("no dev cluster is running")
        return 0
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    print("dev cluster stopped" if not _pid_alive(pid) else f"supervisor {pid} did not stop in 60s")
    return 0 if not _pid_alive(pid) else 1


_STATE_MARKS = ("supervisor.log", "progress", "cluster", "ready.json")
"""What ``up`` leaves in a state directory; ``delete`` removes only a directory holding one of them."""


def delete(directory: Path) -> int:
    """Stop the cluster if it runs, then remove its state directory: the next ``up`` starts empty."""
    if not directory.exists():
        print(f"no dev cluster state in {directory}")
        return 0
    if not any((directory / mark).exists() for mark in _STATE_MARKS):
        print(f"{directory} does not look like a dev cluster's state directory; not deleting it", file=sys.stderr)
        return 1
    if (code := down(directory)) != 0:
        return code
    shutil.rmtree(directory)
    print(f"dev cluster deleted ({directory} removed)")
    return 0


def env(directory: Path) -> int:
    state = _state(directory)
    if state is None:
        print("no dev cluster is running; start one with: jupyternetes-operator dev-cluster up", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={state['kubeconfig']}")
    tools = dict.fromkeys(str(Path(state[tool]).parent) for tool in ("kubectl", "helm") if tool in state)
    print(f"export PATH={':'.join(tools)}:$PATH")
    return 0
