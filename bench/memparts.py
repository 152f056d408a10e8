"""Where a running operator's RSS lives, sampled: the C heap, anonymous mappings, files, and its sockets.

    python -m bench.memparts [--every 5] [--match 'jupyternetes_operator run'] >> parts.log

Run beside a benchmark (``python -m bench.spawn --scenario scale``): every ``--every`` seconds, one
line for the oldest process whose command line holds ``--match``. The parts (``/proc/PID/smaps``):

- ``heap``: the C heap (glibc's main arena): objects over 512 bytes, such as asyncio's 256 KB TLS
  read buffer, one per open connection;
- ``anon``: anonymous mappings, mostly CPython's small-object arenas (1 MB each): the cached
  objects' dicts, tuples and strings;
- ``file``: the interpreter, the libraries and the modules mapped from disk.

RSS per notebook read while connections pooled during a burst are still open counts their buffers
too; the same reading once ``socks`` has fallen back does not (bench/README.md, issue 18).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$")


@dataclass(frozen=True)
class Parts:
    rss_kb: int
    heap_kb: int
    anon_kb: int
    file_kb: int
    sockets: int

    def line(self, pid: int) -> str:
        return (f"{time.strftime('%H:%M:%S')} pid={pid} rss={self.rss_kb / 1024:.1f}MB "
                f"heap={self.heap_kb / 1024:.1f}MB anon={self.anon_kb / 1024:.1f}MB "
                f"file={self.file_kb / 1024:.1f}MB socks={self.sockets}")


def parts(smaps: str, sockets: int) -> Parts:
    """The RSS of each kind of mapping in ``smaps`` (the text of ``/proc/PID/smaps``; pure)."""
    rss = {"heap": 0, "anon": 0, "file": 0, "other": 0}  # other: the stack, vdso ...
    kind = "other"
    for line in smaps.splitlines():
        if (m := MAPPING.match(line)) is not None:
            name = m.group(2).strip()
            kind = "heap" if name == "[heap]" else "anon" if not name else "file" if name.startswith("/") else "other"
        elif line.startswith("Rss:"):
            rss[kind] += int(line.split()[1])
    return Parts(sum(rss.values()), rss["heap"], rss["anon"], rss["file"], sockets)


def sample(pid: int) -> Parts:
    fds = os.listdir(f"/proc/{pid}/fd")
    sockets = sum(1 for fd in fds if _link(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
    with open(f"/proc/{pid}/smaps") as f:
        return parts(f.read(), sockets)


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--match", default="jupyternetes_operator run")
    args = parser.parse_args(argv)
    while True:
        found = subprocess.run(["pgrep", "-of", args.match], capture_output=True, text=True).stdout.split()
        if found:
            pid = int(found[0])
            with contextlib.suppress(OSError):  # it ended between the two reads
                print(sample(pid).line(pid), flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    main(sys.argv[1:])
