import sys
import time
from pathlib import Path

import pytest

from jupyternetes_operator.testing.process import ManagedProcess, StartError


def test_exit_before_ready_names_component_and_quotes_log(tmp_path: Path) -> None:
    proc = ManagedProcess("fake-etcd", [sys.executable, "-c", "print('bind: address in use'); raise SystemExit(3)"],
                          tmp_path / "fake.log")
    proc.start()
    with pytest.raises(StartError) as info:
        proc.wait_ready(lambda: False, timeout=30)
    message = str(info.value)
    assert message.startswith("fake-etcd exited with code 3")
    assert "bind: address in use" in message


def test_not_ready_in_time(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    proc.start()
    try:
        with pytest.raises(StartError, match="sleeper did not become ready within"):
            proc.wait_ready(lambda: False, timeout=0.3, interval=0.05)
    finally:
        proc.stop()
    assert not proc.alive()


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    proc = ManagedProcess("stubborn", [sys.executable, "-c", code], tmp_path / "k.log")
    proc.start()
    proc.wait_ready(lambda: "up" in (tmp_path / "k.log").read_text(), timeout=30, interval=0.02)
    started = time.monotonic()
    proc.stop(timeout=0.5)
    assert not proc.alive()
    assert time.monotonic() - started < 10


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    proc = ManagedProcess("kwok", [str(tmp_path / "no-such-binary")], tmp_path / "x.log")
    with pytest.raises(StartError, match="kwok: cannot execute"):
        proc.start()
