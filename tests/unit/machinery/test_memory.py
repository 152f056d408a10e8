"""The C heap's free pages go back to the system (glibc), in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_trim_returns_the_holes_of_the_heap() -> None:
    # 100 MB of 2 KB blocks (malloc's, not pymalloc's), then all but every 64th freed: the heap keeps
    # its size around the survivors until it is trimmed.
    code = textwrap.dedent("""
        from jupyternetes_operator.machinery import memory
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096
        blocks = [bytes(2048) + bytes([i % 256]) for i in range(50_000)]
        kept = blocks[::64]
        del blocks
        before = rss()
        trimmed = memory.trim()
        print(trimmed, (before - rss()) // 2**20, len(kept))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    trimmed, returned_mb, _ = done.stdout.split()
    assert trimmed == "True"
    assert int(returned_mb) > 50, done.stdout
