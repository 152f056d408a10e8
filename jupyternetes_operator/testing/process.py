"""A child process with a log file, a readiness wait and a clean stop.

Children are started in their own session (a Ctrl-C aimed at the test runner does
not reach them half-way) and, when started from the main thread, with
``PR_SET_PDEATHSIG`` on Linux, so that a killed parent never leaves an orphaned etcd
or kube-apiserver behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class StartError(RuntimeError):
    """A component did not become ready; the message names it and quotes its log tail."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ManagedProcess:
    def __init__(self, name: str, argv: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n==> {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                # PDEATHSIG fires when the *thread* that forked exits, so only tie the child to
                # the main thread (a worker thread's exit must not kill a restarted apiserver).
                main = threading.current_thread() is threading.main_thread()
                self._proc = subprocess.Popen(
                    self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=self.env, start_new_session=True, preexec_fn=_die_with_parent if main else None)
            except OSError as exc:
                raise StartError(f"{self.name}: cannot execute {self.argv[0]}: {exc}") from exc

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, why: str) -> StartError:
        return StartError(f"{self.name} {why}; log {self.log_path}, last lines:\n{self.log_tail()}")

    def wait_ready(self, check: Callable[[], bool], timeout: float, interval: float = 0.1) -> None:
        """Poll ``check`` until it is true; fail fast if the process exits meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                code = self._proc.returncode if self._proc else None
                raise self.failure(f"exited with code {code} before becoming ready")
            try:
                if check():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.failure(f"did not become ready within {timeout:.0f}s")
            time.sleep(interval)

    def signal(self, sig: int) -> None:
        if self.alive() and self._proc is not None:
            os.killpg(self._proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps the child."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                proc.wait()
        self._proc = None
